package dev.ringtape.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ringtape.runtime.autograd.ActivationMemory;
import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.runtime.backend.cpu.Loops;
import dev.ringtape.runtime.data.BatchPlan;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.data.Synthetic;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.optim.Adam;
import dev.ringtape.runtime.optim.LrSchedule;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.runtime.train.GradientReducer;
import dev.ringtape.runtime.train.LossScaler;
import dev.ringtape.runtime.train.StepLoop;
import dev.ringtape.telemetry.TelemetrySink;
import dev.ringtape.telemetry.Thresholds;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Training-step time of an MLP (Adam, fp32, batch 128) on the CPU backend, next to two references measured in the
 * same run: the same six GEMMs alone through OpenBLAS (the floor any framework pays), and PyTorch's step on the same
 * model when Debian's python3-torch is installed. Then the activation-recompute trade on a 32-layer MLP: peak live
 * activation bytes and step time with and without it.
 */
final class StepBench {
    private StepBench() {}

    public static void main(String[] args) throws Exception {
        int threads = 1;
        int steps = 200;
        String part = "all";
        boolean json = false;
        String model = "mlp";
        String job = "deploy/jobs/gpt-licenses.yaml";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model" -> model = args[++i];
                case "--job" -> job = args[++i];
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--part" -> part = args[++i];
                case "--json" -> json = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (model.equals("gpt")) {
            GptBench.run(
                    job,
                    threads,
                    args.length == 0 || !java.util.Arrays.asList(args).contains("--steps") ? 20 : steps,
                    part);
            return;
        }
        if (!model.equals("mlp")) {
            throw new IllegalArgumentException("--model mlp or gpt, got " + model);
        }
        CpuBackend.blasThreads(threads);
        int[] widths = {784, 256, 256, 10};
        int batch = 128;
        if (json) {
            if (!part.equals("step")) {
                throw new IllegalArgumentException("--json goes with --part step");
            }
            json(widths, batch, steps, threads);
            return;
        }
        System.out.printf(
                "MLP %s, batch %d, Adam, fp32, %d BLAS thread(s), best of 5 x %d steps%n",
                java.util.Arrays.toString(widths), batch, threads, steps);
        if (part.equals("all") || part.equals("step")) {
            double ours = msPerStep(mlp(widths, "relu"), batch, steps, 0);
            double gemms = gemmFloorMs(widths, batch, steps);
            String torch = torchReference(widths, batch, steps, threads);
            System.out.printf("%-44s %8.3f ms/step  %5.2fx%n", "the six GEMMs alone (OpenBLAS)", gemms, 1.0);
            System.out.printf(
                    "%-44s %8.3f ms/step  %5.2fx%n", "Ringtape step (forward, backward, Adam)", ours, ours / gemms);
            if (torch.startsWith("ms_per_step=")) {
                double t = Double.parseDouble(torch.substring("ms_per_step=".length()));
                System.out.printf("%-44s %8.3f ms/step  %5.2fx%n", "PyTorch 1.13 step, same model", t, t / gemms);
            } else {
                System.out.println("PyTorch reference: " + torch);
            }
        }
        if (part.equals("all") || part.equals("telemetry")) {
            // telemetry: every step sampled (the worst case; jobs default to every 10th) against none, alternated in
            // pairs so that both sides of a ratio see the same machine load
            int reps = 7;
            double[] off = new double[reps];
            double[] every = new double[reps];
            double[] tenth = new double[reps];
            double[] board = new double[reps];
            double[] boardTenth = new double[reps];
            java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("ringtape-bench-tb");
            for (int rep = 0; rep < reps; rep++) {
                off[rep] = msPerStep(mlp(widths, "relu"), batch, steps, 0, 0);
                every[rep] = msPerStep(mlp(widths, "relu"), batch, steps, 0, 1) / off[rep];
                tenth[rep] = msPerStep(mlp(widths, "relu"), batch, steps, 0, 10) / off[rep];
                // TensorBoard's writer on the training thread itself (in a run it is the driver's, off that thread)
                try (TelemetrySink tb = new dev.ringtape.telemetry.TensorBoard(dir)) {
                    board[rep] = timeSteps(loop(mlp(widths, "relu"), 1, tb), batches(mlp(widths, "relu"), batch), steps)
                            / off[rep];
                }
                try (TelemetrySink tb = new dev.ringtape.telemetry.TensorBoard(dir)) {
                    boardTenth[rep] =
                            timeSteps(loop(mlp(widths, "relu"), 10, tb), batches(mlp(widths, "relu"), batch), steps)
                                    / off[rep];
                }
            }
            System.out.printf(
                    "%ntelemetry on the same MLP, loops: %s (median and range of %d alternated pairs)%n",
                    Loops.get().implementation(), reps);
            System.out.printf("%-44s %8.3f ms/step%n", "no sampling", median(off));
            printOverhead("every step sampled (layer stats, rules)", every);
            printOverhead("every 10th step sampled (the default)", tenth);
            printOverhead("every step, + TensorBoard events inline", board);
            printOverhead("every 10th step, + TensorBoard events inline", boardTenth);
        }
        if (part.equals("all") || part.equals("recompute")) {
            int depth = 32;
            int[] deep = new int[depth + 2];
            java.util.Arrays.fill(deep, 256);
            deep[deep.length - 1] = 10;
            int[] segmentCounts = {0, 2, 4, 6, 8, 16};
            for (String act : new String[] {"relu", "tanh"}) {
                System.out.printf("%nrecompute: %d-layer %s MLP, width 256, batch %d%n", depth, act, batch);
                int n = segmentCounts.length;
                StepLoop[] loops = new StepLoop[n];
                List<List<Tensor[]>> data = null;
                long[] peaks = new long[n];
                int timed = Math.max(10, steps / 4);
                for (int c = 0; c < n; c++) {
                    Sequential m = mlp(deep, act).recompute(segmentCounts[c]);
                    loops[c] = loop(m, 0);
                    data = data == null ? batches(m, batch) : data;
                    ActivationMemory.current().resetPeak();
                    long before = ActivationMemory.current().liveBytes();
                    for (int s = 0; s < Math.max(20, timed / 5); s++) {
                        loops[c].step(s, data.get(s % data.size()));
                    }
                    peaks[c] = ActivationMemory.current().peakBytes() - before;
                }
                // the configurations alternate, five rounds, best of each: a shared machine's slow minutes fall on
                // all of them alike instead of on whichever ran then
                double[] best = new double[n];
                java.util.Arrays.fill(best, Double.MAX_VALUE);
                for (int round = 0; round < 5; round++) {
                    for (int c = 0; c < n; c++) {
                        long t0 = System.nanoTime();
                        for (int s = 0; s < timed; s++) {
                            loops[c].step(s, data.get(s % data.size()));
                        }
                        best[c] = Math.min(best[c], (System.nanoTime() - t0) / 1e6 / timed);
                    }
                }
                for (int c = 0; c < n; c++) {
                    System.out.printf(
                            "  segments %2d: peak activations %7.2f MiB (%5.1f%%), step %7.3f ms (%5.2fx)%n",
                            segmentCounts[c],
                            peaks[c] / 1048576.0,
                            100.0 * peaks[c] / peaks[0],
                            best[c],
                            best[c] / best[0]);
                }
            }
        }
    }

