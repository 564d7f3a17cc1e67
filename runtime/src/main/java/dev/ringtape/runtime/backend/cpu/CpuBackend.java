package dev.ringtape.runtime.backend.cpu;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.BackendProvider;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.HostStorage;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Storage;
import dev.ringtape.runtime.tensor.Tensor;
import java.nio.file.Path;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;

/**
 * The CPU backend: matrix products through OpenBLAS (bundled natives, no system install), everything else in plain
 * loops over the backing arrays ({@link HostStorage}), by kernel family: {@link Activations} (a rule table, forward and backward side by
 * side), {@link Losses}, {@link Convolutions}; the small elementwise kernels, dropout, layer norm and the optimizer
 * steps here. Reductions accumulate in double.
 */
public final class CpuBackend implements Backend {

    /** The CPU backend as {@link java.util.ServiceLoader} finds it: it runs everywhere, and loses to any device. */
    public static final class Provider implements BackendProvider {
        private static final CpuBackend CPU = new CpuBackend();

        @Override
        public String name() {
            return "cpu";
        }

        @Override
        public int priority() {
            return 0;
        }

        @Override
        public String unavailableReason() {
            return null;
        }

        @Override
        public Backend open(String device) {
            return CPU;
        }
    }

    @Override
    public String name() {
        return "cpu";
    }

    /**
     * OpenBLAS runs one thread per call ({@link GemmBlocks}): the shim sets that on the instance it calls, and here
     * it is set through JavaCPP on the instance JavaCPP's binding calls (the same one, where both are loaded).
     */
    static {
        NativeBlas.loaded(); // first: see NativeBlas.loaded
        openblas.blas_set_num_threads(1);
    }

    /**
     * The BLAS in use, in one line: the kernels OpenBLAS chose for this processor (its core name; {@code
     * OPENBLAS_CORETYPE} overrides it), the library file the GEMMs call (JavaCPP maps two copies of OpenBLAS,
     * {@code libopenblas.so.0} and {@code libopenblas_nolapack.so.0}, each with its own settings) and how.
     */
    public static String describe() {
        String env = System.getenv("OPENBLAS_CORETYPE");
        boolean inPlace = NativeBlas.loaded(); // first: see NativeBlas.loaded
        String core = inPlace ? NativeBlas.corename() : null;
        String library = inPlace ? NativeBlas.library() : null;
        return "OpenBLAS (bundled natives), "
                + (core == null ? "kernels unknown" : core + " kernels")
                + (env == null ? "" : " (OPENBLAS_CORETYPE=" + env + ")")
                + (inPlace
                        ? ", operands in place through "
                                + (library == null
                                        ? "libopenblas"
                                        : Path.of(library).getFileName())
                        : ", operands copied by JavaCPP (" + NativeBlas.REASON + ")")
                + ", one thread a call, larger products split by shape (any thread count gives the same bits)";
    }

    /**
     * Sets the threads a GEMM runs on, the caller's included (the default is one per core). The thread count
     * changes no result: {@link GemmBlocks}.
     */
    public static void blasThreads(int threads) {
        GemmBlocks.threads(threads);
    }

    /** How many single-threaded blocks an {@code m x n x k} product is cut into (its shape alone decides). */
    public static int gemmBlocks(int m, int n, int k) {
        return GemmBlocks.count(m, n, k);
    }

    @Override
    public void warmUp() {
        Loops.warmUp();
    }

    @Override
    public Storage allocate(int n) {
        return new HostStorage(new float[n]);
    }

    /** The host array behind {@code t}, which a view indexes from {@link Tensor#offset()}. */
    static float[] host(Tensor t) {
        if (t.storage() instanceof HostStorage h) {
            return h.array();
        }
        throw new IllegalArgumentException(t + " is not in host memory; the CPU backend computes on host tensors only");
    }

