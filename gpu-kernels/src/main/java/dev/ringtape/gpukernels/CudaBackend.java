package dev.ringtape.gpukernels;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.HostStorage;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.tensor.Storage;
import dev.ringtape.runtime.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasOperation;

/**
 * The backend SPI on one GPU: tensors in device memory ({@link DeviceStorage}) for the whole step, cuBLAS for the
 * GEMMs, the kernels of {@code kernels.cu} for everything else. Host values cross only where the SPI hands them over:
 * input batches and targets (uploaded when their version changed), class and embedding ids, the z-loss's row scales,
 * and the few values a loss, a norm or a statistic returns (a loss's per-row log Z among them).
 *
 * <p>What the SPI keeps in host objects the backend keeps beside them on the device, keyed by the object (weakly):
 * the sign and dropout masks ({@link Mask}), layer norm's 1/std and the row scales ({@code float[]}), max pooling's
 * argmax and the class and embedding ids ({@code int[]}). Telemetry's statistics are reductions on the device; only
 * their few sums come back (attention's, one value pair per row, combined per head on the host: {@link
 * #attentionStats}).
 */
final class CudaBackend implements Backend {
    private static final CUdeviceptr NULL = new CUdeviceptr();
    /** {@code rt::Stats}: double squares, float max_abs, float reserved, then five long longs. */
    static final int STATS_BYTES = 56;
    /** {@code RT_MAX_RANK}: the axes {@code rt::Permute} holds. */
    static final int MAX_RANK = 6;
    /** {@code rt::Permute}, passed by value: the rank, the shape and the permutation, {@code MAX_RANK} ints each. */
    static final int PERMUTE_BYTES = 4 * (1 + 2 * MAX_RANK);
    /** {@code rt::AdamStep}, passed by value: seven floats, an int, two floats. */
    static final int ADAM_BYTES = 40;
    /** {@code rt::SgdStep}, passed by value: four floats, two ints. */
    static final int SGD_BYTES = 24;

    private final CudaDevice dev;
    private final Map<Object, DeviceStorage> beside = Collections.synchronizedMap(new WeakHashMap<>());
    private final Map<Storage, Upload> uploads = Collections.synchronizedMap(new WeakHashMap<>());

    /** Device buffers for partial sums read back right after (two, for the unscale walk's two outputs). */
    private final DeviceStorage[] scratch = new DeviceStorage[2];

    private record Upload(int version, DeviceStorage copy) {}

