package dev.ringtape.runtime.backend.cpu;

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
            return (Loops) Class.forName(Loops.class.getPackageName() + ".VectorLoops")
                    .getDeclaredConstructor()
                    .newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            LOG.info("loops in plain Java: the vector ones failed to load (" + e + ")");
            return new Loops();
        }
    }

    private static final java.util.concurrent.atomic.AtomicBoolean WARMED =
            new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Once per JVM, starts calling the loops that walk every parameter every step (the unscale walk, with and without
     * its statistics, and the optimizers' updates), the bias add and gradient of every linear layer, ReLU, the
     * cross-entropy's rows and the statistics of sampled steps on small arrays of their own, on a daemon thread, so
     * that the JIT has compiled them before the first steps run them over the whole model: until it has, a loop on
     * the Vector API runs interpreted, tens of milliseconds a step. Touches nothing but its own arrays.
     */
    public static void warmUp() {
        if (!WARMED.compareAndSet(false, true)) {
            return;
        }
        Thread t = new Thread(() -> get().warm(WARM_ROUNDS), "ringtape-warm-up");
        t.setDaemon(true);
        t.start();
    }

    /**
     * {@link #warmUp()}'s calls: {@code rounds} rounds of them, {@link #WARM_PAUSE_NANOS} apart. The calls go on while
     * the compilers are busy with the rest of a starting JVM, as HotSpot drops a queued compilation of a method no
     * longer called; the pauses leave the core to them. With the launcher's compile thresholds, C2 had compiled every
     * one of these loops by round 400 (AVX-512 and AVX2 alike: the rounds then take 2-10 us, from 2 ms at first).
     */
    void warm(int rounds) {
        int n = 256 + 5; // a tail past the last group of eight, as most tensors have
        float[] p = new float[n];
        float[] g = new float[n];
        float[] m = new float[n];
        float[] v = new float[n];
        float[] buf = new float[n];
        float[] y = new float[n];
        float[] gx = new float[n];
        for (int i = 0; i < n; i++) {
            p[i] = (i % 17 - 8) * 0.01f;
            g[i] = (i % 13 - 6) * 0.001f;
        }
        float[] maxAbs = new float[1];
        int[] zeros = new int[1];
        double[] stats = new double[3];
        int[] alive = new int[32];
        double[] tmp = new double[10];
        Activations.Rule relu = Activations.of(dev.ringtape.runtime.backend.Activation.RELU);
        dev.ringtape.runtime.tensor.Mask mask = new dev.ringtape.runtime.tensor.Mask(n);
        // Adam's and AdamW's branches both; the values are the usual hyperparameters' at step 10
        AdamStep adam = new AdamStep(0.9f, 0.1f, 0.999f, 0.001f, 0.1f, -1.5e-3f, 1e-8f, false, 1f, 0f);
        AdamStep adamW = new AdamStep(0.9f, 0.1f, 0.999f, 0.001f, 0.1f, -1.5e-3f, 1e-8f, true, 0.99999f, 0.01f);
        SgdStep sgd = new SgdStep(0f, 0.9f, 1f, -1e-2f, false, false);
        for (int round = 0; round < rounds; round++) {
            scale(g, 0, n, 1f, null, null, 0);
            scale(g, 0, n, 1f, maxAbs, zeros, 0);
            adam(p, g, 0, m, v, round % 2 == 0 ? adam : adamW, null);
            adam(p, g, 0, m, v, round % 2 == 0 ? adamW : adam, stats);
            sgd(p, g, 0, buf, round == 0, sgd, null);
            sgd(p, g, 0, buf, false, sgd, stats);
            java.util.Arrays.fill(gx, 0f);
            axpy(1f, g, 0, gx, 0, n);
            squares(p, 0, n);
            relu.forward(p, y, mask, 0f);
            relu.backward(null, mask, g, gx, 0f);
            float max = rowMax(p, 0, 10);
            double logSum = Math.log(expSum4(p, 0, 10, max, tmp));
            expShifted2(p, 0, y, 0, 10, max, logSum);
            addActivationStats(y, 32, 0f, -1f, 1f, stats, alive); // rows of 32 units (the vector loop's case)
            addActivationStats(y, 32, 0f, -1f, 1f, stats, null);
            java.util.concurrent.locks.LockSupport.parkNanos(WARM_PAUSE_NANOS);
        }
    }

    static final int WARM_ROUNDS = 600;
    static final long WARM_PAUSE_NANOS = 2_000_000;

    /** What computes the loops, for logs and benchmarks. */
    public String implementation() {
        return "plain Java";
    }

    /** {@code y = tanh(x)} elementwise, each value computed in double and rounded once to float. */
    public void tanh(float[] x, float[] y) {
        for (int i = 0; i < x.length; i++) {
            y[i] = (float) tanh(x[i]);
        }
    }

    /**
     * tanh through the exp intrinsic (several times faster than {@link Math#tanh}), exact to float precision: below
     * 1e-4 tanh(x) = x to within x^2/3 relative, and above it 1 - 2/(e^2x + 1) loses at most 1e-12 to cancellation.
     */
    public static double tanh(double v) {
        double a = Math.abs(v);
        if (a < 1e-4) {
            return v;
        }
        double t = 1.0 - 2.0 / (Math.exp(2.0 * a) + 1.0);
        return v < 0 ? -t : t;
    }

    /**
     * {@code y = x * Phi(x)} (exact GELU) elementwise, in double through {@link Special#normalCdf}, rounded once; and
     * when {@code d} is not null its derivative {@code Phi(x) + x phi(x)} from the same Phi, rounded once.
     */
    public void geluErf(float[] x, float[] y, float[] d) {
        for (int i = 0; i < x.length; i++) {
            double v = x[i];
            double phi = Special.normalCdf(v);
            y[i] = (float) (v * phi);
            if (d != null) {
                d[i] = (float) (phi + v * Special.INV_SQRT_2PI * Math.exp(-0.5 * v * v));
            }
        }
    }

    /**
     * {@code sum_j (a[at + j] - shift)} over {@code n} values in double: each difference taken in float and widened,
     * added into eight interleaved sums (sum {@code k} takes {@code j = k mod 8}, the tail past the last eight in the
     * first), combined as {@code ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))}. Layer norm's mean and the
     * softmax's normalizer. Eight, so that one AVX-512 vector or two AVX2 ones hold the sums and every machine adds in
     * the same order; the CUDA kernels ({@code row_sum} in ringtape_math.cuh) add in that order too.
     */
    public double sum8(float[] a, int at, int n, float shift) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            s0 += a[at + j] - shift;
            s1 += a[at + j + 1] - shift;
            s2 += a[at + j + 2] - shift;
            s3 += a[at + j + 3] - shift;
            s4 += a[at + j + 4] - shift;
            s5 += a[at + j + 5] - shift;
            s6 += a[at + j + 6] - shift;
            s7 += a[at + j + 7] - shift;
        }
        for (; j < n; j++) {
            s0 += a[at + j] - shift;
        }
        return combine8(s0, s1, s2, s3, s4, s5, s6, s7);
    }

    /** {@code sum_j (a[at + j] - shift)^2} in double, as {@link #sum8}: layer norm's centred variance. */
    public double squares8(float[] a, int at, int n, float shift) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            s0 += sq(a[at + j] - shift);
            s1 += sq(a[at + j + 1] - shift);
            s2 += sq(a[at + j + 2] - shift);
            s3 += sq(a[at + j + 3] - shift);
            s4 += sq(a[at + j + 4] - shift);
            s5 += sq(a[at + j + 5] - shift);
            s6 += sq(a[at + j + 6] - shift);
            s7 += sq(a[at + j + 7] - shift);
        }
        for (; j < n; j++) {
            s0 += sq(a[at + j] - shift);
        }
        return combine8(s0, s1, s2, s3, s4, s5, s6, s7);
    }

    /** The square of a float difference widened to double, rounded once (a multiply, no fused add). */
    private static double sq(double c) {
        return c * c;
    }

    /** {@code sum_j a[ao + j] * b[bo + j]}, each product exact in double, added as {@link #sum8}. */
    public double dot8(float[] a, int ao, float[] b, int bo, int n) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            s0 += (double) a[ao + j] * b[bo + j];
            s1 += (double) a[ao + j + 1] * b[bo + j + 1];
            s2 += (double) a[ao + j + 2] * b[bo + j + 2];
            s3 += (double) a[ao + j + 3] * b[bo + j + 3];
            s4 += (double) a[ao + j + 4] * b[bo + j + 4];
            s5 += (double) a[ao + j + 5] * b[bo + j + 5];
            s6 += (double) a[ao + j + 6] * b[bo + j + 6];
            s7 += (double) a[ao + j + 7] * b[bo + j + 7];
        }
        for (; j < n; j++) {
            s0 += (double) a[ao + j] * b[bo + j];
        }
        return combine8(s0, s1, s2, s3, s4, s5, s6, s7);
    }

    /** The eight sums of {@link #sum8}, combined in its order. */
    static double combine8(double s0, double s1, double s2, double s3, double s4, double s5, double s6, double s7) {
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }

    /**
     * {@code sum_j exp(z[at + j] - shift)} for {@code j < n}, in double (each z widened first), added into four
     * interleaved sums combined as {@code (s0 + s1) + (s2 + s3)}: the cross-entropy's normalizer. {@code tmp} holds
     * at least {@code n} doubles.
     */
    public double expSum4(float[] z, int at, int n, double shift, double[] tmp) {
        for (int j = 0; j < n; j++) {
            tmp[j] = Math.exp(z[at + j] - shift);
        }
        return sum4(tmp, n);
    }

    /** Four interleaved sums over doubles, the tail's in the first, combined as {@code (s0 + s1) + (s2 + s3)}. */
    static double sum4(double[] a, int n) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int j = 0;
        for (; j + 4 <= n; j += 4) {
            s0 += a[j];
            s1 += a[j + 1];
            s2 += a[j + 2];
            s3 += a[j + 3];
        }
        for (; j < n; j++) {
            s0 += a[j];
        }
        return (s0 + s1) + (s2 + s3);
    }

    /** {@code p[po + j] = (float) exp((z[at + j] - shift1) - shift2)} in double: the cross-entropy's softmax. */
    public void expShifted2(float[] z, int at, float[] p, int po, int n, double shift1, double shift2) {
        for (int j = 0; j < n; j++) {
            p[po + j] = (float) Math.exp((double) z[at + j] - shift1 - shift2);
        }
    }

    /** {@code p[po + j] = exp(z[zo + j] - shift)} for {@code j < n}, the difference in float, exp in double, rounded. */
    public void expShifted(float[] z, int zo, float[] p, int po, int n, float shift) {
        for (int j = 0; j < n; j++) {
            p[po + j] = (float) Math.exp(z[zo + j] - shift);
        }
    }

    /*
     * Elementwise row loops. Java 17's C2 does not vectorize a loop whose arrays are indexed at different offsets
     * (x[base + j] against w[j]); these are written on the Vector API in VectorLoops. Each value is computed by the
     * same float operations in the same order as here, so both give the same bits.
     */

    /** {@code dst[dof + i] += alpha * src[so + i]} for {@code i < n}; with alpha 1 a plain add (no multiply). */
    public void axpy(float alpha, float[] src, int so, float[] dst, int dof, int n) {
        if (alpha == 1f) {
            for (int i = 0; i < n; i++) {
                dst[dof + i] += src[so + i];
            }
        } else {
            for (int i = 0; i < n; i++) {
                dst[dof + i] += alpha * src[so + i];
            }
        }
    }

    /** {@code dst[j] += a[at + j] * b[at + j]} for {@code j < n}: layer norm's weight gradient, a block of rows. */
    public void addProducts(float[] a, float[] b, int at, float[] dst, int n) {
        for (int j = 0; j < n; j++) {
            dst[j] += a[at + j] * b[at + j];
        }
    }

    /** The largest of {@code a[at + j]}, {@code j < n}, by {@link Math#max} (NaN if any is; -inf for none). */
    public float rowMax(float[] a, int at, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, a[at + j]);
        }
        return max;
    }

    /** {@code a[at + j] *= s} for {@code j < n}. */
    public void mulRow(float[] a, int at, int n, float s) {
        for (int j = 0; j < n; j++) {
            a[at + j] *= s;
        }
    }

    /** The softmax's backward over a row, given {@code d = sum_j p g}: {@code o[j] += p[j] * (g[j] - d)}. */
    public void softmaxBackwardRow(float[] p, int po, float[] g, int go, float[] o, int oo, int n, float d) {
        for (int j = 0; j < n; j++) {
            o[oo + j] += p[po + j] * (g[go + j] - d);
        }
    }

    /**
     * Layer norm's row of {@code d} at {@code base} given its mean and 1/std: {@code h = (x - mean) * rs}, {@code y = h
     * * w + b} (w and b from index 0).
     */
    public void layerNormRow(
            float[] x, int base, int d, float mean, float rs, float[] w, float[] b, float[] h, float[] y) {
        for (int j = 0; j < d; j++) {
            float v = (x[base + j] - mean) * rs;
            h[base + j] = v;
            y[base + j] = v * w[j] + b[j];
        }
    }

    /**
     * Layer norm's input gradient for the row at {@code base}: {@code gx += rs * (dh - mean(dh) - h * mean(dh * h))},
     * {@code dh = g * w} (into the scratch {@code dh} of {@code d}), the two means in double as {@link #sum8} and
     * {@link #dot8}, the rest in float.
     */
    public void layerNormBackwardRow(
            float[] g, float[] h, int base, int d, float[] w, float rs, float[] dh, float[] gx) {
        for (int j = 0; j < d; j++) {
            dh[j] = g[base + j] * w[j];
        }
        float meanDh = (float) (sum8(dh, 0, d, 0f) / d);
        float meanDot = (float) (dot8(dh, 0, h, base, d) / d);
        for (int j = 0; j < d; j++) {
            gx[base + j] += rs * (dh[j] - meanDh - h[base + j] * meanDot);
        }
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
     * The float constants of one Adam or AdamW step, as torch.optim rounds its Python-double hyperparameters (the
     * caller rounds them): {@code negStepSize = -lr / (1 - beta1^t)}, {@code bc2Sqrt = sqrt(1 - beta2^t)}, {@code decay
     * = 1 - lr * wd} (AdamW) or {@code wd} (Adam's L2 on the gradient).
     */
    public record AdamStep(
            float b1,
            float oneMinusB1,
            float b2,
            float oneMinusB2,
            float bc2Sqrt,
            float negStepSize,
            float eps,
            boolean decoupled,
            float decay,
            float wd) {}

    /**
     * The float constants of one SGD step: weight decay {@code wd} (applied when {@code decay}), momentum {@code mom},
     * {@code keep = 1 - dampening}, {@code negLr = -lr}, Nesterov or not.
     */
    public record SgdStep(float wd, float mom, float keep, float negLr, boolean decay, boolean nesterov) {}

    /**
     * One step of Adam or AdamW on one tensor, in torch.optim's single-tensor formulas and operation order: {@code m =
     * fma(oneMinusB1, g, m * b1)}, {@code v = v * b2 + oneMinusB2 * (g * g)}, {@code p = p + negStepSize * m /
     * (sqrt(v) / bc2Sqrt + eps)}; before that, with {@code decoupled} the weight is multiplied by {@code decay},
     * otherwise a non-zero {@code wd} adds {@code wd * p} to the gradient. When {@code stats} is not null, adds the
     * squared norm of the new weights to {@code stats[0]} and of the update (new minus old) to {@code stats[1]}, in
     * lanes over the whole tensor. The gradient starts at {@code g[go]} (a view in the all-reduce arena).
     */
    public void adam(float[] p, float[] g, int go, float[] m, float[] v, AdamStep s, double[] stats) {
        if (stats == null) {
            adamRange(p, g, go, m, v, 0, p.length, s);
            return;
        }
        UpdateLanes lanes = UPDATE_LANES.get().reset();
        for (int from = 0; from < p.length; from += CHUNK) {
            int to = Math.min(p.length, from + CHUNK);
            System.arraycopy(p, from, lanes.before, 0, to - from);
            adamRange(p, g, go, m, v, from, to, s);
            lanes.add(p, from, to);
        }
        lanes.addTo(p, stats);
    }

    /**
     * One step of SGD on one tensor, in torch.optim's formulas (its {@code add(alpha=)} is one fused multiply-add, so
     * it is here): {@code d = g}, plus {@code wd * p} when {@code decay}; with a momentum buffer, {@code buf = d} on the
     * first step and {@code fma(keep, d, buf * mom)} after, {@code d = nesterov ? fma(mom, buf, d) : buf}; then {@code
     * p = fma(negLr, d, p)}. {@code stats} as for {@link #adam}.
     */
    public void sgd(float[] p, float[] g, int go, float[] buf, boolean firstStep, SgdStep s, double[] stats) {
        if (stats == null) {
            sgdRange(p, g, go, buf, 0, p.length, firstStep, s);
            return;
        }
        UpdateLanes lanes = UPDATE_LANES.get().reset();
        for (int from = 0; from < p.length; from += CHUNK) {
            int to = Math.min(p.length, from + CHUNK);
            System.arraycopy(p, from, lanes.before, 0, to - from);
            sgdRange(p, g, go, buf, from, to, firstStep, s);
            lanes.add(p, from, to);
        }
        lanes.addTo(p, stats);
    }

    /** SGD's update of {@code [from, to)}, as {@link #sgd} defines it. */
    static void sgdRange(float[] p, float[] g, int go, float[] buf, int from, int to, boolean firstStep, SgdStep s) {
        float wd = s.wd();
        float mom = s.mom();
        float keep = s.keep();
        float negLr = s.negLr();
        boolean decay = s.decay();
        boolean nesterov = s.nesterov();
        for (int i = from; i < to; i++) {
            float d = g[go + i];
            if (decay) {
                d = Math.fma(wd, p[i], d);
            }
            if (buf != null) {
                buf[i] = firstStep ? d : Math.fma(keep, d, buf[i] * mom);
                d = nesterov ? Math.fma(mom, buf[i], d) : buf[i];
            }
            p[i] = Math.fma(negLr, d, p[i]);
        }
    }

    /**
     * Squared norms of weights after an update and of the update, in lanes over a whole tensor updated chunk by chunk
     * (the update loop stays one the JIT vectorizes; the statistics read each chunk while it is in cache). Chunks are
     * a multiple of eight long, so lanes carry across them exactly as in one pass.
     */
    private static final class UpdateLanes {
        final float[] before = new float[CHUNK];
        final float[] w = new float[8];
        final float[] d = new float[8];
        double tailW;
        double tailD;

        UpdateLanes reset() {
            java.util.Arrays.fill(w, 0);
            java.util.Arrays.fill(d, 0);
            tailW = 0;
            tailD = 0;
            return this;
        }

        void add(float[] p, int from, int to) {
            int i = from;
            for (; i <= to - 8; i += 8) {
                for (int k = 0; k < 8; k++) {
                    float e = p[i + k] - before[i + k - from];
                    w[k] += p[i + k] * p[i + k];
                    d[k] += e * e;
                }
            }
            for (; i < to; i++) {
                double e = (double) p[i] - before[i - from];
                tailW += (double) p[i] * p[i];
                tailD += e * e;
            }
        }

        void addTo(float[] p, double[] stats) {
            stats[0] += finish(p, 0, p.length, pairwise(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]) + tailW);
            stats[1] += pairwise(d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]) + tailD;
        }
    }

    private static final int CHUNK = 2048;
    private static final ThreadLocal<UpdateLanes> UPDATE_LANES = ThreadLocal.withInitial(UpdateLanes::new);

    /** Adam's update of {@code [from, to)}, as {@link #adam} defines it. */
    static void adamRange(float[] p, float[] g, int go, float[] m, float[] v, int from, int to, AdamStep s) {
        float b1 = s.b1();
        float oneMinusB1 = s.oneMinusB1();
        float b2 = s.b2();
        float oneMinusB2 = s.oneMinusB2();
        float bc2Sqrt = s.bc2Sqrt();
        float negStepSize = s.negStepSize();
        float eps = s.eps();
        boolean decoupled = s.decoupled();
        float decay = s.decay();
        float wd = s.wd();
        for (int i = from; i < to; i++) {
            float gi = g[go + i];
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