    @Override
    public void gemm(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            Tensor a,
            Tensor b,
            float beta,
            Tensor c) {
        if (m == 0 || n == 0) {
            return;
        }
        if ((long) m * k > a.size() || (long) k * n > b.size() || (long) m * n > c.size()) {
            // native code would read or write past the tensors
            throw new IllegalArgumentException(
                    "gemm " + m + "x" + n + "x" + k + " does not fit " + a + ", " + b + ", " + c);
        }
        gemm(NativeBlas.loaded(), transA, transB, m, n, k, alpha, a, b, beta, c);
    }

    /**
     * The product in {@link GemmBlocks}' blocks, through the shim at the tensors' offsets ({@code inPlace}: a view
     * is written and nothing else) or else through JavaCPP's binding of the same {@code cblas_sgemm} on copies in
     * native memory. The blocks and calls are the same either way, and so are the bits. C may be a view: a gradient
     * in the all-reduce arena, other buckets of which the ring may be summing meanwhile, so a copy writes back only
     * C's own values (ViewKernelsTest).
     */
    static void gemm(
            boolean inPlace,
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            Tensor a,
            Tensor b,
            float beta,
            Tensor c) {
        if (inPlace) {
            gemmInPlace(
                    transA,
                    transB,
                    m,
                    n,
                    k,
                    alpha,
                    host(a),
                    a.offset(),
                    host(b),
                    b.offset(),
                    beta,
                    host(c),
                    c.offset());
            return;
        }
        int ta = transA ? openblas.CblasTrans : openblas.CblasNoTrans;
        int tb = transB ? openblas.CblasTrans : openblas.CblasNoTrans;
        int lda = transA ? m : k;
        int ldb = transB ? k : n;
        try (FloatPointer pa = new FloatPointer(Math.max(1L, (long) m * k));
                FloatPointer pb = new FloatPointer(Math.max(1L, (long) k * n));
                FloatPointer pc = new FloatPointer((long) m * n)) {
            pa.put(host(a), a.offset(), m * k);
            pb.put(host(b), b.offset(), k * n);
            if (beta != 0f) {
                pc.put(host(c), c.offset(), m * n);
            }
            GemmBlocks.run(
                    transA,
                    transB,
                    m,
                    n,
                    k,
                    (rows, cols, aOff, bOff, cOff) -> openblas.cblas_sgemm(
                            openblas.CblasRowMajor,
                            ta,
                            tb,
                            rows,
                            cols,
                            k,
                            alpha,
                            new FloatPointer(pa).position(aOff),
                            lda,
                            new FloatPointer(pb).position(bOff),
                            ldb,
                            beta,
                            new FloatPointer(pc).position(cOff),
                            n));
            pc.get(host(c), c.offset(), m * n);
        }
    }

    /** The shim's product on arrays at offsets, in {@link GemmBlocks}' blocks (one call, no lambda, when one block). */
    private static void gemmInPlace(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            float[] ah,
            int aOff,
            float[] bh,
            int bOff,
            float beta,
            float[] ch,
            int cOff) {
        int ta = transA ? openblas.CblasTrans : openblas.CblasNoTrans;
        int tb = transB ? openblas.CblasTrans : openblas.CblasNoTrans;
        int lda = transA ? m : k;
        int ldb = transB ? k : n;
        if (GemmBlocks.single(m, n, k)) {
            NativeBlas.sgemm(ta, tb, m, n, k, alpha, ah, aOff, lda, bh, bOff, ldb, beta, ch, cOff, n);
            return;
        }
        GemmBlocks.run(
                transA,
                transB,
                m,
                n,
                k,
                (rows, cols, ao, bo, co) -> NativeBlas.sgemm(
                        ta,
                        tb,
                        rows,
                        cols,
                        k,
                        alpha,
                        ah,
                        aOff + (int) ao,
                        lda,
                        bh,
                        bOff + (int) bo,
                        ldb,
                        beta,
                        ch,
                        cOff + (int) co,
                        n));
    }

