package dev.ringtape.runtime.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.autograd.Autocast;
import dev.ringtape.runtime.autograd.NonFiniteProbe;
import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.autograd.UnderflowProbe;
import dev.ringtape.runtime.nn.ForwardContext;
import dev.ringtape.runtime.nn.LayerSampler;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.optim.LrSchedule;
import dev.ringtape.runtime.optim.Optimizer;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Loops;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.telemetry.Diagnoser;
import dev.ringtape.telemetry.Records;
import dev.ringtape.telemetry.Sample;
import dev.ringtape.telemetry.Schema;
import dev.ringtape.telemetry.TelemetrySink;
import dev.ringtape.telemetry.Thresholds;
import java.util.List;

/**
 * One optimizer step of one worker (DESIGN.md, "Data flow of one optimizer step"): k micro-batches forward and
 * backward, accumulating into the gradients with no communication; one sum of the packed gradients and one of a few
 * scalars over all workers; unscale; one all-reduced overflow flag, so every rank skips or steps alike; clipping by
 * global norm; the optimizer on the fp32 master weights; the loss-scaler update. Weights never receive a non-finite
 * update: a step with any NaN or Inf in its gradients is skipped, and (in fp32, or when the loss itself is not
 * finite) the offending micro-batch is re-run with per-op checks to name the first op and layer that produced it.
 */
public final class StepLoop {
    /**
     * What a step needs besides the model and its ports; {@code bucketBytes} sizes the gradient buckets handed to
     * the reducer as backward finishes them ({@code allreduce.bucket_mb}).
     */
    public record Options(
            String job,
            int microBatches,
            Precision precision,
            double clipGradNorm,
            long seed,
            long bucketBytes,
            int telemetryEvery,
            Thresholds thresholds) {
        /** With 25 MiB buckets (PyTorch DDP's default) and no per-layer sampling. */
        public Options(String job, int microBatches, Precision precision, double clipGradNorm, long seed) {
            this(job, microBatches, precision, clipGradNorm, seed, 25L << 20);
        }

        /** With no per-layer sampling. */
        public Options(
                String job, int microBatches, Precision precision, double clipGradNorm, long seed, long bucketBytes) {
            this(job, microBatches, precision, clipGradNorm, seed, bucketBytes, 0, Thresholds.defaults());
        }
    }

    /** The outcome of one step, as the {@code step} telemetry record reports it. */
    public record Result(
            long step,
            double loss,
            double lr,
            float lossScale,
            boolean skipped,
            double gradNorm,
            boolean clipped,
            int samples,
            NonFinite nonFinite,
            double forwardMs,
            double backwardMs,
            double allreduceMs,
            double optimizerMs) {}

    /** Where a non-finite value came from: the first op (or the all-reduce) that produced it. */
    public record NonFinite(
            long step, int rank, int microBatch, String phase, String op, String layer, boolean beforeAllreduce) {
        /** One line for people. */
        public String describe() {
            String where = String.format("step %d, rank %d", step, rank);
            return switch (phase) {
                case "allreduce" -> "non-finite gradients at " + where + " appeared in the all-reduce; this rank's own"
                        + " were finite";
                case "accumulate" -> "non-finite gradients at " + where + ": every micro-batch was finite, their sum"
                        + " overflowed";
                default -> String.format(
                        "first non-finite value at %s, micro-batch %d: the %s of %s in %s, before the all-reduce",
                        where, microBatch, phase, op, layer.isEmpty() ? "the loss" : layer);
            };
        }
    }

    private final Sequential model;
    private final Optimizer optimizer;
    private final LrSchedule schedule;
    private final LossScaler scaler;
    private final GradientReducer reducer;
    private final TelemetrySink sink;
    private final Options options;
    private final List<Tensor> params;
    private final GradientBuckets gradients;
    private final LayerSampler sampler;
    private final Loops loops = Loops.get();
    private final Diagnoser diagnoser;
    // per-parameter statistics, filled by passes the step makes anyway (unscale, the optimizer)
    private final double[] paramSquares;
    private final float[] paramMaxAbs;
    private final int[] paramZeros;
    private final int[] paramNonFinite;
    private final String[] layerNames;
    private final UnderflowProbe underflow = new UnderflowProbe();
    private final double[][] optimizerStats;
    private final double[] weightSquaresBefore;

