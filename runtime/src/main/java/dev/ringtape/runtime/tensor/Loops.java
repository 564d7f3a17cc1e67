package dev.ringtape.runtime.tensor;

import java.util.logging.Logger;

/**
 * The loops every step runs over all parameters, and that telemetry rides on: sums of squares, the unscale walk with
 * its statistics, Adam's update with the squared norms of the weights and of the update, activation statistics.
 *
 * <p>Each sum is defined on eight float lanes: lane {@code k} adds the squares of elements {@code from + k}, {@code
 * from + k + 8}, ..., the lanes are combined pairwise in double and the elements past the last full group of eight
 * are added in double. Independent accumulators let the adds overlap, each lane covers an eighth of the values (which
 * keeps the relative error near 1e-5 even for millions of values, as for PyTorch's float32 norms), and the result is
 * the same on every machine and every run. A float sum can overflow for finite values above 1.8e19; such a sum is
 * redone in double, so only NaN or Inf inputs give a non-finite result.
 *
 * <p>This class computes exactly that in plain Java, which the JIT of Java 17 turns into vector code only for the
 * simplest of these loops (not for a maximum, a count, or a loop that also accumulates). {@link #get()} returns a
 * subclass on the incubating Vector API (eight float lanes, the same operations in the same order, so the same bits)
 * when the JVM runs with {@code --add-modules jdk.incubator.vector}; it is several times faster, which is what makes
 * sampling every step cheap. The launcher and the build's test JVMs pass that flag.
 */
public class Loops {
    private static final Logger LOG = Logger.getLogger(Loops.class.getName());
    private static final String VECTOR_MODULE = "jdk.incubator.vector";
    private static final Loops INSTANCE = load();

    /** The plain Java implementation (tests compare the two). */
    public static Loops scalar() {
        return new Loops();
    }

    Loops() {}

    /** The implementation in use: on the Vector API when the JVM has it. */
    public static Loops get() {
        return INSTANCE;
    }

