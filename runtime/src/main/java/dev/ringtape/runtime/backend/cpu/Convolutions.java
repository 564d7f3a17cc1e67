package dev.ringtape.runtime.backend.cpu;

import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.Arrays;

/** The convolution and pooling kernels of the CPU backend: im2col and its adjoint, max pooling and its gradient. */
final class Convolutions {
    private Convolutions() {}

    static void im2col(Tensor x, int kernel, int stride, int padding, Tensor cols) {
        unfold(x.shape(), x.data(), cols.data(), kernel, stride, padding, false);
    }

    static void col2imAdd(Tensor cols, int kernel, int stride, int padding, Tensor gx) {
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
        int oh = Shapes.windows(h, kernel, stride, padding);
        int ow = Shapes.windows(w, kernel, stride, padding);
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

    static void maxPool2d(Tensor x, int kernel, int stride, Tensor y, int[] argmax) {
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

    static void maxPool2dBackward(Tensor gy, int[] argmax, Tensor gx) {
        float[] g = gy.data();
        float[] o = gx.data();
        for (int i = 0; i < g.length; i++) {
            o[argmax[i]] += g[i];
        }
    }

    /** {@code y[s, o, :] = flat[o, s*hw ..] + bias[o]}: a convolution's GEMM output [O, N*OH*OW] to NCHW. */
    static void output(Tensor flat, Tensor bias, Tensor y) {
        int n = y.dim(0);
        int o = y.dim(1);
        int ohw = y.dim(2) * y.dim(3);
        float[] fd = flat.data();
        float[] yd = y.data();
        float[] bd = bias == null ? null : CpuBackend.host(bias);
        int bo = bias == null ? 0 : bias.offset();
        for (int oc = 0; oc < o; oc++) {
            float b = bd == null ? 0f : bd[bo + oc];
            for (int s = 0; s < n; s++) {
                int src = oc * n * ohw + s * ohw;
                int dst = (s * o + oc) * ohw;
                for (int i = 0; i < ohw; i++) {
                    yd[dst + i] = fd[src + i] + b;
                }
            }
        }
    }

    /** The adjoint of {@link #output}: {@code gy} NCHW back to [O, N*OH*OW], and the bias gradient (may be null). */
    static void outputBackward(Tensor gy, Tensor gflat, Tensor gBias) {
        int n = gy.dim(0);
        int o = gy.dim(1);
        int ohw = gy.dim(2) * gy.dim(3);
        float[] gd = gy.data();
        float[] gf = gflat.data();
        for (int s = 0; s < n; s++) {
            for (int oc = 0; oc < o; oc++) {
                System.arraycopy(gd, (s * o + oc) * ohw, gf, oc * n * ohw + s * ohw, ohw);
            }
        }
        if (gBias != null) {
            float[] gb = CpuBackend.host(gBias);
            int at = gBias.offset();
            for (int oc = 0; oc < o; oc++) {
                double acc = 0;
                for (int i = oc * n * ohw, end = i + n * ohw; i < end; i++) {
                    acc += gf[i];
                }
                gb[at + oc] += (float) acc;
            }
        }
    }
}
