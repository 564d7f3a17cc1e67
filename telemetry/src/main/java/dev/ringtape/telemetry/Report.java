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
import java.util.TreeSet;

/**
 * {@code ringtape report LOG -o report.html}: one self-contained HTML file (inline SVG and CSS, no script, nothing
 * fetched when opened) with the loss curve and the diagnoses on its timeline, a per-layer gradient-norm heat map
 * over steps (log scale), update ratios against their healthy band, dead and saturated fractions, the loss scale
 * with skipped steps, and the table of diagnoses.
 */
public final class Report {
    private static final String[] PALETTE = {
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"
    };

    private String job = "";
    private final List<double[]> loss = new ArrayList<>();
    private final List<double[]> lossScale = new ArrayList<>();
    private final List<Long> skipped = new ArrayList<>();
    private final Map<String, List<double[]>> gradNorms = new LinkedHashMap<>();
    private final Map<String, List<double[]>> updateRatios = new LinkedHashMap<>();
    private final Map<String, List<double[]>> dead = new LinkedHashMap<>();
    private final Map<String, List<double[]>> saturated = new LinkedHashMap<>();
    private final List<JsonNode> diagnoses = new ArrayList<>();
    private JsonNode end;
    /** The run's first and last step: every chart shares this timeline. */
    private static final ThreadLocal<double[]> RUN_STEPS = ThreadLocal.withInitial(() -> null);

    private double firstStep = Double.POSITIVE_INFINITY;
    private double lastStep = Double.NEGATIVE_INFINITY;

