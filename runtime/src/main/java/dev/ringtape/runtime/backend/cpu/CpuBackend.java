package dev.ringtape.runtime.backend.cpu;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.tensor.Loops;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.Arrays;
import org.bytedeco.openblas.global.openblas;

/**
 * The CPU backend: matrix products through OpenBLAS (bundled natives, no system install), everything else in plain
 * loops over the backing arrays. Loops accumulate in double.
 */
public final class CpuBackend implements Backend {
    private static final double SQRT_2_OVER_PI = 0.7978845608028654;
    private static final double INV_SQRT_2PI = 0.3989422804014327;
    private static final double GELU_TANH_C = 0.044715;
    private static final float SOFTPLUS_THRESHOLD = 20f;

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public boolean available() {
        return true;
    }

    @Override
    public int priority() {
        return 0;
    }

    /** The BLAS in use and its threads, in one line. */
    public static String describe() {
        String core = System.getenv("OPENBLAS_CORETYPE");
        int threads = openblas.blas_get_num_threads(); // -1 until set: OpenBLAS's default, one per core
        return "OpenBLAS (bundled natives), "
                + (threads > 0
                        ? threads + " thread(s)"
                        : "its default threads (one per core: "
                                + Runtime.getRuntime().availableProcessors() + ")")
                + (core == null ? "" : ", OPENBLAS_CORETYPE=" + core);
    }

    /** Sets the number of OpenBLAS threads (the default is one per core). */
    public static void blasThreads(int threads) {
        openblas.blas_set_num_threads(threads);
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
        openblas.cblas_sgemm(
                openblas.CblasRowMajor,
                transA ? openblas.CblasTrans : openblas.CblasNoTrans,
                transB ? openblas.CblasTrans : openblas.CblasNoTrans,
                m,
                n,
                k,
                alpha,
                a.data(),
                transA ? m : k,
                b.data(),
                transB ? k : n,
                beta,
                c.data(),
                n);
    }

    @Override
    public void addRowVector(Tensor x, Tensor v) {
        float[] xd = x.data();
        float[] vd = v.data();
        int d = vd.length;
        for (int base = 0; base < xd.length; base += d) {
            for (int j = 0; j < d; j++) {
                xd[base + j] += vd[j];
            }
        }
    }

