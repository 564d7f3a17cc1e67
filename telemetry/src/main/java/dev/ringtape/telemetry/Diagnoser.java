package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The diagnosis rules. Fed one {@link Sample} at a time, it keeps one state per (code, layer): a diagnosis is
 * raised ({@code state: open}) the first sample its rule trips, and cleared ({@code state: cleared}) after {@code
 * clear_after} consecutive samples where it does not. Each event names the evidence that tripped the rule and a
 * one-line hint at the usual cause.
 */
public final class Diagnoser {
    /** One raised or cleared diagnosis. */
    public record Diagnosis(
            String code,
            String severity,
            String layer,
            long step,
            String state,
            Map<String, Object> evidence,
            String hint) {}

    private final Thresholds t;
    private final String job;
    private final int rank;
    private final Map<String, Open> open = new LinkedHashMap<>();
    private static final int LOSS_WINDOW = 5;
    private final double[] recentLosses = new double[LOSS_WINDOW];
    private int lossSamples;
    private double lowestLoss = Double.POSITIVE_INFINITY;
    private double firstWindowLoss = Double.NaN;
    private static final int FROZEN_WINDOW = 5;
    private static final int GROWTH_WINDOW = 4;
    private final double[] recentNorms = new double[GROWTH_WINDOW];
    private int normSamples;
    private final Map<String, double[]> recentGradNorms = new HashMap<>();
    private final Map<String, Integer> gradNormSamples = new HashMap<>();

    private static final class Open {
        final Diagnosis raised;
        int healthy;

        Open(Diagnosis raised) {
            this.raised = raised;
        }
    }

    public Diagnoser(Thresholds thresholds, String job, int rank) {
        this.t = thresholds;
        this.job = job;
        this.rank = rank;
    }

    /** The diagnoses that open or clear with this sample, in a stable order. */
    public List<Diagnosis> feed(Sample s) {
        Map<String, Diagnosis> tripped = new LinkedHashMap<>();
        check(s, tripped);
        List<Diagnosis> events = new ArrayList<>();
        for (Map.Entry<String, Diagnosis> e : tripped.entrySet()) {
            Open o = open.get(e.getKey());
            if (o == null) {
                open.put(e.getKey(), new Open(e.getValue()));
                events.add(e.getValue());
            } else {
                o.healthy = 0;
            }
        }
        double clearAfter = t.get("clear_after");
        for (var it = open.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Open> e = it.next();
            if (!tripped.containsKey(e.getKey()) && ++e.getValue().healthy >= clearAfter) {
                Diagnosis r = e.getValue().raised;
                events.add(new Diagnosis(r.code(), r.severity(), r.layer(), s.step(), "cleared", Map.of(), r.hint()));
                it.remove();
            }
        }
        return events;
    }

    /** The diagnoses open now. */
    public List<Diagnosis> openDiagnoses() {
        List<Diagnosis> out = new ArrayList<>();
        open.values().forEach(o -> out.add(o.raised));
        return out;
    }

    /** A non-finite value traced to its origin by the trainer: raised at once, on the origin's layer. */
    public List<Diagnosis> nonFinite(long step, String layer, String op, String phase) {
        String key = "NONFINITE@" + layer;
        if (open.containsKey(key)) {
            open.get(key).healthy = 0;
            return List.of();
        }
        Diagnosis d = new Diagnosis(
                "NONFINITE",
                "error",
                layer,
                step,
                "open",
                evidence("op", op, "phase", phase),
                "a NaN or Inf first appeared here; check the input data, the learning rate and any log/div/sqrt");
        open.put(key, new Open(d));
        return List.of(d);
    }

