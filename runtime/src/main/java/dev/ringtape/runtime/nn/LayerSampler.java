package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.telemetry.Sample;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects activation statistics while a sampled forward pass runs on this thread: activation layers report their
 * output to {@link #current()} when a sampler is open. One pass over each output computes mean, std, the saturated
 * fraction (sigmoid/tanh within 1e-3 of a bound) and, for ReLU, the dead fraction (units zero for every sample of
 * the batch). Per-layer scratch is allocated on the first sample and reused after.
 */
public final class LayerSampler {
    private static final ThreadLocal<LayerSampler> CURRENT = new ThreadLocal<>();
    private static final double SATURATION = 1e-3;

    private final List<Sample.Activation> collected = new ArrayList<>();
    private final Map<String, boolean[]> alive = new HashMap<>();

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
        boolean relu = type.equals("relu");
        boolean sigmoid = type.equals("sigmoid");
        boolean tanh = type.equals("tanh");
        boolean[] on = null;
        if (relu) {
            on = alive.computeIfAbsent(layer, k -> new boolean[units]);
            if (on.length != units) {
                on = new boolean[units];
                alive.put(layer, on);
            }
            java.util.Arrays.fill(on, false);
        }
        double sum = 0;
        double sq = 0;
        int saturated = 0;
        for (int base = 0; base < d.length; base += units) {
            for (int j = 0; j < units; j++) {
                float v = d[base + j];
                sum += v;
                sq += (double) v * v;
                if (sigmoid) {
                    saturated += v < SATURATION || v > 1 - SATURATION ? 1 : 0;
                } else if (tanh) {
                    saturated += Math.abs(v) > 1 - SATURATION ? 1 : 0;
                } else if (relu) {
                    on[j] |= v != 0f;
                }
            }
        }
        int n = Math.max(d.length, 1);
        double mean = sum / n;
        double std = Math.sqrt(Math.max(sq / n - mean * mean, 0));
        double dead = 0;
        if (relu) {
            int off = 0;
            for (boolean b : on) {
                off += b ? 0 : 1;
            }
            dead = (double) off / units;
        }
        collected.add(new Sample.Activation(layer, type, mean, std, (double) saturated / n, dead));
    }
}
