package dev.ringtape.runtime.train;

/**
 * Sums of squares over float arrays, in double, with four independent accumulators: a single running sum is bound
 * by the latency of one add per element (about 4 cycles); four chains let the adds overlap. The order is fixed, so
 * results repeat exactly.
 */
final class Squares {
    private Squares() {}

    /** {@code sum a[i]^2} over {@code [from, to)}. */
    static double of(float[] a, int from, int to) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int i = from;
        for (; i + 3 < to; i += 4) {
            s0 += (double) a[i] * a[i];
            s1 += (double) a[i + 1] * a[i + 1];
            s2 += (double) a[i + 2] * a[i + 2];
            s3 += (double) a[i + 3] * a[i + 3];
        }
        for (; i < to; i++) {
            s0 += (double) a[i] * a[i];
        }
        return (s0 + s1) + (s2 + s3);
    }
}
