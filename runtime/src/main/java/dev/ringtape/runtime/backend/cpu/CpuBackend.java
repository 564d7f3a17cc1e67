package dev.ringtape.runtime.backend.cpu;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.tensor.Loops;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Tensor;
import org.bytedeco.openblas.global.openblas;

/**
 * The CPU backend: matrix products through OpenBLAS (bundled natives, no system install), everything else in plain
 * loops over the backing arrays, by kernel family: {@link Activations} (a rule table, forward and backward side by
 * side), {@link Losses}, {@link Convolutions}; the small elementwise kernels, dropout, layer norm and the optimizer
 * steps here. Reductions accumulate in double.
 */
public final class CpuBackend implements Backend {

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
        Activations.of(act).forward(x.data(), y.data(), mask, param);
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
        return Losses.softmaxCrossEntropy(logits, classes, probs);
    }

    @Override
    public void softmaxCrossEntropyBackward(Tensor probs, int[] classes, float scale, Tensor gx) {
        Losses.softmaxCrossEntropyBackward(probs, classes, scale, gx);
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