    @Override
    public void sumRowsInto(Tensor x, Tensor out) {
        float[] xd = x.data();
        float[] od = out.data();
        int d = od.length;
        double[] acc = new double[d];
        for (int base = 0; base < xd.length; base += d) {
            for (int j = 0; j < d; j++) {
                acc[j] += xd[base + j];
            }
        }
        for (int j = 0; j < d; j++) {
            od[j] += (float) acc[j];
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
        float[] s = src.data();
        float[] d = dst.data();
        if (alpha == 1f) {
            for (int i = 0; i < d.length; i++) {
                d[i] += s[i];
            }
        } else {
            for (int i = 0; i < d.length; i++) {
                d[i] += alpha * s[i];
            }
        }
    }

    @Override
    public void activation(Activation act, float param, Tensor x, Tensor y, Mask mask) {
        float[] xd = x.data();
        float[] yd = y.data();
        int n = xd.length;
        switch (act) {
            case RELU -> {
                // without a branch on the sign anywhere: signs are random, and a branch that mispredicts half the
                // time made this loop 5x slower on fresh data (bench/RESULTS.md). Math.max gives +0 for -0 and keeps
                // NaN, as torch.relu does; the mask bit is v > 0, from the bits: (bits - 1), unsigned, below +Inf's
                for (int i = 0; i < n; i++) {
                    yd[i] = Math.max(xd[i], 0f);
                }
                long[] words = mask.words();
                for (int w = 0; w < words.length; w++) {
                    int base = w << 6;
                    int end = Math.min(base + 64, n);
                    long bits = 0;
                    for (int i = base; i < end; i++) {
                        long u = (Float.floatToRawIntBits(xd[i]) - 1) & 0xffffffffL;
                        bits |= ((u - 0x7f800000L) >>> 63) << (i - base);
                    }
                    words[w] = bits;
                }
            }
            case LEAKY_RELU -> {
                float slope = param;
                long[] words = mask.words();
                for (int w = 0; w < words.length; w++) {
                    int base = w << 6;
                    int end = Math.min(base + 64, n);
                    long bits = 0;
                    for (int i = base; i < end; i++) {
                        float v = xd[i];
                        boolean pos = v > 0f;
                        // ReLU gives +0 (and keeps NaN); LeakyReLU scales
                        yd[i] = pos ? v : v * slope;
                        bits |= (pos ? 1L : 0L) << (i - base);
                    }
                    words[w] = bits;
                }
            }
            case SIGMOID -> {
                for (int i = 0; i < n; i++) {
                    yd[i] = (float) sigmoid(xd[i]);
                }
            }
            case TANH -> {
                for (int i = 0; i < n; i++) {
                    yd[i] = (float) tanh(xd[i]);
                }
            }
            case GELU_ERF -> {
                for (int i = 0; i < n; i++) {
                    double v = xd[i];
                    yd[i] = (float) (v * Special.normalCdf(v));
                }
            }
            case GELU_TANH -> {
                for (int i = 0; i < n; i++) {
                    double v = xd[i];
                    double t = tanh(SQRT_2_OVER_PI * (v + GELU_TANH_C * v * v * v));
                    yd[i] = (float) (0.5 * v * (1.0 + t));
                }
            }
            case SILU -> {
                for (int i = 0; i < n; i++) {
                    double v = xd[i];
                    yd[i] = (float) (v * sigmoid(v));
                }
            }
            case ELU -> {
                for (int i = 0; i < n; i++) {
                    float v = xd[i];
                    yd[i] = v > 0f ? v : (float) (param * Math.expm1(v));
                }
            }
            case SOFTPLUS -> {
                for (int i = 0; i < n; i++) {
                    float v = xd[i];
                    yd[i] = v > SOFTPLUS_THRESHOLD ? v : (float) Math.log1p(Math.exp(v));
                }
            }
        }
    }

    @Override
    public void activationBackward(Activation act, float param, Tensor saved, Mask mask, Tensor gy, Tensor gx) {
        float[] g = gy.data();
        float[] out = gx.data();
        int n = g.length;
        switch (act) {
            case RELU -> {
                // a select, not a product, so a NaN gradient into a dead unit stays out (as PyTorch's
                // threshold_backward): the gradient's bits and'ed with all ones or all zeros, no branch
                long[] words = mask.words();
                for (int w = 0; w < words.length; w++) {
                    int base = w << 6;
                    int end = Math.min(base + 64, n);
                    long bits = words[w];
                    for (int i = base; i < end; i++) {
                        int keep = -(int) ((bits >>> (i - base)) & 1L);
                        out[i] += Float.intBitsToFloat(Float.floatToRawIntBits(g[i]) & keep);
                    }
                }
            }
            case LEAKY_RELU -> {
                long[] words = mask.words();
                for (int w = 0; w < words.length; w++) {
                    int base = w << 6;
                    int end = Math.min(base + 64, n);
                    long bits = words[w];
                    for (int i = base; i < end; i++) {
                        float gi = g[i];
                        out[i] += ((bits >>> (i - base)) & 1L) != 0 ? gi : gi * param;
                    }
                }
            }
            case SIGMOID -> {
                float[] y = saved.data();
                for (int i = 0; i < n; i++) {
                    out[i] += g[i] * y[i] * (1f - y[i]);
                }
            }
            case TANH -> {
                float[] y = saved.data();
                for (int i = 0; i < n; i++) {
                    out[i] += g[i] * (1f - y[i] * y[i]);
                }
            }
            case GELU_ERF -> {
                float[] x = saved.data();
                for (int i = 0; i < n; i++) {
                    double v = x[i];
                    double d = Special.normalCdf(v) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
                    out[i] += (float) (g[i] * d);
                }
            }
            case GELU_TANH -> {
                float[] x = saved.data();
                for (int i = 0; i < n; i++) {
                    double v = x[i];
                    double t = tanh(SQRT_2_OVER_PI * (v + GELU_TANH_C * v * v * v));
                    double d = 0.5 * (1.0 + t)
                            + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * v * v);
                    out[i] += (float) (g[i] * d);
                }
            }
            case SILU -> {
                float[] x = saved.data();
                for (int i = 0; i < n; i++) {
                    double v = x[i];
                    double s = sigmoid(v);
                    out[i] += (float) (g[i] * s * (1.0 + v * (1.0 - s)));
                }
            }
            case ELU -> {
                float[] x = saved.data();
                for (int i = 0; i < n; i++) {
                    float v = x[i];
                    out[i] += v > 0f ? g[i] : (float) (g[i] * param * Math.exp(v));
                }
            }
            case SOFTPLUS -> {
                float[] x = saved.data();
                for (int i = 0; i < n; i++) {
                    float v = x[i];
                    out[i] += v > SOFTPLUS_THRESHOLD ? g[i] : (float) (g[i] * sigmoid(v));
                }
            }
        }
    }

