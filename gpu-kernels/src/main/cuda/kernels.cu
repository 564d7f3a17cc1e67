// Ringtape's CUDA kernels. The arithmetic is in ringtape_math.cuh, shared with the host test program; these are the
// launch shapes: one thread per element (grid-stride) or per row, and block reductions for the norms and statistics.
// Built by build-kernels.sh: per-architecture cubins (sm_80, sm_90) and PTX at ISA 8.0 for newer GPUs (JIT).
#include "ringtape_math.cuh"

#define GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
                               i += (long long)gridDim.x * blockDim.x)

extern "C" {

// activations (rt::ActKind, the Activation enum's order): y = act(x); for ReLU and LeakyReLU the sign mask
// (x > 0) as bytes, which their backward reads
// y = act(x); the sign mask where one is given, the derivative where one is given (act_saves_derivative)
__global__ void rt_activation(int kind, float param, const float* x, float* y, unsigned char* mask, float* deriv,
                              long long n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = rt::act_forward(kind, v, param);
        if (mask) mask[i] = v > 0.f ? 1 : 0;
        if (deriv) deriv[i] = rt::act_derivative(kind, v, param);
    }
}

// gx += act'(.) * gy, from the mask (ReLU, LeakyReLU), the output (sigmoid, tanh), the derivative (exact GELU) or
// the input (the others)
__global__ void rt_activation_backward(int kind, float param, const float* saved, const unsigned char* mask,
                                       const float* gy, float* gx, long long n) {
    GRID_STRIDE(i, n) {
        float s = mask ? (mask[i] ? 1.f : 0.f) : saved[i];
        gx[i] += rt::act_backward(kind, s, gy[i], param);
    }
}

__global__ void rt_add(const float* a, const float* b, float* out, long long n) {
    GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}

// dst += alpha * src (alpha 1: a plain add, as the CPU backend)
__global__ void rt_axpy(float alpha, const float* src, float* dst, long long n) {
    GRID_STRIDE(i, n) { dst[i] += alpha == 1.f ? src[i] : alpha * src[i]; }
}

// x[r, :] += v for the rows x d matrix x
__global__ void rt_add_row_vector(float* x, const float* v, long long n, int d) {
    GRID_STRIDE(i, n) { x[i] += v[i % d]; }
}

// out[j] += sum_r x[r, j], one thread per column, in double as the CPU backend
__global__ void rt_sum_rows(const float* x, float* out, int rows, int d) {
    GRID_STRIDE(j, d) { out[j] += (float)rt::column_sum(x, nullptr, rows, d, (int)j); }
}

// y = mask ? x * scale : 0, or with accumulate y += that (dropout forward and backward)
__global__ void rt_masked_scale(const float* x, const unsigned char* mask, float scale, float* y, int accumulate,
                                long long n) {
    GRID_STRIDE(i, n) {
        float v = mask[i] ? x[i] * scale : 0.f;
        y[i] = accumulate ? y[i] + v : v;
    }
}

// per-element loss terms (summed on the host in double) and gradients: 0 bce_with_logits, 1 mse
__global__ void rt_loss_terms(int kind, const float* x, const float* t, double* terms, long long n) {
    GRID_STRIDE(i, n) { terms[i] = kind == 0 ? rt::bce_term(x[i], t[i]) : rt::mse_term(x[i], t[i]); }
}

__global__ void rt_loss_backward(int kind, const float* x, const float* t, float scale, float* gx, long long n) {
    GRID_STRIDE(i, n) { gx[i] += kind == 0 ? rt::bce_grad(x[i], t[i], scale) : rt::mse_grad(x[i], t[i], scale); }
}

// im2col of an NCHW batch into [C*k*k, N*OH*OW], one thread per column cell (zero over the padding)
__global__ void rt_im2col(const float* x, float* cols, int n, int c, int h, int w, int k, int stride, int pad,
                          int oh, int ow) {
    long long total = (long long)c * k * k * n * oh * ow;
    GRID_STRIDE(idx, total) {
        long long rest = idx;
        int j = (int)(rest % ow); rest /= ow;
        int i = (int)(rest % oh); rest /= oh;
        int s = (int)(rest % n); rest /= n;
        int kj = (int)(rest % k); rest /= k;
        int ki = (int)(rest % k); rest /= k;
        int ch = (int)rest;
        int y = i * stride - pad + ki;
        int xx = j * stride - pad + kj;
        cols[idx] = y >= 0 && y < h && xx >= 0 && xx < w ? x[(((long long)s * c + ch) * h + y) * w + xx] : 0.f;
    }
}