    @Override
    public void gemmBatched(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            Tensor a,
            int strideA,
            Tensor b,
            int strideB,
            float beta,
            Tensor c,
            int strideC,
            int batch) {
        if (m == 0 || n == 0 || batch == 0) {
            return;
        }
        if (NativeBlas.loaded()) {
            // one shim call per matrix at its offsets: attention's thousands of small products a step made a Tensor
            // view of each operand and a lambda per call (megabytes of garbage a step)
            long last = batch - 1L;
            if (last * strideA + (long) m * k > a.size()
                    || last * strideB + (long) k * n > b.size()
                    || last * strideC + (long) m * n > c.size()) {
                throw new IllegalArgumentException("gemm batch of " + batch + " " + m + "x" + n + "x" + k
                        + " does not fit " + a + ", " + b + ", " + c);
            }
            float[] ah = host(a);
            float[] bh = host(b);
            float[] ch = host(c);
            for (int i = 0; i < batch; i++) {
                gemmInPlace(
                        transA,
                        transB,
                        m,
                        n,
                        k,
                        alpha,
                        ah,
                        a.offset() + i * strideA,
                        bh,
                        b.offset() + i * strideB,
                        beta,
                        ch,
                        c.offset() + i * strideC);
            }
            return;
        }
        for (int i = 0; i < batch; i++) {
            gemm(
                    transA,
                    transB,
                    m,
                    n,
                    k,
                    alpha,
                    Tensor.view(a.storage(), a.offset() + i * strideA, m * k),
                    Tensor.view(b.storage(), b.offset() + i * strideB, k * n),
                    beta,
                    Tensor.view(c.storage(), c.offset() + i * strideC, m * n));
        }
    }

    @Override
    public void permute(Tensor x, int[] shape, int[] perm, Tensor y, boolean accumulate) {
        Sequences.permute(x, shape, perm, y, accumulate);
    }

    @Override
    public void embedding(int[] ids, Tensor weight, Tensor y) {
        Sequences.embedding(ids, weight, y);
    }

    @Override
    public void embeddingBackward(int[] ids, Tensor gy, Tensor gWeight) {
        Sequences.embeddingBackward(ids, gy, gWeight);
    }

    @Override
    public void softmax(Tensor x, int cols, boolean causal, Tensor probs) {
        Sequences.softmax(x, cols, causal, probs);
    }

    @Override
    public void softmaxBackward(Tensor probs, Tensor gp, int cols, Tensor gx) {
        Sequences.softmaxBackward(probs, gp, cols, gx);
    }

    @Override
    public void attentionStats(Tensor scores, Tensor probs, int heads, boolean causal, double[] out) {
        Sequences.attentionStats(scores, probs, heads, causal, out);
    }

    @Override
    public void addRowVector(Tensor x, Tensor v) {
        float[] xd = x.data();
        float[] vd = host(v);
        int vo = v.offset();
        int d = v.size();
        Loops loops = Loops.get();
        for (int base = 0; base < xd.length; base += d) {
            loops.axpy(1f, vd, vo, xd, base, d);
        }
    }

    @Override
    public void sumRowsInto(Tensor x, Tensor out) {
        float[] xd = x.data();
        float[] od = host(out);
        int at = out.offset();
        int d = out.size();
        double[] acc = new double[d];
        columnSums(xd, null, xd.length / d, d, acc);
        for (int j = 0; j < d; j++) {
            od[at + j] += (float) acc[j];
        }
    }

    /** Rows summed in float within a block, the blocks' sums in double: vector adds, and error of a block's length. */
    private static final int COLUMN_BLOCK = 32;

