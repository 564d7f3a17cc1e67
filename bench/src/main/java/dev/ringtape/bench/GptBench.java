package dev.ringtape.bench;

import dev.ringtape.runtime.autograd.ActivationMemory;
import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.runtime.data.BatchPlan;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.nn.Layer;
import dev.ringtape.runtime.nn.Layers;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.nn.SpecNode;
import dev.ringtape.runtime.optim.LrSchedule;
import dev.ringtape.runtime.optim.Optimizers;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.runtime.train.GradientReducer;
import dev.ringtape.runtime.train.LossScaler;
import dev.ringtape.runtime.train.StepLoop;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.scheduler.worker.DataSources;
import dev.ringtape.telemetry.TelemetrySink;
import dev.ringtape.telemetry.Thresholds;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code bench step --model gpt [--job JOB.yaml]}: the training step of a GPT job (deploy/jobs/gpt-licenses.yaml by
 * default) on batches of its own data, next to two references measured in the same run: the step's GEMMs alone
 * (every linear's three products and attention's batched ones, through the same backend) and PyTorch's step on the
 * same model and batch (bench/scripts/gpt_torch.py); then activation recompute: peak live activation bytes and
 * step time for several segment counts, alternated.
 */
final class GptBench {
    private GptBench() {}

    static void run(String jobFile, int threads, int steps, String part) throws Exception {
        CpuBackend.blasThreads(threads);
        Path path = Path.of(jobFile);
        JobSpec job = JobSpec.from(JobFile.load(path, List.of()));
        Dataset[] parts = DataSources.readSplit(
                job.data().train(),
                path.toAbsolutePath().getParent(),
                "data.train",
                job.data().evalSplit(),
                1);
        int batch = job.train().globalBatch();
        List<List<Tensor[]>> batches = batches(parts[0], batch);
        Sequential probe = model(job, 0);
        System.out.printf(
                "GPT %s: %d parameters, batch %d x %d tokens, %s, fp32, %d BLAS thread(s), best of 3 x %d steps%n",
                job.name(),
                probe.parameterList().stream().mapToInt(Tensor::size).sum(),
                batch,
                probe.inputShape()[0],
                job.train().optimizer().path("type").asText(),
                threads,
                steps);
        if (part.equals("all") || part.equals("step")) {
            double gemms = gemmFloorMs(probe, batch, steps);
            double ours = timeSteps(loop(job, model(job, 0)), batches, steps);
            String torch = torch(jobFile, threads, steps);
            System.out.printf("%-44s %8.2f ms/step  %5.2fx%n", "the step's GEMMs alone (same backend)", gemms, 1.0);
            System.out.printf(
                    "%-44s %8.2f ms/step  %5.2fx%n",
                    "Ringtape step (forward, backward, optimizer)", ours, ours / gemms);
            if (torch.startsWith("ms_per_step=")) {
                double t = Double.parseDouble(torch.substring("ms_per_step=".length()));
                System.out.printf("%-44s %8.2f ms/step  %5.2fx%n", "PyTorch 1.13 step, same model", t, t / gemms);
                System.out.printf("%-44s %8.2fx%n", "Ringtape / PyTorch", ours / t);
            } else {
                System.out.println("PyTorch reference: " + torch);
            }
        }
        if (part.equals("all") || part.equals("recompute")) {
            int[] segmentCounts = {0, 2, 4, 6, 12};
            int n = segmentCounts.length;
            StepLoop[] loops = new StepLoop[n];
            long[] peaks = new long[n];
            for (int c = 0; c < n; c++) {
                loops[c] = loop(job, model(job, 0).recompute(segmentCounts[c]));
                ActivationMemory.current().resetPeak();
                long before = ActivationMemory.current().liveBytes();
                for (int s = 0; s < 5; s++) {
                    loops[c].step(s, batches.get(s % batches.size()));
                }
                peaks[c] = ActivationMemory.current().peakBytes() - before;
            }
            double[] best = new double[n];
            java.util.Arrays.fill(best, Double.MAX_VALUE);
            int timed = Math.max(5, steps / 2);
            for (int round = 0; round < 3; round++) {
                for (int c = 0; c < n; c++) {
                    long t0 = System.nanoTime();
                    for (int s = 0; s < timed; s++) {
                        loops[c].step(s, batches.get(s % batches.size()));
                    }
                    best[c] = Math.min(best[c], (System.nanoTime() - t0) / 1e6 / timed);
                }
            }
            System.out.printf(
                    "%nrecompute (%d top-level layers; segments, alternated, best of 3)%n",
                    probe.layers().size());
            for (int c = 0; c < n; c++) {
                System.out.printf(
                        "  segments %2d: peak activations %7.2f MiB (%5.1f%%, %4.1fx less), step %7.2f ms (%5.2fx)%n",
                        segmentCounts[c],
                        peaks[c] / 1048576.0,
                        100.0 * peaks[c] / peaks[0],
                        (double) peaks[0] / peaks[c],
                        best[c],
                        best[c] / best[0]);
            }
        }
    }

