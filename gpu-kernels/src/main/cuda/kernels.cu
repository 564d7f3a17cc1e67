// Ringtape's CUDA kernels. The arithmetic is in ringtape_math.cuh, shared with the host test program; these are the
// launch shapes: one thread per element (grid-stride) or per row, and block reductions for the norms and statistics.
// Built by build-kernels.sh: per-architecture cubins (sm_80, sm_90) and PTX at ISA 8.0 for newer GPUs (JIT).
#include "ringtape_math.cuh"

#define GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
                               i += (long long)gridDim.x * blockDim.x)

extern "C" {

// activations: 0 relu, 1 sigmoid, 2 tanh; y = act(x); mask (relu) written as bytes
__global__ void rt_activation(int kind, const float* x, float* y, long long n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = kind == 0 ? rt::relu(v) : kind == 1 ? rt::sigmoid(v) : rt::tanh_f(v);
    }
}

// gx += act'(.) * gy, from the input (relu) or the output (sigmoid, tanh)
__global__ void rt_activation_backward(int kind, const float* saved, const float* gy, float* gx, long long n) {
    GRID_STRIDE(i, n) {
        float s = saved[i];
        gx[i] += kind == 0 ? rt::relu_backward(s, gy[i])
                           : kind == 1 ? rt::sigmoid_backward(s, gy[i]) : rt::tanh_backward(s, gy[i]);
    }
}

// softmax cross-entropy, one thread per row: probs and each row's loss (summed on the host, in double)
__global__ void rt_softmax_ce(const float* logits, const int* classes, float* probs, double* row_loss, int rows,
                              int c) {
    GRID_STRIDE(r, rows) {
        row_loss[r] = rt::softmax_ce_row(logits + r * c, c, classes[r], probs + r * c);
    }
}

__global__ void rt_softmax_ce_backward(const float* probs, const int* classes, float scale, float* gx, int rows,
                                       int c) {
    GRID_STRIDE(r, rows) {
        rt::softmax_ce_backward_row(probs + r * c, c, classes[r], scale, gx + r * c);
    }
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

// the parameter gradients: one thread per column, summed over rows in double as the CPU backend does
__global__ void rt_layer_norm_backward_params(const float* gy, const float* xhat, float* gw, float* gb, int rows,
                                              int d) {
    GRID_STRIDE(j, d) {
        double sw = 0;
        double sb = 0;
        for (int r = 0; r < rows; r++) {
            sw += gy[r * d + j] * xhat[r * d + j];
            sb += gy[r * d + j];
        }
        if (gw) gw[j] += (float)sw;
        if (gb) gb[j] += (float)sb;
    }
}

// dropout: keep[i] = 1 with probability 1 - p, the CPU backend's counter-based stream
__global__ void rt_dropout_mask(unsigned long long seed, double p, unsigned char* keep, long long n) {
    GRID_STRIDE(i, n) {
        keep[i] = rt::dropout_keep(seed, p, i) ? 1 : 0;
    }
}

// 16-bit rounding in place (precision 1 fp16, 2 bf16), and fp32 -> fp16 bits
__global__ void rt_round(int precision, float* x, long long n) {
    GRID_STRIDE(i, n) {
        x[i] = rt::round_to(precision, x[i]);
    }
}

__global__ void rt_to_fp16(const float* x, unsigned short* h, long long n) {
    GRID_STRIDE(i, n) {
        h[i] = rt::fp16_bits(x[i]);
    }
}

__global__ void rt_from_fp16(const unsigned short* h, float* x, long long n) {
    GRID_STRIDE(i, n) {
        x[i] = rt::fp16_value(h[i]);
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
    rt::Stats s = {0, 0.f, 0.f, 0, 0, 0, 0};
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

} // extern "C"