    /**
     * {@code acc[j] += sum_r a[r, j]}, or {@code sum_r a[r, j] * b[r, j]} when {@code b} is not null, over {@code
     * rows} rows of {@code d}: {@link #COLUMN_BLOCK} rows at a time in float, each block's sums added in double.
     */
    private static void columnSums(float[] a, float[] b, int rows, int d, double[] acc) {
        float[] block = new float[d];
        Loops loops = Loops.get();
        for (int r0 = 0; r0 < rows; r0 += COLUMN_BLOCK) {
            java.util.Arrays.fill(block, 0f);
            int r1 = Math.min(rows, r0 + COLUMN_BLOCK);
            for (int r = r0; r < r1; r++) {
                if (b == null) {
                    loops.axpy(1f, a, r * d, block, 0, d);
                } else {
                    loops.addProducts(a, b, r * d, block, d);
                }
            }
            for (int j = 0; j < d; j++) {
                acc[j] += block[j];
            }
        }
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        float[] ad = a.data();
        float[] bd = b.data();
        float[] od = out.data();
        for (int i = 0; i < od.length; i++) {
            od[i] = ad[i] + bd[i];
        }
    }

    @Override
    public void axpy(float alpha, Tensor src, Tensor dst) {
        float[] s = host(src);
        float[] d = host(dst);
        int so = src.offset();
        int dof = dst.offset();
        Loops.get().axpy(alpha, s, so, d, dof, dst.size());
    }

    @Override
    public double dot(Tensor x, Tensor w) {
        float[] xd = x.data();
        float[] wd = w.data();
        double acc = 0;
        for (int i = 0; i < xd.length; i++) {
            acc += (double) xd[i] * wd[i];
        }
        return acc;
    }

    @Override
    public double squares(Tensor t) {
        return Loops.get().squares(host(t), t.offset(), t.offset() + t.size());
    }

    @Override
    public double scale(Tensor t, float scale, float[] maxAbs, int[] zeros, int slot) {
        return Loops.get().scale(host(t), t.offset(), t.offset() + t.size(), scale, maxAbs, zeros, slot);
    }

    @Override
    public int countNonFinite(Tensor t) {
        float[] d = host(t);
        int bad = 0;
        for (int i = t.offset(), end = i + t.size(); i < end; i++) {
            bad += Float.isFinite(d[i]) ? 0 : 1;
        }
        return bad;
    }

    @Override
    public void round(Precision precision, Tensor t, long[] counts) {
        if (precision == Precision.FP32) {
            return;
        }
        float[] d = host(t);
        int end = t.offset() + t.size();
        if (counts == null) {
            precision.round(d, t.offset(), end);
            return;
        }
        long nonZero = 0;
        long flushed = 0;
        for (int i = t.offset(); i < end; i++) {
            float v = d[i];
            float r = precision.round(v);
            d[i] = r;
            nonZero += v != 0f ? 1 : 0;
            flushed += v != 0f && r == 0f ? 1 : 0;
        }
        counts[0] += nonZero;
        counts[1] += flushed;
    }

    @Override
    public void activationStats(Tensor y, boolean channels, int[] alive, float lo, float hi, double[] moments) {
        float[] d = y.data();
        if (channels && alive != null) {
            int units = y.dim(1);
            int plane = y.dim(2) * y.dim(3);
            for (int n = 0, at = 0; n < y.dim(0); n++) {
                for (int c = 0; c < units; c++, at += plane) {
                    int bits = 0;
                    for (int i = at; i < at + plane; i++) {
                        bits |= Float.floatToRawIntBits(d[i]) & 0x7fffffff;
                    }
                    alive[c] |= bits;
                }
            }
        }
        int row = y.dim(-1);
        if (moments == null) {
            if (alive != null && !channels) {
                for (int base = 0; base + row <= d.length; base += row) {
                    for (int j = 0; j < row; j++) {
                        alive[j] |= Float.floatToRawIntBits(d[base + j]) & 0x7fffffff;
                    }
                }
            }
            return;
        }
        // sums are taken around the first row's mean, so a large mean does not cancel the variance away
        double firstRow = 0;
        for (int j = 0; j < Math.min(row, d.length); j++) {
            firstRow += d[j];
        }
        float shift = row == 0 ? 0 : (float) (firstRow / row);
        double[] sums = new double[3];
        Loops.get().addActivationStats(d, row, shift, lo, hi, sums, channels ? null : alive);
        int n = row == 0 ? 0 : d.length - d.length % row;
        double offset = n == 0 ? 0 : sums[0] / n; // the mean minus the shift
        moments[0] = shift + offset;
        moments[1] = n == 0 ? 0 : Math.sqrt(Math.max(sums[1] / n - offset * offset, 0));
        moments[2] = n == 0 ? 0 : sums[2] / n;
    }

