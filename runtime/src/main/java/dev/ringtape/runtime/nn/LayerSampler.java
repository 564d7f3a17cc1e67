package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.telemetry.Sample;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects activation statistics while the forward passes of a sampled step run on this thread: activation layers
 * report their output to {@link #current()} while a sampler is open.
 *
 * <ul>
 *   <li>Mean, std and the saturated fraction (sigmoid/tanh outputs within the margin of a bound) come from the
 *       step's first micro-batch (the backend's {@code activationStats}, one pass over the output).
 *   <li>The dead fraction of a ReLU layer counts units that output zero for every sample of the window: units are
 *       the last axis of a {@code [N, features]} output and the channels (axis 1) of an NCHW one, where a channel is
 *       alive if it is non-zero at any position. A step's activity is gathered over all its micro-batches and, by
 *       one sum over the ranks ({@link #finishStep}), over every rank, so the verdict does not depend on how a global
 *       batch is split. A unit is dead after a silence of at least {@code deadSamples} samples (see {@link
 *       #finishStep}); the fraction is NaN until that many samples were seen.
 * </ul>
 */
public final class LayerSampler {
    private static final ThreadLocal<LayerSampler> CURRENT = new ThreadLocal<>();
    /** A unit's silence must last this many times its usual gap between firings to count as death. */
    static final int GAP_FACTOR = 4;

    /** Sums a step's activity counts over every rank, in place. */
    @FunctionalInterface
    public interface Summer {
        void sum(float[] values);
    }

    private final float margin;
    private final int deadWindow;
    private final long deadSamples;
    private final List<Sample.Activation> collected = new ArrayList<>();
    private final List<Sample.Attention> attention = new ArrayList<>();
    private boolean firstPass;
    /** Per ReLU layer, in forward order: its units' magnitude bits ORed over this step's passes. */
    private final Map<String, int[]> stepActive = new LinkedHashMap<>();
    /** Per ReLU layer: how long each unit has been silent (over every rank), and how often it fired. */
    private final Map<String, Silence> silence = new LinkedHashMap<>();

    private long seenSamples;
    private long seenSteps;
    private final double[] moments = new double[3];

    /**
     * {@code margin}: how close to a sigmoid/tanh bound an output counts as saturated ({@code saturation_margin});
     * {@code deadWindow} and {@code deadSamples}: the fewest sampled steps and samples over which a ReLU unit must
     * stay zero to count as dead ({@code dead_window}, {@code dead_samples}).
     */
    public LayerSampler(double margin, int deadWindow, long deadSamples) {
        this.margin = (float) margin;
        this.deadWindow = Math.max(1, deadWindow);
        this.deadSamples = Math.max(1, deadSamples);
    }

    /** The sampler open on this thread, or null (the common case: nothing to do). */
    public static LayerSampler current() {
        return CURRENT.get();
    }

    /**
     * Opens this sampler on this thread for one forward pass of a sampled step; {@code first} for the step's first
     * micro-batch, whose outputs give the mean, std and saturation. {@link #close()} ends the pass.
     */
    public LayerSampler open(boolean first) {
        if (first) {
            collected.clear();
            attention.clear();
        }
        this.firstPass = first;
        CURRENT.set(this);
        return this;
    }

    public void close() {
        CURRENT.remove();
    }

    /** The statistics of the last finished step. */
    public List<Sample.Activation> collected() {
        return List.copyOf(collected);
    }

    /** The attention heads' statistics of the last finished step. */
    public List<Sample.Attention> attention() {
        return List.copyOf(attention);
    }

    /**
     * Called by an attention layer with its [N, heads, T, T] logits and weights: on the step's first micro-batch,
     * each head's mean entropy over the batch's query positions and its largest |logit|.
     */
    public void attention(String layer, Tensor scores, Tensor weights, int heads, boolean causal) {
        if (!firstPass) {
            return;
        }
        double[] out = new double[2 * heads];
        Backends.current().attentionStats(scores, weights, heads, causal, out);
        double rows = (double) scores.size() / scores.dim(-1) / heads;
        for (int h = 0; h < heads; h++) {
            attention.add(new Sample.Attention(layer, h, out[heads + h] / rows, out[h]));
        }
    }

    /**
     * Called by an activation layer with its output (batch first). What is measured follows the activation's row
     * of {@link Activation}: the fraction near its bounds where it has them (else NaN), the units' activity where
     * they can die.
     */
    public void activation(String layer, Activation act, Tensor y) {
        boolean dies = act.dies();
        boolean channels = y.rank() == 4;
        int units = channels ? y.dim(1) : y.dim(-1);
        int[] active = null;
        if (dies) {
            active = stepActive.get(layer);
            if (active == null || active.length != units) {
                active = new int[units];
                stepActive.put(layer, active);
            }
        }
        if (!firstPass) {
            if (dies) {
                Backends.current().activationStats(y, channels, active, 0, 0, null);
            }
            return;
        }
        float lo = act.bounded() ? act.lower() + margin : Float.NEGATIVE_INFINITY;
        float hi = act.bounded() ? act.upper() - margin : Float.POSITIVE_INFINITY;
        Backends.current().activationStats(y, channels, active, lo, hi, moments);
        collected.add(new Sample.Activation(
                layer, act.type(), moments[0], moments[1], act.bounded() ? moments[2] : Double.NaN, Double.NaN));
    }

    /**
     * Ends a sampled step of {@code samples} samples (over every rank and micro-batch): sums the step's unit
     * activity over the ranks with {@code ranks} (every rank calls this at the same steps), updates each unit's
     * silence, and sets the dead fractions of the collected statistics.
     *
     * <p>A unit is dead once it has been silent for at least {@code deadSamples} samples and {@code deadWindow}
     * sampled steps, and for at least {@link #GAP_FACTOR} times its usual gap between firings (the samples up to its
     * last firing over the steps it fired in): a unit that fires rarely is not dead for a silence that is ordinary
     * for it, while one that fired at every step and stopped is.
     */
    public void finishStep(long samples, Summer ranks) {
        int total = 0;
        for (int[] a : stepActive.values()) {
            total += a.length;
        }
        float[] counts = new float[total];
        int at = 0;
        for (int[] a : stepActive.values()) {
            for (int v : a) {
                counts[at++] = v != 0 ? 1 : 0;
            }
        }
        if (total > 0) {
            ranks.sum(counts);
        }
        seenSamples += samples;
        seenSteps++;
        at = 0;
        for (Map.Entry<String, int[]> e : stepActive.entrySet()) {
            int[] a = e.getValue();
            Silence si = silence.computeIfAbsent(e.getKey(), k -> new Silence(a.length));
            for (int j = 0; j < a.length; j++) {
                if (counts[at++] > 0) {
                    si.samples[j] = 0;
                    si.steps[j] = 0;
                    si.fired[j]++;
                } else {
                    si.samples[j] += samples;
                    si.steps[j]++;
                }
            }
            java.util.Arrays.fill(a, 0);
        }
        boolean judged = seenSamples >= deadSamples && seenSteps >= deadWindow;
        for (int i = 0; i < collected.size(); i++) {
            Sample.Activation s = collected.get(i);
            Silence si = silence.get(s.layer());
            if (si == null) { // a layer whose units cannot die
                continue;
            }
            double dead = Double.NaN;
            if (judged) {
                int off = 0;
                for (int j = 0; j < si.samples.length; j++) {
                    // its usual gap while it fired: the samples up to its last firing over the steps it fired in
                    double gap = si.fired[j] == 0 ? 0 : (double) (seenSamples - si.samples[j]) / si.fired[j];
                    off += si.samples[j] >= deadSamples
                                    && si.steps[j] >= deadWindow
                                    && si.samples[j] >= GAP_FACTOR * gap
                            ? 1
                            : 0;
                }
                dead = si.samples.length == 0 ? 0 : (double) off / si.samples.length;
            }
            collected.set(i, new Sample.Activation(s.layer(), s.type(), s.mean(), s.std(), s.saturatedFrac(), dead));
        }
    }

    /** Per unit of a ReLU layer: samples and sampled steps since it last fired, and the steps it fired in. */
    private static final class Silence {
        final long[] samples;
        final long[] steps;
        final long[] fired;

        Silence(int units) {
            samples = new long[units];
            steps = new long[units];
            fired = new long[units];
        }
    }
}