    CudaBackend(CudaDevice dev) {
        this.dev = dev;
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public Storage allocate(int n) {
        return new DeviceStorage(dev, n);
    }

    // ---- operands

    /** A tensor the kernel reads: a device tensor where it lies, a host one (a batch, a target) uploaded. */
    private CUdeviceptr in(Tensor t) {
        Storage s = t.storage();
        if (s instanceof DeviceStorage d) {
            return d.at(t.offset());
        }
        if (!(s instanceof HostStorage h)) {
            throw new IllegalArgumentException(t + " is in " + s.getClass().getSimpleName() + ", not on this GPU");
        }
        Upload u = uploads.get(s);
        if (u == null || u.version() != t.version() || u.copy().length() != h.length()) {
            DeviceStorage copy =
                    u != null && u.copy().length() == h.length() ? u.copy() : new DeviceStorage(dev, h.length());
            copy.write(h.array(), 0, 0, h.length());
            u = new Upload(t.version(), copy);
            uploads.put(s, u);
        }
        return u.copy().at(t.offset());
    }

    /** A tensor the kernel writes: it must be on this GPU. */
    private CUdeviceptr out(Tensor t) {
        if (t.storage() instanceof DeviceStorage d) {
            return d.at(t.offset());
        }
        throw new IllegalArgumentException(t + " is in host memory: the cuda backend writes only device tensors");
    }

    /** The device buffer kept beside a host object of the SPI ({@code ints} 4-byte values). */
    private DeviceStorage beside(Object key, int ints) {
        DeviceStorage d = beside.get(key);
        if (d == null || d.length() < ints) {
            d = new DeviceStorage(dev, Math.max(1, ints));
            beside.put(key, d);
        }
        return d;
    }

    private DeviceStorage maskOf(Mask m) {
        return beside(m, (m.size() + 3) / 4); // one byte per element
    }

    private DeviceStorage ints(int[] values) {
        DeviceStorage d = beside(values, values.length);
        dev.bind();
        JCudaDriver.cuMemcpyHtoD(d.at(0), Pointer.to(values), (long) values.length * Sizeof.INT);
        return d;
    }

    /** Host values a kernel reads (the z-loss's row scales), uploaded into the buffer kept beside their array. */
    private DeviceStorage floats(float[] values) {
        DeviceStorage d = beside(values, values.length);
        d.write(values, 0, 0, values.length);
        return d;
    }

    /** Scratch buffer {@code slot} of at least {@code floats} floats, reused across calls (grown, never shrunk). */
    private DeviceStorage scratch(int slot, int floats) {
        DeviceStorage s = scratch[slot];
        if (s == null || s.length() < floats) {
            s = new DeviceStorage(dev, Math.max(floats, 4096));
            scratch[slot] = s;
        }
        return s;
    }

    private static Pointer p(CUdeviceptr d) {
        return Pointer.to(d);
    }

    private static Pointer i(int v) {
        return Pointer.to(new int[] {v});
    }

    private static Pointer l(long v) {
        return Pointer.to(new long[] {v});
    }

    private static Pointer f(float v) {
        return Pointer.to(new float[] {v});
    }

    private static Pointer d(double v) {
        return Pointer.to(new double[] {v});
    }

    private double[] doubles(DeviceStorage s, int n) {
        double[] out = new double[n];
        dev.bind();
        JCudaDriver.cuMemcpyDtoH(Pointer.to(out), s.at(0), (long) n * Sizeof.DOUBLE);
        return out;
    }

    private static int precisionCode(Precision p) {
        return switch (p) {
            case FP32 -> 0;
            case FP16 -> 1;
            case BF16 -> 2;
        };
    }

    // ---- reductions

    private record Stats(double squares, float maxAbs, long zeros, long nonZero, long flushed, long nonFinite) {}

    private Stats stats(Tensor t, int precision) {
        long n = t.size();
        int blocks = CudaDevice.blocks(n);
        DeviceStorage part = scratch(0, blocks * STATS_BYTES / 4);
        dev.launchBlocks(
                "rt_stats",
                blocks,
                p(in(t)),
                l(n),
                f(Float.NEGATIVE_INFINITY),
                f(Float.POSITIVE_INFINITY),
                i(precision),
                p(part.at(0)));
        byte[] raw = new byte[blocks * STATS_BYTES];
        dev.bind();
        JCudaDriver.cuMemcpyDtoH(Pointer.to(raw), part.at(0), raw.length);
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        double squares = 0;
        float max = 0;
        long zeros = 0;
        long nonZero = 0;
        long flushed = 0;
        long bad = 0;
        for (int k = 0; k < blocks; k++) {
            int at = k * STATS_BYTES;
            squares += b.getDouble(at);
            max = Math.max(max, b.getFloat(at + 8));
            zeros += b.getLong(at + 16);
            nonZero += b.getLong(at + 32);
            flushed += b.getLong(at + 40);
            bad += b.getLong(at + 48);
        }
        return new Stats(squares, max, zeros, nonZero, flushed, bad);
    }

    @Override
    public double squares(Tensor t) {
        return stats(t, 0).squares();
    }

    @Override
    public double scale(Tensor t, float scale, float[] maxAbs, int[] zeros, int slot) {
        long n = t.size();
        int blocks = CudaDevice.blocks(n);
        DeviceStorage squares = scratch(0, blocks * 2);
        DeviceStorage bad = scratch(1, blocks);
        dev.launchBlocks("rt_unscale", blocks, p(out(t)), f(scale), l(n), p(squares.at(0)), p(bad.at(0)));
        double sum = 0;
        for (double v : doubles(squares, blocks)) {
            sum += v;
        }
        if (maxAbs != null) {
            Stats s = stats(t, 0);
            maxAbs[slot] = s.maxAbs();
            zeros[slot] = (int) s.zeros();
        }
        return sum;
    }

    @Override
    public int countNonFinite(Tensor t) {
        return (int) stats(t, 0).nonFinite();
    }

    @Override
    public void round(Precision precision, Tensor t, long[] counts) {
        if (precision == Precision.FP32) {
            return;
        }
        if (counts != null) {
            Stats s = stats(t, precisionCode(precision));
            counts[0] += s.nonZero();
            counts[1] += s.flushed();
        }
        dev.launch("rt_round", t.size(), i(precisionCode(precision)), p(out(t)), l(t.size()));
    }

    @Override
    public double dot(Tensor x, Tensor w) {
        float[] a = x.toArray(); // gradient checks only
        float[] b = w.toArray();
        double acc = 0;
        for (int k = 0; k < a.length; k++) {
            acc += (double) a[k] * b[k];
        }
        return acc;
    }

    // ---- linear algebra and elementwise

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
        // row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the operands swap, nothing is copied
        CUdeviceptr pa = in(a);
        CUdeviceptr pb = in(b);
        CUdeviceptr pc = out(c);
        dev.bind();
        JCublas2.cublasSgemm(
                dev.blas,
                transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                n,
                m,
                k,
                Pointer.to(new float[] {alpha}),
                pb,
                transB ? k : n,
                pa,
                transA ? m : k,
                Pointer.to(new float[] {beta}),
                pc,
                n);
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
        // as gemm, each product swapped into column-major; the strides step the operands alike
        CUdeviceptr pa = in(a);
        CUdeviceptr pb = in(b);
        CUdeviceptr pc = out(c);
        dev.bind();
        JCublas2.cublasSgemmStridedBatched(
                dev.blas,
                transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                n,
                m,
                k,
                Pointer.to(new float[] {alpha}),
                pb,
                transB ? k : n,
                strideB,
                pa,
                transA ? m : k,
                strideA,
                Pointer.to(new float[] {beta}),
                pc,
                n,
                strideC,
                batch);
    }