    /**
     * {@code --part step --json}: one JSON object, {@code gemm_ms} (the step's GEMMs alone), {@code step_ms},
     * {@code torch_ms} (null without PyTorch), {@code alloc_bytes_per_step} (this thread's allocation over timed
     * steps after warm-up, telemetry sampling off) and the two ratios.
     */
    private static void json(int[] widths, int batch, int steps, int threads) throws Exception {
        Sequential m = mlp(widths, "relu");
        StepLoop loop = loop(m, 0);
        List<List<Tensor[]>> batches = batches(m, batch);
        double gemm = gemmFloorMs(widths, batch, steps);
        double step = timeSteps(loop, batches, steps);
        com.sun.management.ThreadMXBean mx =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().getId();
        long a0 = mx.getThreadAllocatedBytes(tid);
        for (int s = 0; s < steps; s++) {
            loop.step(s, batches.get(s % batches.size()));
        }
        long alloc = (mx.getThreadAllocatedBytes(tid) - a0) / steps;
        String torch = torchReference(widths, batch, steps, threads);
        Double torchMs =
                torch.startsWith("ms_per_step=") ? Double.parseDouble(torch.substring("ms_per_step=".length())) : null;
        var o = new ObjectMapper().createObjectNode();
        o.put("model", java.util.Arrays.toString(widths) + " MLP, batch " + batch + ", Adam, fp32");
        o.put("blas_threads", threads);
        o.put("gemm_ms", round(gemm));
        o.put("step_ms", round(step));
        if (torchMs == null) {
            o.putNull("torch_ms");
            o.put("torch", torch);
        } else {
            o.put("torch_ms", round(torchMs));
        }
        o.put("alloc_bytes_per_step", alloc);
        o.put("step_over_gemm", round(step / gemm));
        if (torchMs != null) {
            o.put("step_over_torch", round(step / torchMs));
        }
        System.out.println(o);
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    private static double median(double[] a) {
        double[] c = a.clone();
        java.util.Arrays.sort(c);
        return c[c.length / 2];
    }

    private static void printOverhead(String what, double[] ratios) {
        double lo = Double.MAX_VALUE;
        double hi = -Double.MAX_VALUE;
        for (double r : ratios) {
            lo = Math.min(lo, r);
            hi = Math.max(hi, r);
        }
        System.out.printf(
                "%-44s %+7.1f %%  (%+.1f to %+.1f %%)%n",
                what, 100 * (median(ratios) - 1), 100 * (lo - 1), 100 * (hi - 1));
    }

    static Sequential mlp(int[] widths, String act) throws Exception {
        StringBuilder layers = new StringBuilder();
        for (int i = 1; i < widths.length; i++) {
            layers.append("{\"type\": \"linear\", \"out\": ").append(widths[i]).append("}");
            if (i < widths.length - 1) {
                layers.append(", {\"type\": \"").append(act).append("\"}, ");
            }
        }
        String json = "{\"input\": [" + widths[0] + "], \"layers\": [" + layers
                + "], \"loss\": {\"type\": \"softmax_cross_entropy\"}}";
        return ModelBuilder.build(new ObjectMapper().readTree(json), 1);
    }

    static double msPerStep(Sequential m, int batch, int steps, int segments) {
        return msPerStep(m, batch, steps, segments, 0);
    }

    static double msPerStep(Sequential m, int batch, int steps, int segments, int telemetryEvery) {
        return timeSteps(loop(m, telemetryEvery), batches(m, batch), steps);
    }

    private static StepLoop loop(Sequential m, int telemetryEvery) {
        return loop(m, telemetryEvery, TelemetrySink.NONE);
    }

    private static StepLoop loop(Sequential m, int telemetryEvery, TelemetrySink sink) {
        return new StepLoop(
                m,
                Adam.adam(m.parameterList()),
                LrSchedule.constant(1e-3),
                LossScaler.disabled(),
                GradientReducer.local(),
                sink,
                new StepLoop.Options(
                        "bench", 1, Precision.FP32, 0, 1, 25L << 20, telemetryEvery, Thresholds.defaults()));
    }

    /** Four batches of a synthetic teacher's data, each its own (fresh data each step, as in training). */
    private static List<List<Tensor[]>> batches(Sequential m, int batch) {
        int features = m.inputShape()[0];
        Dataset d = Synthetic.teacher(batch * 4, features, 10, 2);
        BatchPlan plan = new BatchPlan(d.size(), batch, 1, 1, 1);
        List<List<Tensor[]>> batches = new ArrayList<>();
        int[] order = plan.order(1);
        for (int s = 0; s < plan.stepsPerEpoch(); s++) {
            batches.add(java.util.Collections.singletonList(d.batch(order, plan.offset(s, 0, 0), batch)));
        }
        return batches;
    }

    /** Warms up, then the best of five runs of {@code steps} steps, in ms per step. */
    private static double timeSteps(StepLoop loop, List<List<Tensor[]>> batches, int steps) {
        return bestMsPerStep(Math.max(20, steps / 5), 5, steps, s -> loop.step(s, batches.get(s % batches.size())));
    }

    /** Runs {@code step} {@code warmUp} times, then the best of {@code reps} runs of {@code steps}, in ms per step. */
    static double bestMsPerStep(int warmUp, int reps, int steps, java.util.function.IntConsumer step) {
        for (int s = 0; s < warmUp; s++) {
            step.accept(s);
        }
        double best = Double.MAX_VALUE;
        for (int rep = 0; rep < reps; rep++) {
            long t0 = System.nanoTime();
            for (int s = 0; s < steps; s++) {
                step.accept(s);
            }
            best = Math.min(best, (System.nanoTime() - t0) / 1e6 / steps);
        }
        return best;
    }

    /** The GEMMs of one step: per layer the forward product, the weight gradient and (but the first) input gradient. */
    static double gemmFloorMs(int[] widths, int batch, int steps) {
        CpuBackend be = new CpuBackend();
        List<Runnable> work = new ArrayList<>();
        for (int i = 1; i < widths.length; i++) {
            int in = widths[i - 1];
            int out = widths[i];
            Tensor x = Tensor.zeros(batch, in);
            Tensor w = Tensor.zeros(out, in);
            Tensor y = Tensor.zeros(batch, out);
            Tensor gw = Tensor.zeros(out, in);
            Tensor gx = Tensor.zeros(batch, in);
            boolean first = i == 1;
            work.add(() -> {
                be.gemm(false, true, batch, out, in, 1f, x, w, 0f, y);
                be.gemm(true, false, out, in, batch, 1f, y, x, 1f, gw);
                if (!first) {
                    be.gemm(false, false, batch, in, out, 1f, y, w, 1f, gx);
                }
            });
        }
        return bestMsPerStep(steps, 5, steps, s -> work.forEach(Runnable::run));
    }

    static String torchReference(int[] widths, int batch, int steps, int threads) {
        StringBuilder w = new StringBuilder();
        for (int v : widths) {
            w.append(w.length() == 0 ? "" : ",").append(v);
        }
        return python("bench/scripts/torch_step.py", w.toString(), batch + "", steps + "", threads + "");
    }

    /**
     * Runs a bench script with Debian's /usr/bin/python3 (from the repository root) and returns its line {@code
     * ms_per_step=...}, or why there is none.
     */
    static String python(String script, String... args) {
        Path python = Path.of("/usr/bin/python3");
        if (!Files.exists(python) || !Files.exists(Path.of(script))) {
            return "not run (needs /usr/bin/python3 with python3-torch, from the repository root)";
        }
        List<String> command = new ArrayList<>(List.of(python.toString(), script));
        command.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out;
            try (BufferedReader r =
                    new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                out = r.lines().reduce("", (a, b) -> b.startsWith("ms_per_step=") ? b : a);
            }
            if (!p.waitFor(600, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "timed out";
            }
            return out.isEmpty() ? "failed (is python3-torch installed?)" : out;
        } catch (java.io.IOException e) {
            return "failed: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }
}
