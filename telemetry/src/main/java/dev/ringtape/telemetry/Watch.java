package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code ringtape watch LOG}: follows a growing telemetry log like {@code tail -f} and prints a compact live view: a
 * status line per new step (step, loss, loss scale, the worst layer, the open diagnoses) and one line per diagnosis
 * as it opens or clears. Ends at the run's {@code end} record; with {@code failOn} it ends at once, with exit status
 * 1, when a diagnosis of that severity or worse opens (for CI pipelines).
 */
public final class Watch {
    private final Path log;
    private final PrintStream out;
    private final String failOn;
    private final long pollMs;
    private final Map<String, String> open = new LinkedHashMap<>();
    private long position;
    private final StringBuilder partial = new StringBuilder();
    private JsonNode lastStep;
    private String worstLayer = "";
    private double worstScore;
    private String worstText = "";
    private long lastPrintedStep = -1;

    /** {@code failOn} is {@code warn}, {@code error} or null. */
    public Watch(Path log, PrintStream out, String failOn, long pollMs) {
        if (failOn != null && !failOn.equals("warn") && !failOn.equals("error")) {
            throw new IllegalArgumentException("--fail-on takes warn or error, got '" + failOn + "'");
        }
        this.log = log;
        this.out = out;
        this.failOn = failOn;
        this.pollMs = pollMs;
    }

    /** Follows the log until its end record, a failing diagnosis, or {@code timeoutMs}; returns the exit status. */
    public int run(long timeoutMs) throws IOException, InterruptedException {
        long deadline = timeoutMs > 0 ? System.nanoTime() + timeoutMs * 1_000_000 : Long.MAX_VALUE;
        while (true) {
            if (Files.exists(log)) {
                for (String line : readNewLines()) {
                    Integer exit = onLine(line);
                    if (exit != null) {
                        return exit;
                    }
                }
            }
            if (System.nanoTime() > deadline) {
                out.println("watch: no end record within " + timeoutMs / 1000 + " s");
                return 2;
            }
            Thread.sleep(pollMs);
        }
    }

    private java.util.List<String> readNewLines() throws IOException {
        java.util.List<String> lines = new java.util.ArrayList<>();
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
            if (f.length() < position) {
                position = 0; // the log was replaced
                partial.setLength(0);
            }
            f.seek(position);
            byte[] buf = new byte[(int) Math.min(f.length() - position, 1 << 24)];
            f.readFully(buf);
            position += buf.length;
            partial.append(new String(buf, StandardCharsets.UTF_8));
        }
        int nl;
        while ((nl = partial.indexOf("\n")) >= 0) {
            lines.add(partial.substring(0, nl));
            partial.delete(0, nl + 1);
        }
        return lines;
    }

    /** Handles one record; returns an exit status when watching is over. */
    Integer onLine(String line) {
        if (line.isBlank()) {
            return null;
        }
        JsonNode r;
        try {
            r = Records.JSON.readTree(line);
        } catch (IOException e) {
            out.println("watch: skipping a line that is not JSON: " + abbreviate(line));
            return null;
        }
        switch (r.path("type").asText()) {
            case "run" -> out.printf(
                    "watching %s: %d worker(s), %d layers%n",
                    r.path("job").asText(),
                    r.path("world_size").asInt(1),
                    r.path("layers").size());
            case "step" -> {
                if (r.path("rank").asInt(0) != 0) {
                    return null; // every rank reports the same all-reduced loss: follow rank 0's
                }
                lastStep = r;
                if (r.path("step").asLong() - lastPrintedStep >= 10
                        || r.path("skipped").asBoolean()) {
                    printStatus();
                }
            }
            case "layer" -> trackWorst(r);
            case "nonfinite" -> out.printf(
                    "step %d: first non-finite value in the %s of %s in %s (rank %d)%n",
                    r.path("step").asLong(),
                    r.path("phase").asText(),
                    r.path("op").asText(),
                    r.path("layer").asText(),
                    r.path("rank").asInt());
            case "diagnosis" -> {
                String key = r.path("code").asText()
                        + (r.path("layer").asText().isEmpty()
                                ? ""
                                : "(" + r.path("layer").asText() + ")");
                String severity = r.path("severity").asText();
                if (r.path("state").asText().equals("open")) {
                    open.put(key, severity);
                    out.printf(
                            "step %d: %s %s: %s; evidence %s%n",
                            r.path("step").asLong(),
                            severity.toUpperCase(java.util.Locale.ROOT),
                            key,
                            r.path("hint").asText(),
                            r.path("evidence"));
                    if (fails(severity)) {
                        out.printf("watch: failing on %s (--fail-on %s)%n", key, failOn);
                        return 1;
                    }
                } else {
                    open.remove(key);
                    out.printf("step %d: cleared %s%n", r.path("step").asLong(), key);
                }
            }
            case "end" -> {
                printStatus();
                JsonNode eval = r.path("eval");
                out.printf(
                        "end at step %d: eval loss %s%s, %d skipped step(s)%n",
                        r.path("step").asLong(),
                        number(eval.path("loss")),
                        eval.path("accuracy").isNumber()
                                ? String.format(
                                        ", accuracy %.2f%%",
                                        100 * eval.path("accuracy").asDouble())
                                : "",
                        r.path("skipped_steps").asLong());
                return 0;
            }
            default -> {}
        }
        return null;
    }

    private boolean fails(String severity) {
        if (failOn == null) {
            return false;
        }
        return severity.equals("error") || (failOn.equals("warn") && severity.equals("warn"));
    }

    /** Keeps the layer furthest from health: dead or saturated fraction, or update ratio far from 1e-3. */
    private void trackWorst(JsonNode r) {
        double score;
        String text;
        if (r.has("activation")) {
            double dead = r.path("dead_frac").asDouble(0);
            double sat = r.path("saturated_frac").asDouble(0);
            score = Math.max(dead, sat);
            text = dead >= sat
                    ? String.format("%.0f%% dead", 100 * dead)
                    : String.format("%.0f%% saturated", 100 * sat);
        } else if (r.path("update_ratio").isNumber() && r.path("param").asText().endsWith("weight")) {
            double ratio = r.path("update_ratio").asDouble();
            score = ratio > 0 ? Math.min(1, Math.abs(Math.log10(ratio / 1e-3)) / 4) : 1;
            text = String.format("update ratio %.1e", ratio);
        } else {
            return;
        }
        if (score >= worstScore || r.path("layer").asText().equals(worstLayer)) {
            worstScore = score;
            worstLayer = r.path("layer").asText();
            worstText = text;
        }
    }

    private void printStatus() {
        if (lastStep == null) {
            return;
        }
        lastPrintedStep = lastStep.path("step").asLong();
        out.printf(
                "step %d  loss %s  scale %s%s  worst %s  open %s%n",
                lastPrintedStep,
                number(lastStep.path("loss")),
                lastStep.path("loss_scale").asText(),
                lastStep.path("skipped").asBoolean() ? " (skipped)" : "",
                worstLayer.isEmpty() ? "-" : worstLayer + " " + worstText,
                open.isEmpty() ? "none" : String.join(", ", open.keySet()));
    }

    private static String number(JsonNode n) {
        return n.isNumber() ? String.format("%.4f", n.asDouble()) : "NaN";
    }

    private static String abbreviate(String s) {
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }
}