    public StepLoop(
            Sequential model,
            Optimizer optimizer,
            LrSchedule schedule,
            LossScaler scaler,
            GradientReducer reducer,
            TelemetrySink sink,
            Options options) {
        this.model = model;
        this.optimizer = optimizer;
        this.schedule = schedule;
        this.scaler = scaler;
        this.reducer = reducer;
        this.sink = sink;
        this.options = options;
        this.params = model.parameterList();
        this.gradients = new GradientBuckets(params, options.bucketBytes(), reducer);
        this.diagnoser = new Diagnoser(options.thresholds(), options.job(), reducer.rank());
        this.sampler = new LayerSampler(
                options.thresholds().get("saturation_margin"),
                (int) options.thresholds().get("dead_window"),
                (long) options.thresholds().get("dead_samples"));
        this.paramSquares = new double[params.size()];
        this.paramMaxAbs = new float[params.size()];
        this.paramZeros = new int[params.size()];
        this.paramNonFinite = new int[params.size()];
        this.layerNames = new String[params.size()];
        for (int i = 0; i < params.size(); i++) {
            String name = params.get(i).name();
            layerNames[i] = name.substring(0, name.lastIndexOf('.'));
        }
        this.optimizerStats = new double[params.size()][2];
        this.weightSquaresBefore = new double[params.size()];
    }

    /** The gradient buckets as {@code [first, last]} parameter indices, in the order they are handed over. */
    public int[][] buckets() {
        return gradients.buckets();
    }

