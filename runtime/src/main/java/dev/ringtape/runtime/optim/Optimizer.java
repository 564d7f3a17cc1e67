package dev.ringtape.runtime.optim;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;

/**
 * Updates parameters in place from their accumulated gradients, with PyTorch's exact formulas. Parameters stay
 * float32 (the master weights in every precision mode).
 */
public interface Optimizer {
    /** One step at learning rate {@code lr} (the schedule's value for this step). */
    void step(double lr);

    /** The parameters this optimizer updates, in order. */
    List<Tensor> parameters();

    /** Steps taken so far. */
    long steps();

    /** The optimizer's buffers by name ({@code <param>.exp_avg}, {@code <param>.momentum_buffer}, ...). */
    java.util.Map<String, Tensor> state();
}