    private void check(Sample s, Map<String, Diagnosis> out) {
        if (!Double.isFinite(s.loss())) {
            put(
                    out,
                    "LOSS_DIVERGING",
                    "error",
                    "",
                    s,
                    evidence("loss", s.loss()),
                    "the loss is not finite; lower the learning rate or look for bad data");
        } else if (!s.skipped()) {
            // one batch's loss is noisy: compare the mean of the last few samples with the best such mean
            recentLosses[lossSamples++ % LOSS_WINDOW] = s.loss();
            if (lossSamples >= LOSS_WINDOW) {
                double mean = 0;
                for (double l : recentLosses) {
                    mean += l / LOSS_WINDOW;
                }
                lowestLoss = Math.min(lowestLoss, mean);
                if (lossSamples == LOSS_WINDOW) {
                    firstWindowLoss = mean;
                }
                if (lossSamples >= t.get("plateau_samples") && mean >= t.get("plateau_ratio") * firstWindowLoss) {
                    put(
                            out,
                            "LOSS_PLATEAU",
                            "warn",
                            "",
                            s,
                            evidence(
                                    "loss_window_mean",
                                    mean,
                                    "first_window_mean",
                                    firstWindowLoss,
                                    "threshold_ratio",
                                    t.get("plateau_ratio")),
                            "the loss has not moved since the start; the learning rate may be far too low, or the"
                                    + " model cannot fit the data (check the labels and the input normalization)");
                }
                double factor = t.get("loss_diverging_factor");
                if (mean > factor * lowestLoss && mean - lowestLoss > 1e-3) {
                    put(
                            out,
                            "LOSS_DIVERGING",
                            "error",
                            "",
                            s,
                            evidence(
                                    "loss_window_mean",
                                    mean,
                                    "lowest_window_mean",
                                    lowestLoss,
                                    "threshold_factor",
                                    factor),
                            "the loss is climbing away from its best value; the learning rate is the usual cause");
                }
            }
        }
        if (Double.isFinite(s.gradNorm()) && !s.skipped()) {
            recentNorms[normSamples++ % GROWTH_WINDOW] = s.gradNorm();
        }
        double growth = t.get("exploding_growth");
        boolean growing = normSamples >= GROWTH_WINDOW;
        for (int i = 1; growing && i < GROWTH_WINDOW; i++) {
            double earlier = recentNorms[(normSamples - GROWTH_WINDOW + i - 1) % GROWTH_WINDOW];
            double later = recentNorms[(normSamples - GROWTH_WINDOW + i) % GROWTH_WINDOW];
            growing = earlier > 0 && later >= growth * earlier;
        }
        if (Double.isFinite(s.gradNorm()) && (s.gradNorm() > t.get("exploding_grad_norm") || growing)) {
            put(
                    out,
                    "EXPLODING_GRADIENT",
                    "error",
                    "",
                    s,
                    evidence(
                            "grad_norm",
                            s.gradNorm(),
                            "threshold",
                            t.get("exploding_grad_norm"),
                            "growing_by",
                            growing ? growth : 0.0),
                    "gradients are huge or growing exponentially; lower the learning rate, clip gradients"
                            + " (train.clip_grad_norm) or shrink the initialization");
        }
        if (s.fp16() && s.lossScale() < t.get("loss_scale_min")) {
            put(
                    out,
                    "LOSS_SCALE_COLLAPSE",
                    "error",
                    "",
                    s,
                    evidence("loss_scale", s.lossScale(), "threshold", t.get("loss_scale_min")),
                    "the loss scale keeps backing off: every step overflows; look for Inf in the forward pass");
        }
        List<Sample.Param> weights = new ArrayList<>();
        for (Sample.Param p : s.params()) {
            if (p.weight() && Double.isFinite(p.gradNorm())) {
                weights.add(p);
            }
        }
        if (!weights.isEmpty() && !s.skipped()) {
            Sample.Param last = weights.get(weights.size() - 1);
            double vanish = t.get("vanishing_ratio");
            double maxNorm = 0;
            double minNorm = Double.POSITIVE_INFINITY;
            Sample.Param smallest = null;
            for (Sample.Param p : weights) {
                if (p != last && last.gradNorm() > 0 && p.gradNorm() / last.gradNorm() < vanish) {
                    put(
                            out,
                            "VANISHING_GRADIENT",
                            "warn",
                            p.layer(),
                            s,
                            evidence(
                                    "grad_norm",
                                    p.gradNorm(),
                                    "last_layer_grad_norm",
                                    last.gradNorm(),
                                    "ratio",
                                    p.gradNorm() / last.gradNorm(),
                                    "threshold",
                                    vanish),
                            "early layers barely learn; use ReLU-family activations, normalization, residual"
                                    + " connections or a larger (Kaiming) initialization");
                }
                if (p.gradNorm() > maxNorm) {
                    maxNorm = p.gradNorm();
                }
                if (p.gradNorm() < minNorm) {
                    minNorm = p.gradNorm();
                    smallest = p;
                }
                double ratio = p.updateRatio();
                // updates scale with the rate: during warm-up and decay the bound shrinks with lr / base lr
                double lowRatio = t.get("update_ratio_low") * (s.baseLr() > 0 ? Math.min(1, s.lr() / s.baseLr()) : 1);
                if (Double.isFinite(ratio) && ratio > t.get("update_ratio_high")) {
                    put(
                            out,
                            "UPDATE_RATIO_HIGH",
                            "warn",
                            p.layer(),
                            s,
                            evidence("update_ratio", ratio, "threshold", t.get("update_ratio_high")),
                            "each step changes this layer's weights by more than a tenth; the learning rate is too"
                                    + " high");
                } else if (Double.isFinite(ratio) && ratio < lowRatio && ratio >= 0) {
                    put(
                            out,
                            "UPDATE_RATIO_LOW",
                            "warn",
                            p.layer(),
                            s,
                            evidence("update_ratio", ratio, "threshold", lowRatio, "lr", s.lr(), "base_lr", s.baseLr()),
                            "this layer's weights hardly move; the learning rate is too low (or the layer is"
                                    + " frozen)");
                }
                double[] norms = recentGradNorms.computeIfAbsent(p.name(), k -> new double[FROZEN_WINDOW]);
                int seen = gradNormSamples.merge(p.name(), 1, Integer::sum);
                norms[(seen - 1) % FROZEN_WINDOW] = p.gradNorm();
                if (seen >= FROZEN_WINDOW) {
                    double max = 0;
                    for (double n : norms) {
                        max = Math.max(max, n);
                    }
                    if (max < t.get("frozen_grad_norm")) {
                        put(
                                out,
                                "FROZEN_LAYER",
                                "warn",
                                p.layer(),
                                s,
                                evidence(
                                        "max_grad_norm",
                                        max,
                                        "samples",
                                        FROZEN_WINDOW,
                                        "threshold",
                                        t.get("frozen_grad_norm")),
                                "no gradient reaches this layer any more; a dead ReLU layer above it, a zero weight"
                                        + " or a detached path is the usual cause");
                    }
                }
                if (p.underflowFrac() > t.get("fp16_underflow_frac")) { // NaN (fp32) compares false
                    put(
                            out,
                            "FP16_UNDERFLOW",
                            "warn",
                            p.layer(),
                            s,
                            evidence(
                                    "underflow_frac",
                                    p.underflowFrac(),
                                    "loss_scale",
                                    s.lossScale(),
                                    "threshold",
                                    t.get("fp16_underflow_frac")),
                            "16-bit rounding flushes this layer's gradients to zero (the layers below it get"
                                    + " zeros); enable dynamic loss scaling (a larger train.loss_scale) or use bf16");
                }
            }
            if (smallest != null && minNorm > 0 && maxNorm / minNorm > t.get("grad_spread")) {
                put(
                        out,
                        "GRADIENT_SCALE_SPREAD",
                        "info",
                        smallest.layer(),
                        s,
                        evidence("max_grad_norm", maxNorm, "min_grad_norm", minNorm, "threshold", t.get("grad_spread")),
                        "layers learn at very different speeds; normalization layers or per-layer learning rates"
                                + " even them out");
            }
        }
        for (Sample.Activation a : s.activations()) {
            if (a.type().contains("relu") && a.deadFrac() > t.get("dead_frac")) {
                put(
                        out,
                        "DEAD_RELU",
                        "warn",
                        a.layer(),
                        s,
                        evidence("dead_frac", a.deadFrac(), "threshold", t.get("dead_frac")),
                        "ReLU units output zero for every sample and no longer learn; the learning rate is the usual"
                                + " cause (or a large negative bias); try a lower rate or LeakyReLU");
            }
            if ((a.type().equals("sigmoid") || a.type().equals("tanh"))
                    && a.saturatedFrac() > t.get("saturated_frac")) {
                put(
                        out,
                        "SATURATED_ACTIVATION",
                        "warn",
                        a.layer(),
                        s,
                        evidence("saturated_frac", a.saturatedFrac(), "threshold", t.get("saturated_frac")),
                        "outputs are pinned at the bounds, where the gradient is near zero; shrink the"
                                + " initialization or normalize the inputs");
            }
        }
    }

    private static void put(
            Map<String, Diagnosis> out,
            String code,
            String severity,
            String layer,
            Sample s,
            Map<String, Object> evidence,
            String hint) {
        out.putIfAbsent(code + "@" + layer, new Diagnosis(code, severity, layer, s.step(), "open", evidence, hint));
    }

    private static Map<String, Object> evidence(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    /** The {@code diagnosis} record of {@code d}. */
    public ObjectNode record(Diagnosis d) {
        ObjectNode o = Records.of("diagnosis", job, d.step());
        o.put("code", d.code());
        o.put("severity", d.severity());
        o.put("layer", d.layer());
        o.put("rank", rank);
        o.put("state", d.state());
        ObjectNode ev = o.putObject("evidence");
        new java.util.TreeMap<>(d.evidence()).forEach((k, v) -> {
            if (v instanceof Number n) {
                Records.putNumber(ev, k, n.doubleValue());
            } else {
                ev.put(k, String.valueOf(v));
            }
        });
        o.put("hint", d.hint());
        return o;
    }
}