// the adjoint: gx[s, ch, y, x] += every column cell that read it; one thread per pixel, gathering (no atomics)
__global__ void rt_col2im_add(const float* cols, float* gx, int n, int c, int h, int w, int k, int stride, int pad,
                              int oh, int ow) {
    long long total = (long long)n * c * h * w;
    GRID_STRIDE(idx, total) {
        long long rest = idx;
        int xx = (int)(rest % w); rest /= w;
        int y = (int)(rest % h); rest /= h;
        int ch = (int)(rest % c); rest /= c;
        int s = (int)rest;
        float acc = 0.f;
        for (int ki = 0; ki < k; ki++) {
            int iy = y + pad - ki;
            if (iy < 0 || iy % stride != 0 || iy / stride >= oh) continue;
            for (int kj = 0; kj < k; kj++) {
                int jx = xx + pad - kj;
                if (jx < 0 || jx % stride != 0 || jx / stride >= ow) continue;
                long long row = ((long long)ch * k + ki) * k + kj;
                acc += cols[(row * n + s) * oh * ow + (iy / stride) * ow + jx / stride];
            }
        }
        gx[idx] += acc;
    }
}

// max pooling over NCHW planes; argmax holds the flat input index of each maximum (a NaN in the window wins)
__global__ void rt_max_pool(const float* x, float* y, int* argmax, long long planes, int h, int w, int k, int stride,
                            int oh, int ow) {
    long long total = planes * oh * ow;
    GRID_STRIDE(o, total) {
        long long p = o / ((long long)oh * ow);
        int i = (int)((o / ow) % oh);
        int j = (int)(o % ow);
        long long plane = p * h * w;
        long long best = plane + (long long)(i * stride) * w + j * stride;
        float bv = x[best];
        bool done = false;
        for (int ki = 0; ki < k && !done; ki++) {
            long long row = plane + (long long)(i * stride + ki) * w + j * stride;
            for (int kj = 0; kj < k; kj++) {
                float v = x[row + kj];
                if (v > bv || v != v) {
                    bv = v;
                    best = row + kj;
                    if (v != v) { done = true; break; }
                }
            }
        }
        y[o] = bv;
        argmax[o] = (int)best;
    }
}

__global__ void rt_max_pool_backward(const float* gy, const int* argmax, float* gx, long long n) {
    GRID_STRIDE(i, n) { atomicAdd(&gx[argmax[i]], gy[i]); }
}

// a convolution's GEMM output [O, N*HW] to NCHW plus the bias, and the adjoint (bias gradient: column sums)
__global__ void rt_conv_output(const float* flat, const float* bias, float* y, int n, int o, int hw) {
    long long total = (long long)n * o * hw;
    GRID_STRIDE(idx, total) {
        int i = (int)(idx % hw);
        int oc = (int)((idx / hw) % o);
        int s = (int)(idx / ((long long)hw * o));
        y[idx] = flat[((long long)oc * n + s) * hw + i] + (bias ? bias[oc] : 0.f);
    }
}

// out[r] += sum_j x[r, j], one thread per row, in double (a convolution's bias gradient from [O, N*HW])
__global__ void rt_row_sums(const float* x, float* out, int rows, long long cols) {
    GRID_STRIDE(r, rows) {
        double acc = 0;
        for (long long j = 0; j < cols; j++) acc += x[r * cols + j];
        out[r] += (float)acc;
    }
}

__global__ void rt_conv_output_backward(const float* gy, float* gflat, int n, int o, int hw) {
    long long total = (long long)n * o * hw;
    GRID_STRIDE(idx, total) {
        int i = (int)(idx % hw);
        int oc = (int)((idx / hw) % o);
        int s = (int)(idx / ((long long)hw * o));
        gflat[((long long)oc * n + s) * hw + i] = gy[idx];
    }
}

// softmax cross-entropy, one thread per row: probs, each row's log Z, and each row's loss (summed on the host, in
// double)
__global__ void rt_softmax_ce(const float* logits, const int* classes, float* probs, float* log_z, double* row_loss,
                              int rows, int c) {
    GRID_STRIDE(r, rows) {
        row_loss[r] = rt::softmax_ce_row(logits + r * c, c, classes[r], probs + r * c, log_z + r);
    }
}

