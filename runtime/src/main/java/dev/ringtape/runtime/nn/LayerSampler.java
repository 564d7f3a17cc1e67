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
 * a bound) and, for ReLU, the dead fraction: units that output zero for every sample of the last {@code deadWindow}
 * sampled passes (one batch is too few samples to call a unit dead; NaN until the window is full). Per-layer scratch
 * is allocated on the first sample and reused after.
 */
public final class LayerSampler {
    private static final ThreadLocal<LayerSampler> CURRENT = new ThreadLocal<>();

    private final float margin;
    private final Loops loops = Loops.get();
    private final List<Sample.Activation> collected = new ArrayList<>();
    private final int deadWindow;
    /** Per ReLU layer: the magnitude bits ORed per unit over each pass of the window (a ring), and the passes seen. */
    private final Map<String, int[][]> alive = new HashMap<>();

    private final Map<String, long[]> passes = new HashMap<>();
    private final double[] sums = new double[3];

    /**
     * {@code margin}: how close to a sigmoid/tanh bound an output counts as saturated ({@code saturation_margin});
     * {@code deadWindow}: over how many sampled passes a ReLU unit must stay zero to count as dead ({@code
     * dead_window}).
     */
    public LayerSampler(double margin, int deadWindow) {
        this.margin = (float) margin;
        this.deadWindow = Math.max(1, deadWindow);
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
        int[][] ring = null;
        int[] on = null;
        long seen = 0;
        if (type.equals("relu")) {
            ring = alive.get(layer);
            if (ring == null || ring[0].length != units) {
                ring = new int[deadWindow][units];
                alive.put(layer, ring);
                passes.put(layer, new long[1]);
            }
            seen = passes.get(layer)[0]++;
            on = ring[(int) (seen % deadWindow)];
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
        if (ring != null) {
            dead = Double.NaN;
            if (seen + 1 >= deadWindow) {
                int off = 0;
                for (int j = 0; j < units; j++) {
                    int any = 0;
                    for (int[] pass : ring) {
                        any |= pass[j];
                    }
                    off += any == 0 ? 1 : 0;
                }
                dead = (double) off / units;
            }
        }
        collected.add(new Sample.Activation(layer, type, shift + offset, std, n == 0 ? 0 : sums[2] / n, dead));
    }
}
