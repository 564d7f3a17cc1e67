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
        switch (r.path(Schema.TYPE).asText()) {
            case Schema.Type.RUN -> out.printf(
                    "watching %s: %d worker(s), %d layers%n",
                    r.path(Schema.JOB).asText(),
                    r.path(Schema.WORLD_SIZE).asInt(1),
                    r.path(Schema.LAYERS).size());
            case Schema.Type.STEP -> {
                if (r.path(Schema.RANK).asInt(0) != 0) {
                    return null; // every rank reports the same all-reduced loss: follow rank 0's
                }
                lastStep = r;
                if (r.path(Schema.STEP).asLong() - lastPrintedStep >= 10
                        || r.path(Schema.SKIPPED).asBoolean()) {
                    printStatus();
                }
            }
            case Schema.Type.LAYER -> trackWorst(r);
            case Schema.Type.NONFINITE -> out.printf(
                    "step %d: first non-finite value in the %s of %s in %s (rank %d)%n",
                    r.path(Schema.STEP).asLong(),
                    r.path(Schema.PHASE).asText(),
                    r.path(Schema.OP).asText(),
                    r.path(Schema.LAYER).asText(),
                    r.path(Schema.RANK).asInt());
            case Schema.Type.DIAGNOSIS -> {
                String key = r.path(Schema.CODE).asText()
                        + (r.path(Schema.LAYER).asText().isEmpty()
                                ? ""
                                : "(" + r.path(Schema.LAYER).asText() + ")");
                String severity = r.path(Schema.SEVERITY).asText();
                if (r.path(Schema.STATE).asText().equals(Schema.OPEN)) {
                    open.put(key, severity);
                    out.printf(
                            "step %d: %s %s: %s; evidence %s%n",
                            r.path(Schema.STEP).asLong(),
                            severity.toUpperCase(java.util.Locale.ROOT),
                            key,
                            r.path(Schema.HINT).asText(),
                            r.path(Schema.EVIDENCE));
                    if (fails(severity)) {
                        out.printf("watch: failing on %s (--fail-on %s)%n", key, failOn);
                        return 1;
                    }
                } else {
                    open.remove(key);
                    out.printf("step %d: cleared %s%n", r.path(Schema.STEP).asLong(), key);
                }
            }
            case Schema.Type.END -> {
                printStatus();
                JsonNode eval = r.path(Schema.EVAL);
                out.printf(
                        "end at step %d: eval loss %s%s%s, %d skipped step(s)%n",
                        r.path(Schema.STEP).asLong(),
                        number(eval.path(Schema.LOSS)),
                        eval.path(Schema.ACCURACY).isNumber()
                                ? String.format(
                                        ", accuracy %.2f%%",
                                        100 * eval.path(Schema.ACCURACY).asDouble())
                                : "",
                        eval.path(Schema.BITS_PER_BYTE).isNumber()
                                ? String.format(
                                        ", %.3f bits/byte",
                                        eval.path(Schema.BITS_PER_BYTE).asDouble())
                                : "",
                        r.path(Schema.SKIPPED_STEPS).asLong());
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
        if (r.has(Schema.ACTIVATION)) {
            double dead = r.path(Schema.DEAD_FRAC).asDouble(0);
            double sat = r.path(Schema.SATURATED_FRAC).asDouble(0);
            score = Math.max(dead, sat);
            text = dead >= sat
                    ? String.format("%.0f%% dead", 100 * dead)
                    : String.format("%.0f%% saturated", 100 * sat);
        } else if (r.path(Schema.UPDATE_RATIO).isNumber()
                && r.path(Schema.PARAM).asText().endsWith("weight")) {
            double ratio = r.path(Schema.UPDATE_RATIO).asDouble();
            score = ratio > 0 ? Math.min(1, Math.abs(Math.log10(ratio / 1e-3)) / 4) : 1;
            text = String.format("update ratio %.1e", ratio);
        } else {
            return;
        }
        if (score >= worstScore || r.path(Schema.LAYER).asText().equals(worstLayer)) {
            worstScore = score;
            worstLayer = r.path(Schema.LAYER).asText();
            worstText = text;
        }
    }

    private void printStatus() {
        if (lastStep == null) {
            return;
        }
        lastPrintedStep = lastStep.path(Schema.STEP).asLong();
        out.printf(
                "step %d  loss %s  scale %s%s  worst %s  open %s%n",
                lastPrintedStep,
                number(lastStep.path(Schema.LOSS)),
                lastStep.path(Schema.LOSS_SCALE).asText(),
                lastStep.path(Schema.SKIPPED).asBoolean() ? " (skipped)" : "",
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
