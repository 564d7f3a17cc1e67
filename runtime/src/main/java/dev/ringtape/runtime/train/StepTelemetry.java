package dev.ringtape.runtime.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.autograd.UnderflowProbe;
import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.nn.LayerSampler;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.telemetry.Diagnoser;
import dev.ringtape.telemetry.Records;
import dev.ringtape.telemetry.Sample;
import dev.ringtape.telemetry.Schema;
import dev.ringtape.telemetry.TelemetrySink;
import dev.ringtape.telemetry.Thresholds;
import java.util.ArrayList;
import java.util.List;

/**
 * The telemetry of one worker's steps: the {@code step} record of every step, and on sampled steps (every
 * {@code telemetry.every_steps}) the {@code layer} records and what the diagnosis rules make of them. It measures
 * nothing with passes of its own where the step makes one anyway: gradient statistics come from the step's unscale
 * walk (written into {@link #gradSquares}, {@link #gradMaxAbs}, {@link #gradZeros}), weight and update norms from the
 * optimizer's pass ({@link #optimizerStats()}), activations from the sampled forward, 16-bit underflow from the tape's
 * rounding.
 */
final class StepTelemetry {
    private final String job;
    private final Precision precision;
    private final int every;
    private final List<Tensor> params;
    private final TelemetrySink sink;
    private final Diagnoser diagnoser;
    private final LayerSampler sampler;
    private final UnderflowProbe underflow = new UnderflowProbe();
    private final String[] layerNames;
    private final double[][] optimizerStats;
    private final double[] weightSquaresBefore;
    /** The losses of the steps since the last sample, which were not sampled (the rules see them with the next). */
    private double[] lossesBetween = new double[16];

    private int between;
    /** Per parameter, from the unscale walk: the sum of squares of the unscaled gradient (every step). */
    final double[] gradSquares;
    /** Per parameter, from the unscale walk of a sampled step: max |g|. */
    final float[] gradMaxAbs;
    /** Per parameter, from the unscale walk of a sampled step: the number of exact zeros. */
    final int[] gradZeros;
    /** Per parameter: non-finite values (counted on skipped steps only). */
    final int[] gradNonFinite;

    StepTelemetry(
            String job,
            Precision precision,
            int every,
            Thresholds thresholds,
            int rank,
            List<Tensor> params,
            TelemetrySink sink) {
        this.job = job;
        this.precision = precision;
        this.every = every;
        this.params = params;
        this.sink = sink;
        this.diagnoser = new Diagnoser(thresholds, job, rank);
        this.sampler = new LayerSampler(thresholds.get("saturation_margin"), (int) thresholds.get("dead_window"), (long)
                thresholds.get("dead_samples"));
        int n = params.size();
        this.layerNames = new String[n];
        for (int i = 0; i < n; i++) {
            String name = params.get(i).name();
            layerNames[i] = name.substring(0, name.lastIndexOf('.'));
        }
        this.optimizerStats = new double[n][2];
        this.weightSquaresBefore = new double[n];
        this.gradSquares = new double[n];
        this.gradMaxAbs = new float[n];
        this.gradZeros = new int[n];
        this.gradNonFinite = new int[n];
    }

    /** Whether {@code step} is sampled: per-layer records and diagnosis. */
    boolean sampled(long step) {
        return every > 0 && step % every == 0;
    }

    /** Before a sampled step's first micro-batch: counts what 16-bit rounding flushes to zero in its backward. */
    void openStep() {
        if (precision != Precision.FP32) {
            underflow.open();
        }
    }

    /** Around a sampled forward: statistics of the first micro-batch, unit activity of all. */
    void openForward(boolean first) {
        sampler.open(first);
    }

    void closeForward() {
        sampler.close();
    }

    /** After the last micro-batch's backward. */
    void closeStep() {
        underflow.close();
    }

    /**
     * Zeroes the optimizer's statistics and measures each weight before the step: the update ratio is against the
     * weight before it (a zero weight has none). Kept out of the step method: written inline there, this loop made
     * the fused Adam statistics loop allocate its vectors, +21 % on every sampled step (bench/RESULTS.md).
     */
    double[][] optimizerStats() {
        for (int i = 0; i < params.size(); i++) {
            optimizerStats[i][0] = 0;
            optimizerStats[i][1] = 0;
            weightSquaresBefore[i] = Backends.current().squares(params.get(i));
        }
        return optimizerStats;
    }

