package dev.ringtape.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ringtape bench scaling [--runs 2]}: data-parallel speed-up on this machine. The Fashion-MNIST job
 * (bench/jobs/fashion-mnist-mlp.yaml) through the default runner with 1 and 2 workers, and the same training in
 * PyTorch DDP over gloo ({@code bench/scripts/fmnist_ddp.py}) with 1 and 2 ranks, alternated; training seconds (the
 * {@code end} record's; the script's loop between barriers), each side's 2-vs-1 speed-up, and Ringtape's 2 workers
 * against DDP's 2 ranks. Without PyTorch, Ringtape's runs alone and a line saying why.
 */
final class ScalingBench {
    private ScalingBench() {}

    private static final Pattern DDP = Pattern.compile("train_seconds=([0-9.]+) accuracy=([0-9.]+)");

    public static void main(String[] args) throws Exception {
        int runs = 2;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (!Files.exists(Path.of("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))) {
            System.out.println("not run: needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)");
            return;
        }
        String python = "/usr/bin/python3";
        boolean torch = Files.exists(Path.of(python))
                && FmnistBench.exec(
                                List.of(python, "-c", "import torch.distributed as d; assert d.is_gloo_available()"),
                                60)
                        != null;
        if (!torch) {
            System.out.println("PyTorch DDP: not run (needs /usr/bin/python3 with python3-torch and gloo)");
        }
        Path tmp = Files.createTempDirectory("scaling-bench");
        List<Double> ours = new ArrayList<>();
        List<Double> theirs = new ArrayList<>();
        List<Double> versus = new ArrayList<>();
        for (int rep = 0; rep < runs; rep++) {
            double[] r = new double[3];
            double[] d = new double[3];
            for (int workers = 1; workers <= 2; workers++) {
                r[workers] = ringtape(tmp, workers, rep);
                if (torch) {
                    d[workers] = ddp(python, workers);
                }
            }
            String line = String.format(
                    "run %d: Ringtape 1 worker %.2f s, 2 workers %.2f s: %.2fx", rep, r[1], r[2], r[1] / r[2]);
            ours.add(r[1] / r[2]);
            if (torch) {
                line += String.format(
                        "; DDP 1 rank %.2f s, 2 ranks %.2f s: %.2fx; Ringtape 2 / DDP 2: %.2fx",
                        d[1], d[2], d[1] / d[2], r[2] / d[2]);
                theirs.add(d[1] / d[2]);
                versus.add(r[2] / d[2]);
            }
            System.out.println(line);
        }
        System.out.printf("Ringtape 2-vs-1 speed-up: median %.2fx%n", median(ours));
        if (torch) {
            System.out.printf(
                    "DDP 2-vs-1 speed-up: median %.2fx; Ringtape 2 workers / DDP 2 ranks, training time: median %.2fx%n",
                    median(theirs), median(versus));
        }
    }

    private static double median(List<Double> values) {
        List<Double> v = new ArrayList<>(values);
        Collections.sort(v);
        return v.get(v.size() / 2);
    }

    /** A fresh run of the job with {@code workers}; the training seconds of its {@code end} record. */
    private static double ringtape(Path tmp, int workers, int rep) throws Exception {
        Path log = tmp.resolve("w" + workers + "-" + rep + ".jsonl");
        String out = FmnistBench.exec(
                List.of(
                        "deploy/bin/ringtape",
                        "train",
                        "--fresh",
                        "bench/jobs/fashion-mnist-mlp.yaml",
                        "--set",
                        "workers=" + workers,
                        "--set",
                        "telemetry.out=" + log,
                        "--set",
                        "export.path=" + tmp.resolve("model.safetensors"),
                        "--set",
                        "checkpoint.dir=" + tmp.resolve("checkpoints-" + workers + "-" + rep)),
                900);
        if (out == null) {
            throw new IllegalStateException("the Ringtape run with " + workers + " worker(s) failed");
        }
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(log)) {
            JsonNode r = json.readTree(line);
            if (r.path("type").asText().equals("end")) {
                return r.path("seconds").asDouble();
            }
        }
        throw new IllegalStateException(log + " has no end record");
    }

    private static double ddp(String python, int ranks) throws Exception {
        String out = FmnistBench.exec(List.of(python, "bench/scripts/fmnist_ddp.py", String.valueOf(ranks)), 900);
        Matcher m = out == null ? null : DDP.matcher(out);
        if (m == null || !m.find()) {
            throw new IllegalStateException("bench/scripts/fmnist_ddp.py " + ranks + " failed:\n" + out);
        }
        return Double.parseDouble(m.group(1));
    }
}
