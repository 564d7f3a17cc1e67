package dev.ringtape.runtime.tensor;

/**
 * Sums of squares over float arrays, for gradient norms and telemetry: eight independent float accumulators, so the
 * adds overlap (one running sum is bound by the latency of an add per element) and the JIT can use vector
 * instructions. Each partial sum covers an eighth of the values, which keeps the relative error near 1e-5 even for
 * millions of values, as for PyTorch's float32 norms. The order is fixed, so results repeat exactly.
 */
public final class Squares {
    private Squares() {}

    /** {@code sum a[i]^2} over {@code [from, to)}. */
    public static double of(float[] a, int from, int to) {
        float s0 = 0;
        float s1 = 0;
        float s2 = 0;
        float s3 = 0;
        float s4 = 0;
        float s5 = 0;
        float s6 = 0;
        float s7 = 0;
        int i = from;
        for (; i + 7 < to; i += 8) {
            s0 += a[i] * a[i];
            s1 += a[i + 1] * a[i + 1];
            s2 += a[i + 2] * a[i + 2];
            s3 += a[i + 3] * a[i + 3];
            s4 += a[i + 4] * a[i + 4];
            s5 += a[i + 5] * a[i + 5];
            s6 += a[i + 6] * a[i + 6];
            s7 += a[i + 7] * a[i + 7];
        }
        double tail = 0;
        for (; i < to; i++) {
            tail += (double) a[i] * a[i];
        }
        double sum = (((double) s0 + s1) + ((double) s2 + s3)) + (((double) s4 + s5) + ((double) s6 + s7)) + tail;
        if (Double.isInfinite(sum)) {
            // finite values above 1.8e19 overflow a float square: only NaN/Inf inputs may make the sum non-finite
            sum = 0;
            for (int j = from; j < to; j++) {
                sum += (double) a[j] * a[j];
            }
        }
        return sum;
    }

    /**
     * {@code sum (a[i] - b[i - from + bFrom])^2} over {@code [from, to)} of {@code a}: the squared norm of an update,
     * {@code a} after and {@code b} before; float accumulators as {@link #of}, for telemetry.
     */
    public static double ofDifference(float[] a, int from, int to, float[] b, int bFrom) {
        float s0 = 0;
        float s1 = 0;
        float s2 = 0;
        float s3 = 0;
        int i = from;
        int shift = bFrom - from;
        for (; i + 3 < to; i += 4) {
            float d0 = a[i] - b[i + shift];
            float d1 = a[i + 1] - b[i + 1 + shift];
            float d2 = a[i + 2] - b[i + 2 + shift];
            float d3 = a[i + 3] - b[i + 3 + shift];
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
        }
        for (; i < to; i++) {
            float d = a[i] - b[i + shift];
            s0 += d * d;
        }
        return ((double) s0 + s1) + ((double) s2 + s3);
    }
}
