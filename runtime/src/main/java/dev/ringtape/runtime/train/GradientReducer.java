package dev.ringtape.runtime.train;

/**
 * The port through which workers sum their gradients: the trainer keeps every parameter gradient as a view of one
 * float arena, in parameter order, and asks for the element-wise sum over all workers, bucket by bucket as backward
 * finishes them. Every rank must make the same sequence of calls on every path (even when it skips a step), since
 * each call is a collective.
 */
public interface GradientReducer {
    /** This worker's rank, 0-based. */
    int rank();

    /** The number of workers. */
    int worldSize();

    /** Replaces {@code arena[offset, offset + length)} by its sum over all workers. */
    void sum(float[] arena, int offset, int length);

    /** Replaces each value by its sum over all workers (a few scalars: one round trip, not a bucket). */
    void sumScalars(double[] values);

    /**
     * Starts summing {@code arena[offset, offset + length)} (one bucket) and may return before it is done, so the
     * trainer can go on with backward; {@link #finishSums()} waits for every bucket started. By default the sum is
     * done at once.
     */
    default void startSum(float[] arena, int offset, int length) {
        sum(arena, offset, length);
    }

    /** Waits until every bucket started by {@link #startSum} holds its sum. */
    default void finishSums() {}

    /**
     * Of the last buckets' summing, the milliseconds done before {@link #finishSums()} was called, i.e. hidden behind
     * the caller's backward (0 where sums are done at once).
     */
    default double hiddenMs() {
        return 0;
    }

    /** Bytes this worker has sent to the others in sums of arrays so far (0 alone). */
    default long sentBytes() {
        return 0;
    }

    /** One worker alone: sums are the identity. */
    static GradientReducer local() {
        return new GradientReducer() {
            @Override
            public int rank() {
                return 0;
            }

            @Override
            public int worldSize() {
                return 1;
            }

            @Override
            public void sum(float[] arena, int offset, int length) {}

            @Override
            public void sumScalars(double[] values) {}
        };
    }
}
