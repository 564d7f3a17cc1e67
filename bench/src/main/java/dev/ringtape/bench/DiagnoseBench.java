package dev.ringtape.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ringtape.scheduler.driver.SparkTrain;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Calibration of the diagnosis rules, by running whole jobs through the driver (local Spark, in this JVM):
 *
 * <ul>
 *   <li>{@code sweep JOB [--factors 0.01,0.1,...]}: the job's learning rate times each factor; per run, the median
 *       update ratio of the weights after grace_steps (the largest over layers), the held-out accuracy and every
 *       diagnosis opened, with its step;
 *   <li>{@code false-alarms JOB...}: each healthy job over the matrix telemetry.every_steps 1|10 x global_batch
 *       16|64 x micro_batches 1|4 x workers 1|2; any warn or error opened is a false alarm.
 * </ul>
 */
final class DiagnoseBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    private DiagnoseBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            throw new IllegalArgumentException("diagnose sweep JOB [--factors F,...] | diagnose false-alarms JOB...");
        }
        switch (args[0]) {
            case "sweep" -> {
                double[] factors = {0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100};
                List<String> extra = new ArrayList<>();
                for (int i = 2; i < args.length; i++) {
                    if (args[i].equals("--factors")) {
                        factors = Arrays.stream(args[++i].split(","))
                                .mapToDouble(Double::parseDouble)
                                .toArray();
                    } else if (args[i].equals("--set")) {
                        extra.add(args[++i]);
                    }
                }
                sweep(Path.of(args[1]), factors, extra);
            }
            case "false-alarms" -> falseAlarms(
                    Arrays.stream(args, 1, args.length).map(Path::of).toList());
            default -> throw new IllegalArgumentException("unknown diagnose mode '" + args[0] + "'");
        }
    }

    private record Run(double accuracy, double medianRatio, double smallestRatio, List<String> opened) {}

    private static Run run(Path jobFile, List<String> overrides) throws Exception {
        Path dir = Files.createTempDirectory("ringtape-diagnose");
        List<String> all = new ArrayList<>(overrides);
        all.add("telemetry.out=" + dir.resolve("t.jsonl"));
        all.add("export.path=" + dir.resolve("m.safetensors"));
        all.add("checkpoint.dir=" + dir.resolve("checkpoints"));
        JobSpec job = JobSpec.from(JobFile.load(jobFile, all));
        SparkTrain.Result r = SparkTrain.run(job, jobFile.toAbsolutePath().getParent(), QUIET);
        List<Double> ratios = new ArrayList<>();
        Set<String> opened = new LinkedHashSet<>();
        java.util.Map<String, List<Double>> perLayer = new java.util.LinkedHashMap<>();
        for (String line : Files.readAllLines(dir.resolve("t.jsonl"))) {
            JsonNode rec = JSON.readTree(line);
            String type = rec.get("type").asText();
            if (type.equals("layer")
                    && rec.path("param").asText().endsWith("weight")
                    && rec.get("step").asLong() >= 10
                    && rec.path("update_ratio").isNumber()) {
                perLayer.computeIfAbsent(rec.get("layer").asText(), k -> new ArrayList<>())
                        .add(rec.get("update_ratio").asDouble());
            }
            if (type.equals("diagnosis") && rec.get("state").asText().equals("open")) {
                opened.add(rec.get("severity").asText().charAt(0) + ":"
                        + rec.get("code").asText()
                        + (rec.get("layer").asText().isEmpty()
                                ? ""
                                : "@" + rec.get("layer").asText()) + " s"
                        + rec.get("step").asLong());
            }
        }
        for (List<Double> l : perLayer.values()) {
            ratios.add(l.stream().sorted().toList().get(l.size() / 2));
        }
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        return new Run(
                r.evalAccuracy(),
                ratios.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN),
                ratios.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN),
                List.copyOf(opened));
    }

    private static void sweep(Path job, double[] factors, List<String> extra) throws Exception {
        JobSpec spec = JobSpec.from(JobFile.load(job, List.of()));
        double base = spec.train().optimizer().path("lr").asDouble();
        System.out.println("| lr (x healthy) | held-out acc. | median update ratio, smallest / largest layer |"
                + " diagnoses opened (step) |");
        System.out.println("|---|---:|---:|---|");
        for (double f : factors) {
            double lr = base * f;
            List<String> o = new ArrayList<>(List.of("train.optimizer.lr=" + lr, "telemetry.every_steps=1"));
            o.addAll(extra);
            Run r = run(job, o);
            System.out.printf(
                    "| %.3g (x%s) | %.1f %% | %.1e / %.1e | %s |%n",
                    lr,
                    f,
                    100 * r.accuracy(),
                    r.smallestRatio(),
                    r.medianRatio(),
                    r.opened().isEmpty() ? "none" : String.join(", ", r.opened()));
        }
    }

    private static void falseAlarms(List<Path> jobs) throws Exception {
        int runs = 0;
        int alarms = 0;
        for (Path job : jobs) {
            for (int every : new int[] {1, 10}) {
                for (int batch : new int[] {16, 64}) {
                    for (int micro : new int[] {1, 4}) {
                        for (int workers : new int[] {1, 2}) {
                            List<String> o = List.of(
                                    "telemetry.every_steps=" + every,
                                    "train.global_batch=" + batch,
                                    "train.micro_batches=" + micro,
                                    "workers=" + workers);
                            Run r = run(job, o);
                            List<String> bad = r.opened().stream()
                                    .filter(d -> !d.startsWith("i:"))
                                    .toList();
                            runs++;
                            alarms += bad.isEmpty() ? 0 : 1;
                            System.out.printf(
                                    "%s %s: %s (acc %.1f %%)%n",
                                    job.getFileName(),
                                    o,
                                    bad.isEmpty() ? "quiet" : "FALSE ALARM " + bad,
                                    100 * r.accuracy());
                        }
                    }
                }
            }
        }
        System.out.printf("%d runs, %d with a false alarm%n", runs, alarms);
    }
}
