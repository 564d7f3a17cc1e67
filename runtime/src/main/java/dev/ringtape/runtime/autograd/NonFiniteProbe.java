package dev.ringtape.runtime.autograd;

import dev.ringtape.runtime.tensor.Tensor;

/**
 * Per-op non-finite checks, on only while a probe is open on this thread (the trainer opens one to re-run a
 * micro-batch whose result was not finite). Remembers the first op whose output (forward) or whose input gradient
 * (backward) holds a NaN or an infinity.
 */
public final class NonFiniteProbe implements AutoCloseable {
    private static final ThreadLocal<NonFiniteProbe> CURRENT = new ThreadLocal<>();

    private final NonFiniteProbe previous;
    private Origin origin;

    /** Where a non-finite value first appeared: the op, its layer, forward or backward, and a count. */
    public record Origin(String op, String layer, String phase, int nonFinite, int size) {}

    private NonFiniteProbe() {
        previous = CURRENT.get();
        CURRENT.set(this);
    }

    public static NonFiniteProbe open() {
        return new NonFiniteProbe();
    }

    static NonFiniteProbe current() {
        return CURRENT.get();
    }

    /** The first origin seen, or null while every value has been finite. */
    public Origin origin() {
        return origin;
    }

    void check(String op, String layer, String phase, Tensor t) {
        if (origin != null) {
            return;
        }
        int bad = dev.ringtape.runtime.backend.Backends.current().countNonFinite(t);
        if (bad > 0) {
            origin = new Origin(op, layer, phase, bad, t.size());
        }
    }

    @Override
    public void close() {
        if (previous == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(previous);
        }
    }
}
