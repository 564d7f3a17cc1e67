package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.tensor.Loops;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.telemetry.Sample;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects activation statistics while a sampled forward pass runs on this thread: activation layers report their
 * output to {@link #current()} when a sampler is open. One pass over each output ({@link
 * Loops#addActivationStats}) gives mean, std, the saturated fraction (sigmoid/tanh outputs within the margin of
 * a bound) and, for ReLU, the dead fraction (units zero for every sample of the batch). Per-layer scratch is allocated
 * on the first sample and reused after.
 */
public final class LayerSampler {
    private static final ThreadLocal<LayerSampler> CURRENT = new ThreadLocal<>();

    private final float margin;
    private final Loops loops = Loops.get();
    private final List<Sample.Activation> collected = new ArrayList<>();
    private final Map<String, int[]> alive = new HashMap<>();
    private final double[] sums = new double[3];

    /** {@code margin}: how close to a sigmoid/tanh bound an output counts as saturated ({@code saturation_margin}). */
    public LayerSampler(double margin) {
        this.margin = (float) margin;
    }

    /** The sampler open on this thread, or null (the common case: nothing to do). */
    public static LayerSampler current() {
        return CURRENT.get();
    }

    /** Opens this sampler on this thread for one forward pass; {@link #close()} ends it. */
    public LayerSampler open() {
        collected.clear();
        CURRENT.set(this);
        return this;
    }

    public void close() {
        CURRENT.remove();
    }

    /** The statistics collected by the last pass. */
    public List<Sample.Activation> collected() {
        return List.copyOf(collected);
    }

    /** Called by an activation layer with its output (batch first, units on the last axis). */
    public void activation(String layer, String type, Tensor y) {
        float[] d = y.data();
        int units = y.dim(-1);
        int[] on = null;
        if (type.equals("relu")) {
            on = alive.get(layer);
            if (on == null || on.length != units) {
                on = new int[units];
                alive.put(layer, on);
            }
            java.util.Arrays.fill(on, 0);
        }
        float lo = Float.NEGATIVE_INFINITY;
        float hi = Float.POSITIVE_INFINITY;
        if (type.equals("sigmoid")) {
            lo = margin;
            hi = 1 - margin;
        } else if (type.equals("tanh")) {
            lo = -1 + margin;
            hi = 1 - margin;
        }
        // sums are taken around the first row's mean, so a large mean does not cancel the variance away
        double firstRow = 0;
        for (int j = 0; j < Math.min(units, d.length); j++) {
            firstRow += d[j];
        }
        float shift = units == 0 ? 0 : (float) (firstRow / units);
        java.util.Arrays.fill(sums, 0);
        loops.addActivationStats(d, units, shift, lo, hi, sums, on);
        int n = units == 0 ? 0 : d.length - d.length % units;
        double offset = n == 0 ? 0 : sums[0] / n; // the mean minus the shift
        double std = n == 0 ? 0 : Math.sqrt(Math.max(sums[1] / n - offset * offset, 0));
        double dead = 0;
        if (on != null) {
            int off = 0;
            for (int bits : on) {
                off += bits == 0 ? 1 : 0;
            }
            dead = (double) off / units;
        }
        collected.add(new Sample.Activation(layer, type, shift + offset, std, n == 0 ? 0 : sums[2] / n, dead));
    }
}