    /** Reads {@code log} and writes the report to {@code out}; returns the number of records read. */
    public static int write(Path log, Path out) throws IOException {
        Report r = new Report();
        int n = 0;
        for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            r.add(Records.JSON.readTree(line));
            n++;
        }
        Files.writeString(out, r.html(), StandardCharsets.UTF_8);
        return n;
    }

    private void add(JsonNode r) {
        long step = r.path("step").asLong();
        switch (r.path("type").asText()) {
            case "run" -> job = r.path("job").asText();
            case "step" -> {
                if (r.path("rank").asInt(0) != 0) {
                    return; // every rank reports the same all-reduced loss: chart rank 0's
                }
                firstStep = Math.min(firstStep, step);
                lastStep = Math.max(lastStep, step);
                if (r.path("loss").isNumber()) {
                    loss.add(new double[] {step, r.path("loss").asDouble()});
                }
                lossScale.add(new double[] {step, r.path("loss_scale").asDouble()});
                if (r.path("skipped").asBoolean()) {
                    skipped.add(step);
                }
            }
            case "layer" -> {
                if (r.has("param")) {
                    String p = r.path("param").asText();
                    if (r.path("grad_norm").isNumber()) {
                        gradNorms
                                .computeIfAbsent(p, k -> new ArrayList<>())
                                .add(new double[] {step, r.path("grad_norm").asDouble()});
                    }
                    if (p.endsWith(".weight") && r.path("update_ratio").isNumber()) {
                        updateRatios
                                .computeIfAbsent(p, k -> new ArrayList<>())
                                .add(new double[] {step, r.path("update_ratio").asDouble()});
                    }
                } else {
                    String l = r.path("layer").asText() + " "
                            + r.path("activation").asText();
                    if (r.path("activation").asText().equals("relu")) {
                        if (r.path("dead_frac").isNumber()) { // null until its window is full
                            dead.computeIfAbsent(l, k -> new ArrayList<>())
                                    .add(new double[] {step, r.path("dead_frac").asDouble()});
                        }
                    } else if (!r.path("activation").asText().contains("relu")) {
                        saturated.computeIfAbsent(l, k -> new ArrayList<>()).add(new double[] {
                            step, r.path("saturated_frac").asDouble()
                        });
                    }
                }
            }
            case "diagnosis" -> diagnoses.add(r);
            case "end" -> end = r;
            default -> {}
        }
    }

    String html() {
        RUN_STEPS.set(firstStep <= lastStep ? new double[] {firstStep, lastStep} : null);
        try {
            return page();
        } finally {
            RUN_STEPS.remove();
        }
    }

    private String page() {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ringtape report: ")
                .append(esc(job))
                .append("</title>\n<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}"
                        + "h1{font-size:20px}h2{font-size:16px;margin-top:28px}.chart{border:1px solid #ddd;background:#fff}"
                        + "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}"
                        + ".error{color:#b00}.warn{color:#a60}.info{color:#555}.legend span{margin-right:14px}"
                        + ".swatch{display:inline-block;width:10px;height:10px;margin-right:4px}"
                        + "ol.verdict li{margin-bottom:10px}.healthy{color:#2a7}.omitted{color:#666;font-style:italic}"
                        + ".explain{color:#666}</style></head><body>\n");
        h.append("<h1>Ringtape report: ").append(esc(job)).append("</h1>\n");
        if (end != null) {
            JsonNode ev = end.path("eval");
            h.append("<p>")
                    .append(end.path("steps").asLong())
                    .append(" steps, ")
                    .append(end.path("skipped_steps").asLong())
                    .append(" skipped; eval loss ")
                    .append(fmt(ev.path("loss").asDouble(Double.NaN)));
            if (ev.path("accuracy").isNumber()) {
                h.append(", accuracy ")
                        .append(String.format(
                                Locale.ROOT, "%.2f%%", 100 * ev.path("accuracy").asDouble()));
            }
            h.append("</p>\n");
        }
        h.append(verdict());
        boolean logLoss = spansDecades(loss, 2);
        h.append("<h2>Loss")
                .append(logLoss ? " (log scale: it spans more than two decades)" : "")
                .append("</h2>\n")
                .append(lineChart("loss", Map.of("loss", loss), logLoss, null, diagnosisMarks()));
        h.append("<h2>Gradient norm per parameter (log scale)</h2>\n").append(heatMap(gradNorms));
        double low = Thresholds.DEFAULTS.get("update_ratio_low").value();
        double high = Thresholds.DEFAULTS.get("update_ratio_high").value();
        h.append("<h2>Update ratio ||applied update|| / ||w before the step|| (healthy band ")
                .append(fmt(low))
                .append(" to ")
                .append(fmt(high))
                .append(" shaded; zeros left out)</h2>\n")
                .append(lineChart("update-ratio", updateRatios, true, new double[] {low, high}, List.of()));
        h.append("<h2>Dead ReLU fraction</h2>\n")
                .append(
                        dead.isEmpty()
                                ? "<p class=\"omitted\">Left out: the model has no ReLU layer (or none was sampled"
                                        + " long enough to judge).</p>\n"
                                : lineChart("dead", dead, false, null, List.of()));
        h.append("<h2>Saturated fraction (sigmoid, tanh)</h2>\n")
                .append(
                        saturated.isEmpty()
                                ? "<p class=\"omitted\">Left out: the model has no sigmoid or tanh layer.</p>\n"
                                : lineChart("saturated", saturated, false, null, List.of()));
        boolean scaled = lossScale.stream().anyMatch(p -> p[1] != 1.0) || !skipped.isEmpty();
        h.append("<h2>Loss scale (skipped steps marked)</h2>\n")
                .append(
                        scaled
                                ? lineChart("loss-scale", Map.of("loss scale", lossScale), true, null, skippedMarks())
                                : "<p class=\"omitted\">Left out: the run used no loss scaling and skipped no step.</p>\n");
        h.append("<h2>Diagnoses</h2>\n");
        if (diagnoses.isEmpty()) {
            h.append("<p id=\"no-diagnoses\">No diagnosis was raised.</p>\n");
        } else {
            h.append("<table id=\"diagnoses\"><tr><th>step</th><th>state</th><th>severity</th><th>code</th>"
                    + "<th>layer</th><th>evidence</th><th>hint</th></tr>\n");
            for (JsonNode d : diagnoses) {
                String sev = d.path("severity").asText();
                h.append("<tr class=\"")
                        .append(esc(sev))
                        .append("\"><td>")
                        .append(d.path("step").asLong())
                        .append("</td><td>")
                        .append(esc(d.path("state").asText()))
                        .append("</td><td>")
                        .append(esc(sev))
                        .append("</td><td>")
                        .append(esc(d.path("code").asText()))
                        .append("</td><td>")
                        .append(esc(d.path("layer").asText()))
                        .append("</td><td>")
                        .append(esc(evidenceInWords(d.path("evidence")).replaceFirst("^Evidence: ", "")))
                        .append("</td><td>")
                        .append(esc(d.path("hint").asText()))
                        .append("</td></tr>\n");
            }
            h.append("</table>\n");
        }
        h.append("</body></html>\n");
        return h.toString();
    }

    /** Whether the positive values of {@code pts} span more than {@code decades} powers of ten. */
    private static boolean spansDecades(List<double[]> pts, int decades) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = 0;
        for (double[] p : pts) {
            if (p[1] > 0 && Double.isFinite(p[1])) {
                lo = Math.min(lo, p[1]);
                hi = Math.max(hi, p[1]);
            }
        }
        return hi > 0 && hi / lo > Math.pow(10, decades);
    }

    /**
     * The verdict, before any chart: each pathology the run had (code and layer), most severe first, when it started
     * and cleared, where (layer, ranks), its evidence in words and numbers and what to try; or, for a run where no
     * rule fired, that plainly and which rules were checked.
     */
    private String verdict() {
        Map<String, JsonNode> first = new LinkedHashMap<>();
        Map<String, Long> cleared = new LinkedHashMap<>();
        Map<String, Integer> times = new LinkedHashMap<>();
        for (JsonNode d : diagnoses) {
            String key = d.path("code").asText() + "@" + d.path("layer").asText();
            if (d.path("state").asText().equals("open")) {
                first.putIfAbsent(key, d);
                times.merge(key, 1, Integer::sum);
                cleared.remove(key);
            } else {
                cleared.put(key, d.path("step").asLong());
            }
        }
        StringBuilder h = new StringBuilder("<section id=\"verdict\"><h2>Verdict</h2>\n");
        if (first.isEmpty()) {
            h.append("<p class=\"healthy\">No rule fired: this run shows none of the pathologies Ringtape checks (")
                    .append(esc(String.join(
                            ", ", Rules.all().stream().map(Rule::code).toList())))
                    .append(").</p>\n</section>\n");
            return h.toString();
        }
        List<String> keys = new ArrayList<>(first.keySet());
        keys.sort(Rules.mostTelling(
                k -> first.get(k).path("code").asText(),
                k -> first.get(k).path("step").asLong()));
        h.append("<ol class=\"verdict\">\n");
        for (String key : keys) {
            JsonNode d = first.get(key);
            String sev = d.path("severity").asText();
            h.append("<li class=\"")
                    .append(esc(sev))
                    .append("\"><b>")
                    .append(esc(d.path("code").asText()))
                    .append("</b>");
            if (!d.path("layer").asText().isEmpty()) {
                h.append(" in ").append(esc(d.path("layer").asText()));
            }
            if (d.path("ranks").isArray() && d.path("ranks").size() > 0) {
                h.append(" (rank").append(d.path("ranks").size() > 1 ? "s " : " ");
                List<String> r = new ArrayList<>();
                d.path("ranks").forEach(x -> r.add(x.asText()));
                h.append(esc(String.join(", ", r))).append(")");
            }
            h.append(" &middot; ")
                    .append(esc(sev))
                    .append(", from step ")
                    .append(d.path("step").asLong());
            Long c = cleared.get(key);
            h.append(c == null ? ", still open at the end" : ", cleared at step " + c);
            int n = times.get(key);
            if (n > 1) {
                h.append(" (opened ").append(n).append(" times)");
            }
            h.append("<br>").append(esc(evidenceInWords(d.path("evidence"))));
            h.append("<br>What to try: ").append(esc(d.path("hint").asText()));
            h.append(" <span class=\"explain\">(ringtape explain ")
                    .append(esc(d.path("code").asText()))
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
                    + (v.isNumber() ? fmt(v.asDouble()) : v.isNull() ? "not finite" : v.asText()));
        }
        return parts.isEmpty() ? "" : "Evidence: " + String.join(", ", parts) + ".";
    }

    /** Vertical annotation lines at each diagnosis that opened, labelled with its code. */
    private List<Mark> diagnosisMarks() {
        List<Mark> out = new ArrayList<>();
        for (JsonNode d : diagnoses) {
            if (d.path("state").asText().equals("open")) {
                out.add(new Mark(
                        d.path("step").asDouble(),
                        d.path("code").asText() + " " + d.path("layer").asText(),
                        d.path("severity").asText().equals("error") ? "#b00" : "#a60"));
            }
        }
        return out;
    }

    private List<Mark> skippedMarks() {
        List<Mark> out = new ArrayList<>();
        for (long s : skipped) {
            out.add(new Mark(s, "", "#b00"));
        }
        return out;
    }

    private record Mark(double step, String label, String color) {}

    private static final int W = 1000;
    private static final int H = 260;
    private static final int LEFT = 70;
    private static final int RIGHT = 20;
    private static final int TOP = 16;
    private static final int BOTTOM = 34;

    private static String lineChart(
            String id, Map<String, List<double[]>> series, boolean logY, double[] band, List<Mark> marks) {
        double x0 = Double.POSITIVE_INFINITY;
        double x1 = Double.NEGATIVE_INFINITY;
        double y0 = Double.POSITIVE_INFINITY;
        double y1 = Double.NEGATIVE_INFINITY;
        for (List<double[]> pts : series.values()) {
            for (double[] p : pts) {
                double y = logY ? Math.log10(p[1]) : p[1]; // a zero has no place on a log scale: left out
                if (!Double.isFinite(y)) {
                    continue;
                }
                x0 = Math.min(x0, p[0]);
                x1 = Math.max(x1, p[0]);
                y0 = Math.min(y0, y);
                y1 = Math.max(y1, y);
            }
        }
        StringBuilder s = new StringBuilder();
        s.append("<svg class=\"chart\" id=\"")
                .append(id)
                .append("\" xmlns=\"http://www.w3.org/2000/svg\" width=\"")
                .append(W)
                .append("\" height=\"")
                .append(H)
                .append("\" viewBox=\"0 0 ")
                .append(W)
                .append(' ')
                .append(H)
                .append("\">");
        double[] run = RUN_STEPS.get();
        if (x0 <= x1 && run != null) {
            x0 = Math.min(x0, run[0]);
            x1 = Math.max(x1, run[1]);
        }
        if (x0 > x1) {
            s.append("<text x=\"")
                    .append(W / 2)
                    .append("\" y=\"")
                    .append(H / 2)
                    .append("\" text-anchor=\"middle\" fill=\"#888\">no data in this log</text></svg>\n");
            return s.toString();
        }
        if (band != null && logY) {
            y0 = Math.min(y0, Math.log10(band[0]));
            y1 = Math.max(y1, Math.log10(band[1]));
        }
        if (y1 - y0 < 1e-12) {
            y0 -= 0.5;
            y1 += 0.5;
        }
        if (x1 == x0) {
            x1 = x0 + 1;
        }
        final double fx0 = x0;
        final double fx1 = x1;
        final double fy0 = y0;
        final double fy1 = y1;
        java.util.function.DoubleUnaryOperator px = x -> LEFT + (x - fx0) / (fx1 - fx0) * (W - LEFT - RIGHT);
        java.util.function.DoubleUnaryOperator py = y -> TOP + (1 - (y - fy0) / (fy1 - fy0)) * (H - TOP - BOTTOM);
        if (band != null) {
            double a = py.applyAsDouble(Math.log10(band[1]));
            double b = py.applyAsDouble(Math.log10(band[0]));
            s.append(String.format(
                    Locale.ROOT,
                    "<rect class=\"band\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\""
                            + " fill=\"#2ca02c\" fill-opacity=\"0.12\"/>",
                    LEFT,
                    a,
                    W - LEFT - RIGHT,
                    b - a));
        }
        // axes and ticks
        s.append(String.format(
                Locale.ROOT,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>",
                LEFT,
                H - BOTTOM,
                W - RIGHT,
                H - BOTTOM));
        s.append(String.format(
                Locale.ROOT,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>",
                LEFT,
                TOP,
                LEFT,
                H - BOTTOM));
        for (int i = 0; i <= 4; i++) {
            double yv = fy0 + (fy1 - fy0) * i / 4;
            double y = py.applyAsDouble(yv);
            s.append(String.format(
                    Locale.ROOT,
                    "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>",
                    LEFT - 6,
                    y + 4,
                    logY ? fmt(Math.pow(10, yv)) : fmt(yv)));
        }
        for (long xv : stepTicks(fx0, fx1)) {
            s.append(String.format(
                    Locale.ROOT,
                    "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%d</text>",
                    px.applyAsDouble(xv),
                    H - BOTTOM + 16,
                    xv));
        }
        s.append(String.format(
                Locale.ROOT,
                "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">step</text>",
                (W + LEFT) / 2,
                H - 4));
        for (Mark m : marks) {
            double x = px.applyAsDouble(m.step());
            s.append(String.format(
                    Locale.ROOT,
                    "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\""
                            + " stroke=\"%s\" stroke-dasharray=\"4 3\"/>",
                    x,
                    TOP,
                    x,
                    H - BOTTOM,
                    m.color()));
            if (!m.label().isEmpty()) {
                s.append(String.format(
                        Locale.ROOT,
                        "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"%s\""
                                + " transform=\"rotate(90 %.1f %d)\">%s</text>",
                        x + 3,
                        TOP + 2,
                        m.color(),
                        x + 3,
                        TOP + 2,
                        esc(m.label())));
            }
        }
        int c = 0;
        StringBuilder legend = new StringBuilder("<div class=\"legend\">");
        for (Map.Entry<String, List<double[]>> e : series.entrySet()) {
            String color = PALETTE[c++ % PALETTE.length];
            StringBuilder pts = new StringBuilder();
            for (double[] p : e.getValue()) {
                double y = logY ? Math.log10(p[1]) : p[1];
                if (Double.isFinite(y)) {
                    pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", px.applyAsDouble(p[0]), py.applyAsDouble(y)));
                    // a sparse series also gets a dot per point, so one of a single point still shows
                    if (e.getValue().size() <= 60) {
                        s.append(String.format(
                                Locale.ROOT,
                                "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"%s\"/>",
                                px.applyAsDouble(p[0]),
                                py.applyAsDouble(y),
                                color));
                    }
                }
            }
            s.append("<polyline class=\"series\" fill=\"none\" stroke=\"")
                    .append(color)
                    .append("\" stroke-width=\"1.5\" points=\"")
                    .append(pts)
                    .append("\"><title>")
                    .append(esc(e.getKey()))
                    .append("</title></polyline>");
            legend.append("<span><i class=\"swatch\" style=\"background:")
                    .append(color)
                    .append("\"></i>")
                    .append(esc(e.getKey()))
                    .append("</span>");
        }
        s.append("</svg>\n");
        return s + legend.append("</div>\n").toString();
    }

    private static String heatMap(Map<String, List<double[]>> rows) {
        TreeSet<Double> steps = new TreeSet<>();
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (List<double[]> r : rows.values()) {
            for (double[] p : r) {
                steps.add(p[0]);
                if (p[1] > 0) {
                    lo = Math.min(lo, Math.log10(p[1]));
                    hi = Math.max(hi, Math.log10(p[1]));
                }
            }
        }
        int cell = 14;
        int labelW = 170;
        int cols = Math.max(steps.size(), 1);
        double cw = Math.max(1.0, (double) (W - labelW - 10) / cols);
        int width = (int) Math.ceil(labelW + cols * cw + 10);
        int height = TOP + rows.size() * cell + 64;
        StringBuilder s = new StringBuilder();
        s.append("<svg class=\"chart\" id=\"grad-heatmap\" xmlns=\"http://www.w3.org/2000/svg\" width=\"")
                .append(width)
                .append("\" height=\"")
                .append(height)
                .append("\">");
        if (rows.isEmpty()) {
            return s.append("<text x=\"20\" y=\"30\" fill=\"#888\">no layer records in this log</text></svg>\n")
                    .toString();
        }
        List<Double> stepList = new ArrayList<>(steps);
        int row = 0;
        for (Map.Entry<String, List<double[]>> e : rows.entrySet()) {
            int y = TOP + row * cell;
            s.append(String.format(
                    Locale.ROOT,
                    "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>",
                    labelW - 6,
                    y + cell - 3,
                    esc(e.getKey())));
            for (double[] p : e.getValue()) {
                int col = stepList.indexOf(p[0]);
                double t = p[1] > 0 && hi > lo ? (Math.log10(p[1]) - lo) / (hi - lo) : 0;
                s.append(String.format(
                        Locale.ROOT,
                        "<rect class=\"cell\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\""
                                + " fill=\"%s\"><title>%s step %d: %s</title></rect>",
                        labelW + col * cw,
                        y,
                        cw + 0.3,
                        cell - 1,
                        heat(t),
                        esc(e.getKey()),
                        Math.round(p[0]),
                        fmt(p[1])));
            }
            row++;
        }
        int axis = TOP + rows.size() * cell + 14;
        for (long t : stepTicks(stepList.get(0), stepList.get(stepList.size() - 1))) {
            int col = 0;
            while (col < stepList.size() - 1 && stepList.get(col) < t) {
                col++;
            }
            s.append(String.format(
                    Locale.ROOT,
                    "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%d</text>",
                    labelW + (col + 0.5) * cw,
                    axis,
                    t));
        }
        // the colour scale: a bar from the smallest to the largest norm
        int barX = labelW;
        int barY = axis + 12;
        for (int i = 0; i < 100; i++) {
            s.append(String.format(
                    Locale.ROOT,
                    "<rect x=\"%d\" y=\"%d\" width=\"3\" height=\"10\" fill=\"%s\"/>",
                    barX + 3 * i,
                    barY,
                    heat(i / 99.0)));
        }
        s.append(String.format(
                Locale.ROOT,
                "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>"
                        + "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s (gradient L2 norm, log scale; step on the"
                        + " x axis)</text>",
                barX - 4,
                barY + 9,
                fmt(Math.pow(10, lo)),
                barX + 306,
                barY + 9,
                fmt(Math.pow(10, hi))));
        return s.append("</svg>\n").toString();
    }

    /** Whole steps at a round spacing (1, 2 or 5 times a power of ten), about five of them, within [lo, hi]. */
    static List<Long> stepTicks(double lo, double hi) {
        double span = Math.max(1, hi - lo);
        double raw = span / 5;
        double pow = Math.pow(10, Math.floor(Math.log10(raw)));
        double unit = raw / pow < 1.5 ? pow : raw / pow < 3.5 ? 2 * pow : raw / pow < 7.5 ? 5 * pow : 10 * pow;
        long spacing = Math.max(1, Math.round(unit));
        List<Long> ticks = new ArrayList<>();
        for (long t = (long) Math.ceil(lo / spacing) * spacing; t <= hi + 1e-9; t += spacing) {
            ticks.add(t);
        }
        return ticks;
    }

    /** Dark blue to yellow. */
    private static String heat(double t) {
        t = Math.max(0, Math.min(1, t));
        int r = (int) (30 + 225 * t);
        int g = (int) (30 + 200 * t);
        int b = (int) (120 - 90 * t);
        return String.format(Locale.ROOT, "#%02x%02x%02x", r, g, b);
    }

    static String fmt(double v) {
        if (!Double.isFinite(v)) {
            return String.valueOf(v);
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e5) {
            return Long.toString((long) v);
        }
        double a = Math.abs(v);
        return a != 0 && (a < 1e-3 || a >= 1e5)
                ? String.format(Locale.ROOT, "%.1e", v)
                : String.format(Locale.ROOT, "%.3g", v);
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