    /**
     * Statistics of a step being skipped: this rank's own gradients, unscaled (divided by {@code scale}, the loss
     * scale they were computed with, or 1 where the step has unscaled them already), with their non-finite values
     * counted, in place of what the unscale walk measures on the finite path.
     */
    void measureNonFiniteGradients(float scale) {
        double inv = 1.0 / scale;
        for (int i = 0; i < params.size(); i++) {
            Tensor grad = params.get(i).grad();
            float[] g = grad == null ? new float[0] : grad.toArray(); // a skipped step: off the hot path
            double sq = 0;
            float max = 0;
            int bad = 0;
            int zeros = 0;
            for (float v : g) {
                if (!Float.isFinite(v)) {
                    bad++;
                    continue;
                }
                sq += (double) v * v;
                max = Math.max(max, Math.abs(v));
                zeros += v == 0f ? 1 : 0;
            }
            gradSquares[i] = sq * inv * inv;
            gradMaxAbs[i] = (float) (max * inv);
            gradZeros[i] = zeros;
            gradNonFinite[i] = bad;
        }
    }

    /**
     * Assembles a sampled step's {@link Sample}, emits its layer records and the diagnoses the rules make of it;
     * {@code sumOverRanks} sums the activation counters over all workers.
     */
    void sample(
            long step,
            double loss,
            double lr,
            double baseLr,
            float scale,
            boolean skipped,
            double norm,
            long samples,
            double logZ,
            LayerSampler.Summer sumOverRanks) {
        sampler.finishStep(samples, sumOverRanks);
        List<Sample.Param> stats = new ArrayList<>(params.size());
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            // a skipped step moved nothing
            double ww = skipped ? Backends.current().squares(p) : optimizerStats[i][0];
            double dd = skipped ? 0 : optimizerStats[i][1];
            int n = p.size();
            stats.add(new Sample.Param(
                    p.name(),
                    layerNames[i],
                    p.rank() >= 2,
                    Math.sqrt(gradSquares[i]),
                    Math.sqrt(ww),
                    !skipped && weightSquaresBefore[i] > 0 ? Math.sqrt(dd / weightSquaresBefore[i]) : Double.NaN,
                    gradMaxAbs[i],
                    gradNonFinite[i],
                    n == 0 ? 1 : (double) gradZeros[i] / n,
                    precision == Precision.FP32 ? Double.NaN : underflow.flushedFraction(layerNames[i], p.name())));
        }
        Sample s = new Sample(
                step,
                loss,
                samples,
                lr,
                baseLr,
                scale,
                precision == Precision.FP16,
                skipped,
                norm,
                stats,
                sampler.collected(),
                java.util.Arrays.copyOf(lossesBetween, between),
                sampler.attention(),
                logZ);
        between = 0;
        for (Sample.Param p : s.params()) {
            ObjectNode o = Records.of(Schema.Type.LAYER, job, step);
            o.put(Schema.LAYER, p.layer());
            o.put(Schema.PARAM, p.name());
            Records.putNumber(o, Schema.GRAD_NORM, p.gradNorm());
            Records.putNumber(o, Schema.WEIGHT_NORM, p.weightNorm());
            Records.putNumber(o, Schema.UPDATE_RATIO, p.updateRatio());
            Records.putNumber(o, Schema.GRAD_MAX_ABS, p.gradMaxAbs());
            o.put(Schema.NONFINITE_COUNT, p.nonFinite());
            Records.putNumber(o, Schema.ZERO_FRAC, p.zeroFrac());
            if (!Double.isNaN(p.underflowFrac())) {
                o.put(Schema.UNDERFLOW_FRAC, p.underflowFrac());
            }
            if (s.skipped()) {
                o.put(Schema.SKIPPED, true); // this rank's own gradients; no update was made
            }
            sink.emit(o);
        }
        for (Sample.Activation a : s.activations()) {
            ObjectNode o = Records.of(Schema.Type.LAYER, job, step);
            o.put(Schema.LAYER, a.layer());
            o.put(Schema.ACTIVATION, a.type());
            Records.putNumber(o, Schema.MEAN, a.mean());
            Records.putNumber(o, Schema.STD, a.std());
            Records.putNumber(o, Schema.SATURATED_FRAC, a.saturatedFrac());
            Records.putNumber(o, Schema.DEAD_FRAC, a.deadFrac());
            sink.emit(o);
        }
        for (Sample.Attention a : s.attention()) {
            ObjectNode o = Records.of(Schema.Type.LAYER, job, step);
            o.put(Schema.LAYER, a.layer());
            o.put(Schema.HEAD, a.head());
            Records.putNumber(o, Schema.ATTENTION_ENTROPY, a.entropy());
            Records.putNumber(o, Schema.ATTENTION_MAX_LOGIT, a.maxLogit());
            sink.emit(o);
        }
        for (Diagnoser.Diagnosis d : diagnoser.feed(s)) {
            sink.emit(diagnoser.record(d));
        }
    }

    /**
     * The {@code step} record of {@code r} (with the all-reduce's bytes, the bytes this rank sent, and the bus
     * bandwidth when there are several workers), its {@code nonfinite} record and the diagnosis of a non-finite origin.
     */
    void report(StepLoop.Result r, int world, long allreduceBytes, long sentBytes) {
        if (every > 0 && !sampled(r.step())) {
            if (between == lossesBetween.length) {
                lossesBetween = java.util.Arrays.copyOf(lossesBetween, 2 * between);
            }
            lossesBetween[between++] = r.loss();
        }
        NonFiniteTracer.NonFinite n = r.nonFinite();
        if (n != null) {
            for (Diagnoser.Diagnosis d : diagnoser.nonFinite(r.step(), n.layer(), n.op(), n.phase())) {
                sink.emit(diagnoser.record(d));
            }
        }
        ObjectNode o = Records.of(Schema.Type.STEP, job, r.step());
        Records.putNumber(o, Schema.LOSS, r.loss());
        o.put(Schema.LR, r.lr());
        o.put(Schema.LOSS_SCALE, r.lossScale());
        o.put(Schema.SKIPPED, r.skipped());
        Records.putNumber(o, Schema.GRAD_NORM, r.gradNorm());
        o.put(Schema.CLIPPED, r.clipped());
        o.put(Schema.SAMPLES, r.samples());
        if (Double.isFinite(r.logZ())) {
            o.put(Schema.LOG_Z, r.logZ());
        }
        ObjectNode ms = o.putObject(Schema.PHASE_MS);
        ms.put(Schema.FORWARD, r.forwardMs());
        ms.put(Schema.BACKWARD, r.backwardMs());
        ms.put(Schema.ALLREDUCE, r.allreduceMs());
        ms.put(Schema.OPTIMIZER, r.optimizerMs());
        ms.put(Schema.TELEMETRY, r.telemetryMs());
        if (world > 1) {
            // nccl-tests' bus bandwidth, over the phase's time: a lower bound, since buckets start during backward
            o.put(Schema.ALLREDUCE_BYTES, allreduceBytes);
            o.put(Schema.ALLREDUCE_SENT_BYTES, sentBytes);
            o.put(Schema.ALLREDUCE_HIDDEN_MS, r.allreduceHiddenMs());
            Records.putNumber(
                    o,
                    Schema.ALLREDUCE_BUSBW_GBPS,
                    2.0 * (world - 1) / world * allreduceBytes / (r.allreduceMs() * 1e6));
        }
        sink.emit(o);
        if (n != null) {
            ObjectNode nf = Records.of(Schema.Type.NONFINITE, job, r.step());
            nf.put(Schema.RANK, n.rank());
            nf.put(Schema.MICRO_BATCH, n.microBatch());
            nf.put(Schema.PHASE, n.phase());
            nf.put(Schema.OP, n.op());
            nf.put(Schema.LAYER, n.layer());
            nf.put(Schema.BEFORE_ALLREDUCE, n.beforeAllreduce());
            sink.emit(nf);
        }
    }
}
