package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code ringtape report LOG -o report.html}: one self-contained HTML file (inline SVG and CSS, no script, nothing
 * fetched when opened): the verdict first, then the loss curve with the diagnoses on its timeline, a per-layer
 * gradient-norm heat map over steps (log scale), update ratios against their healthy band, dead and saturated
 * fractions, the loss scale with skipped steps, and every diagnosis event. The layout of the page is here; what it
 * shows is gathered by {@link RunLog} and drawn by {@link Charts}.
 */
public final class Report {
    private final RunLog run = new RunLog();

    /** Reads {@code log} and writes the report to {@code out}; returns the number of records read. */
    public static int write(Path log, Path out) throws IOException {
        Report r = new Report();
        int n = 0;
        for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            r.run.add(Records.JSON.readTree(line));
            n++;
        }
        Files.writeString(out, r.html(), StandardCharsets.UTF_8);
        return n;
    }

    String html() {
        Charts charts = new Charts(run.firstStep, run.lastStep);
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ringtape report: ")
                .append(Charts.esc(run.job))
                .append("</title>\n<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}"
                        + "h1{font-size:20px}h2{font-size:16px;margin-top:28px}.chart{border:1px solid #ddd;background:#fff}"
                        + "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}"
                        + ".error{color:#b00}.warn{color:#a60}.info{color:#555}.legend span{margin-right:14px}"
                        + ".swatch{display:inline-block;width:10px;height:10px;margin-right:4px}"
                        + "ol.verdict li{margin-bottom:10px}.healthy{color:#2a7}.omitted{color:#666;font-style:italic}"
                        + ".explain{color:#666}</style></head><body>\n");
        h.append("<h1>Ringtape report: ").append(Charts.esc(run.job)).append("</h1>\n");
        if (run.end != null) {
            JsonNode ev = run.end.path(Schema.EVAL);
            h.append("<p>")
                    .append(run.end.path(Schema.STEPS).asLong())
                    .append(" steps, ")
                    .append(run.end.path(Schema.SKIPPED_STEPS).asLong())
                    .append(" skipped; eval loss ")
                    .append(Charts.fmt(ev.path(Schema.LOSS).asDouble(Double.NaN)));
            if (ev.path(Schema.ACCURACY).isNumber()) {
                h.append(", accuracy ")
                        .append(String.format(
                                Locale.ROOT,
                                "%.2f%%",
                                100 * ev.path(Schema.ACCURACY).asDouble()));
            }
            if (ev.path(Schema.BITS_PER_BYTE).isNumber()) {
                h.append(", ")
                        .append(String.format(
                                Locale.ROOT,
                                "%.3f bits/byte",
                                ev.path(Schema.BITS_PER_BYTE).asDouble()));
            }
            h.append("</p>\n");
        }
        h.append(verdict());
        boolean logLoss = Charts.spansDecades(run.loss, 2);
        h.append("<h2>Loss")
                .append(logLoss ? " (log scale: it spans more than two decades)" : "")
                .append("</h2>\n")
                .append(charts.lineChart("loss", Map.of("loss", run.loss), logLoss, null, diagnosisMarks()));
        h.append("<h2>Gradient norm per parameter (log scale)</h2>\n").append(charts.heatMap(run.gradNorms));
        double low = Thresholds.DEFAULTS.get("update_ratio_low").value();
        double high = Thresholds.DEFAULTS.get("update_ratio_high").value();
        h.append("<h2>Update ratio ||applied update|| / ||w before the step|| (healthy band ")
                .append(Charts.fmt(low))
                .append(" to ")
                .append(Charts.fmt(high))
                .append(" shaded; zeros left out)</h2>\n")
                .append(charts.lineChart("update-ratio", run.updateRatios, true, new double[] {low, high}, List.of()));
        h.append("<h2>Dead ReLU fraction</h2>\n")
                .append(
                        run.dead.isEmpty()
                                ? "<p class=\"omitted\">Left out: the model has no ReLU layer (or none was sampled"
                                        + " long enough to judge).</p>\n"
                                : charts.lineChart("dead", run.dead, false, null, List.of()));
        h.append("<h2>Saturated fraction (sigmoid, tanh)</h2>\n")
                .append(
                        run.saturated.isEmpty()
                                ? "<p class=\"omitted\">Left out: the model has no sigmoid or tanh layer.</p>\n"
                                : charts.lineChart("saturated", run.saturated, false, null, List.of()));
        if (!run.attentionMaxLogit.isEmpty()) {
            double bar = Thresholds.DEFAULTS.get("attention_logit_max").value();
            h.append("<h2>Attention: largest logit of any head, per layer (log scale; ATTENTION_LOGIT_GROWTH above ")
                    .append(Charts.fmt(bar))
                    .append(")</h2>\n")
                    .append(charts.lineChart("attention-logit", run.attentionMaxLogit, true, null, List.of()));
            h.append("<h2>Attention: lowest head entropy, per layer (nats; ATTENTION_ENTROPY_COLLAPSE below ")
                    .append(Charts.fmt(
                            Thresholds.DEFAULTS.get("attention_entropy_min").value()))
                    .append(")</h2>\n")
                    .append(charts.lineChart("attention-entropy", run.attentionMinEntropy, false, null, List.of()));
        }
        if (!run.logZ.isEmpty()) {
            h.append("<h2>Output log Z, the mean logsumexp of the logits (OUTPUT_LOGIT_DIVERGENCE beyond ")
                    .append(Charts.fmt(Thresholds.DEFAULTS.get("log_z_max").value()))
                    .append(")</h2>\n")
                    .append(charts.lineChart("log-z", Map.of("log Z", run.logZ), false, null, List.of()));
        }
        boolean scaled = run.lossScale.stream().anyMatch(p -> p[1] != 1.0) || !run.skipped.isEmpty();
        h.append("<h2>Loss scale (skipped steps marked)</h2>\n")
                .append(
                        scaled
                                ? charts.lineChart(
                                        "loss-scale", Map.of("loss scale", run.lossScale), true, null, skippedMarks())
                                : "<p class=\"omitted\">Left out: the run used no loss scaling and skipped no step.</p>\n");
        h.append("<h2>Diagnoses</h2>\n");
        if (run.diagnoses.isEmpty()) {
            h.append("<p id=\"no-diagnoses\">No diagnosis was raised.</p>\n");
        } else {
            h.append("<table id=\"diagnoses\"><tr><th>step</th><th>state</th><th>severity</th><th>code</th>"
                    + "<th>layer</th><th>evidence</th><th>hint</th></tr>\n");
            for (JsonNode d : run.diagnoses) {
                String sev = d.path(Schema.SEVERITY).asText();
                h.append("<tr class=\"")
                        .append(Charts.esc(sev))
                        .append("\"><td>")
                        .append(d.path(Schema.STEP).asLong())
                        .append("</td><td>")
                        .append(Charts.esc(d.path(Schema.STATE).asText()))
                        .append("</td><td>")
                        .append(Charts.esc(sev))
                        .append("</td><td>")
                        .append(Charts.esc(d.path(Schema.CODE).asText()))
                        .append("</td><td>")
                        .append(Charts.esc(d.path(Schema.LAYER).asText()))
                        .append("</td><td>")
                        .append(Charts.esc(
                                evidenceInWords(d.path(Schema.EVIDENCE)).replaceFirst("^Evidence: ", "")))
                        .append("</td><td>")
                        .append(Charts.esc(d.path(Schema.HINT).asText()))
                        .append("</td></tr>\n");
            }
            h.append("</table>\n");
        }
        h.append("</body></html>\n");
        return h.toString();
    }

    /**
     * The verdict, before any chart: the first cause and what to try, then each pathology the run had (code and
     * layer), first cause first and then causes before consequences ({@link Rules#chain}), when it started
     * and cleared, where (layer, ranks), its evidence in words and numbers and what to try; or, for a run where no
     * rule fired, that plainly and which rules were checked.
     */
    private String verdict() {
        Map<String, JsonNode> first = new LinkedHashMap<>();
        Map<String, Long> cleared = new LinkedHashMap<>();
        Map<String, Integer> times = new LinkedHashMap<>();
        for (JsonNode d : run.diagnoses) {
            String key =
                    d.path(Schema.CODE).asText() + "@" + d.path(Schema.LAYER).asText();
            if (d.path(Schema.STATE).asText().equals(Schema.OPEN)) {
                first.putIfAbsent(key, d);
                times.merge(key, 1, Integer::sum);
                cleared.remove(key);
            } else {
                cleared.put(key, d.path(Schema.STEP).asLong());
            }
        }
        StringBuilder h = new StringBuilder("<section id=\"verdict\"><h2>Verdict</h2>\n");
        if (first.isEmpty()) {
            h.append("<p class=\"healthy\">No rule fired: this run shows none of the pathologies Ringtape checks (")
                    .append(Charts.esc(String.join(
                            ", ", Rules.all().stream().map(Rule::code).toList())))
                    .append(").</p>\n</section>\n");
            return h.toString();
        }
        List<String> keys =
                Rules.chain(first.keySet(), k -> first.get(k).path(Schema.CODE).asText(), k -> first.get(k)
                        .path(Schema.STEP)
                        .asLong());
        JsonNode cause = first.get(keys.get(0));
        h.append("<p>First cause: <b>")
                .append(Charts.esc(cause.path(Schema.CODE).asText()))
                .append("</b> at step ")
                .append(cause.path(Schema.STEP).asLong())
                .append(keys.size() > 1 ? "; the diagnoses after it follow from it, causes before consequences" : "")
                .append(". First thing to try: ")
                .append(Charts.esc(cause.path(Schema.HINT).asText()))
                .append("</p>\n");
        h.append("<ol class=\"verdict\">\n");
        for (String key : keys) {
            JsonNode d = first.get(key);
            String sev = d.path(Schema.SEVERITY).asText();
            h.append("<li class=\"")
                    .append(Charts.esc(sev))
                    .append("\"><b>")
                    .append(Charts.esc(d.path(Schema.CODE).asText()))
                    .append("</b>");
            if (!d.path(Schema.LAYER).asText().isEmpty()) {
                h.append(" in ").append(Charts.esc(d.path(Schema.LAYER).asText()));
            }
            if (d.path(Schema.RANKS).isArray() && d.path(Schema.RANKS).size() > 0) {
                h.append(" (rank").append(d.path(Schema.RANKS).size() > 1 ? "s " : " ");
                List<String> r = new ArrayList<>();
                d.path(Schema.RANKS).forEach(x -> r.add(x.asText()));
                h.append(Charts.esc(String.join(", ", r))).append(")");
            }
            h.append(" &middot; ")
                    .append(Charts.esc(sev))
                    .append(", from step ")
                    .append(d.path(Schema.STEP).asLong());
            Long c = cleared.get(key);
            h.append(c == null ? ", still open at the end" : ", cleared at step " + c);
            int n = times.get(key);
            if (n > 1) {
                h.append(" (opened ").append(n).append(" times)");
            }
            h.append("<br>").append(Charts.esc(evidenceInWords(d.path(Schema.EVIDENCE))));
            h.append("<br>What to try: ").append(Charts.esc(d.path(Schema.HINT).asText()));
            h.append(" <span class=\"explain\">(ringtape explain ")
                    .append(Charts.esc(d.path(Schema.CODE).asText()))
                    .append(")</span>");
            h.append("</li>\n");
        }
        h.append("</ol>\n</section>\n");
        return h.toString();
    }

    /** Evidence as words and numbers: "dead frac 0.35, threshold 0.1". */
    public static String evidenceInWords(JsonNode ev) {
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : ev.properties()) {
            JsonNode v = e.getValue();
            parts.add(e.getKey().replace('_', ' ') + " "
                    + (v.isNumber() ? Charts.fmt(v.asDouble()) : v.isNull() ? "not finite" : v.asText()));
        }
        return parts.isEmpty() ? "" : "Evidence: " + String.join(", ", parts) + ".";
    }

    /** Vertical annotation lines at each diagnosis that opened, labelled with its code. */
    private List<Charts.Mark> diagnosisMarks() {
        List<Charts.Mark> out = new ArrayList<>();
        for (JsonNode d : run.diagnoses) {
            if (d.path(Schema.STATE).asText().equals(Schema.OPEN)) {
                out.add(new Charts.Mark(
                        d.path(Schema.STEP).asDouble(),
                        d.path(Schema.CODE).asText() + " "
                                + d.path(Schema.LAYER).asText(),
                        d.path(Schema.SEVERITY).asText().equals("error") ? "#b00" : "#a60"));
            }
        }
        return out;
    }

    private List<Charts.Mark> skippedMarks() {
        List<Charts.Mark> out = new ArrayList<>();
        for (long s : run.skipped) {
            out.add(new Charts.Mark(s, "", "#b00"));
        }
        return out;
    }
}
