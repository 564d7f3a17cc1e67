package dev.ringtape.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ringtape bench fmnist [--runs 3]}: the Fashion-MNIST job (bench/jobs/fashion-mnist-mlp.yaml: 784-256-256-10,
 * Adam, batch 128, 2 epochs, one worker) as a whole process, {@code deploy/bin/ringtape train}, against the same
 * training written in PyTorch ({@code bench/scripts/fmnist_torch.py}, Debian's python3-torch), alternated, each
 * timed from process start to exit (JVM or interpreter start and data reading included); the test accuracy of
 * each, and the ratio of the wall times. Without PyTorch, Ringtape's runs alone, and a line saying why.
 *
 * <p>Beside the wall time, what issue 28 sets targets for, per run: each process's peak RSS (GNU time's maximum
 * resident set, which covers the JVM the launcher starts), the time from process start to the end of the first step
 * (Ringtape: the first step record's {@code ts}; PyTorch: the script's {@code first_step_unix}), and from Ringtape's
 * step records the warm-up (the first 300 steps' time beyond 300 steady steps, and the samples per second of the
 * first 100 against the steady rate, steady being the median time between step records from step 470 on) and the
 * steady step's wall time against its phases.
 */
final class FmnistBench {
    private FmnistBench() {}

    private static final Pattern RINGTAPE_ACCURACY = Pattern.compile("held-out accuracy ([0-9.]+)%");
    private static final Pattern TORCH_ACCURACY = Pattern.compile("accuracy=([0-9.]+)");

    private record Run(double seconds, double accuracy, double maxRssMb, double toFirstStep, String out) {}