// gx += scale * (probs - onehot), plus row_scale[r] * probs (the z-loss) where row_scale is not null
__global__ void rt_softmax_ce_backward(const float* probs, const int* classes, float scale, const float* row_scale,
                                       float* gx, int rows, int c) {
    GRID_STRIDE(r, rows) {
        rt::softmax_ce_backward_row(probs + r * c, c, classes[r], scale, row_scale ? row_scale + r : nullptr,
                                    gx + r * c);
    }
}

// attention's softmax, one thread per row of c; with causal, row r sees columns j <= r % c only
__global__ void rt_softmax(const float* x, float* probs, int causal, long long rows, int c) {
    GRID_STRIDE(r, rows) {
        rt::softmax_row(x + r * c, c, rt::softmax_visible(r, c, causal), probs + r * c);
    }
}

__global__ void rt_softmax_backward(const float* probs, const float* gp, float* gx, long long rows, int c) {
    GRID_STRIDE(r, rows) {
        rt::softmax_backward_row(probs + r * c, gp + r * c, c, gx + r * c);
    }
}

// attention's telemetry, one thread per row of the [N * heads * t, t] logits and probabilities: the row's largest
// |logit| among the columns it sees into row_max[r], its entropy into row_entropy[r]; the host combines the rows per
// head in row order (no atomics: the sums are the CPU's, in its order)
__global__ void rt_attention_stats(const float* scores, const float* probs, float* row_max, double* row_entropy,
                                   int causal, long long rows, int t) {
    GRID_STRIDE(r, rows) {
        row_entropy[r] = rt::attention_row_stats(scores + r * t, probs + r * t, rt::softmax_visible(r, t, causal),
                                                 row_max + r);
    }
}

// y = x with its axes reordered (y contiguous), or with accumulate y += that; one thread per output element
__global__ void rt_permute(const float* x, float* y, rt::Permute p, int accumulate, long long n) {
    GRID_STRIDE(i, n) {
        float v = x[rt::permute_source(p, i)];
        y[i] = accumulate ? y[i] + v : v;
    }
}

// y[r, :] = w[ids[r], :] for rows of width d, one thread per output element
__global__ void rt_embedding(const int* ids, const float* w, float* y, long long n, int d) {
    GRID_STRIDE(i, n) { y[i] = w[(long long)ids[i / d] * d + i % d]; }
}

// gw[ids[r], :] += gy[r, :], one thread per column walking the rows in order: repeated ids sum as on the CPU, with
// no float atomics
__global__ void rt_embedding_backward(const int* ids, const float* gy, float* gw, int rows, int d) {
    GRID_STRIDE(j, d) { rt::embedding_backward_column(ids, gy, rows, d, (int)j, gw); }
}

__global__ void rt_layer_norm(const float* x, const float* w, const float* b, float eps, float* y, float* xhat,
                              float* rstd, int rows, int d) {
    GRID_STRIDE(r, rows) {
        rstd[r] = rt::layer_norm_row(x + r * d, w, b, d, eps, y + r * d, xhat + r * d);
    }
}

__global__ void rt_layer_norm_backward_input(const float* gy, const float* xhat, const float* w, const float* rstd,
                                             float* gx, int rows, int d) {
    GRID_STRIDE(r, rows) {
        rt::layer_norm_backward_row(gy + r * d, xhat + r * d, w, rstd[r], d, gx + r * d);
    }
}

// the parameter gradients: one thread per column, the CPU backend's column sums
__global__ void rt_layer_norm_backward_params(const float* gy, const float* xhat, float* gw, float* gb, int rows,
                                              int d) {
    GRID_STRIDE(j, d) {
        if (gw) gw[j] += (float)rt::column_sum(gy, xhat, rows, d, (int)j);
        if (gb) gb[j] += (float)rt::column_sum(gy, nullptr, rows, d, (int)j);
    }
}

// dropout: keep[i] = 1 with probability 1 - p, the CPU backend's counter-based stream
__global__ void rt_dropout_mask(unsigned long long seed, double p, unsigned char* keep, long long n) {
    GRID_STRIDE(i, n) {
        keep[i] = rt::dropout_keep(seed, p, i) ? 1 : 0;
    }
}

