package dev.ringtape.runtime.optim;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;

/**
 * Updates parameters in place from their accumulated gradients, with PyTorch's exact formulas. Parameters stay
 * float32 (the master weights in every precision mode).
 */
public interface Optimizer {
    /** One step at learning rate {@code lr} (the schedule's value for this step). */
    default void step(double lr) {
        step(lr, null);
    }

    /**
     * One step; with {@code stats} non-null, {@code stats[i]} (two values, zeroed by the caller) receives parameter
     * i's squared weight norm after the step and the squared norm of the update applied to it.
     */
    void step(double lr, double[][] stats);

    /** The parameters this optimizer updates, in order. */
    List<Tensor> parameters();

    /** Steps taken so far. */
    long steps();

    /**
     * The optimizer's buffers by name ({@code <param>.exp_avg}, {@code <param>.momentum_buffer}, ...) and its step
     * counts ({@code steps}, and Adam's {@code <param>.step}), as tensors; step counts are exact up to 2^24.
     */
    java.util.Map<String, Tensor> state();

    /** Restores what {@link #state()} gave (values copied in), so the next step is the one that would have come. */
    void load(java.util.Map<String, float[]> state);

    /** The values of {@code name} in {@code state}, checked against {@code size}. */
    static float[] entry(java.util.Map<String, float[]> state, String name, int size) {
        float[] v = state.get(name);
        if (v == null || v.length != size) {
            throw new IllegalArgumentException("optimizer state " + name
                    + (v == null ? " is missing" : " has " + v.length + " values, expected " + size));
        }
        return v;
    }
}
