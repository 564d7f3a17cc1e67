package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.ops.Ops;
import dev.ringtape.runtime.tensor.Tensor;

/** The losses of the job schema, each averaged over the batch as PyTorch's {@code reduction="mean"}. */
public enum Loss {
    SOFTMAX_CROSS_ENTROPY("softmax_cross_entropy"),
    MSE("mse"),
    BCE_WITH_LOGITS("bce_with_logits");

    private final String key;

    Loss(String key) {
        this.key = key;
    }

    public String key() {
        return key;
    }

    public static Loss byKey(String key) {
        for (Loss l : values()) {
            if (l.key.equals(key)) {
                return l;
            }
        }
        return null;
    }

    /**
     * The loss of {@code output} against {@code target}: class ids [N] for softmax cross-entropy, a tensor shaped like
     * the output otherwise; a target of one value per sample ([N]) against an output of one value per sample ([N, 1])
     * is taken as [N, 1] (a regression or binary head).
     */
    public Tensor apply(Tensor output, Tensor target) {
        return apply(output, target, 0.0, null);
    }

    /**
     * The loss as {@link #apply(Tensor, Tensor)}, softmax cross-entropy over every position of [N, T, C] logits
     * against [N, T] class ids, plus {@code zLoss * mean(logZ^2)} for softmax cross-entropy, which also sets {@code
     * meanLogZ[0]} (when not null) to the mean log-normalizer of the logits' rows (telemetry's output-logit drift).
     */
    public Tensor apply(Tensor output, Tensor target, double zLoss, double[] meanLogZ) {
        Tensor t = this != SOFTMAX_CROSS_ENTROPY
                        && target.rank() == 1
                        && output.rank() == 2
                        && output.dim(1) == 1
                        && output.dim(0) == target.dim(0)
                ? target.reshape(target.dim(0), 1)
                : target;
        return switch (this) {
            case SOFTMAX_CROSS_ENTROPY -> Ops.softmaxCrossEntropy(
                    output.rank() > 2 ? Ops.reshape(output, output.size() / output.dim(-1), output.dim(-1)) : output,
                    classIds(target),
                    zLoss,
                    meanLogZ);
            case MSE -> Ops.mse(output, t);
            case BCE_WITH_LOGITS -> Ops.bceWithLogits(output, t);
        };
    }

    /** Whether an accuracy means something for this loss (class ids, or 0/1 targets against logits). */
    public boolean classifies() {
        return this != MSE;
    }

    private static int[] classIds(Tensor target) {
        float[] t = target.data();
        int[] ids = new int[t.length];
        for (int i = 0; i < t.length; i++) {
            ids[i] = (int) t[i];
            if (ids[i] != t[i]) {
                throw new IllegalArgumentException(
                        "softmax_cross_entropy: target " + i + " is " + t[i] + ", not a class id");
            }
        }
        return ids;
    }
}
