package dev.ringtape.telemetry;

import java.util.Map;
import java.util.TreeMap;

/**
 * The named thresholds of the diagnosis rules, with their documented defaults; a job overrides any of them by name
 * under {@code telemetry.thresholds}. An unknown name is an error that lists the known ones.
 */
public final class Thresholds {
    /** Every threshold, its default and what it means. */
    public static final Map<String, Threshold> DEFAULTS = new TreeMap<>(Map.ofEntries(
            entry("exploding_grad_norm", 1e3, "global gradient L2 norm above which EXPLODING_GRADIENT is raised"),
            entry(
                    "blowup_loss_factor",
                    100,
                    "a step's loss above this many times the first sampled loss is a BLOWUP (every step counts,"
                            + " sampled or not)"),
            entry(
                    "blowup_update_ratio",
                    1.0,
                    "a weight's update ratio above which a step is a BLOWUP: the step moved the weights by more"
                            + " than their norm (20x the top of the healthy band)"),
            entry(
                    "exploding_growth",
                    10.0,
                    "factor by which the global gradient norm grew at each of the last three"
                            + " samples for EXPLODING_GRADIENT to be raised below the bound"),
            entry(
                    "vanishing_ratio",
                    1e-3,
                    "a layer's weight-gradient norm over the last layer's, below which"
                            + " VANISHING_GRADIENT is raised for it"),
            entry(
                    "dead_frac",
                    0.25,
                    "fraction of a ReLU layer's units (channels after a conv) that have stopped firing"
                            + " (dead_window, dead_samples), above which DEAD_RELU is raised; healthy runs"
                            + " silence up to ~13 % for a while (Fashion-MNIST with Adam), a dying layer most"),
            entry(
                    "dead_window",
                    4.0,
                    "the fewest sampled steps a ReLU unit must stay silent (output zero for every sample of"
                            + " every micro-batch and rank) to count as dead"),
            entry(
                    "dead_samples",
                    512.0,
                    "the fewest samples (over every rank and micro-batch of the sampled steps) a ReLU unit must"
                            + " stay silent to count as dead, and at least 4x its usual gap between firings;"
                            + " dead_frac is reported once that many samples were seen"),
            entry(
                    "saturated_frac",
                    0.20,
                    "fraction of a sigmoid/tanh layer's outputs within saturation_margin of a bound,"
                            + " above which SATURATED_ACTIVATION is raised"),
            entry(
                    "saturation_margin",
                    1e-3,
                    "distance from a sigmoid/tanh bound (0 or 1; -1 or 1) within which an output counts"
                            + " as saturated"),
            entry(
                    "update_ratio_high",
                    5e-2,
                    "||applied update|| / ||weight before the step|| of a weight above which UPDATE_RATIO_HIGH is"
                            + " raised"),
            entry(
                    "update_ratio_low",
                    1e-4,
                    "||applied update|| / ||weight before the step|| of a weight below which UPDATE_RATIO_LOW is"
                            + " raised, times lr / base lr while a schedule warms up or decays"),
            entry(
                    "grad_spread",
                    100.0,
                    "ratio of the largest to the smallest weight-gradient norm across layers"
                            + " above which GRADIENT_SCALE_SPREAD is raised"),
            entry(
                    "fp16_underflow_frac",
                    0.1,
                    "fraction of the non-zero gradient values of a layer (its output's and its"
                            + " parameters') that 16-bit rounding flushed to zero, above which FP16_UNDERFLOW is"
                            + " raised"),
            entry("loss_scale_min", 1.0, "loss scale below which LOSS_SCALE_COLLAPSE is raised"),
            entry(
                    "loss_diverging_factor",
                    2.0,
                    "the smoothed loss (a moving average of the sampled losses) above this many times its lowest"
                            + " level raises LOSS_DIVERGING, if it is also above that level by loss_diverging_noise"
                            + " times the loss's fluctuation there, for three samples in a row"),
            entry(
                    "loss_diverging_noise",
                    3.0,
                    "how many times the loss's own fluctuation (at its lowest level) the smoothed loss must rise"
                            + " above that level for LOSS_DIVERGING"),
            entry(
                    "loss_diverging_min_rise",
                    0.05,
                    "the least rise of the smoothed loss above its lowest level, as a fraction of the first sampled"
                            + " loss, that LOSS_DIVERGING counts (a converged loss near zero rises by factors on noise)"),
            entry(
                    "grace_steps",
                    20.0,
                    "optimizer steps at the start of a run over which VANISHING_GRADIENT, UPDATE_RATIO_HIGH/LOW"
                            + " and GRADIENT_SCALE_SPREAD are not judged (a fresh or zero initialization says"
                            + " little about gradient flow in its first steps)"),
            entry(
                    "frozen_grad_norm",
                    1e-10,
                    "a weight whose gradient norm stayed below this over the last 5 samples" + " raises FROZEN_LAYER"),
            entry("plateau_samples", 20.0, "samples after which LOSS_PLATEAU is judged"),
            entry(
                    "plateau_ratio",
                    0.95,
                    "mean loss of the last 5 samples over that of the first 5, above which"
                            + " LOSS_PLATEAU is raised"),
            entry(
                    "attention_logit_max",
                    100.0,
                    "a head's largest attention logit |q.k| / sqrt(head width) above which ATTENTION_LOGIT_GROWTH is"
                            + " raised (the healthy GPT stays below 25; without qk layer norm at a rate of 1e-1 it"
                            + " passes 1,000)"),
            entry(
                    "attention_entropy_min",
                    0.1,
                    "a head's mean attention entropy (nats) below which ATTENTION_ENTROPY_COLLAPSE is raised (healthy"
                            + " heads stay above 0.5; uniform attention over a causal window of 64 averages 3.2)"),
            entry(
                    "log_z_max",
                    20.0,
                    "the mean log-normalizer logsumexp(logits) of a softmax output beyond which (in magnitude)"
                            + " OUTPUT_LOGIT_DIVERGENCE is raised (ln 256 = 5.5 at the start of a byte model; healthy"
                            + " runs stay within 5-7.1, early peaks 11.5)"),
            entry(
                    "loss_spike_z",
                    3.0,
                    "how many times the spread of the last loss_spike_window steps' losses (1.4826 x their median"
                            + " absolute deviation) a step's loss must exceed their median by for LOSS_SPIKE"),
            entry("loss_spike_window", 20.0, "the steps before a step whose losses LOSS_SPIKE compares it with"),
            entry(
                    "loss_spike_min_rise",
                    0.5,
                    "the least rise above the window's median loss, as a fraction of it, that LOSS_SPIKE counts"
                            + " (healthy GPT steps rise at most 8 % above their median; warm-up spikes at too high a"
                            + " rate 150-200 %); the loss must also exceed the run's first"),
            entry("clear_after", 3.0, "consecutive healthy samples after which an open diagnosis clears")));

    /** A threshold's default and meaning. */
    public record Threshold(double value, String meaning) {}

    private final Map<String, Double> values;

    private Thresholds(Map<String, Double> values) {
        this.values = values;
    }

    private static Map.Entry<String, Threshold> entry(String name, double value, String meaning) {
        return Map.entry(name, new Threshold(value, meaning));
    }

    /** The defaults with {@code overrides} applied; throws naming the unknown key. */
    public static Thresholds of(Map<String, Double> overrides) {
        Map<String, Double> v = new TreeMap<>();
        DEFAULTS.forEach((k, t) -> v.put(k, t.value()));
        for (Map.Entry<String, Double> e : overrides.entrySet()) {
            if (!DEFAULTS.containsKey(e.getKey())) {
                throw new IllegalArgumentException(
                        "unknown threshold '" + e.getKey() + "'; known: " + String.join(", ", DEFAULTS.keySet()));
            }
            v.put(e.getKey(), e.getValue());
        }
        return new Thresholds(v);
    }

    public static Thresholds defaults() {
        return of(Map.of());
    }

    public double get(String name) {
        Double d = values.get(name);
        if (d == null) {
            throw new IllegalArgumentException("unknown threshold " + name);
        }
        return d;
    }
}
