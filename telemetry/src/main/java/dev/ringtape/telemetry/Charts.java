package dev.ringtape.telemetry;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * The report's SVG charts on one timeline (the run's first to last step): line charts (optionally on a log scale,
 * with a shaded band and vertical marks) and the gradient-norm heat map, and their formatting helpers.
 */
final class Charts {
    private static final String[] PALETTE = {
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"
    };

    /** A vertical mark at a step, labelled. */
    record Mark(double step, String label, String color) {}

    private final double firstStep;
    private final double lastStep;

    /** Charts whose x axes span at least {@code firstStep} to {@code lastStep} (no constraint if first > last). */
    Charts(double firstStep, double lastStep) {
        this.firstStep = firstStep;
        this.lastStep = lastStep;
    }

    /** Whether the positive values of {@code pts} span more than {@code decades} powers of ten. */
    static boolean spansDecades(List<double[]> pts, int decades) {
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

    private static final int W = 1000;
    private static final int H = 260;
    private static final int LEFT = 70;
    private static final int RIGHT = 20;
    private static final int TOP = 16;
    private static final int BOTTOM = 34;

    String lineChart(String id, Map<String, List<double[]>> series, boolean logY, double[] band, List<Mark> marks) {
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
        if (x0 <= x1 && firstStep <= lastStep) {
            x0 = Math.min(x0, firstStep);
            x1 = Math.max(x1, lastStep);
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
            if (!logY && y0 >= 0) {
                // a flat series of non-negative values (a fraction that stays at 0): from 0 up
                y1 = y0 == 0 ? 1 : 2 * y1;
                y0 = 0;
            } else {
                y0 -= 0.5;
                y1 += 0.5;
            }
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

    String heatMap(Map<String, List<double[]>> rows) {
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

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