    @Override
    public void permute(Tensor x, int[] shape, int[] perm, Tensor y, boolean accumulate) {
        if (shape.length > MAX_RANK) {
            throw new IllegalArgumentException(
                    "permute of rank " + shape.length + ": the cuda kernel takes at most " + MAX_RANK + " axes");
        }
        // rt::Permute: the rank, then the shape and the permutation in MAX_RANK ints each (the kernel reads rank)
        ByteBuffer s = ByteBuffer.allocate(PERMUTE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        s.putInt(shape.length);
        for (int v : shape) {
            s.putInt(v);
        }
        s.position(4 * (1 + MAX_RANK));
        for (int v : perm) {
            s.putInt(v);
        }
        dev.launch(
                "rt_permute", y.size(), p(in(x)), p(out(y)), Pointer.to(s.array()), i(accumulate ? 1 : 0), l(y.size()));
    }

    @Override
    public void embedding(int[] ids, Tensor weight, Tensor y) {
        if (ids.length == 0) {
            return;
        }
        int d = y.size() / ids.length;
        dev.launch("rt_embedding", y.size(), p(ints(ids).at(0)), p(in(weight)), p(out(y)), l(y.size()), i(d));
    }

    @Override
    public void embeddingBackward(int[] ids, Tensor gy, Tensor gWeight) {
        if (ids.length == 0) {
            return;
        }
        int d = gy.size() / ids.length;
        DeviceStorage rows = beside.containsKey(ids) ? beside(ids, ids.length) : ints(ids);
        dev.launch("rt_embedding_backward", d, p(rows.at(0)), p(in(gy)), p(out(gWeight)), i(ids.length), i(d));
    }

    @Override
    public void softmax(Tensor x, int cols, boolean causal, Tensor probs) {
        long rows = probs.size() / cols;
        dev.launch("rt_softmax", rows, p(in(x)), p(out(probs)), i(causal ? 1 : 0), l(rows), i(cols));
    }

    @Override
    public void softmaxBackward(Tensor probs, Tensor gp, int cols, Tensor gx) {
        long rows = gx.size() / cols;
        dev.launch("rt_softmax_backward", rows, p(in(probs)), p(in(gp)), p(out(gx)), l(rows), i(cols));
    }

    /**
     * One thread per row of the [N * heads * T, T] logits writes the row's largest seen |logit| (a float) and its
     * entropy (a double) into scratch; all of them come back (12 bytes a row: 8192 rows are 96 KiB, per attention
     * layer of a sampled step only) and the host combines them per head in row order, as the CPU does, so a head's
     * entropy is the CPU's sum in the CPU's order (bit for bit on the host check) and no float atomics make it vary
     * from run to run. A device tree reduction would reorder the double sums; a serial walk per head would leave the
     * GPU with {@code heads} threads.
     */
    @Override
    public void attentionStats(Tensor scores, Tensor probs, int heads, boolean causal, double[] out) {
        int t = scores.dim(-1);
        int rows = t == 0 ? 0 : scores.size() / t;
        if (rows == 0) {
            Arrays.fill(out, 0, 2 * heads, 0.0);
            return;
        }
        DeviceStorage entropy = scratch(0, rows * 2);
        DeviceStorage max = scratch(1, rows);
        dev.launch(
                "rt_attention_stats",
                rows,
                p(in(scores)),
                p(in(probs)),
                p(max.at(0)),
                p(entropy.at(0)),
                i(causal ? 1 : 0),
                l(rows),
                i(t));
        float[] rowMax = new float[rows];
        max.read(0, rowMax, 0, rows);
        attentionStatsByHead(rowMax, doubles(entropy, rows), t, heads, out);
    }

    /**
     * Sequences.attentionStats' combine of the rows' statistics: row r belongs to head {@code (r / t) % heads};
     * {@code out[h]} the largest of its rows' maxima (NaN once one is NaN, as Java's Math.max), {@code out[heads +
     * h]} the sum of their entropies in double, in increasing row order.
     */
    static void attentionStatsByHead(float[] rowMax, double[] rowEntropy, int t, int heads, double[] out) {
        Arrays.fill(out, 0, 2 * heads, 0.0);
        for (int r = 0; r < rowMax.length; r++) {
            int h = (r / t) % heads;
            out[h] = Math.max(out[h], rowMax[r]);
            out[heads + h] += rowEntropy[r];
        }
    }

    @Override
    public void addRowVector(Tensor x, Tensor v) {
        dev.launch("rt_add_row_vector", x.size(), p(out(x)), p(in(v)), l(x.size()), i(v.size()));
    }

    @Override
    public void sumRowsInto(Tensor x, Tensor out) {
        int d = out.size();
        dev.launch("rt_sum_rows", d, p(in(x)), p(out(out)), i(x.size() / d), i(d));
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        dev.launch("rt_add", out.size(), p(in(a)), p(in(b)), p(out(out)), l(out.size()));
    }

    @Override
    public void axpy(float alpha, Tensor src, Tensor dst) {
        dev.launch("rt_axpy", dst.size(), f(alpha), p(in(src)), p(out(dst)), l(dst.size()));
    }

    @Override
    public void activation(Activation act, float param, Tensor x, Tensor y, Mask mask, Tensor derivative) {
        CUdeviceptr m = act.saves() == Activation.Saves.MASK && mask != null
                ? maskOf(mask).at(0)
                : NULL;
        CUdeviceptr d = act.saves() == Activation.Saves.DERIVATIVE && derivative != null ? out(derivative) : NULL;
        dev.launch("rt_activation", y.size(), i(act.ordinal()), f(param), p(in(x)), p(out(y)), p(m), p(d), l(y.size()));
    }

    @Override
    public void activationBackward(Activation act, float param, Tensor saved, Mask mask, Tensor gy, Tensor gx) {
        boolean byMask = act.saves() == Activation.Saves.MASK;
        dev.launch(
                "rt_activation_backward",
                gx.size(),
                i(act.ordinal()),
                f(param),
                p(byMask ? NULL : in(saved)),
                p(byMask ? maskOf(mask).at(0) : NULL),
                p(in(gy)),
                p(out(gx)),
                l(gx.size()));
    }

    @Override
    public void activationStats(Tensor y, boolean channels, int[] alive, float lo, float hi, double[] moments) {
        int row = y.dim(-1);
        if (alive != null) {
            int units = channels ? y.dim(1) : row;
            long plane = channels ? (long) y.dim(2) * y.dim(3) : 1;
            int rows = (int) (y.size() / ((long) units * plane));
            DeviceStorage bits = scratch(1, units);
            dev.launch("rt_alive", units, p(in(y)), i(rows), i(units), l(plane), p(bits.at(0)));
            int[] fired = new int[units];
            dev.bind();
            JCudaDriver.cuMemcpyDtoH(Pointer.to(fired), bits.at(0), (long) units * Sizeof.INT);
            for (int u = 0; u < units; u++) {
                alive[u] |= fired[u];
            }
        }
        if (moments == null) {
            return;
        }
        // as the CPU: sums around the first row's mean (so a large mean does not cancel the variance), full rows only
        float[] first = new float[Math.min(row, y.size())];
        y.storage().read(y.offset(), first, 0, first.length);
        double firstRow = 0;
        for (float v : first) {
            firstRow += v;
        }
        float shift = row == 0 ? 0 : (float) (firstRow / row);
        long n = row == 0 ? 0 : y.size() - y.size() % row;
        double[] sums = new double[3];
        if (n > 0) {
            int blocks = CudaDevice.blocks(n);
            DeviceStorage part = scratch(0, blocks * 6);
            dev.launchBlocks("rt_moments", blocks, p(in(y)), l(n), f(shift), f(lo), f(hi), p(part.at(0)));
            double[] parts = doubles(part, blocks * 3);
            for (int k = 0; k < parts.length; k++) {
                sums[k % 3] += parts[k];
            }
        }
        double offset = n == 0 ? 0 : sums[0] / n; // the mean minus the shift
        moments[0] = shift + offset;
        moments[1] = n == 0 ? 0 : Math.sqrt(Math.max(sums[1] / n - offset * offset, 0));
        moments[2] = n == 0 ? 0 : sums[2] / n;
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor xhat, float[] rstd) {
        int d = weight.size();
        int rows = x.size() / d;
        dev.launch(
                "rt_layer_norm",
                rows,
                p(in(x)),
                p(in(weight)),
                p(in(bias)),
                f(eps),
                p(out(y)),
                p(out(xhat)),
                p(beside(rstd, rows).at(0)),
                i(rows),
                i(d));
    }

    @Override
    public void layerNormBackward(
            Tensor gy, Tensor xhat, float[] rstd, Tensor weight, Tensor gx, Tensor gWeight, Tensor gBias) {
        int d = weight.size();
        int rows = gy.size() / d;
        if (gx != null) {
            dev.launch(
                    "rt_layer_norm_backward_input",
                    rows,
                    p(in(gy)),
                    p(in(xhat)),
                    p(in(weight)),
                    p(beside(rstd, rows).at(0)),
                    p(out(gx)),
                    i(rows),
                    i(d));
        }
        if (gWeight != null || gBias != null) {
            dev.launch(
                    "rt_layer_norm_backward_params",
                    d,
                    p(in(gy)),
                    p(in(xhat)),
                    p(gWeight == null ? NULL : out(gWeight)),
                    p(gBias == null ? NULL : out(gBias)),
                    i(rows),
                    i(d));
        }
    }

    // ---- losses

    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] classes, Tensor probs, float[] logZ) {
        int rows = classes.length;
        int c = logits.size() / rows;
        DeviceStorage loss = scratch(0, rows * 2);
        DeviceStorage lz = scratch(1, rows);
        dev.launch(
                "rt_softmax_ce",
                rows,
                p(in(logits)),
                p(ints(classes).at(0)),
                p(out(probs)),
                p(lz.at(0)),
                p(loss.at(0)),
                i(rows),
                i(c));
        lz.read(0, logZ, 0, rows);
        double total = 0;
        for (double v : doubles(loss, rows)) {
            total += v;
        }
        return total / rows;
    }

    @Override
    public void softmaxCrossEntropyBackward(Tensor probs, int[] classes, float scale, float[] rowScale, Tensor gx) {
        int rows = classes.length;
        DeviceStorage ids = beside.containsKey(classes) ? beside(classes, rows) : ints(classes);
        dev.launch(
                "rt_softmax_ce_backward",
                rows,
                p(in(probs)),
                p(ids.at(0)),
                f(scale),
                p(rowScale == null ? NULL : floats(rowScale).at(0)),
                p(out(gx)),
                i(rows),
                i(probs.size() / rows));
    }

    private double meanLoss(int kind, Tensor x, Tensor target) {
        int n = x.size();
        DeviceStorage terms = scratch(0, n * 2);
        dev.launch("rt_loss_terms", n, i(kind), p(in(x)), p(in(target)), p(terms.at(0)), l(n));
        double total = 0;
        for (double v : doubles(terms, n)) {
            total += v;
        }
        return total / n;
    }

    @Override
    public double bceWithLogits(Tensor logits, Tensor target) {
        return meanLoss(0, logits, target);
    }

    @Override
    public void bceWithLogitsBackward(Tensor logits, Tensor target, float scale, Tensor gx) {
        dev.launch(
                "rt_loss_backward", gx.size(), i(0), p(in(logits)), p(in(target)), f(scale), p(out(gx)), l(gx.size()));
    }

    @Override
    public double mse(Tensor y, Tensor target) {
        return meanLoss(1, y, target);
    }

    @Override
    public void mseBackward(Tensor y, Tensor target, float scale, Tensor gx) {
        dev.launch("rt_loss_backward", gx.size(), i(1), p(in(y)), p(in(target)), f(scale), p(out(gx)), l(gx.size()));
    }

    // ---- dropout

    @Override
    public void dropoutMask(long seed, float p, Mask mask) {
        dev.launch("rt_dropout_mask", mask.size(), l(seed), d(p), p(maskOf(mask).at(0)), l(mask.size()));
    }

    @Override
    public void maskedScale(Tensor x, Mask mask, float scale, Tensor y, boolean accumulate) {
        dev.launch(
                "rt_masked_scale",
                y.size(),
                p(in(x)),
                p(maskOf(mask).at(0)),
                f(scale),
                p(out(y)),
                i(accumulate ? 1 : 0),
                l(y.size()));
    }

    // ---- convolution and pooling

    @Override
    public void im2col(Tensor x, int kernel, int stride, int padding, Tensor cols) {
        int n = x.dim(0);
        int c = x.dim(1);
        int h = x.dim(2);
        int w = x.dim(3);
        int oh = Shapes.windows(h, kernel, stride, padding);
        int ow = Shapes.windows(w, kernel, stride, padding);
        dev.launch(
                "rt_im2col",
                cols.size(),
                p(in(x)),
                p(out(cols)),
                i(n),
                i(c),
                i(h),
                i(w),
                i(kernel),
                i(stride),
                i(padding),
                i(oh),
                i(ow));
    }

    @Override
    public void col2imAdd(Tensor cols, int kernel, int stride, int padding, Tensor gx) {
        int n = gx.dim(0);
        int c = gx.dim(1);
        int h = gx.dim(2);
        int w = gx.dim(3);
        int oh = Shapes.windows(h, kernel, stride, padding);
        int ow = Shapes.windows(w, kernel, stride, padding);
        dev.launch(
                "rt_col2im_add",
                gx.size(),
                p(in(cols)),
                p(out(gx)),
                i(n),
                i(c),
                i(h),
                i(w),
                i(kernel),
                i(stride),
                i(padding),
                i(oh),
                i(ow));
    }

    @Override
    public void convOutput(Tensor flat, Tensor bias, Tensor y) {
        int hw = y.dim(2) * y.dim(3);
        dev.launch(
                "rt_conv_output",
                y.size(),
                p(in(flat)),
                p(bias == null ? NULL : in(bias)),
                p(out(y)),
                i(y.dim(0)),
                i(y.dim(1)),
                i(hw));
    }

    @Override
    public void convOutputBackward(Tensor gy, Tensor gflat, Tensor gBias) {
        int n = gy.dim(0);
        int o = gy.dim(1);
        int hw = gy.dim(2) * gy.dim(3);
        dev.launch("rt_conv_output_backward", gy.size(), p(in(gy)), p(out(gflat)), i(n), i(o), i(hw));
        if (gBias != null) {
            dev.launch("rt_row_sums", o, p(in(gflat)), p(out(gBias)), i(o), l((long) n * hw));
        }
    }

    @Override
    public void maxPool2d(Tensor x, int kernel, int stride, Tensor y, int[] argmax) {
        dev.launch(
                "rt_max_pool",
                y.size(),
                p(in(x)),
                p(out(y)),
                p(beside(argmax, argmax.length).at(0)),
                l((long) x.dim(0) * x.dim(1)),
                i(x.dim(2)),
                i(x.dim(3)),
                i(kernel),
                i(stride),
                i(y.dim(2)),
                i(y.dim(3)));
    }

    @Override
    public void maxPool2dBackward(Tensor gy, int[] argmax, Tensor gx) {
        dev.launch(
                "rt_max_pool_backward",
                gy.size(),
                p(in(gy)),
                p(beside(argmax, argmax.length).at(0)),
                p(out(gx)),
                l(gy.size()));
    }

    // ---- optimizers

    /** The squared norms of the new weights and of the update (new minus old {@code before}), as the CPU adds them. */
    private void updateStats(Tensor param, DeviceStorage before, double[] stats) {
        stats[0] += squares(param);
        Tensor old = Tensor.view(before, 0, param.shape());
        axpy(-1f, param, old);
        stats[1] += squares(old);
    }

    private DeviceStorage copyOf(Tensor t) {
        DeviceStorage s = new DeviceStorage(dev, t.size());
        t.storage().copyTo(t.offset(), s, 0, t.size());
        return s;
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
        ByteBuffer s = ByteBuffer.allocate(SGD_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        s.putFloat((float) h.weightDecay())
                .putFloat((float) h.momentum())
                .putFloat((float) (1.0 - h.dampening()))
                .putFloat((float) -lr)
                .putInt(h.weightDecay() != 0 ? 1 : 0)
                .putInt(h.nesterov() ? 1 : 0);
        DeviceStorage before = stats == null ? null : copyOf(param);
        dev.launch(
                "rt_sgd",
                param.size(),
                p(out(param)),
                p(in(grad)),
                p(momentumBuffer == null ? NULL : out(momentumBuffer)),
                i(firstStep ? 1 : 0),
                Pointer.to(s.array()),
                l(param.size()));
        if (stats != null) {
            updateStats(param, before, stats);
        }
    }

    @Override
    public void adamStep(
            Tensor param, Tensor grad, Tensor m, Tensor v, long t, double lr, AdamHyper h, double[] stats) {
        // the CPU backend's roundings of torch's Python-double hyperparameters (CpuBackend.adamStep)
        ByteBuffer s = ByteBuffer.allocate(ADAM_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        s.putFloat((float) h.beta1())
                .putFloat((float) (1.0 - h.beta1()))
                .putFloat((float) h.beta2())
                .putFloat((float) (1.0 - h.beta2()))
                .putFloat((float) Math.sqrt(1.0 - Math.pow(h.beta2(), t)))
                .putFloat((float) -(lr / (1.0 - Math.pow(h.beta1(), t))))
                .putFloat((float) h.eps())
                .putInt(h.decoupled() ? 1 : 0)
                .putFloat((float) (1.0 - lr * h.weightDecay()))
                .putFloat((float) h.weightDecay());
        DeviceStorage before = stats == null ? null : copyOf(param);
        dev.launch(
                "rt_adam",
                param.size(),
                p(out(param)),
                p(in(grad)),
                p(out(m)),
                p(out(v)),
                Pointer.to(s.array()),
                l(param.size()));
        if (stats != null) {
            updateStats(param, before, stats);
        }
    }
}
