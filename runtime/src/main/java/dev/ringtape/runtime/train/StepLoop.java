package dev.ringtape.runtime.train;

import dev.ringtape.runtime.autograd.Autocast;
import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.nn.ForwardContext;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.optim.LrSchedule;
import dev.ringtape.runtime.optim.Optimizer;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.BufferPool;
import dev.ringtape.runtime.tensor.Tensor;
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
            NonFiniteTracer.NonFinite nonFinite,
            double forwardMs,
            double backwardMs,
            double allreduceMs,
            double allreduceHiddenMs,
            double optimizerMs,
            double telemetryMs,
            double logZ) {}

    private final Sequential model;
    private final Optimizer optimizer;
    private final LrSchedule schedule;
    private final LossScaler scaler;
    private final GradientReducer reducer;
    /** The reducer's {@link GradientReducer#sentBytes()} at the end of the last step. */
    private long sentBefore;

    private final Options options;
    private final List<Tensor> params;
    private final GradientBuckets gradients;
    private final Backend backend = Backends.current();
    /** The step's op outputs and gradients, in the backend's memory. */
    private final BufferPool pool = new BufferPool(backend::allocate);

    private final StepTelemetry telemetry;
    private final NonFiniteTracer tracer;

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
        this.options = options;
        this.params = model.parameterList();
        this.gradients = new GradientBuckets(params, options.bucketBytes(), reducer);
        this.telemetry = new StepTelemetry(
                options.job(),
                options.precision(),
                options.telemetryEvery(),
                options.thresholds(),
                reducer.rank(),
                params,
                sink);
        this.tracer = new NonFiniteTracer(model, options.precision(), options.seed(), reducer.rank());
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

    /**
     * Runs step {@code step} over this rank's micro-batches ({@code [x, y]} pairs). Op outputs and intermediate
     * gradients come from this loop's {@link BufferPool}: from the second step on, the same arrays serve again.
     */
    @SuppressWarnings("try") // the pool's scope is entered for its effect on the ops inside
    public Result step(long step, List<Tensor[]> microBatches) {
        try (BufferPool.Scope scope = pool.enter()) {
            return run(step, microBatches);
        }
    }

    @SuppressWarnings("try") // the Autocast scope is entered for its effect on the ops inside
    private Result run(long step, List<Tensor[]> microBatches) {
        int k = microBatches.size();
        if (k != options.microBatches()) {
            throw new IllegalArgumentException("expected " + options.microBatches() + " micro-batches, got " + k);
        }
        model.zeroGrad();
        gradients.begin();
        float scale = scaler.scale();
        double localLoss = 0;
        double localLogZ = 0;
        double[] logZ = {Double.NaN};
        int samples = 0;
        long forwardNs = 0;
        long backwardNs = 0;
        boolean sampled = telemetry.sampled(step);
        if (sampled) {
            telemetry.openStep();
        }
        for (int m = 0; m < k; m++) {
            Tensor[] xy = microBatches.get(m);
            samples += xy[0].dim(0);
            long t0 = System.nanoTime();
            try (Autocast cast = Autocast.enable(options.precision());
                    Tape tape = Tape.record()) {
                if (sampled) {
                    telemetry.openForward(m == 0);
                }
                Tensor out;
                try {
                    out = model.forward(
                            xy[0],
                            ForwardContext.training(
                                    NonFiniteTracer.microSeed(options.seed(), step, reducer.rank(), m)));
                } finally {
                    telemetry.closeForward();
                }
                Tensor loss = model.objective(out, xy[1], logZ);
                long t1 = System.nanoTime();
                localLoss += loss.item();
                localLogZ += logZ[0];
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
        telemetry.closeStep();

        long t2 = System.nanoTime();
        gradients.finish();
        // a sum of squares is finite exactly when every term is: one pass as buckets started checked all local
        // gradients (a worker alone checks them in the unscale walk below, its gradients being its own)
        boolean localBad = !Double.isFinite(gradients.localSquares()) || !Double.isFinite(localLoss);
        double[] scalars = {localBad ? 1 : 0, localLoss, samples, Double.isFinite(localLoss) ? 0 : 1, localLogZ};
        reducer.sumScalars(scalars);
        long t3 = System.nanoTime();
        int world = reducer.worldSize();
        float inv = (float) (1.0 / ((double) scale * world));
        // one walk over the summed gradients: unscale, per-parameter squares, and on sampled steps max |g| and zero
        // counts
        double sq = 0;
        for (int i = 0; i < params.size(); i++) {
            telemetry.gradSquares[i] = backend.scale(
                    params.get(i).gradBuffer(), inv, sampled ? telemetry.gradMaxAbs : null, telemetry.gradZeros, i);
            telemetry.gradNonFinite[i] = 0;
            sq += telemetry.gradSquares[i];
        }
        // the sum of finite gradients can still overflow, so the reduced arena is checked too (same on every rank)
        boolean foundInf = scalars[0] > 0 || !Double.isFinite(sq);
        if (world == 1) {
            localBad |= !Double.isFinite(sq);
        }
        double meanLoss = scalars[1] / (k * world);
        double meanLogZ = scalars[4] / (k * world); // NaN for a loss without a softmax

        NonFiniteTracer.NonFinite origin = null;
        double lr = schedule.lr(step);
        double norm = Double.NaN;
        boolean clipped = false;
        if (foundInf) {
            if (sampled) {
                // the walk above has already unscaled the gradients in place
                telemetry.measureNonFiniteGradients(1f);
            }
            boolean lossNotFinite = scalars[3] > 0;
            if (!scaler.enabled() || lossNotFinite) {
                origin = localBad ? tracer.find(step, microBatches, scale) : tracer.inAllreduce(step);
            }
            model.zeroGrad();
        } else {
            norm = Math.sqrt(sq);
            if (options.clipGradNorm() > 0 && norm > options.clipGradNorm()) {
                // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied when below 1
                float coef = (float) (options.clipGradNorm() / (norm + 1e-6));
                for (Tensor p : params) {
                    backend.scale(p.gradBuffer(), coef, null, null, 0);
                }
                for (int i = 0; i < params.size(); i++) {
                    telemetry.gradSquares[i] *= (double) coef * coef;
                    telemetry.gradMaxAbs[i] *= coef;
                }
                clipped = true;
            }
            gradients.summed();
        }
        if (!foundInf) {
            optimizer.step(lr, sampled ? telemetry.optimizerStats() : null);
        }
        scaler.update(foundInf);
        long t5 = System.nanoTime();
        long t6 = t5;
        if (sampled) {
            telemetry.sample(
                    step,
                    meanLoss,
                    lr,
                    schedule.base(),
                    scale,
                    foundInf,
                    norm,
                    (long) scalars[2],
                    meanLogZ,
                    v -> reducer.sum(v, 0, v.length));
            t6 = System.nanoTime();
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
                reducer.hiddenMs(),
                (t5 - t3) / 1e6, // the optimizer phase: unscale, norm, clip, update, loss scaler
                (t6 - t5) / 1e6,
                meanLogZ);
        long sent = reducer.sentBytes();
        telemetry.report(r, reducer.worldSize(), gradients.bytes(), sent - sentBefore);
        sentBefore = sent;
        return r;
    }
}