    private static Loops load() {
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) {
            LOG.info("loops in plain Java: start the JVM with --add-modules " + VECTOR_MODULE + " for the vector ones");
            return new Loops();
        }
        try {
            return (Loops) Class.forName(Loops.class.getName().replace("Loops", "VectorLoops"))
                    .getDeclaredConstructor()
                    .newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            LOG.info("loops in plain Java: the vector ones failed to load (" + e + ")");
            return new Loops();
        }
    }

    /** What computes the loops, for logs and benchmarks. */
    public String implementation() {
        return "plain Java";
    }

    /** {@code sum a[i]^2} over {@code [from, to)}. */
    public double squares(float[] a, int from, int to) {
        float s0 = 0;
        float s1 = 0;
        float s2 = 0;
        float s3 = 0;
        float s4 = 0;
        float s5 = 0;
        float s6 = 0;
        float s7 = 0;
        int i = from;
        for (; i <= to - 8; i += 8) {
            s0 += a[i] * a[i];
            s1 += a[i + 1] * a[i + 1];
            s2 += a[i + 2] * a[i + 2];
            s3 += a[i + 3] * a[i + 3];
            s4 += a[i + 4] * a[i + 4];
            s5 += a[i + 5] * a[i + 5];
            s6 += a[i + 6] * a[i + 6];
            s7 += a[i + 7] * a[i + 7];
        }
        return finish(a, from, to, combine(s0, s1, s2, s3, s4, s5, s6, s7, i, to, a));
    }

    /**
     * Multiplies {@code a[from, to)} by {@code scale} in place and returns the sum of squares of the results; when
     * {@code maxAbs} is not null, also stores the largest magnitude and the number of exact zeros among the results
     * in {@code maxAbs[slot]} and {@code zeros[slot]} (one pass: the unscale walk of a sampled step).
     */
    public double scale(float[] a, int from, int to, float scale, float[] maxAbs, int[] zeros, int slot) {
        for (int i = from; i < to; i++) {
            a[i] *= scale;
        }
        if (maxAbs != null) {
            int max = 0;
            int zero = 0;
            for (int i = from; i < to; i++) {
                int bits = Float.floatToRawIntBits(a[i]) & 0x7fffffff;
                max = Math.max(max, bits);
                zero += (bits - 1) >>> 31;
            }
            maxAbs[slot] = Float.intBitsToFloat(max);
            zeros[slot] = zero;
        }
        return squares(a, from, to);
    }

    /**
     * Adds {@code sum after[i]^2} to {@code out[0]} and {@code sum (after[i] - before[i - from + bFrom])^2} to {@code
     * out[1]} over {@code [from, to)} of {@code after}: the squared norms of weights after an optimizer update and of
     * the update itself.
     */
    public void addUpdateSquares(float[] after, int from, int to, float[] before, int bFrom, double[] out) {
        float d0 = 0;
        float d1 = 0;
        float d2 = 0;
        float d3 = 0;
        float d4 = 0;
        float d5 = 0;
        float d6 = 0;
        float d7 = 0;
        int shift = bFrom - from;
        int i = from;
        for (; i <= to - 8; i += 8) {
            float e0 = after[i] - before[i + shift];
            float e1 = after[i + 1] - before[i + 1 + shift];
            float e2 = after[i + 2] - before[i + 2 + shift];
            float e3 = after[i + 3] - before[i + 3 + shift];
            float e4 = after[i + 4] - before[i + 4 + shift];
            float e5 = after[i + 5] - before[i + 5 + shift];
            float e6 = after[i + 6] - before[i + 6 + shift];
            float e7 = after[i + 7] - before[i + 7 + shift];
            d0 += e0 * e0;
            d1 += e1 * e1;
            d2 += e2 * e2;
            d3 += e3 * e3;
            d4 += e4 * e4;
            d5 += e5 * e5;
            d6 += e6 * e6;
            d7 += e7 * e7;
        }
        double tail = 0;
        for (int j = i; j < to; j++) {
            double e = (double) after[j] - before[j + shift];
            tail += e * e;
        }
        out[0] += squares(after, from, to);
        out[1] += pairwise(d0, d1, d2, d3, d4, d5, d6, d7) + tail;
    }

    /**
     * One step of Adam or AdamW on one tensor, in torch.optim's single-tensor formulas and operation order (its
     * roundings of the hyperparameters are done by the caller): {@code m = fma(oneMinusB1, g, m * b1)}, {@code v = v *
     * b2 + oneMinusB2 * (g * g)}, {@code p = p + negStepSize * m / (sqrt(v) / bc2Sqrt + eps)}; before that, with
     * {@code decoupled} the weight is multiplied by {@code decay}, otherwise a non-zero {@code wd} adds {@code wd * p}
     * to the gradient. When {@code stats} is not null, adds the squared norm of the new weights to {@code stats[0]}
     * and of the update (new minus old) to {@code stats[1]}, in lanes over the whole tensor.
     */
    public void adam(
            float[] p,
            float[] g,
            float[] m,
            float[] v,
            float b1,
            float oneMinusB1,
            float b2,
            float oneMinusB2,
            float bc2Sqrt,
            float negStepSize,
            float eps,
            boolean decoupled,
            float decay,
            float wd,
            double[] stats) {
        if (stats == null) {
            adamRange(
                    p,
                    g,
                    m,
                    v,
                    0,
                    p.length,
                    b1,
                    oneMinusB1,
                    b2,
                    oneMinusB2,
                    bc2Sqrt,
                    negStepSize,
                    eps,
                    decoupled,
                    decay,
                    wd);
            return;
        }
        // chunk by chunk, so the update loop stays one the JIT vectorizes, and the statistics read the chunk (a
        // multiple of eight long, so lanes carry across chunks) while it is in cache
        float[] before = ADAM_BEFORE.get();
        float w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0;
        float d0 = 0, d1 = 0, d2 = 0, d3 = 0, d4 = 0, d5 = 0, d6 = 0, d7 = 0;
        double tailW = 0;
        double tailD = 0;
        for (int from = 0; from < p.length; from += ADAM_CHUNK) {
            int to = Math.min(p.length, from + ADAM_CHUNK);
            System.arraycopy(p, from, before, 0, to - from);
            adamRange(
                    p,
                    g,
                    m,
                    v,
                    from,
                    to,
                    b1,
                    oneMinusB1,
                    b2,
                    oneMinusB2,
                    bc2Sqrt,
                    negStepSize,
                    eps,
                    decoupled,
                    decay,
                    wd);
            int i = from;
            for (; i <= to - 8; i += 8) {
                int b = i - from;
                float e0 = p[i] - before[b];
                float e1 = p[i + 1] - before[b + 1];
                float e2 = p[i + 2] - before[b + 2];
                float e3 = p[i + 3] - before[b + 3];
                float e4 = p[i + 4] - before[b + 4];
                float e5 = p[i + 5] - before[b + 5];
                float e6 = p[i + 6] - before[b + 6];
                float e7 = p[i + 7] - before[b + 7];
                w0 += p[i] * p[i];
                w1 += p[i + 1] * p[i + 1];
                w2 += p[i + 2] * p[i + 2];
                w3 += p[i + 3] * p[i + 3];
                w4 += p[i + 4] * p[i + 4];
                w5 += p[i + 5] * p[i + 5];
                w6 += p[i + 6] * p[i + 6];
                w7 += p[i + 7] * p[i + 7];
                d0 += e0 * e0;
                d1 += e1 * e1;
                d2 += e2 * e2;
                d3 += e3 * e3;
                d4 += e4 * e4;
                d5 += e5 * e5;
                d6 += e6 * e6;
                d7 += e7 * e7;
            }
            for (; i < to; i++) {
                double e = (double) p[i] - before[i - from];
                tailW += (double) p[i] * p[i];
                tailD += e * e;
            }
        }
        stats[0] += finish(p, 0, p.length, pairwise(w0, w1, w2, w3, w4, w5, w6, w7) + tailW);
        stats[1] += pairwise(d0, d1, d2, d3, d4, d5, d6, d7) + tailD;
    }

    private static final int ADAM_CHUNK = 2048;
    private static final ThreadLocal<float[]> ADAM_BEFORE = ThreadLocal.withInitial(() -> new float[ADAM_CHUNK]);

    /** Adam's update of {@code [from, to)}, as {@link #adam} defines it. */
    static void adamRange(
            float[] p,
            float[] g,
            float[] m,
            float[] v,
            int from,
            int to,
            float b1,
            float oneMinusB1,
            float b2,
            float oneMinusB2,
            float bc2Sqrt,
            float negStepSize,
            float eps,
            boolean decoupled,
            float decay,
            float wd) {
        for (int i = from; i < to; i++) {
            float gi = g[i];
            if (decoupled) {
                p[i] = p[i] * decay;
            } else if (wd != 0) {
                gi = Math.fma(wd, p[i], gi);
            }
            m[i] = Math.fma(oneMinusB1, gi, m[i] * b1);
            v[i] = v[i] * b2 + oneMinusB2 * (gi * gi);
            float denom = (float) Math.sqrt(v[i]) / bc2Sqrt + eps;
            p[i] = p[i] + negStepSize * m[i] / denom;
        }
    }

    /**
     * One pass over an activation output {@code y} of {@code units} columns (rows of a batch, row-major): adds to
     * {@code out[0]} the sum of {@code y - shift}, to {@code out[1]} the sum of its squares (shifted by a value near
     * the mean, so the variance does not cancel away in float), and to {@code out[2]} the number of values below
     * {@code lo} or above {@code hi}; when {@code alive} is not null, ORs the magnitude bits of each column's values
     * into {@code alive[column]}, which stays 0 exactly for columns that were 0 in every row. Lanes: columns {@code
     * 8g..8g+7} of every row go to lanes 0..7; columns past the last full group of eight are summed in double.
     */
    public void addActivationStats(float[] y, int units, float shift, float lo, float hi, double[] out, int[] alive) {
        int full = units - units % 8;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        float q0 = 0, q1 = 0, q2 = 0, q3 = 0, q4 = 0, q5 = 0, q6 = 0, q7 = 0;
        double tailSum = 0;
        double tailSquares = 0;
        long outside = 0;
        for (int base = 0; base + units <= y.length; base += units) {
            for (int j = 0; j < full; j += 8) {
                int i = base + j;
                float d0 = y[i] - shift;
                float d1 = y[i + 1] - shift;
                float d2 = y[i + 2] - shift;
                float d3 = y[i + 3] - shift;
                float d4 = y[i + 4] - shift;
                float d5 = y[i + 5] - shift;
                float d6 = y[i + 6] - shift;
                float d7 = y[i + 7] - shift;
                s0 += d0;
                s1 += d1;
                s2 += d2;
                s3 += d3;
                s4 += d4;
                s5 += d5;
                s6 += d6;
                s7 += d7;
                q0 += d0 * d0;
                q1 += d1 * d1;
                q2 += d2 * d2;
                q3 += d3 * d3;
                q4 += d4 * d4;
                q5 += d5 * d5;
                q6 += d6 * d6;
                q7 += d7 * d7;
            }
            for (int j = full; j < units; j++) {
                double d = y[base + j] - shift;
                tailSum += d;
                tailSquares += d * d;
            }
            for (int j = 0; j < units; j++) {
                float v = y[base + j];
                outside += v < lo || v > hi ? 1 : 0;
                if (alive != null) {
                    alive[j] |= Float.floatToRawIntBits(v) & 0x7fffffff;
                }
            }
        }
        out[0] += pairwise(s0, s1, s2, s3, s4, s5, s6, s7) + tailSum;
        out[1] += pairwise(q0, q1, q2, q3, q4, q5, q6, q7) + tailSquares;
        out[2] += outside;
    }

    /** The lanes combined pairwise in double, plus the squares of {@code a[i, to)} in double. */
    static double combine(
            float s0, float s1, float s2, float s3, float s4, float s5, float s6, float s7, int i, int to, float[] a) {
        double tail = 0;
        for (; i < to; i++) {
            tail += (double) a[i] * a[i];
        }
        return pairwise(s0, s1, s2, s3, s4, s5, s6, s7) + tail;
    }

    static double pairwise(float s0, float s1, float s2, float s3, float s4, float s5, float s6, float s7) {
        return (((double) s0 + s1) + ((double) s2 + s3)) + (((double) s4 + s5) + ((double) s6 + s7));
    }

    /** {@code sum}, unless a float lane overflowed although every value is finite: then the sum redone in double. */
    static double finish(float[] a, int from, int to, double sum) {
        if (Double.isInfinite(sum)) {
            sum = 0;
            for (int j = from; j < to; j++) {
                sum += (double) a[j] * a[j];
            }
        }
        return sum;
    }
}