    @Override
    public void activation(Activation act, float param, Tensor x, Tensor y, Mask mask, Tensor derivative) {
        Activations.of(act).forward(x.data(), y.data(), mask, param, derivative == null ? null : derivative.data());
    }

    @Override
    public void activationBackward(Activation act, float param, Tensor saved, Mask mask, Tensor gy, Tensor gx) {
        Activations.of(act).backward(saved == null ? null : saved.data(), mask, gy.data(), gx.data(), param);
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor xhat, float[] rstd) {
        float[] xd = x.data();
        float[] yd = y.data();
        float[] hd = xhat.data();
        float[] w = weight.data();
        float[] b = bias.data();
        int d = w.length;
        int rows = xd.length / d;
        Loops loops = Loops.get();
        for (int r = 0; r < rows; r++) {
            int base = r * d;
            // the mean and the centred variance in double (four sums, so the adds overlap), the rest in float
            float mean = (float) (loops.sum8(xd, base, d, 0f) / d);
            double var = loops.squares8(xd, base, d, mean) / d;
            float rs = (float) (1.0 / Math.sqrt(var + eps));
            rstd[r] = rs;
            loops.layerNormRow(xd, base, d, mean, rs, w, b, hd, yd);
        }
    }

    @Override
    public void layerNormBackward(
            Tensor gy, Tensor xhat, float[] rstd, Tensor weight, Tensor gx, Tensor gWeight, Tensor gBias) {
        float[] g = gy.data();
        float[] h = xhat.data();
        float[] w = weight.data();
        int d = w.length;
        int rows = g.length / d;
        if (gWeight != null || gBias != null) {
            double[] gw = new double[d];
            double[] gb = new double[d];
            if (gWeight != null) {
                columnSums(g, h, rows, d, gw);
            }
            if (gBias != null) {
                columnSums(g, null, rows, d, gb);
            }
            if (gWeight != null) {
                float[] o = host(gWeight);
                for (int j = 0, at = gWeight.offset(); j < d; j++) {
                    o[at + j] += (float) gw[j];
                }
            }
            if (gBias != null) {
                float[] o = host(gBias);
                for (int j = 0, at = gBias.offset(); j < d; j++) {
                    o[at + j] += (float) gb[j];
                }
            }
        }
        if (gx != null) {
            float[] o = gx.data();
            float[] dh = new float[d];
            Loops loops = Loops.get();
            for (int r = 0; r < rows; r++) {
                loops.layerNormBackwardRow(g, h, r * d, d, w, rstd[r], dh, o);
            }
        }
    }

    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] classes, Tensor probs, float[] logZ) {
        return Losses.softmaxCrossEntropy(logits, classes, probs, logZ);
    }

    @Override
    public void softmaxCrossEntropyBackward(Tensor probs, int[] classes, float scale, float[] rowScale, Tensor gx) {
        Losses.softmaxCrossEntropyBackward(probs, classes, scale, rowScale, gx);
    }

    @Override
    public double bceWithLogits(Tensor logits, Tensor target) {
        return Losses.bceWithLogits(logits, target);
    }

    @Override
    public void bceWithLogitsBackward(Tensor logits, Tensor target, float scale, Tensor gx) {
        Losses.bceWithLogitsBackward(logits, target, scale, gx);
    }

    @Override
    public double mse(Tensor y, Tensor target) {
        return Losses.mse(y, target);
    }

    @Override
    public void mseBackward(Tensor y, Tensor target, float scale, Tensor gx) {
        Losses.mseBackward(y, target, scale, gx);
    }

    @Override
    public void dropoutMask(long seed, float p, Mask mask) {
        // Counter-based: element i's draw depends only on (seed, i), so a replay with the same seed is identical.
        long threshold = (long) ((double) p * (1L << 53));
        int n = mask.size();
        for (int i = 0; i < n; i++) {
            long r = mix64(seed + 0x9E3779B97F4A7C15L * (i + 1L)) >>> 11;
            if (r >= threshold) {
                mask.set(i);
            }
        }
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public void maskedScale(Tensor x, Mask mask, float scale, Tensor y, boolean accumulate) {
        float[] xd = x.data();
        float[] yd = y.data();
        long[] w = mask.words();
        for (int i = 0; i < xd.length; i++) {
            float v = (w[i >>> 6] & (1L << i)) != 0 ? xd[i] * scale : 0f;
            yd[i] = accumulate ? yd[i] + v : v;
        }
    }

    @Override
    public void im2col(Tensor x, int kernel, int stride, int padding, Tensor cols) {
        Convolutions.im2col(x, kernel, stride, padding, cols);
    }

    @Override
    public void col2imAdd(Tensor cols, int kernel, int stride, int padding, Tensor gx) {
        Convolutions.col2imAdd(cols, kernel, stride, padding, gx);
    }

    @Override
    public void convOutput(Tensor flat, Tensor bias, Tensor y) {
        Convolutions.output(flat, bias, y);
    }

    @Override
    public void convOutputBackward(Tensor gy, Tensor gflat, Tensor gBias) {
        Convolutions.outputBackward(gy, gflat, gBias);
    }

    @Override
    public void maxPool2d(Tensor x, int kernel, int stride, Tensor y, int[] argmax) {
        Convolutions.maxPool2d(x, kernel, stride, y, argmax);
    }

    @Override
    public void maxPool2dBackward(Tensor gy, int[] argmax, Tensor gx) {
        Convolutions.maxPool2dBackward(gy, argmax, gx);
    }

    @Override
    public void sgdStep(
            Tensor param,
            Tensor grad,
            Tensor momentumBuffer,
            boolean firstStep,
            double lr,
            SgdHyper h,
            double[] stats) {
        // torch's roundings of the Python-double hyperparameters
        Loops.SgdStep s = new Loops.SgdStep(
                (float) h.weightDecay(),
                (float) h.momentum(),
                (float) (1.0 - h.dampening()),
                (float) -lr,
                h.weightDecay() != 0,
                h.nesterov());
        Loops.get()
                .sgd(
                        param.data(),
                        host(grad),
                        grad.offset(),
                        momentumBuffer == null ? null : momentumBuffer.data(),
                        firstStep,
                        s,
                        stats);
    }

    @Override
    public void adamStep(
            Tensor param, Tensor grad, Tensor m, Tensor v, long t, double lr, AdamHyper h, double[] stats) {
        // torch.optim.Adam(W), single-tensor path, with its roundings of the Python-double hyperparameters and its
        // operation order, so results are equal bit for bit: add(alpha=) is a fused multiply-add, addcmul is
        // v + c * (g * g), addcdiv is p + (c * m) / denom; step_size = lr / bc1, denom = sqrt(v) / sqrt(bc2) + eps.
        Loops.AdamStep s = new Loops.AdamStep(
                (float) h.beta1(),
                (float) (1.0 - h.beta1()),
                (float) h.beta2(),
                (float) (1.0 - h.beta2()),
                (float) Math.sqrt(1.0 - Math.pow(h.beta2(), t)),
                (float) -(lr / (1.0 - Math.pow(h.beta1(), t))),
                (float) h.eps(),
                h.decoupled(),
                (float) (1.0 - lr * h.weightDecay()),
                (float) h.weightDecay());
        Loops.get().adam(param.data(), host(grad), grad.offset(), m.data(), v.data(), s, stats);
    }
}
