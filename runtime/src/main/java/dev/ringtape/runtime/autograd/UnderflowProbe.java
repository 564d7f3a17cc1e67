package dev.ringtape.runtime.autograd;

import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.HashMap;
import java.util.Map;

/**
 * Counts, while open on this thread, the gradient values that rounding to a 16-bit format flushes to zero: every
 * gradient the tape rounds under autocast, keyed by where it is rounded (a parameter's name for a leaf's gradient,
 * the layer of the op whose output gradient it is otherwise). The trainer opens one on sampled fp16/bf16 steps; a
 * value counts as flushed when it was not zero before rounding and is zero after, which is exactly what underflow
 * loses. Counters are kept from one opening to the next, so a steady run allocates nothing.
 */
public final class UnderflowProbe implements AutoCloseable {
    private static final ThreadLocal<UnderflowProbe> CURRENT = new ThreadLocal<>();

    /** Per key: values that were not zero before rounding, and those of them rounding made zero. */
    private final Map<String, long[]> counts = new HashMap<>();

    /** Opens this probe on this thread (clearing its counts) until {@link #close()}. */
    public UnderflowProbe open() {
        for (long[] c : counts.values()) {
            c[0] = 0;
            c[1] = 0;
        }
        CURRENT.set(this);
        return this;
    }

    @Override
    public void close() {
        CURRENT.remove();
    }

    /** Rounds {@code t} to {@code precision} in place, counting under {@code key} if a probe is open. */
    static void round(Precision precision, Tensor t, String key) {
        if (precision == Precision.FP32) {
            return;
        }
        UnderflowProbe probe = CURRENT.get();
        Backends.current()
                .round(precision, t, probe == null ? null : probe.counts.computeIfAbsent(key, k -> new long[2]));
    }

    /**
     * Of the values rounded under {@code layer} or {@code param} that were not zero, the fraction rounding flushed to
     * zero (NaN when there were none): for a parameter, what underflow took from the gradient of its layer's output
     * (from which its own gradient is computed) and from its own gradient.
     */
    public double flushedFraction(String layer, String param) {
        long[] a = counts.get(layer);
        long[] b = counts.get(param);
        long nonZero = (a == null ? 0 : a[0]) + (b == null ? 0 : b[0]);
        long flushed = (a == null ? 0 : a[1]) + (b == null ? 0 : b[1]);
        return nonZero == 0 ? Double.NaN : (double) flushed / nonZero;
    }
}