    public LossScaler scaler() {
        return scaler;
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    /** The seed of micro-batch {@code m} of {@code step} on {@code rank}: dropout masks derive from it. */
    private long microSeed(long step, int m) {
        long h = options.seed() * 0x9E3779B97F4A7C15L + step;
        h = h * 0xBF58476D1CE4E5B9L + reducer.rank();
        return h * 0x94D049BB133111EBL + m;
    }

    /** Runs step {@code step} over this rank's micro-batches ({@code [x, y]} pairs). */
    @SuppressWarnings("try") // the Autocast scope is entered for its effect on the ops inside
    public Result step(long step, List<Tensor[]> microBatches) {
        int k = microBatches.size();
        if (k != options.microBatches()) {
            throw new IllegalArgumentException("expected " + options.microBatches() + " micro-batches, got " + k);
        }
        model.zeroGrad();
        gradients.begin();
        float scale = scaler.scale();
        double localLoss = 0;
        int samples = 0;
        long forwardNs = 0;
        long backwardNs = 0;
        boolean sampled = options.telemetryEvery() > 0 && step % options.telemetryEvery() == 0;
        if (sampled && options.precision() != Precision.FP32) {
            underflow.open(); // counts what 16-bit rounding flushes to zero in this step's backward passes
        }
        for (int m = 0; m < k; m++) {
            Tensor[] xy = microBatches.get(m);
            samples += xy[0].dim(0);
            long t0 = System.nanoTime();
            try (Autocast cast = Autocast.enable(options.precision());
                    Tape tape = Tape.record()) {
                if (sampled) {
                    sampler.open(m == 0); // statistics of the first micro-batch, unit activity of all
                }
                Tensor out;
                try {
                    out = model.forward(xy[0], ForwardContext.training(microSeed(step, m)));
                } finally {
                    sampler.close();
                }
                Tensor loss = model.loss().apply(out, xy[1]);
                long t1 = System.nanoTime();
                localLoss += loss.item();
                if (m < k - 1) {
                    tape.backward(loss, scale / k); // accumulate: no communication
                } else {
                    // the last micro-batch hands each bucket to the reducer as soon as backward has finished it
                    tape.backward(loss, scale / k, gradients::onGradientReady);
                }
                forwardNs += t1 - t0;
                backwardNs += System.nanoTime() - t1;
            }
        }
        underflow.close();

        long t2 = System.nanoTime();
        gradients.finish();
        // a sum of squares is finite exactly when every term is: one pass at packing checked all local gradients
        boolean localBad = !Double.isFinite(gradients.localSquares()) || !Double.isFinite(localLoss);
        double[] scalars = {localBad ? 1 : 0, localLoss, samples, Double.isFinite(localLoss) ? 0 : 1};
        reducer.sumScalars(scalars);
        long t3 = System.nanoTime();
        int world = reducer.worldSize();
        float inv = (float) (1.0 / ((double) scale * world));
        // one walk over the arena: unscale, per-parameter squares, and on sampled steps max |g| and zero counts
        float[] arena = gradients.arena();
        double sq = 0;
        for (int i = 0; i < params.size(); i++) {
            paramSquares[i] = loops.scale(
                    arena, gradients.from(i), gradients.from(i + 1), inv, sampled ? paramMaxAbs : null, paramZeros, i);
            paramNonFinite[i] = 0;
            sq += paramSquares[i];
        }
        // the sum of finite gradients can still overflow, so the reduced arena is checked too (same on every rank)
        boolean foundInf = scalars[0] > 0 || !Double.isFinite(sq);
        double meanLoss = scalars[1] / (k * world);

        NonFinite origin = null;
        double lr = schedule.lr(step);
        double norm = Double.NaN;
        boolean clipped = false;
        if (foundInf) {
            if (sampled) {
                measureNonFiniteGradients(scale);
            }
            boolean lossNotFinite = scalars[3] > 0;
            if (!scaler.enabled() || lossNotFinite) {
                origin = localBad
                        ? findOrigin(step, microBatches, scale)
                        : new NonFinite(step, reducer.rank(), -1, "allreduce", "sum", "", false);
            }
            model.zeroGrad();
        } else {
            norm = Math.sqrt(sq);
            if (options.clipGradNorm() > 0 && norm > options.clipGradNorm()) {
                // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied when below 1
                float coef = (float) (options.clipGradNorm() / (norm + 1e-6));
                for (int i = 0; i < arena.length; i++) {
                    arena[i] *= coef;
                }
                for (int i = 0; i < params.size(); i++) {
                    paramSquares[i] *= (double) coef * coef;
                    paramMaxAbs[i] *= coef;
                }
                clipped = true;
            }
            gradients.unpack();
        }
        long t4 = System.nanoTime();
        if (!foundInf) {
            if (sampled) {
                measureWeightsBefore();
            }
            optimizer.step(lr, sampled ? optimizerStats : null);
        }
        scaler.update(foundInf);
        long t5 = System.nanoTime();
        if (sampled) {
            sample(step, meanLoss, lr, scale, foundInf, norm, (long) scalars[2]);
        }
        if (origin != null) {
            for (Diagnoser.Diagnosis d : diagnoser.nonFinite(step, origin.layer(), origin.op(), origin.phase())) {
                sink.emit(diagnoser.record(d));
            }
        }
        Result r = new Result(
                step,
                meanLoss,
                lr,
                scale,
                foundInf,
                norm,
                clipped,
                (int) scalars[2],
                origin,
                forwardNs / 1e6,
                backwardNs / 1e6,
                (t3 - t2) / 1e6,
                (t5 - t4) / 1e6);
        report(r);
        return r;
    }

    /**
     * Zeroes the optimizer's statistics and measures each weight before the step: the update ratio is against the
     * weight before it (a zero weight has none). Kept out of {@link #step}: written inline there, this loop made the
     * fused Adam statistics loop allocate its vectors, +21 % on every sampled step (bench/RESULTS.md).
     */
    private void measureWeightsBefore() {
        for (int i = 0; i < params.size(); i++) {
            optimizerStats[i][0] = 0;
            optimizerStats[i][1] = 0;
            weightSquaresBefore[i] =
                    loops.squares(params.get(i).data(), 0, params.get(i).size());
        }
    }

    /** Re-runs this rank's micro-batches with per-op checks; the first op that produced a non-finite value. */
    @SuppressWarnings("try") // the Autocast scope is entered for its effect on the ops inside
    private NonFinite findOrigin(long step, List<Tensor[]> microBatches, float scale) {
        int k = microBatches.size();
        try {
            for (int m = 0; m < k; m++) {
                model.zeroGrad();
                Tensor[] xy = microBatches.get(m);
                try (NonFiniteProbe probe = NonFiniteProbe.open();
                        Autocast cast = Autocast.enable(options.precision());
                        Tape tape = Tape.record()) {
                    Tensor loss = model.loss()
                            .apply(model.forward(xy[0], ForwardContext.training(microSeed(step, m))), xy[1]);
                    if (probe.origin() == null && loss.requiresGrad()) {
                        tape.backward(loss, scale / k);
                    }
                    NonFiniteProbe.Origin o = probe.origin();
                    if (o != null) {
                        return new NonFinite(step, reducer.rank(), m, o.phase(), o.op(), o.layer(), true);
                    }
                }
            }
            // the sum of finite micro-batch gradients overflowed
            return new NonFinite(step, reducer.rank(), k - 1, "accumulate", "add", "", true);
        } finally {
            model.zeroGrad();
        }
    }

    /**
     * Statistics of a step being skipped: this rank's own gradients, unscaled (divided by the loss scale they were
     * computed with, as the finite path's all-reduced ones are), with their non-finite values counted, in place of
     * what the unscale walk measures on the finite path.
     */
    private void measureNonFiniteGradients(float scale) {
        double inv = 1.0 / scale;
        for (int i = 0; i < params.size(); i++) {
            Tensor grad = params.get(i).grad();
            float[] g = grad == null ? new float[0] : grad.data();
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
            paramSquares[i] = sq * inv * inv;
            paramMaxAbs[i] = (float) (max * inv);
            paramZeros[i] = zeros;
            paramNonFinite[i] = bad;
        }
    }

    /**
     * Assembles the sample from what the step's own passes measured (gradients: the unscale walk, or the local
     * gradients of a skipped step; weight and update norms: the optimizer; activations: the sampled forward; 16-bit
     * underflow: the tape's rounding), then emits layer and diagnosis records.
     */
    private void sample(long step, double loss, double lr, float scale, boolean skipped, double norm, long samples) {
        sampler.finishStep(samples, v -> reducer.sum(v, 0, v.length));
        List<Sample.Param> stats = new java.util.ArrayList<>(params.size());
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            // a skipped step moved nothing
            double ww = skipped ? loops.squares(p.data(), 0, p.size()) : optimizerStats[i][0];
            double dd = skipped ? 0 : optimizerStats[i][1];
            double wn = Math.sqrt(ww);
            int n = p.size();
            stats.add(new Sample.Param(
                    p.name(),
                    layerNames[i],
                    p.rank() >= 2,
                    Math.sqrt(paramSquares[i]),
                    wn,
                    !skipped && weightSquaresBefore[i] > 0 ? Math.sqrt(dd / weightSquaresBefore[i]) : Double.NaN,
                    paramMaxAbs[i],
                    paramNonFinite[i],
                    n == 0 ? 1 : (double) paramZeros[i] / n,
                    options.precision() == Precision.FP32
                            ? Double.NaN
                            : underflow.flushedFraction(layerNames[i], p.name())));
        }
        Sample s = new Sample(
                step,
                loss,
                lr,
                schedule.base(),
                scale,
                options.precision() == Precision.FP16,
                skipped,
                norm,
                stats,
                sampler.collected());
        for (Sample.Param p : s.params()) {
            ObjectNode o = Records.of(Schema.Type.LAYER, options.job(), step);
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
            ObjectNode o = Records.of(Schema.Type.LAYER, options.job(), step);
            o.put(Schema.LAYER, a.layer());
            o.put(Schema.ACTIVATION, a.type());
            Records.putNumber(o, Schema.MEAN, a.mean());
            Records.putNumber(o, Schema.STD, a.std());
            Records.putNumber(o, Schema.SATURATED_FRAC, a.saturatedFrac());
            Records.putNumber(o, Schema.DEAD_FRAC, a.deadFrac());
            sink.emit(o);
        }
        for (Diagnoser.Diagnosis d : diagnoser.feed(s)) {
            sink.emit(diagnoser.record(d));
        }
    }

