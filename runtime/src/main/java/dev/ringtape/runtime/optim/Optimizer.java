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

    /** The optimizer's buffers by name ({@code <param>.exp_avg}, {@code <param>.momentum_buffer}, ...). */
    java.util.Map<String, Tensor> state();
}
