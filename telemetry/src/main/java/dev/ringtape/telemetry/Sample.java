package dev.ringtape.telemetry;

import java.util.List;

/**
 * What one sampled step measured, per parameter tensor and per activation layer: the input of the diagnosis rules
 * and of the {@code layer} records. {@code loss} is the mean over the step's {@code examples} (every rank and
 * micro-batch): how noisy one sampled loss is depends on it. {@code lossesBefore} are the losses of the steps since
 * the sample before this one (steps {@code step - lossesBefore.length} to {@code step - 1}), which were not sampled:
 * a run can blow up and collapse between two samples. {@code attention} holds each attention head's statistics, and
 * {@code logZ} the mean log-normalizer {@code logsumexp(logits)} of a softmax cross-entropy output over the step's
 * rows (NaN for other losses).
 */
public record Sample(
        long step,
        double loss,
        long examples,
        double lr,
        double baseLr,
        double lossScale,
        boolean fp16,
        boolean skipped,
        double gradNorm,
        List<Param> params,
        List<Activation> activations,
        double[] lossesBefore,
        List<Attention> attention,
        double logZ) {

    /** A sample of a model without attention or a softmax cross-entropy output. */
    public Sample(
            long step,
            double loss,
            long examples,
            double lr,
            double baseLr,
            double lossScale,
            boolean fp16,
            boolean skipped,
            double gradNorm,
            List<Param> params,
            List<Activation> activations,
            double[] lossesBefore) {
        this(
                step,
                loss,
                examples,
                lr,
                baseLr,
                lossScale,
                fp16,
                skipped,
                gradNorm,
                params,
                activations,
                lossesBefore,
                List.of(),
                Double.NaN);
    }

    /** A sample with no unsampled steps before it. */
    public Sample(
            long step,
            double loss,
            long examples,
            double lr,
            double baseLr,
            double lossScale,
            boolean fp16,
            boolean skipped,
            double gradNorm,
            List<Param> params,
            List<Activation> activations) {
        this(step, loss, examples, lr, baseLr, lossScale, fp16, skipped, gradNorm, params, activations, new double[0]);
    }

    /**
     * One parameter tensor: norms of its gradient (after unscale and clipping) and weight, and its real update; in a
     * 16-bit run, the fraction of the non-zero values of its gradient and of its layer's output gradient that
     * rounding to 16 bits flushed to zero (NaN in fp32).
     */
    public record Param(
            String name,
            String layer,
            boolean weight,
            double gradNorm,
            double weightNorm,
            double updateRatio,
            double gradMaxAbs,
            int nonFinite,
            double zeroFrac,
            double underflowFrac) {}

    /**
     * One head of an attention layer on the step's first micro-batch: the mean entropy of its attention weights over
     * the batch's query positions (nats; uniform over a causal window of T averages about ln(T) - 1) and its largest
     * |logit| {@code q.k / sqrt(d)} among the positions a query sees.
     */
    public record Attention(String layer, int head, double entropy, double maxLogit) {}

    /** One activation layer's output on the step's first micro-batch. */
    public record Activation(
            String layer, String type, double mean, double std, double saturatedFrac, double deadFrac) {}
}