// the autocast: 16-bit rounding in place (precision 1 fp16, 2 bf16; values stay in float32, as on the CPU)
__global__ void rt_round(int precision, float* x, long long n) {
    GRID_STRIDE(i, n) {
        x[i] = rt::round_to(precision, x[i]);
    }
}

// the unscale walk fused with the Inf/NaN check: g *= scale; per block, the sum of squares and the non-finite
// count go to out_squares[blockIdx.x] and out_bad[blockIdx.x] (blockDim.x a power of two, <= 1024)
__global__ void rt_unscale(float* g, float scale, long long n, double* out_squares, int* out_bad) {
    __shared__ double sq[1024];
    __shared__ int bad[1024];
    double s = 0;
    int b = 0;
    GRID_STRIDE(i, n) {
        float v = rt::unscale(g[i], scale, &b);
        g[i] = v;
        s += (double)v * v;
    }
    sq[threadIdx.x] = s;
    bad[threadIdx.x] = b;
    __syncthreads();
    for (unsigned k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) {
            sq[threadIdx.x] += sq[threadIdx.x + k];
            bad[threadIdx.x] += bad[threadIdx.x + k];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out_squares[blockIdx.x] = sq[0];
        out_bad[blockIdx.x] = bad[0];
    }
}

__global__ void rt_adam(float* p, const float* g, float* m, float* v, rt::AdamStep s, long long n) {
    GRID_STRIDE(i, n) {
        p[i] = rt::adam(p[i], g[i], &m[i], &v[i], s);
    }
}

__global__ void rt_sgd(float* p, const float* g, float* buf, int first, rt::SgdStep s, long long n) {
    GRID_STRIDE(i, n) {
        float b = buf ? buf[i] : 0.f;
        p[i] = rt::sgd(p[i], g[i], &b, buf != nullptr, first, s);
        if (buf) buf[i] = b;
    }
}

// telemetry statistics of one tensor, per block into out[blockIdx.x] (merged on the host: a few hundred values)
__global__ void rt_stats(const float* x, long long n, float lo, float hi, int precision, rt::Stats* out) {
    __shared__ rt::Stats part[256];
    rt::Stats s = {0, 0.f, 0.f, 0, 0, 0, 0, 0};
    GRID_STRIDE(i, n) {
        rt::stats_add(&s, x[i], lo, hi, precision);
    }
    part[threadIdx.x] = s;
    __syncthreads();
    for (unsigned k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) {
            rt::stats_merge(&part[threadIdx.x], part[threadIdx.x + k]);
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[blockIdx.x] = part[0];
    }
}

// an activation output's moments around shift, per block into out[3 * blockIdx.x ..]: sum(y - shift),
// sum((y - shift)^2), and the count of values outside [lo, hi] (saturation)
__global__ void rt_moments(const float* y, long long n, float shift, float lo, float hi, double* out) {
    __shared__ double sum[256];
    __shared__ double squares[256];
    __shared__ double outside[256];
    double s = 0, q = 0, o = 0;
    GRID_STRIDE(i, n) {
        float v = y[i];
        double d = (double)(v - shift);
        s += d;
        q += d * d;
        o += v < lo || v > hi ? 1 : 0;
    }
    sum[threadIdx.x] = s;
    squares[threadIdx.x] = q;
    outside[threadIdx.x] = o;
    __syncthreads();
    for (unsigned k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) {
            sum[threadIdx.x] += sum[threadIdx.x + k];
            squares[threadIdx.x] += squares[threadIdx.x + k];
            outside[threadIdx.x] += outside[threadIdx.x + k];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[3 * blockIdx.x] = sum[0];
        out[3 * blockIdx.x + 1] = squares[0];
        out[3 * blockIdx.x + 2] = outside[0];
    }
}

// whether each unit fired: the magnitude bits of its values ORed, 0 exactly when it was 0 everywhere; units are the
// columns of a [rows, units] output (plane 1) or the channels of an NCHW one ([rows = N, units = C, plane = H*W])
__global__ void rt_alive(const float* y, int rows, int units, long long plane, int* alive) {
    GRID_STRIDE(u, units) {
        int bits = 0;
        for (int r = 0; r < rows; r++) {
            const float* at = y + ((long long)r * units + u) * plane;
            for (long long i = 0; i < plane; i++) bits |= (int)(rt::bits(at[i]) & 0x7fffffffu);
        }
        alive[u] = bits;
    }
}

} // extern "C"
