package dev.ringtape.runtime.autograd;

import dev.ringtape.runtime.precision.Precision;

/**
 * The number format of activations and gradients on this thread (fp32 unless a mixed-precision scope is open). Ops
 * round their outputs to it, {@code Ops.cast} gives layers 16-bit copies of their fp32 master weights, and the tape
 * rounds every gradient it passes on. Losses stay fp32, as under PyTorch's autocast.
 */
public final class Autocast implements AutoCloseable {
    private static final ThreadLocal<Precision> CURRENT = ThreadLocal.withInitial(() -> Precision.FP32);
    private final Precision previous;

    private Autocast(Precision p) {
        previous = CURRENT.get();
        CURRENT.set(p);
    }

    /** Opens a scope in which activations and gradients are held in {@code precision}. */
    public static Autocast enable(Precision precision) {
        return new Autocast(precision);
    }

    public static Precision current() {
        return CURRENT.get();
    }

    @Override
    public void close() {
        CURRENT.set(previous);
    }
}
