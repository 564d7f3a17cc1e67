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
 */
final class FmnistBench {
    private FmnistBench() {}

    private static final Pattern RINGTAPE_ACCURACY = Pattern.compile("held-out accuracy ([0-9.]+)%");
    private static final Pattern TORCH_ACCURACY = Pattern.compile("accuracy=([0-9.]+)");

    private record Run(double seconds, double accuracy) {}

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
            Run ours = time(
                    List.of(
                            "deploy/bin/ringtape",
                            "train",
                            "--fresh",
                            job.toString(),
                            "--set",
                            "telemetry.out=" + tmp.resolve("log-" + rep + ".jsonl"),
                            "--set",
                            "export.path=" + tmp.resolve("model.safetensors"),
                            "--set",
                            "checkpoint.dir=" + tmp.resolve("checkpoints-" + rep)),
                    RINGTAPE_ACCURACY,
                    1);
            String line = String.format(
                    "run %d: Ringtape %.2f s (test accuracy %.2f %%)", rep, ours.seconds(), ours.accuracy());
            if (torch) {
                Run theirs = time(List.of(python.toString(), "bench/scripts/fmnist_torch.py"), TORCH_ACCURACY, 100);
                ratios.add(ours.seconds() / theirs.seconds());
                line += String.format(
                        ", PyTorch %.2f s (%.2f %%): %.2fx",
                        theirs.seconds(), theirs.accuracy(), ours.seconds() / theirs.seconds());
            }
            System.out.println(line);
        }
        if (!ratios.isEmpty()) {
            Collections.sort(ratios);
            System.out.printf(
                    "Ringtape / PyTorch whole-process wall time: median %.2fx (%.2f-%.2f) over %d alternated pairs%n",
                    ratios.get(ratios.size() / 2), ratios.get(0), ratios.get(ratios.size() - 1), ratios.size());
        }
    }

    /** Runs {@code cmd} from the repository root; its wall time and the accuracy it printed, times {@code toPercent}. */
    private static Run time(List<String> cmd, Pattern accuracy, double toPercent) throws Exception {
        long t0 = System.nanoTime();
        String out = exec(cmd, 900);
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (out == null) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed");
        }
        Matcher m = accuracy.matcher(out);
        if (!m.find()) {
            throw new IllegalStateException(String.join(" ", cmd) + " printed no accuracy:\n" + out);
        }
        return new Run(seconds, Double.parseDouble(m.group(1)) * toPercent);
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
