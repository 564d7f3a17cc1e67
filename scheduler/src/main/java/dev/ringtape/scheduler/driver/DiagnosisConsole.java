package dev.ringtape.scheduler.driver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
    private int raised;

    DiagnosisConsole(TelemetrySink log, PrintStream out, boolean quiet) {
        this.log = log;
        this.out = out;
        this.quiet = quiet;
    }

    @Override
    public synchronized void emit(ObjectNode r) {
        log.emit(r);
        if (!r.path("type").asText().equals("diagnosis")) {
            return;
        }
        String severity = r.path("severity").asText();
        if (severity.equals("info") || (quiet && !severity.equals("error"))) {
            return;
        }
        String key = r.path("code").asText() + "@" + r.path("layer").asText();
        if (r.path("state").asText().equals("open")) {
            raised++;
            open.put(key, r);
            out.printf(
                    "step %d: %s %s%s: %s%s%n",
                    r.path("step").asLong(),
                    severity,
                    r.path("code").asText(),
                    where(r),
                    evidence(r.path("evidence")),
                    r.path("hint").asText().isEmpty()
                            ? ""
                            : "; " + r.path("hint").asText());
        } else if (open.remove(key) != null) {
            out.printf(
                    "step %d: cleared %s%s%n",
                    r.path("step").asLong(), r.path("code").asText(), where(r));
        }
    }

    /** The closing summary: what is still open, most telling first ({@code Rules.mostTelling}), and what to try. */
    synchronized void summarize() {
        if (open.isEmpty()) {
            if (raised == 0 && !quiet) {
                out.println("diagnosis: no rule fired (telemetry/README.md lists what was checked)");
            } else if (raised > 0) {
                out.println("diagnosis: " + raised + " diagnosis(es) opened during the run; all have cleared");
            }
            return;
        }
        List<JsonNode> still = new ArrayList<>(open.values());
        still.sort(dev.ringtape.telemetry.Rules.mostTelling(
                d -> d.path("code").asText(), d -> d.path("step").asLong()));
        out.println("diagnosis: still open at the end:");
        for (JsonNode d : still) {
            out.printf(
                    "  %s %s%s since step %d%n",
                    d.path("severity").asText(),
                    d.path("code").asText(),
                    where(d),
                    d.path("step").asLong());
        }
        out.println("first thing to try: " + still.get(0).path("hint").asText() + " (ringtape explain "
                + still.get(0).path("code").asText() + ")");
    }

    private static String where(JsonNode r) {
        String layer = r.path("layer").asText();
        JsonNode ranks = r.path("ranks");
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
