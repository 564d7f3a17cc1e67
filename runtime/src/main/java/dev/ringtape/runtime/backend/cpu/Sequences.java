package dev.ringtape.runtime.backend.cpu;

import dev.ringtape.runtime.tensor.Tensor;

/** The sequence-model kernels of the CPU backend: axis permutation, embedding lookup, and the row softmax. */
final class Sequences {
    private Sequences() {}

    static void permute(Tensor x, int[] shape, int[] perm, Tensor y, boolean accumulate) {
        float[] src = CpuBackend.host(x);
        float[] dst = CpuBackend.host(y);
        int rank = shape.length;
        // the stride in x of each axis of y; y is walked in order with an odometer over its axes
        int[] inStride = new int[rank];
        int s = 1;
        int[] strideOf = new int[rank];
        for (int a = rank - 1; a >= 0; a--) {
            strideOf[a] = s;
            s *= shape[a];
        }
        int[] outShape = new int[rank];
        for (int i = 0; i < rank; i++) {
            outShape[i] = shape[perm[i]];
            inStride[i] = strideOf[perm[i]];
        }
        int n = y.size();
        if (n == 0) {
            return;
        }
        int last = rank - 1;
        int inner = outShape[last];
        int innerStride = inStride[last];
        int[] idx = new int[rank];
        int xo = x.offset();
        int yo = y.offset();
        int src0 = 0;
        for (int out = 0; out < n; out += inner) {
            int p = xo + src0;
            int q = yo + out;
            if (innerStride == 1 && !accumulate) {
                System.arraycopy(src, p, dst, q, inner); // the attention head splits and merges: rows of a head
            } else if (innerStride == 1) {
                for (int j = 0; j < inner; j++) {
                    dst[q + j] += src[p + j];
                }
            } else if (accumulate) {
                for (int j = 0; j < inner; j++) {
                    dst[q + j] += src[p + j * innerStride];
                }
            } else {
                for (int j = 0; j < inner; j++) {
                    dst[q + j] = src[p + j * innerStride];
                }
            }
            for (int a = last - 1; a >= 0; a--) {
                idx[a]++;
                src0 += inStride[a];
                if (idx[a] < outShape[a]) {
                    break;
                }
                src0 -= idx[a] * inStride[a];
                idx[a] = 0;
            }
        }
    }

    static void embedding(int[] ids, Tensor weight, Tensor y) {
        float[] w = CpuBackend.host(weight);
        float[] out = CpuBackend.host(y);
        int d = y.size() / Math.max(1, ids.length);
        for (int r = 0; r < ids.length; r++) {
            System.arraycopy(w, weight.offset() + ids[r] * d, out, y.offset() + r * d, d);
        }
    }

    static void embeddingBackward(int[] ids, Tensor gy, Tensor gWeight) {
        float[] g = CpuBackend.host(gy);
        float[] gw = CpuBackend.host(gWeight);
        int d = gy.size() / Math.max(1, ids.length);
        for (int r = 0; r < ids.length; r++) {
            int src = gy.offset() + r * d;
            int dst = gWeight.offset() + ids[r] * d;
            for (int j = 0; j < d; j++) {
                gw[dst + j] += g[src + j];
            }
        }
    }

    static void softmax(Tensor x, int cols, boolean causal, Tensor probs) {
        float[] z = CpuBackend.host(x);
        float[] p = CpuBackend.host(probs);
        int rows = x.size() / cols;
        int xo = x.offset();
        int po = probs.offset();
        Loops loops = Loops.get();
        for (int r = 0; r < rows; r++) {
            int base = r * cols;
            int seen = causal ? r % cols + 1 : cols;
            float max = loops.rowMax(z, xo + base, seen);
            // exp over whole vectors of eight where the row has room: the masked columns it also computes are
            // zeroed below, and the visible ones then all take the vector exp (a scalar tail cost more than the rest)
            loops.expShifted(z, xo + base, p, po + base, Math.min(cols, (seen + 7) & ~7), max);
            loops.mulRow(p, po + base, seen, (float) (1.0 / loops.sum8(p, po + base, seen, 0f)));
            for (int j = seen; j < cols; j++) {
                p[po + base + j] = 0f;
            }
        }
    }

    static void softmaxBackward(Tensor probs, Tensor gp, int cols, Tensor gx) {
        float[] p = CpuBackend.host(probs);
        float[] g = CpuBackend.host(gp);
        float[] o = CpuBackend.host(gx);
        int rows = probs.size() / cols;
        int po = probs.offset();
        int go = gp.offset();
        int oo = gx.offset();
        Loops loops = Loops.get();
        for (int r = 0; r < rows; r++) {
            int base = r * cols;
            float d = (float) loops.dot8(p, po + base, g, go + base, cols);
            loops.softmaxBackwardRow(p, po + base, g, go + base, o, oo + base, cols, d);
        }
    }

    static void attentionStats(Tensor scores, Tensor probs, int heads, boolean causal, double[] out) {
        float[] z = CpuBackend.host(scores);
        float[] p = CpuBackend.host(probs);
        int t = scores.dim(-1);
        int rows = scores.size() / t;
        int zo = scores.offset();
        int po = probs.offset();
        java.util.Arrays.fill(out, 0, 2 * heads, 0.0);
        for (int r = 0; r < rows; r++) {
            int h = (r / t) % heads;
            int seen = causal ? r % t + 1 : t;
            int base = r * t;
            float max = 0f;
            double entropy = 0;
            for (int j = 0; j < seen; j++) {
                max = Math.max(max, Math.abs(z[zo + base + j]));
                float q = p[po + base + j];
                if (q > 0f) {
                    entropy -= q * Math.log(q);
                }
            }
            out[h] = Math.max(out[h], max);
            out[heads + h] += entropy;
        }
    }
}
