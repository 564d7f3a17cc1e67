package dev.ringtape.scheduler.driver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.telemetry.Schema;
import dev.ringtape.telemetry.TelemetrySink;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The driver's log, with each warning and error diagnosis also told on the console as it opens and clears (one
 * line: step, severity, code, layer, ranks, evidence, hint), and a summary at the end of what is still open and the
 * first thing to try. Informational diagnoses stay in the log; {@code quiet} keeps errors only.
 */
final class DiagnosisConsole implements TelemetrySink {
    private final TelemetrySink log;
    private final PrintStream out;
    private final boolean quiet;
    private final Map<String, JsonNode> open = new LinkedHashMap<>();
    /** The first opening of each (code, layer) told on the console, and the step it last cleared at (if it did). */
    private final Map<String, JsonNode> firstOpened = new LinkedHashMap<>();

    private final Map<String, Long> clearedAt = new LinkedHashMap<>();
    /** The rank on a slow link (a {@code links} event's {@code straggler}), or null. */
    private JsonNode straggler;
    /** Rank 0's all-reduce phase and bytes sent, summed over the steps since the straggler was found. */
    private double allreduceMs;

    private double sentBytes;
    private long steps;
    /** The last snapshot written ("" before the first), or null while writes fail. */
    private String lastWritten = "";

    DiagnosisConsole(TelemetrySink log, PrintStream out, boolean quiet) {
        this.log = log;
        this.out = out;
        this.quiet = quiet;
    }

    @Override
    public synchronized void emit(ObjectNode r) {
        log.emit(r);
        RingtapePlugin.Values.record(r);
        if (r.path(Schema.TYPE).asText().equals(Schema.Type.CHECKPOINT)) {
            checkpoint(r);
            return;
        }
        if (r.has(Schema.STRAGGLER)) {
            straggler = r.path(Schema.STRAGGLER);
            if (!quiet) {
                straggler(straggler, r.path(Schema.LINK_MBIT_S).size());
            }
            return;
        }
        if (straggler != null
                && r.path(Schema.TYPE).asText().equals(Schema.Type.STEP)
                && r.path(Schema.RANK).asInt() == 0) {
            allreduceMs += r.path(Schema.PHASE_MS).path(Schema.ALLREDUCE).asDouble();
            sentBytes += r.path(Schema.ALLREDUCE_SENT_BYTES).asDouble();
            steps++;
        }
        if (!r.path(Schema.TYPE).asText().equals(Schema.Type.DIAGNOSIS)) {
            return;
        }
        String severity = r.path(Schema.SEVERITY).asText();
        if (severity.equals("info") || (quiet && !severity.equals("error"))) {
            return;
        }
        String key = r.path(Schema.CODE).asText() + "@" + r.path(Schema.LAYER).asText();
        if (r.path(Schema.STATE).asText().equals(Schema.OPEN)) {
            open.put(key, r);
            firstOpened.putIfAbsent(key, r);
            clearedAt.remove(key);
            out.printf(
                    "step %d: %s %s%s: %s%s%n",
                    r.path(Schema.STEP).asLong(),
                    severity,
                    r.path(Schema.CODE).asText(),
                    where(r),
                    evidence(r.path(Schema.EVIDENCE)),
                    r.path(Schema.HINT).asText().isEmpty()
                            ? ""
                            : "; " + r.path(Schema.HINT).asText());
        } else if (open.remove(key) != null) {
            clearedAt.put(key, r.path(Schema.STEP).asLong());
            out.printf(
                    "step %d: cleared %s%s%n",
                    r.path(Schema.STEP).asLong(), r.path(Schema.CODE).asText(), where(r));
        }
    }

    /** A rank on a slow link, found by the link probe before the first step (a {@code links} event). */
    private void straggler(JsonNode s, int world) {
        int rank = s.path(Schema.RANK).asInt();
        String who = "rank " + rank + " (" + s.path(Schema.EXECUTOR).asText() + ")";
        out.printf(
                "warn: %s; the fastest link runs at %.0f Mbit/s, and every all-reduce at the slow one's pace%n",
                s.path(Schema.BOTH_WAYS).asBoolean()
                        ? who + " is on a slow link, "
                                + String.format("%.0f", s.path(Schema.MBIT_S).asDouble()) + " Mbit/s into and out of it"
                        : "the link from rank " + ((rank - 1 + world) % world) + " into " + who + " runs at "
                                + String.format("%.0f", s.path(Schema.MBIT_S).asDouble()) + " Mbit/s",
                s.path(Schema.FASTEST_MBIT_S).asDouble());
    }

