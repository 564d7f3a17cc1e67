package dev.ringtape.telemetry;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The diagnosis rules as a table: each rule a small class with its code, severity, thresholds, state, evidence and
 * text, side by side. Adding a rule is adding a class here and a line to {@link #all()}.
 */
public final class Rules {
    private Rules() {}

    /** A fresh set of every rule (rules keep state: one set per run). */
    public static List<Rule> all() {
        // causes before their consequences: dead units freeze the layers below them, which then hardly move
        return List.of(
                new NonFinite(),
                new Blowup(),
                new LossDiverging(),
                new ExplodingGradient(),
                new LossScaleCollapse(),
                new AttentionLogitGrowth(),
                new AttentionEntropyCollapse(),
                new OutputLogitDivergence(),
                new LossSpike(),
                new DeadRelu(),
                new SaturatedActivation(),
                new Fp16Underflow(),
                new VanishingGradient(),
                new UpdateRatioHigh(),
                new FrozenLayer(),
                new UpdateRatioLow(),
                new LossPlateau(),
                new GradientScaleSpread());
    }

    /**
     * The order in which to tell a run's diagnoses (each the first opening of a code on a layer): the first cause,
     * which is the earliest that opened (of those at the same step, the one listed first in {@link #all()}), then the
     * others as causes before their consequences (the order of {@link #all()}), the earliest first. A run that blew
     * up at step 0, whose ReLUs were found dead at step 90 and whose layers froze at step 50 is told in that order:
     * the blow-up, the dead units, the frozen layers.
     */
    public static <T> List<T> chain(
            java.util.Collection<T> diagnoses,
            java.util.function.Function<T, String> code,
            java.util.function.ToLongFunction<T> step) {
        List<String> order = all().stream().map(Rule::code).toList();
        java.util.Comparator<T> causesFirst = java.util.Comparator.<T>comparingInt(x -> order.indexOf(code.apply(x)))
                .thenComparingLong(step);
        List<T> out = new java.util.ArrayList<>(diagnoses);
        if (out.isEmpty()) {
            return out;
        }
        T first = out.stream()
                .min(java.util.Comparator.<T>comparingLong(step).thenComparing(causesFirst))
                .orElseThrow();
        out.remove(first);
        out.sort(causesFirst);
        out.add(0, first);
        return out;
    }

    /** The rule of {@code code}, or null. */
    public static Rule of(String code) {
        return all().stream().filter(r -> r.code().equals(code)).findFirst().orElse(null);
    }

    static Map<String, Object> evidence(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    /** Per attention layer, in layer order, its head that {@code worse} ranks last (the largest by it). */
    static java.util.Collection<Sample.Attention> worstHeads(Sample s, java.util.Comparator<Sample.Attention> worse) {
        Map<String, Sample.Attention> worst = new java.util.LinkedHashMap<>();
        for (Sample.Attention a : s.attention()) {
            worst.merge(a.layer(), a, (x, y) -> worse.compare(y, x) > 0 ? y : x);
        }
        return worst.values();
    }

    /** Weight tensors (not biases) with a finite gradient norm, in layer order. */
    static List<Sample.Param> weights(Sample s) {
        return s.params().stream()
                .filter(p -> p.weight() && Double.isFinite(p.gradNorm()))
                .toList();
    }

    /**
     * The run blew up: a step moved the weights by more than their norm, or the loss of some step (sampled or not)
     * went orders of magnitude above the first. Named at the first sample that sees it, with no grace period: a run
     * that explodes in its first steps and then collapses (dead units, a constant output) shows later only as the
     * consequences, which other rules name.
     */
    static final class Blowup extends Rule {
        private double first = Double.NaN;

        Blowup() {
            super("BLOWUP", "error", 1, "blowup_loss_factor", "blowup_update_ratio");
        }

        @Override
        public String hint() {
            return "the first steps blew the weights up; the learning rate is far too high for this model:"
                    + " try it 10-100x lower, or a warm-up (train.lr_schedule) and train.clip_grad_norm";
        }

        @Override
        public String explanation() {
            return "The run blew up: a step changed the weights by more than their own size, or the loss went"
                    + " orders of magnitude above where it started, often between two sampled steps.\n"
                    + "Shows as: update ratios far above the healthy band's top (update_ratio_high) at the first"
                    + " samples, `loss` in step records jumping by powers of ten, weight norms multiplied; then,"
                    + " once the damage is done, the loss back near chance, dead ReLUs, frozen layers.\n"
                    + "Causes: a learning rate far too high (the commonest), no warm-up, an initialization scaled"
                    + " wrongly. Try a learning rate 10-100x lower, a warm-up, or gradient clipping; the"
                    + " diagnoses that follow a blow-up are its consequences and go away with it.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            double[] before = s.lossesBefore();
            if (Double.isNaN(first)) {
                first = before.length > 0 ? before[0] : s.loss();
            }
            double maxRatio = 0;
            String where = "";
            for (Sample.Param p : Rules.weights(s)) {
                if (p.updateRatio() > maxRatio) {
                    maxRatio = p.updateRatio();
                    where = p.layer();
                }
            }
            double band = t.get("update_ratio_high");
            boolean ratio = maxRatio > t.get("blowup_update_ratio");
            double bar = t.get("blowup_loss_factor") * Math.abs(first);
            long from = -1;
            long to = -1;
            double peak = Double.NEGATIVE_INFINITY;
            for (int i = 0; i <= before.length; i++) {
                double l = i < before.length ? before[i] : s.loss();
                long step = s.step() - before.length + i;
                if (first > 0 && l > bar) { // an infinite loss too; NaN is NONFINITE's
                    from = from < 0 ? step : from;
                    to = step;
                    peak = Math.max(peak, l);
                }
            }
            if (!ratio && from < 0) {
                return;
            }
            Map<String, Object> ev = evidence("first_loss", first);
            if (from >= 0) {
                ev.put("peak_loss", peak);
                ev.put("loss_above_factor_at_steps", from == to ? String.valueOf(from) : from + "-" + to);
            }
            if (maxRatio > 0) {
                ev.put("max_update_ratio", maxRatio);
                ev.put("in_layer", where);
                ev.put("times_band_top", maxRatio / band);
            }
            out.trip(this, "", ev);
        }
    }

    /** Raised by the trainer, which traces a non-finite value to the op that produced it ({@link Diagnoser#nonFinite}). */
    static final class NonFinite extends Rule {
        NonFinite() {
            super("NONFINITE", "error", 1);
        }

        @Override
        public String hint() {
            return "a NaN or Inf first appeared here; check the input data, the learning rate and any log/div/sqrt";
        }

        @Override
        public String explanation() {
            return "A step's gradients held a NaN or an Inf. The step is skipped (no weight changes) and the trainer"
                    + " re-runs it with a check after every op to name the first op and layer that produced one, in"
                    + " the forward or the backward pass, before or after the all-reduce (a `nonfinite` record).\n"
                    + "Shows as: `skipped: true` step records, `nonfinite` counts in layer records.\n"
                    + "Causes: NaN or Inf in the input data (the op is then the first layer's forward), a learning"
                    + " rate so high the weights overflow, log/sqrt/division of zero or negatives, fp16 overflow"
                    + " without loss scaling.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {}
    }

    /**
     * The loss is not finite, or its smoothed level (an exponential moving average of the sampled losses) has risen
     * above {@code loss_diverging_factor} times its lowest level and by more than {@code loss_diverging_noise} times
     * the loss's own fluctuation at that lowest point, for {@code persist} samples in a row: a noisy but converging
     * run does not trip it; a run whose loss leaves its noise band upwards does.
     *
     * <p>The average spans a number of examples, not of samples: five samples of {@link #SPAN_EXAMPLES} / 5 (the
     * calibration's batch of 64) or more, more samples of smaller batches. With five samples of 16 examples each, the
     * lowest level over a long run was a chance dip (0.18 where the loss ran at 0.35-0.4 on Fashion-MNIST) and an
     * ordinary swing tripped the rule (telemetry/README.md).
     */
    static final class LossDiverging extends Rule {
        private static final double ALPHA = 0.2;
        /** The examples the moving average and the recent median span at least. */
        static final long SPAN_EXAMPLES = 320;

        private double alpha = ALPHA;
        private double level = Double.NaN;
        private double first = Double.NaN;
        private double noise;
        private double best = Double.POSITIVE_INFINITY;
        private double noiseAtBest;
        private double[] recent = new double[5];
        private int seen;

        LossDiverging() {
            super(
                    "LOSS_DIVERGING",
                    "error",
                    3,
                    "loss_diverging_factor",
                    "loss_diverging_noise",
                    "loss_diverging_min_rise");
        }

        @Override
        public String hint() {
            return "the loss is climbing away from its best value; the learning rate is the usual cause";
        }

        @Override
        public String explanation() {
            return "The training loss is rising instead of falling: it is not finite, or its smoothed level has"
                    + " left the band of its own noise upwards and stayed out.\n"
                    + "Shows as: `loss` in step records climbing (often by orders of magnitude), update ratios"
                    + " above 1e-2, large `grad_norm`.\n"
                    + "Causes: a learning rate too high for the model (the commonest), no warm-up with Adam on a"
                    + " deep model, a loss scale or clipping set wrongly. Try a learning rate 3-10x lower, a"
                    + " warm-up (train.lr_schedule) or train.clip_grad_norm.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            if (!Double.isFinite(s.loss())) {
                out.trip(this, "", evidence("loss", s.loss()));
                return;
            }
            if (s.skipped()) {
                return;
            }
            if (Double.isNaN(level)) {
                level = s.loss();
                first = level;
                best = level;
                // the samples the average spans: five of batches of SPAN_EXAMPLES / 5 or more, more of smaller ones
                double span = s.examples() <= 0 ? 5 : Math.max(5.0, (double) SPAN_EXAMPLES / s.examples());
                alpha = ALPHA * 5 / span;
                recent = new double[(int) Math.round(span)];
                return;
            }
            recent[seen++ % recent.length] = s.loss();
            noise += alpha * (Math.abs(s.loss() - level) - noise);
            level += alpha * (s.loss() - level);
            if (level < best) {
                best = level;
                noiseAtBest = noise;
            }
            double factor = t.get("loss_diverging_factor");
            // the rise must stand out of the loss's noise at its lowest, and be worth noticing against where the run
            // started (a converged loss of 0.002 that touches 0.005 is not diverging)
            double band = Math.max(
                    t.get("loss_diverging_noise") * noiseAtBest, t.get("loss_diverging_min_rise") * Math.abs(first));
            // and most recent losses are up too, so one spike (a hard batch) does not count
            double[] sorted = Arrays.copyOf(recent, Math.min(seen, recent.length));
            Arrays.sort(sorted);
            double median = sorted[sorted.length / 2];
            if (level > factor * best && level - best > band && median > factor * best) {
                out.trip(
                        this,
                        "",
                        evidence(
                                "loss_level", level,
                                "lowest_level", best,
                                "noise_at_lowest", noiseAtBest,
                                "recent_median", median,
                                "threshold_factor", factor,
                                "rise_needed", band));
            }
        }
    }

    static final class ExplodingGradient extends Rule {
        private static final int WINDOW = 4;
        private final double[] recent = new double[WINDOW];
        private int seen;

        ExplodingGradient() {
            super("EXPLODING_GRADIENT", "error", 1, "exploding_grad_norm", "exploding_growth");
        }

        @Override
        public String hint() {
            return "gradients are huge or growing exponentially; lower the learning rate, clip gradients"
                    + " (train.clip_grad_norm) or shrink the initialization";
        }

        @Override
        public String explanation() {
            return "The global gradient norm is above `exploding_grad_norm`, or grew by `exploding_growth` at each"
                    + " of the last three samples.\n"
                    + "Shows as: `grad_norm` in step records in the thousands or multiplying sample after sample;"
                    + " NaNs usually follow.\n"
                    + "Causes: a learning rate too high, deep networks without normalization or residual"
                    + " connections, an initialization too large for the depth. Fixes: clip (train.clip_grad_norm),"
                    + " lower the rate, Kaiming initialization, LayerNorm.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            if (Double.isFinite(s.gradNorm()) && !s.skipped()) {
                recent[seen++ % WINDOW] = s.gradNorm();
            }
            double growth = t.get("exploding_growth");
            boolean growing = seen >= WINDOW;
            for (int i = 1; growing && i < WINDOW; i++) {
                double earlier = recent[(seen - WINDOW + i - 1) % WINDOW];
                double later = recent[(seen - WINDOW + i) % WINDOW];
                growing = earlier > 0 && later >= growth * earlier;
            }
            if (Double.isFinite(s.gradNorm()) && (s.gradNorm() > t.get("exploding_grad_norm") || growing)) {
                out.trip(
                        this,
                        "",
                        evidence(
                                "grad_norm", s.gradNorm(),
                                "threshold", t.get("exploding_grad_norm"),
                                "growing_by", growing ? growth : 0.0));
            }
        }
    }

    static final class LossScaleCollapse extends Rule {
        LossScaleCollapse() {
            super("LOSS_SCALE_COLLAPSE", "error", 1, "loss_scale_min");
        }

        @Override
        public String hint() {
            return "the loss scale keeps backing off: every step overflows; look for Inf in the forward pass";
        }

        @Override
        public String explanation() {
            return "In fp16, dynamic loss scaling halves the scale at every step whose gradients overflow; the scale"
                    + " has fallen below `loss_scale_min`, so almost every step overflows and is skipped.\n"
                    + "Shows as: `loss_scale` in step records falling step after step, `skipped: true`.\n"
                    + "Causes: activations that overflow fp16 in the forward pass (no normalization, huge inputs),"
                    + " a learning rate that blew the weights up. Try bf16, input normalization, a lower rate.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            if (s.fp16() && s.lossScale() < t.get("loss_scale_min")) {
                out.trip(this, "", evidence("loss_scale", s.lossScale(), "threshold", t.get("loss_scale_min")));
            }
        }
    }

    static final class VanishingGradient extends Rule {
        VanishingGradient() {
            super("VANISHING_GRADIENT", "warn", 3, "vanishing_ratio", "grace_steps");
        }

        @Override
        public String hint() {
            return "early layers barely learn; use ReLU-family activations, normalization, residual connections or a"
                    + " larger (Kaiming) initialization";
        }

        @Override
        public String explanation() {
            return "A layer's weight-gradient norm is below `vanishing_ratio` times the last layer's, for three"
                    + " samples in a row, after the first `grace_steps` steps (a zero-initialized last layer"
                    + " passes no gradient down at first, which is not a pathology).\n"
                    + "Shows as: `grad_norm` of layer records shrinking by orders of magnitude towards the input;"
                    + " the heat map's left columns fading.\n"
                    + "Causes: saturating activations (sigmoid/tanh) stacked deep, small initializations, no"
                    + " normalization. Fixes: ReLU/GELU, Kaiming initialization, LayerNorm, residual connections.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            List<Sample.Param> w = weights(s);
            if (w.isEmpty() || s.skipped() || s.step() < t.get("grace_steps")) {
                return;
            }
            Sample.Param last = w.get(w.size() - 1);
            double vanish = t.get("vanishing_ratio");
            for (Sample.Param p : w) {
                if (p != last && last.gradNorm() > 0 && p.gradNorm() / last.gradNorm() < vanish) {
                    out.trip(
                            this,
                            p.layer(),
                            evidence(
                                    "grad_norm",
                                    p.gradNorm(),
                                    "last_layer_grad_norm",
                                    last.gradNorm(),
                                    "ratio",
                                    p.gradNorm() / last.gradNorm(),
                                    "threshold",
                                    vanish));
                }
            }
        }
    }

    /**
     * More than {@code dead_frac} of a ReLU layer's units dead, for {@code persist} samples in a row. Once the
     * diagnosis is open, the layer keeps tripping until its fraction falls below {@link #HYSTERESIS} times the
     * threshold: a fraction that creeps along the threshold (Fashion-MNIST at batch 16 sampled every step: 0.24-0.26
     * for a thousand steps) opened and cleared the diagnosis a dozen times.
     */
    static final class DeadRelu extends Rule {
        static final double HYSTERESIS = 0.8;

        DeadRelu() {
            super("DEAD_RELU", "warn", 2, "dead_frac", "dead_window", "dead_samples");
        }

        @Override
        public String hint() {
            return "ReLU units output zero for every sample and no longer learn; the learning rate is the usual cause"
                    + " (or a large negative bias); try a lower rate or LeakyReLU";
        }

        @Override
        public String explanation() {
            return "More than `dead_frac` of a ReLU layer's units (channels, after a conv) output zero for every"
                    + " sample of the window: at least `dead_samples` samples over at least `dead_window` sampled"
                    + " steps, gathered over every micro-batch and rank, so the verdict does not depend on how a"
                    + " batch is split. A dead unit gets no gradient and never recovers.\n"
                    + "Shows as: `dead_frac` of the layer's activation records; FROZEN_LAYER below it when a whole"
                    + " layer dies.\n"
                    + "Causes: a learning rate too high (one large step pushes the units' biases negative), a large"
                    + " negative bias initialization. Fixes: a lower rate or warm-up, LeakyReLU/GELU, He"
                    + " initialization.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            for (Sample.Activation a : s.activations()) {
                if (Double.isNaN(a.deadFrac())) { // units that cannot die, or not judged yet
                    continue;
                }
                double threshold = t.get("dead_frac");
                if (a.deadFrac() > (out.open(this, a.layer()) ? HYSTERESIS * threshold : threshold)) {
                    out.trip(this, a.layer(), evidence("dead_frac", a.deadFrac(), "threshold", threshold));
                }
            }
        }
    }

    static final class SaturatedActivation extends Rule {
        SaturatedActivation() {
            super("SATURATED_ACTIVATION", "warn", 2, "saturated_frac", "saturation_margin");
        }

        @Override
        public String hint() {
            return "outputs are pinned at the bounds, where the gradient is near zero; shrink the initialization or"
                    + " normalize the inputs";
        }

        @Override
        public String explanation() {
            return "More than `saturated_frac` of a sigmoid or tanh layer's outputs lie within `saturation_margin`"
                    + " of a bound, where the derivative is nearly zero.\n"
                    + "Shows as: `saturated_frac` of the layer's activation records; VANISHING_GRADIENT below it.\n"
                    + "Causes: unnormalized inputs, an initialization too large, a learning rate that drove the"
                    + " pre-activations far out. Fixes: data.normalize: standard, Xavier initialization, a lower rate,"
                    + " or ReLU-family activations.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            for (Sample.Activation a : s.activations()) {
                if (a.saturatedFrac() > t.get("saturated_frac")) { // NaN for activations without bounds
                    out.trip(
                            this,
                            a.layer(),
                            evidence("saturated_frac", a.saturatedFrac(), "threshold", t.get("saturated_frac")));
                }
            }
        }
    }

    static final class UpdateRatioHigh extends Rule {
        UpdateRatioHigh() {
            super("UPDATE_RATIO_HIGH", "warn", 2, "update_ratio_high", "grace_steps");
        }

        @Override
        public String hint() {
            return "each step changes this layer's weights by a large fraction of their size; the learning rate is"
                    + " too high";
        }

        @Override
        public String explanation() {
            return "A weight's update ratio, ||applied update|| / ||weight before the step||, is above"
                    + " `update_ratio_high` for two samples in a row (after `grace_steps`; a weight of norm zero, as a"
                    + " zero-initialized layer starts, has no ratio). Healthy training moves weights by roughly 1e-4"
                    + " to 1e-2 of their norm per step (telemetry/README.md has the sweep behind the band).\n"
                    + "Shows as: `update_ratio` of the layer records; the update-ratio chart above the band.\n"
                    + "Causes: a learning rate too high for the optimizer and model. Try a rate 3-10x lower, or a"
                    + " warm-up.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            if (s.skipped() || s.step() < t.get("grace_steps")) {
                return;
            }
            for (Sample.Param p : weights(s)) {
                if (Double.isFinite(p.updateRatio()) && p.updateRatio() > t.get("update_ratio_high")) {
                    out.trip(
                            this,
                            p.layer(),
                            evidence("update_ratio", p.updateRatio(), "threshold", t.get("update_ratio_high")));
                }
            }
        }
    }

    static final class UpdateRatioLow extends Rule {
        private double firstLoss = Double.NaN;
        private double level = Double.NaN;

        UpdateRatioLow() {
            super("UPDATE_RATIO_LOW", "warn", 3, "update_ratio_low", "grace_steps");
        }

        @Override
        public String hint() {
            return "this layer's weights hardly move; the learning rate is too low (or the layer is frozen)";
        }

        @Override
        public String explanation() {
            return "A weight's update ratio is below `update_ratio_low` times lr / base lr (so warm-up and decay do"
                    + " not trip it) for three samples in a row, after `grace_steps`, while the smoothed loss is still"
                    + " above half its first value (once it has halved, small updates are convergence).\n"
                    + "Shows as: `update_ratio` of the layer records far below 1e-4; a loss that falls slowly or"
                    + " not at all (LOSS_PLATEAU).\n"
                    + "Causes: a learning rate too low, a weight decay that cancels the updates, a layer cut off"
                    + " from the gradient (see FROZEN_LAYER). Try a rate 3-10x higher.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            if (s.skipped() || s.step() < t.get("grace_steps")) {
                return;
            }
            if (Double.isFinite(s.loss())) {
                firstLoss = Double.isNaN(firstLoss) ? s.loss() : firstLoss;
                level = Double.isNaN(level) ? s.loss() : level + 0.2 * (s.loss() - level);
            }
            if (level < 0.5 * firstLoss) {
                return; // the loss has halved: small updates now are convergence, not a rate too low
            }
            double low = t.get("update_ratio_low") * (s.baseLr() > 0 ? Math.min(1, s.lr() / s.baseLr()) : 1);
            for (Sample.Param p : weights(s)) {
                double r = p.updateRatio();
                // a weight with no gradient at all is FROZEN_LAYER's case, not a low learning rate's
                if (Double.isFinite(r) && r >= 0 && r < low && p.gradNorm() > 0) {
                    out.trip(
                            this,
                            p.layer(),
                            evidence("update_ratio", r, "threshold", low, "lr", s.lr(), "base_lr", s.baseLr()));
                }
            }
        }
    }

    static final class FrozenLayer extends Rule {
        private static final int WINDOW = 5;
        private final Map<String, double[]> recent = new HashMap<>();
        private final Map<String, Integer> seen = new HashMap<>();

        FrozenLayer() {
            super("FROZEN_LAYER", "warn", 1, "frozen_grad_norm");
        }

        @Override
        public String hint() {
            return "no gradient reaches this layer any more; a dead ReLU layer above it, a zero weight or a detached"
                    + " path is the usual cause";
        }

        @Override
        public String explanation() {
            return "A weight's gradient norm stayed below `frozen_grad_norm` over the last five samples: the layer"
                    + " receives no gradient at all.\n"
                    + "Shows as: `grad_norm` of its layer records at zero (`zero_frac` near 1).\n"
                    + "Causes: every unit of a ReLU layer above it dead (see DEAD_RELU), a zero-initialized weight"
                    + " between it and the loss that never moved, a detached path. Fix what stops the gradient.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            if (s.skipped()) {
                return;
            }
            for (Sample.Param p : weights(s)) {
                double[] norms = recent.computeIfAbsent(p.name(), k -> new double[WINDOW]);
                int n = seen.merge(p.name(), 1, Integer::sum);
                norms[(n - 1) % WINDOW] = p.gradNorm();
                if (n >= WINDOW) {
                    double max = 0;
                    for (double v : norms) {
                        max = Math.max(max, v);
                    }
                    if (max < t.get("frozen_grad_norm")) {
                        out.trip(
                                this,
                                p.layer(),
                                evidence(
                                        "max_grad_norm",
                                        max,
                                        "samples",
                                        WINDOW,
                                        "threshold",
                                        t.get("frozen_grad_norm")));
                    }
                }
            }
        }
    }

    static final class Fp16Underflow extends Rule {
        Fp16Underflow() {
            super("FP16_UNDERFLOW", "warn", 2, "fp16_underflow_frac");
        }

        @Override
        public String hint() {
            return "16-bit rounding flushes this layer's gradients to zero (the layers below it get zeros); enable"
                    + " dynamic loss scaling (a larger train.loss_scale) or use bf16";
        }

        @Override
        public String explanation() {
            return "In an fp16 or bf16 run, more than `fp16_underflow_frac` of a layer's non-zero gradient values"
                    + " (its output's and its parameters') were flushed to zero by rounding to 16 bits.\n"
                    + "Shows as: `underflow_frac` of the layer records; `zero_frac` near 1 below it.\n"
                    + "Causes: fp16 without loss scaling, or a loss scale far too small. Fixes: dynamic loss scaling"
                    + " (train.loss_scale.init 65536), or bf16, whose range is fp32's.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            if (s.skipped()) {
                return;
            }
            for (Sample.Param p : weights(s)) {
                if (p.underflowFrac() > t.get("fp16_underflow_frac")) { // NaN (fp32) compares false
                    out.trip(
                            this,
                            p.layer(),
                            evidence(
                                    "underflow_frac", p.underflowFrac(),
                                    "loss_scale", s.lossScale(),
                                    "threshold", t.get("fp16_underflow_frac")));
                }
            }
        }
    }

    static final class LossPlateau extends Rule {
        private static final int WINDOW = 5;
        private final double[] recent = new double[WINDOW];
        private int seen;
        private double first = Double.NaN;
        private boolean flat;

        LossPlateau() {
            super("LOSS_PLATEAU", "warn", 1, "plateau_samples", "plateau_ratio");
        }

        @Override
        public String hint() {
            return "the loss has not moved since the start; the learning rate may be far too low, or the model cannot"
                    + " fit the data (check the labels and the input normalization)";
        }

        @Override
        public String explanation() {
            return "After `plateau_samples` samples, the mean of the last five sampled losses is still above"
                    + " `plateau_ratio` times the mean of the first five.\n"
                    + "Shows as: a flat loss chart; update ratios low.\n"
                    + "Causes: a learning rate far too low, labels that do not match the inputs (shuffled"
                    + " separately), unnormalized inputs, a model too small for the task.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            if (!Double.isFinite(s.loss()) || s.skipped()) {
                return;
            }
            recent[seen++ % WINDOW] = s.loss();
            if (seen < WINDOW) {
                return;
            }
            double mean = 0;
            for (double l : recent) {
                mean += l / WINDOW;
            }
            if (seen == WINDOW) {
                first = mean;
            }
            // once flat, it stays flat until the loss is clearly below the plateau (noise does not flip it back)
            double ratio = t.get("plateau_ratio");
            flat = seen >= t.get("plateau_samples") && mean >= (flat ? ratio - 0.1 : ratio) * first;
            if (flat) {
                out.trip(
                        this,
                        "",
                        evidence(
                                "loss_window_mean", mean,
                                "first_window_mean", first,
                                "threshold_ratio", t.get("plateau_ratio")));
            }
        }
    }

    static final class GradientScaleSpread extends Rule {
        GradientScaleSpread() {
            super("GRADIENT_SCALE_SPREAD", "info", 3, "grad_spread", "grace_steps");
        }

        @Override
        public String hint() {
            return "layers learn at very different speeds; normalization layers or per-layer learning rates even them"
                    + " out";
        }

        @Override
        public String explanation() {
            return "The largest weight-gradient norm over the smallest, across layers, is above `grad_spread`.\n"
                    + "Shows as: the gradient-norm heat map spanning several decades from column to column.\n"
                    + "Causes: depth without normalization, layers of very different widths, mixed activations."
                    + " Informational: adaptive optimizers (Adam) cope with it; SGD may not.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            List<Sample.Param> w = weights(s);
            if (w.isEmpty() || s.skipped() || s.step() < t.get("grace_steps")) {
                return;
            }
            Sample.Param smallest = w.get(0);
            double max = 0;
            for (Sample.Param p : w) {
                max = Math.max(max, p.gradNorm());
                if (p.gradNorm() < smallest.gradNorm()) {
                    smallest = p;
                }
            }
            double min = smallest.gradNorm();
            if (min > 0 && max / min > t.get("grad_spread")) {
                out.trip(
                        this,
                        smallest.layer(),
                        evidence("max_grad_norm", max, "min_grad_norm", min, "threshold", t.get("grad_spread")));
            }
        }
    }

    /**
     * A head's largest attention logit {@code q.k / sqrt(d)} above {@code attention_logit_max} for two samples in a
     * row (Dehghani et al. 2023; Wortsman et al. 2023 reproduce it in small models at high learning rates). The
     * calibration (telemetry/README.md) found the healthy GPT below 25 at every step, and without query-key layer
     * norm at a rate of 1e-1 above 1,000 within 40 steps.
     */
    static final class AttentionLogitGrowth extends Rule {
        AttentionLogitGrowth() {
            super("ATTENTION_LOGIT_GROWTH", "warn", 2, "attention_logit_max");
        }

        @Override
        public String hint() {
            return "attention logits are growing without bound, so the heads' weights turn one-hot; set"
                    + " qk_layernorm: true on the attention layers (layer norm on queries and keys) or lower the"
                    + " learning rate";
        }

        @Override
        public String explanation() {
            return "A head's largest attention logit, |q.k| / sqrt(head width) over the positions a query sees, is"
                    + " above `attention_logit_max` for two samples in a row. Queries and keys grow with their"
                    + " weights, and the logits grow with the square of that: the softmax turns one-hot, its"
                    + " gradient vanishes, and the loss stalls or spikes (Dehghani et al. 2023, ViT-22B; Wortsman et"
                    + " al. 2023 reproduce it in small models at high learning rates).\n"
                    + "Shows as: `attention_max_logit` of the attention layer records climbing by orders of"
                    + " magnitude; ATTENTION_ENTROPY_COLLAPSE usually follows.\n"
                    + "Causes: a learning rate too high for attention without normalization. Fixes: qk_layernorm:"
                    + " true on the attention layers (the cure of both papers: a layer norm on queries and keys"
                    + " bounds the logits), a lower learning rate.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            double bar = t.get("attention_logit_max");
            for (Sample.Attention a : worstHeads(s, (x, y) -> Double.compare(x.maxLogit(), y.maxLogit()))) {
                if (a.maxLogit() > bar) {
                    out.trip(this, a.layer(), evidence("max_logit", a.maxLogit(), "head", a.head(), "threshold", bar));
                }
            }
        }
    }

    /**
     * A head's mean attention entropy below {@code attention_entropy_min} nats for two samples in a row (Zhai et al.
     * 2023): the head attends to one position. Healthy heads of the calibration GPT stayed above 0.5 nats (uniform
     * attention over a causal window of 64 averages 3.2); those of runs with growing logits fell below 0.1.
     */
    static final class AttentionEntropyCollapse extends Rule {
        AttentionEntropyCollapse() {
            super("ATTENTION_ENTROPY_COLLAPSE", "warn", 2, "attention_entropy_min");
        }

        @Override
        public String hint() {
            return "a head attends to a single position for every query; set qk_layernorm: true on the attention"
                    + " layers or lower the learning rate";
        }

        @Override
        public String explanation() {
            return "A head's attention entropy, -sum p log p of its weights averaged over the batch's queries, is"
                    + " below `attention_entropy_min` nats for two samples in a row: it puts all its weight on one"
                    + " position. Zhai et al. (2023) found per-head entropy dipping with loss spikes and collapsing"
                    + " to about 0 at twice the tuned learning rate.\n"
                    + "Shows as: `attention_entropy` of the attention layer records near 0 (uniform attention over a"
                    + " causal window of T averages about ln T - 1); large `attention_max_logit` beside it.\n"
                    + "Causes: attention logits that grew (ATTENTION_LOGIT_GROWTH), a learning rate too high."
                    + " Fixes: qk_layernorm: true, a lower learning rate or a longer warm-up.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            double bar = t.get("attention_entropy_min");
            for (Sample.Attention a : worstHeads(s, (x, y) -> Double.compare(y.entropy(), x.entropy()))) {
                if (a.entropy() < bar) {
                    out.trip(this, a.layer(), evidence("entropy", a.entropy(), "head", a.head(), "threshold", bar));
                }
            }
        }
    }

    /**
     * The output logits' mean log-normalizer {@code log Z = logsumexp(logits)} beyond {@code log_z_max} in magnitude
     * for two samples in a row (Wortsman et al. 2023: output logit divergence). A softmax output starts near
     * ln(classes) (5.5 for bytes) and the healthy runs of the calibration stayed within 5-7.1, peaks of 11.5 in the
     * first 20 steps.
     */
    static final class OutputLogitDivergence extends Rule {
        OutputLogitDivergence() {
            super("OUTPUT_LOGIT_DIVERGENCE", "warn", 2, "log_z_max");
        }

        @Override
        public String hint() {
            return "the output logits' log-normalizer is running away; lower the learning rate"
                    + " (train.optimizer.lr, 3-10x): at small scale here neither clipping nor a z-loss"
                    + " (model.loss.z_loss) held it (telemetry/README.md)";
        }

        @Override
        public String explanation() {
            return "The mean log Z of the softmax output, logsumexp over the logits of each position, is beyond"
                    + " `log_z_max` in magnitude for two samples in a row. The softmax does not care where its logits"
                    + " sit, so nothing holds them, and large ones make the loss's gradient and rounding unstable"
                    + " (Wortsman et al. 2023; PaLM's z-loss, 1e-4 x log^2 Z, pulls log Z towards 0).\n"
                    + "Shows as: `log_z` in step records moving away from ln(classes) by tens; the loss usually"
                    + " diverging with it.\n"
                    + "Causes: a learning rate too high. At small scale here log Z ran away only together with the"
                    + " loss (the calibration GPT at 3e-1, the zoo's two-block GPT at 1.0), and neither"
                    + " train.clip_grad_norm: 1.0 nor a z-loss of 1e-4 or 1e-2 stopped it there; a rate 3-10x lower"
                    + " did. The z-loss (model.loss.z_loss: 1.0e-4) is the cure Wortsman et al. give for the slow"
                    + " drift of long runs at scale.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            double bar = t.get("log_z_max");
            if (!s.skipped() && Math.abs(s.logZ()) > bar) { // NaN (no softmax output) compares false
                out.trip(this, "", evidence("log_z", s.logZ(), "threshold", bar));
            }
        }
    }

    /**
     * A step's loss above the run's first loss, and above the median of the {@code loss_spike_window} steps before it
     * by {@code loss_spike_min_rise} of that median and by more than {@code loss_spike_z} times their spread (1.4826 x the median absolute
     * deviation, the standard deviation of normal noise): a rolling z-score as llm.c keeps one, made robust, since
     * the window of a run's first steps holds a steep descent whose standard deviation hides a spike. Every step
     * counts, sampled or not (a spike lasts a step); the window must hold {@link #MIN_HISTORY} steps first.
     */
    static final class LossSpike extends Rule {
        static final int MIN_HISTORY = 10;
        private double[] window;
        private int seen;
        private double first = Double.NaN;

        LossSpike() {
            super("LOSS_SPIKE", "warn", 1, "loss_spike_z", "loss_spike_window", "loss_spike_min_rise");
        }

        @Override
        public String hint() {
            return "the loss jumped far out of its recent range; lengthen the warm-up"
                    + " (train.lr_schedule.warmup_steps) or lower the learning rate";
        }

        @Override
        public String explanation() {
            return "A step's loss is above the run's first loss (what the untrained model scored: a small batch's"
                    + " hard draw stays below it), and above the median of the `loss_spike_window` steps before it by"
                    + " at least `loss_spike_min_rise` of that median and by more than `loss_spike_z` times their spread"
                    + " (1.4826 x the median absolute deviation): a rolling z-score, as llm.c keeps one of its loss,"
                    + " made robust to the steep descent of a run's first steps. Every step counts, sampled or not.\n"
                    + "Shows as: one step's `loss` in the step records far above its neighbours', often back in range"
                    + " the next step; at the onset of a divergence, several.\n"
                    + "Causes: a learning rate too high for the start of training, when Adam's updates are largest"
                    + " (the calibration GPT spiked at steps 5-17 of its warm-up at rates of 1e-2 and up, with and"
                    + " without qk layer norm), no warm-up, rare outlier batches. Fixes: a longer warm-up"
                    + " (train.lr_schedule.warmup_steps), a lower rate, gradient clipping.";
        }

        @Override
        void check(Sample s, Thresholds t, Trips out) {
            int w = Math.max(MIN_HISTORY, (int) t.get("loss_spike_window"));
            if (window == null || window.length != w) {
                window = new double[w];
                seen = 0;
            }
            double[] before = s.lossesBefore();
            for (int i = 0; i <= before.length; i++) {
                double l = i < before.length ? before[i] : s.loss();
                long step = s.step() - before.length + i;
                if (!Double.isFinite(l)) {
                    continue; // NONFINITE's and LOSS_DIVERGING's
                }
                first = Double.isNaN(first) ? l : first;
                int n = Math.min(seen, w);
                if (n >= MIN_HISTORY) {
                    double[] recent = Arrays.copyOf(window, n);
                    double median = median(recent);
                    for (int j = 0; j < n; j++) {
                        recent[j] = Math.abs(recent[j] - median);
                    }
                    double spread = 1.4826 * median(recent);
                    double rise = l - median;
                    double z = spread > 0 ? rise / spread : (rise > 0 ? Double.POSITIVE_INFINITY : 0);
                    // and above the run's first loss: a small batch's hard draw (digits at batch 16: 0.4 to 1.6, z
                    // 5.8) stays below what the untrained model scored, an unstable step does not (a byte GPT's
                    // warm-up spikes: 3.5-4 to 6.5-15 nats, above ln 256 = 5.5)
                    if (rise > t.get("loss_spike_min_rise") * Math.abs(median)
                            && z > t.get("loss_spike_z")
                            && l > first) {
                        out.trip(
                                this,
                                "",
                                evidence(
                                        "at_step", step,
                                        "loss", l,
                                        "window_median", median,
                                        "window_spread", spread,
                                        "z", z,
                                        "threshold_z", t.get("loss_spike_z")));
                    }
                }
                window[seen++ % w] = l;
            }
        }

        private static double median(double[] a) {
            double[] c = a.clone();
            Arrays.sort(c);
            int n = c.length;
            return n % 2 == 1 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
        }
    }
}