    private void report(Result r) {
        ObjectNode o = Records.of(Schema.Type.STEP, options.job(), r.step());
        Records.putNumber(o, Schema.LOSS, r.loss());
        o.put(Schema.LR, r.lr());
        o.put(Schema.LOSS_SCALE, r.lossScale());
        o.put(Schema.SKIPPED, r.skipped());
        Records.putNumber(o, Schema.GRAD_NORM, r.gradNorm());
        o.put(Schema.CLIPPED, r.clipped());
        o.put(Schema.SAMPLES, r.samples());
        ObjectNode ms = o.putObject(Schema.PHASE_MS);
        ms.put(Schema.FORWARD, r.forwardMs());
        ms.put(Schema.BACKWARD, r.backwardMs());
        ms.put(Schema.ALLREDUCE, r.allreduceMs());
        ms.put(Schema.OPTIMIZER, r.optimizerMs());
        int world = reducer.worldSize();
        if (world > 1) {
            // nccl-tests' bus bandwidth, over the phase's time: a lower bound, since buckets start during backward
            long bytes = 4L * gradients.arena().length;
            o.put(Schema.ALLREDUCE_BYTES, bytes);
            Records.putNumber(
                    o, Schema.ALLREDUCE_BUSBW_GBPS, 2.0 * (world - 1) / world * bytes / (r.allreduceMs() * 1e6));
        }
        sink.emit(o);
        NonFinite n = r.nonFinite();
        if (n != null) {
            ObjectNode nf = Records.of(Schema.Type.NONFINITE, options.job(), r.step());
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