    /**
     * A snapshot that could not be written (a full disk, a lost mount) is told once, when writes start failing, and
     * once more when they succeed again: training goes on either way, but a crash now resumes from further back.
     */
    private void checkpoint(JsonNode r) {
        boolean failed = r.has(Schema.ERROR);
        if (failed && lastWritten != null && !quiet) {
            out.printf(
                    "step %d: warning: snapshot not written: %s; %s, training goes on%n",
                    r.path(Schema.STEP).asLong(),
                    r.path(Schema.ERROR).asText(),
                    lastWritten.isEmpty()
                            ? "the snapshots before it stay as they were"
                            : "the newest is still " + lastWritten);
        } else if (!failed && lastWritten == null && !quiet) {
            out.printf(
                    "step %d: snapshots are written again%n",
                    r.path(Schema.STEP).asLong());
        }
        lastWritten = failed ? null : r.path(Schema.PATH).asText();
    }

    /**
     * The closing summary: every diagnosis the run had, first cause first and then causes before their consequences
     * ({@code Rules.chain}), each with when it opened and whether it is still open, and the first thing to try, from
     * the first cause, with its evidence.
     */
    synchronized void summarize() {
        if (straggler != null && steps > 0 && !quiet) {
            // what the all-reduces took beyond sending the same bytes over the fastest link
            double fast = sentBytes * 8 / (straggler.path(Schema.FASTEST_MBIT_S).asDouble() * 1e6) * 1e3;
            double waited = Math.max(0, allreduceMs - fast);
            out.printf(
                    "straggler: the ranks waited for rank %d (%s) about %.1f ms a step, %.1f s in %d steps: the"
                            + " all-reduce took %.1f ms a step, the fastest link needs %.1f ms%n",
                    straggler.path(Schema.RANK).asInt(),
                    straggler.path(Schema.EXECUTOR).asText(),
                    waited / steps,
                    waited / 1e3,
                    steps,
                    allreduceMs / steps,
                    fast / steps);
        }
        if (firstOpened.isEmpty()) {
            if (!quiet) {
                out.println("diagnosis: no rule fired (telemetry/README.md lists what was checked)");
            }
            return;
        }
        List<String> chain = dev.ringtape.telemetry.Rules.chain(
                firstOpened.keySet(),
                k -> firstOpened.get(k).path(Schema.CODE).asText(),
                k -> firstOpened.get(k).path(Schema.STEP).asLong());
        out.println(chain.size() == 1 ? "diagnosis:" : "diagnosis, first cause first:");
        for (int i = 0; i < chain.size(); i++) {
            JsonNode d = firstOpened.get(chain.get(i));
            Long cleared = clearedAt.get(chain.get(i));
            out.printf(
                    "  %s%s %s%s from step %d, %s%n",
                    i == 0 ? "" : "then ",
                    d.path(Schema.SEVERITY).asText(),
                    d.path(Schema.CODE).asText(),
                    where(d),
                    d.path(Schema.STEP).asLong(),
                    cleared == null ? "still open at the end" : "cleared at step " + cleared);
        }
        JsonNode cause = firstOpened.get(chain.get(0));
        out.println(
                "first thing to try: " + cause.path(Schema.HINT).asText() + " (" + evidence(cause.path(Schema.EVIDENCE))
                        + "; ringtape explain " + cause.path(Schema.CODE).asText() + ")");
    }

    private static String where(JsonNode r) {
        String layer = r.path(Schema.LAYER).asText();
        JsonNode ranks = r.path(Schema.RANKS);
        String rankText = ranks.isArray() && ranks.size() > 0 && ranks.size() < Integer.MAX_VALUE
                ? " (rank" + (ranks.size() > 1 ? "s " : " ") + join(ranks) + ")"
                : "";
        return (layer.isEmpty() ? "" : " in " + layer) + rankText;
    }

    private static String join(JsonNode a) {
        List<String> s = new ArrayList<>();
        a.forEach(v -> s.add(v.asText()));
        return String.join(",", s);
    }

    private static String evidence(JsonNode ev) {
        return dev.ringtape.telemetry.Report.evidenceInWords(ev)
                .replaceFirst("^Evidence: ", "")
                .replaceFirst("\\.$", "");
    }

    @Override
    public void close() {
        log.close();
    }
}