    private static Sequential model(JobSpec job, long seed) throws Exception {
        return ModelBuilder.build(job.model(), seed);
    }

    private static StepLoop loop(JobSpec job, Sequential m) throws Exception {
        var opt = Optimizers.create(new SpecNode(job.train().optimizer(), "train.optimizer"), m.parameterList());
        return new StepLoop(
                m,
                opt.optimizer(),
                LrSchedule.constant(opt.lr()),
                LossScaler.disabled(),
                GradientReducer.local(),
                TelemetrySink.NONE,
                new StepLoop.Options("bench", 1, Precision.FP32, 0, 1, 25L << 20, 0, Thresholds.defaults()));
    }

    /** Four batches of the job's training windows. */
    private static List<List<Tensor[]>> batches(Dataset d, int batch) {
        BatchPlan plan = new BatchPlan(d.size(), batch, 1, 1, 1);
        int[] order = plan.order(1);
        List<List<Tensor[]>> out = new ArrayList<>();
        for (int s = 0; s < 4; s++) {
            out.add(java.util.Collections.singletonList(d.batch(order, plan.offset(s, 0, 0), batch)));
        }
        return out;
    }

    /** Warms up, then the best of three runs of {@code steps} steps, in ms per step. */
    private static double timeSteps(StepLoop loop, List<List<Tensor[]>> batches, int steps) {
        return StepBench.bestMsPerStep(
                Math.max(20, steps), 3, steps, s -> loop.step(s, batches.get(s % batches.size())));
    }

    /**
     * The GEMMs of one step: each linear's forward product and its two gradients, and per attention layer its
     * projections' and the two batched products' (scores {@code q k^T} and {@code weights v}, forward and both
     * gradients).
     */
    static double gemmFloorMs(Sequential m, int batch, int steps) {
        CpuBackend be = new CpuBackend();
        int t = m.inputShape()[0];
        int rows = batch * t;
        List<Runnable> work = new ArrayList<>();
        collect(m.layers(), rows, batch, t, be, work);
        return StepBench.bestMsPerStep(3, 3, steps, s -> work.forEach(Runnable::run));
    }

    private static void collect(List<Layer> layers, int rows, int batch, int t, CpuBackend be, List<Runnable> work) {
        for (Layer l : layers) {
            if (l instanceof Layers.Residual r) {
                collect(r.body(), rows, batch, t, be, work);
            } else if (l instanceof Layers.Linear lin) {
                linear(lin.weight().dim(0), lin.weight().dim(1), rows, be, work);
            } else if (l instanceof Layers.Attention a) {
                int d = a.projWeight().dim(0);
                linear(3 * d, d, rows, be, work);
                linear(d, d, rows, be, work);
                int bh = batch * a.heads();
                int hd = d / a.heads();
                Tensor q = Tensor.zeros(bh, t, hd);
                Tensor k = Tensor.zeros(bh, t, hd);
                Tensor s = Tensor.zeros(bh, t, t);
                Tensor y = Tensor.zeros(bh, t, hd);
                work.add(() -> {
                    // scores = q k^T, forward and the gradients of q and k
                    be.gemmBatched(false, true, t, t, hd, 1f, q, t * hd, k, t * hd, 0f, s, t * t, bh);
                    be.gemmBatched(false, false, t, hd, t, 1f, s, t * t, k, t * hd, 1f, q, t * hd, bh);
                    be.gemmBatched(true, false, t, hd, t, 1f, s, t * t, q, t * hd, 1f, k, t * hd, bh);
                    // y = weights v, forward and the gradients of the weights and v
                    be.gemmBatched(false, false, t, hd, t, 1f, s, t * t, k, t * hd, 0f, y, t * hd, bh);
                    be.gemmBatched(false, true, t, t, hd, 1f, y, t * hd, k, t * hd, 1f, s, t * t, bh);
                    be.gemmBatched(true, false, t, hd, t, 1f, s, t * t, y, t * hd, 1f, k, t * hd, bh);
                });
            }
        }
    }

    private static void linear(int out, int in, int rows, CpuBackend be, List<Runnable> work) {
        Tensor x = Tensor.zeros(rows, in);
        Tensor w = Tensor.zeros(out, in);
        Tensor y = Tensor.zeros(rows, out);
        Tensor gw = Tensor.zeros(out, in);
        Tensor gx = Tensor.zeros(rows, in);
        work.add(() -> {
            be.gemm(false, true, rows, out, in, 1f, x, w, 0f, y);
            be.gemm(true, false, out, in, rows, 1f, y, x, 1f, gw);
            be.gemm(false, false, rows, in, out, 1f, y, w, 1f, gx);
        });
    }

    private static String torch(String jobFile, int threads, int steps) {
        return StepBench.python(
                "bench/scripts/gpt_torch.py", "step", jobFile, "--threads", threads + "", "--steps", steps + "");
    }
}