    public static void main(String[] args) throws Exception {
        int runs = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Path job = Path.of("bench/jobs/fashion-mnist-mlp.yaml");
        if (!Files.exists(Path.of("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))) {
            System.out.println("not run: needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)");
            return;
        }
        Path python = Path.of("/usr/bin/python3");
        boolean torch = Files.exists(python) && exec(List.of(python.toString(), "-c", "import torch"), 60) != null;
        if (!torch) {
            System.out.println("PyTorch: not run (needs /usr/bin/python3 with python3-torch)");
        }
        Path tmp = Files.createTempDirectory("fmnist-bench");
        List<Double> ratios = new ArrayList<>();
        for (int rep = 0; rep < runs; rep++) {
            Path log = tmp.resolve("log-" + rep + ".jsonl");
            Run ours = time(
                    List.of(
                            "deploy/bin/ringtape",
                            "train",
                            "--fresh",
                            job.toString(),
                            "--set",
                            "telemetry.out=" + log,
                            "--set",
                            "export.path=" + tmp.resolve("model.safetensors"),
                            "--set",
                            "checkpoint.dir=" + tmp.resolve("checkpoints-" + rep)),
                    RINGTAPE_ACCURACY,
                    1,
                    null,
                    log);
            String line = String.format(
                    "run %d: Ringtape %.2f s (test accuracy %.2f %%, peak RSS %.0f MB, first step at %.2f s)",
                    rep, ours.seconds(), ours.accuracy(), ours.maxRssMb(), ours.toFirstStep());
            if (torch) {
                Run theirs = time(
                        List.of(python.toString(), "bench/scripts/fmnist_torch.py"),
                        TORCH_ACCURACY,
                        100,
                        FIRST_STEP,
                        null);
                ratios.add(ours.seconds() / theirs.seconds());
                line += String.format(
                        "; PyTorch %.2f s (%.2f %%, peak RSS %.0f MB, first step at %.2f s): %.2fx",
                        theirs.seconds(),
                        theirs.accuracy(),
                        theirs.maxRssMb(),
                        theirs.toFirstStep(),
                        ours.seconds() / theirs.seconds());
            }
            System.out.println(line);
            System.out.println("  " + warmUp(log));
        }
        if (!ratios.isEmpty()) {
            Collections.sort(ratios);
            System.out.printf(
                    "Ringtape / PyTorch whole-process wall time: median %.2fx (%.2f-%.2f) over %d alternated pairs%n",
                    ratios.get(ratios.size() / 2), ratios.get(0), ratios.get(ratios.size() - 1), ratios.size());
        }
    }

    private static final Pattern FIRST_STEP = Pattern.compile("first_step_unix=([0-9.]+)");
    private static final Pattern MAX_RSS = Pattern.compile("maxrss_kb=([0-9]+)");

    /**
     * Runs {@code cmd} from the repository root under GNU time: its wall time, the accuracy it printed (times {@code
     * toPercent}), its peak RSS, and the seconds from its start to its first step, from the wall clock it printed
     * ({@code firstStep}) or from the first step record of the log {@code log}.
     */
    private static Run time(List<String> cmd, Pattern accuracy, double toPercent, Pattern firstStep, Path log)
            throws Exception {
        // GNU time (Debian's time package) for the peak RSS; without it, none is reported
        List<String> timed = new ArrayList<>(
                Files.isExecutable(Path.of("/usr/bin/time"))
                        ? List.of("/usr/bin/time", "-f", "maxrss_kb=%M")
                        : List.of());
        timed.addAll(cmd);
        double startUnix = System.currentTimeMillis() / 1e3;
        long t0 = System.nanoTime();
        String out = exec(timed, 900);
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (out == null) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed");
        }
        Matcher m = accuracy.matcher(out);
        if (!m.find()) {
            throw new IllegalStateException(String.join(" ", cmd) + " printed no accuracy:\n" + out);
        }
        Matcher rss = MAX_RSS.matcher(out);
        double mb = rss.find() ? Long.parseLong(rss.group(1)) / 1024.0 : Double.NaN;
        double first = Double.NaN;
        if (firstStep != null) {
            Matcher f = firstStep.matcher(out);
            first = f.find() ? Double.parseDouble(f.group(1)) - startUnix : Double.NaN;
        } else if (log != null) {
            List<double[]> steps = steps(log);
            first = steps.isEmpty() ? Double.NaN : steps.get(0)[1] - startUnix;
        }
        return new Run(seconds, Double.parseDouble(m.group(1)) * toPercent, mb, first, out);
    }

    /** Each step record of rank 0 in {@code log}: step, its ts (unix seconds), the sum of its phases (ms). */
    static List<double[]> steps(Path log) throws IOException {
        List<double[]> out = new ArrayList<>();
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (String line : Files.readAllLines(log)) {
            var r = json.readTree(line);
            if (!r.path("type").asText().equals("step") || r.path("rank").asInt(0) != 0) {
                continue;
            }
            java.time.Instant ts = java.time.Instant.parse(r.path("ts").asText());
            double phases = 0;
            for (var it = r.path("phase_ms").elements(); it.hasNext(); ) {
                phases += it.next().asDouble();
            }
            out.add(new double[] {r.path("step").asLong(), ts.getEpochSecond() + ts.getNano() / 1e9, phases});
        }
        return out;
    }

    /**
     * The warm-up in words, from the step records: steady = the median time between consecutive step records from
     * step 470 on; the first 300 steps' time beyond 300 steady steps; the first 100 steps' samples per second against
     * the steady rate; and the steady wall time per step against the median of its phases.
     */
    static String warmUp(Path log) throws IOException {
        List<double[]> s = steps(log);
        if (s.size() < 480) {
            return "warm-up: fewer than 480 steps in " + log;
        }
        List<Double> gaps = new ArrayList<>();
        List<Double> phases = new ArrayList<>();
        for (int i = 470; i < s.size(); i++) {
            if (s.get(i)[0] == s.get(i - 1)[0] + 1) {
                gaps.add(s.get(i)[1] - s.get(i - 1)[1]);
                phases.add(s.get(i)[2] / 1e3);
            }
        }
        Collections.sort(gaps);
        Collections.sort(phases);
        double steady = gaps.get(gaps.size() / 2);
        double first300 = s.get(300)[1] - s.get(0)[1];
        double first100 = s.get(100)[1] - s.get(0)[1];
        return String.format(
                "steady %.2f ms a step (phases %.2f ms: %.3fx); first 300 steps %.2f s, %.2f s beyond steady;"
                        + " first 100 steps at %.0f %% of the steady rate",
                1e3 * steady,
                1e3 * phases.get(phases.size() / 2),
                steady / phases.get(phases.size() / 2),
                first300,
                first300 - 300 * steady,
                100 * 100 * steady / first100);
    }

    /** The output of {@code cmd}, or null when it fails or times out. */
    static String exec(List<String> cmd, int timeoutSeconds) throws IOException, InterruptedException {
        Path out = Files.createTempFile("fmnist-bench", ".txt");
        try {
            Process p = new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(out.toFile())
                    .start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                return null;
            }
            return p.exitValue() == 0 ? Files.readString(out, StandardCharsets.UTF_8) : null;
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
