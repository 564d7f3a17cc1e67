package dev.ringtape.runtime.autograd;

import dev.ringtape.runtime.tensor.Tensor;

/**
 * A tensor saved for backward together with its version at save time. Reading it after an in-place write fails
 * loudly instead of producing a silently wrong gradient (PyTorch's in-place correctness check).
 */
public final class Saved {
    private final Tensor tensor;
    private final int version;

    private Saved(Tensor tensor) {
        this.tensor = tensor;
        this.version = tensor.version();
    }

    public static Saved of(Tensor tensor) {
        return new Saved(tensor);
    }

    /** The storage this save keeps alive, for memory accounting. */
    Object storage() {
        return tensor.storage();
    }

    /** A parameter (a leaf that requires grad) is model state, alive anyway: not an activation. */
    boolean isParameter() {
        return tensor.isLeaf() && tensor.requiresGrad();
    }

    public Tensor get() {
        if (tensor.version() != version) {
            throw new SavedTensorModifiedException(tensor, version);
        }
        return tensor;
    }
}