    /**
     * tanh through the exp intrinsic (several times faster than {@link Math#tanh}), exact to float precision: below
     * 1e-4 tanh(x) = x to within x^2/3 relative, and above it 1 - 2/(e^2x + 1) loses at most 1e-12 to cancellation.
     */
    private static double tanh(double v) {
        double a = Math.abs(v);
        if (a < 1e-4) {
            return v;
        }
        double t = 1.0 - 2.0 / (Math.exp(2.0 * a) + 1.0);
        return v < 0 ? -t : t;
    }

    private static double sigmoid(double v) {
        if (v >= 0) {
            return 1.0 / (1.0 + Math.exp(-v));
        }
        double e = Math.exp(v);
        return e / (1.0 + e);
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
        for (int r = 0; r < rows; r++) {
            int base = r * d;
            double mean = 0;
            for (int j = 0; j < d; j++) {
                mean += xd[base + j];
            }
            mean /= d;
            double var = 0;
            for (int j = 0; j < d; j++) {
                double c = xd[base + j] - mean;
                var += c * c;
            }
            var /= d;
            double rs = 1.0 / Math.sqrt(var + eps);
            rstd[r] = (float) rs;
            for (int j = 0; j < d; j++) {
                float h = (float) ((xd[base + j] - mean) * rs);
                hd[base + j] = h;
                yd[base + j] = h * w[j] + b[j];
            }
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
            for (int r = 0; r < rows; r++) {
                int base = r * d;
                for (int j = 0; j < d; j++) {
                    gw[j] += g[base + j] * h[base + j];
                    gb[j] += g[base + j];
                }
            }
            if (gWeight != null) {
                float[] o = gWeight.data();
                for (int j = 0; j < d; j++) {
                    o[j] += (float) gw[j];
                }
            }
            if (gBias != null) {
                float[] o = gBias.data();
                for (int j = 0; j < d; j++) {
                    o[j] += (float) gb[j];
                }
            }
        }
        if (gx != null) {
            float[] o = gx.data();
            for (int r = 0; r < rows; r++) {
                int base = r * d;
                // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = gy * w
                double sum = 0;
                double dot = 0;
                for (int j = 0; j < d; j++) {
                    double dh = (double) g[base + j] * w[j];
                    sum += dh;
                    dot += dh * h[base + j];
                }
                double meanDh = sum / d;
                double meanDot = dot / d;
                double rs = rstd[r];
                for (int j = 0; j < d; j++) {
                    double dh = (double) g[base + j] * w[j];
                    o[base + j] += (float) (rs * (dh - meanDh - h[base + j] * meanDot));
                }
            }
        }
    }

    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] classes, Tensor probs) {
        float[] z = logits.data();
        float[] p = probs.data();
        int n = classes.length;
        int c = z.length / n;
        double total = 0;
        for (int r = 0; r < n; r++) {
            int base = r * c;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < c; j++) {
                max = Math.max(max, z[base + j]);
            }
            double sum = 0;
            for (int j = 0; j < c; j++) {
                sum += Math.exp((double) z[base + j] - max);
            }
            double logSum = Math.log(sum);
            for (int j = 0; j < c; j++) {
                p[base + j] = (float) Math.exp((double) z[base + j] - max - logSum);
            }
            // -log softmax(z)[y] = logsumexp(z) - z[y], in log space so logits near 1e3 stay finite
            total += logSum + max - z[base + classes[r]];
        }
        return total / n;
    }

    @Override
    public void softmaxCrossEntropyBackward(Tensor probs, int[] classes, float scale, Tensor gx) {
        float[] p = probs.data();
        float[] o = gx.data();
        int n = classes.length;
        int c = p.length / n;
        for (int r = 0; r < n; r++) {
            int base = r * c;
            for (int j = 0; j < c; j++) {
                o[base + j] += scale * p[base + j];
            }
            o[base + classes[r]] -= scale;
        }
    }

    @Override
    public double bceWithLogits(Tensor logits, Tensor target) {
        float[] x = logits.data();
        float[] t = target.data();
        double total = 0;
        for (int i = 0; i < x.length; i++) {
            double v = x[i];
            total += Math.max(v, 0.0) - v * t[i] + Math.log1p(Math.exp(-Math.abs(v)));
        }
        return total / x.length;
    }

    @Override
    public void bceWithLogitsBackward(Tensor logits, Tensor target, float scale, Tensor gx) {
        float[] x = logits.data();
        float[] t = target.data();
        float[] o = gx.data();
        for (int i = 0; i < x.length; i++) {
            o[i] += (float) (scale * (sigmoid(x[i]) - t[i]));
        }
    }

    @Override
    public double mse(Tensor y, Tensor target) {
        float[] a = y.data();
        float[] t = target.data();
        double total = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - t[i];
            total += d * d;
        }
        return total / a.length;
    }

    @Override
    public void mseBackward(Tensor y, Tensor target, float scale, Tensor gx) {
        float[] a = y.data();
        float[] t = target.data();
        float[] o = gx.data();
        for (int i = 0; i < a.length; i++) {
            o[i] += scale * 2f * (a[i] - t[i]);
        }
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
        unfold(x.shape(), x.data(), cols.data(), kernel, stride, padding, false);
    }

    @Override
    public void col2imAdd(Tensor cols, int kernel, int stride, int padding, Tensor gx) {
        unfold(gx.shape(), gx.data(), cols.data(), kernel, stride, padding, true);
    }

    /**
     * Walks every (image pixel, column cell) pair of the unfolding of an NCHW batch: copies image to columns
     * (zero where the window hangs over the padding), or with {@code adjoint} adds columns back into the image.
     */
    private static void unfold(
            int[] shape, float[] image, float[] cols, int kernel, int stride, int padding, boolean adjoint) {
        int batch = shape[0];
        int channels = shape[1];
        int h = shape[2];
        int w = shape[3];
        int oh = (h + 2 * padding - kernel) / stride + 1;
        int ow = (w + 2 * padding - kernel) / stride + 1;
        int ohw = oh * ow;
        int rowStride = batch * ohw;
        for (int nIdx = 0; nIdx < batch; nIdx++) {
            for (int c = 0; c < channels; c++) {
                int plane = (nIdx * channels + c) * h * w;
                for (int ki = 0; ki < kernel; ki++) {
                    for (int kj = 0; kj < kernel; kj++) {
                        int row = ((c * kernel + ki) * kernel + kj) * rowStride + nIdx * ohw;
                        for (int i = 0; i < oh; i++) {
                            int y = i * stride - padding + ki;
                            int cell = row + i * ow;
                            if (y < 0 || y >= h) {
                                if (!adjoint) {
                                    Arrays.fill(cols, cell, cell + ow, 0f);
                                }
                                continue;
                            }
                            int pixel = plane + y * w;
                            for (int j = 0; j < ow; j++) {
                                int xx = j * stride - padding + kj;
                                boolean inside = xx >= 0 && xx < w;
                                if (adjoint) {
                                    if (inside) {
                                        image[pixel + xx] += cols[cell + j];
                                    }
                                } else {
                                    cols[cell + j] = inside ? image[pixel + xx] : 0f;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Override
    public void maxPool2d(Tensor x, int kernel, int stride, Tensor y, int[] argmax) {
        int[] s = x.shape();
        int planes = s[0] * s[1];
        int h = s[2];
        int w = s[3];
        int oh = y.dim(2);
        int ow = y.dim(3);
        float[] xd = x.data();
        float[] yd = y.data();
        int o = 0;
        for (int p = 0; p < planes; p++) {
            int plane = p * h * w;
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    int best = plane + (i * stride) * w + j * stride;
                    float bestValue = xd[best];
                    for (int ki = 0; ki < kernel; ki++) {
                        int rowBase = plane + (i * stride + ki) * w + j * stride;
                        for (int kj = 0; kj < kernel; kj++) {
                            float v = xd[rowBase + kj];
                            // NaN propagates, as in PyTorch: a NaN in the window wins.
                            if (v > bestValue || Float.isNaN(v)) {
                                bestValue = v;
                                best = rowBase + kj;
                                if (Float.isNaN(v)) {
                                    break;
                                }
                            }
                        }
                    }
                    yd[o] = bestValue;
                    argmax[o] = best;
                    o++;
                }
            }
        }
    }

    @Override
    public void maxPool2dBackward(Tensor gy, int[] argmax, Tensor gx) {
        float[] g = gy.data();
        float[] o = gx.data();
        for (int i = 0; i < g.length; i++) {
            o[argmax[i]] += g[i];
        }
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
                        grad.data(),
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
        Loops.get().adam(param.data(), grad.data(), m.data(), v.data(), s, stats);
    }
}
