// The per-element and per-row arithmetic of Ringtape's CUDA kernels, as __host__ __device__ functions: the kernels
// (kernels.cu) call them on the device, and a host program (src/test/cuda/host_math.cu) calls the same code on the
// CPU, where the Java test HostMathTest compares it with the Java CPU backend on the same inputs. Each function
// follows its Java counterpart's operation order (named beside it); kernels are compiled with --fmad=false, so a
// multiply-add is fused exactly where Java calls Math.fma (here: fmaf).
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#define RT_HD __host__ __device__ inline

namespace rt {

RT_HD uint32_t bits(float v) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(v);
#else
    uint32_t b;
    memcpy(&b, &v, 4);
    return b;
#endif
}

RT_HD float from_bits(uint32_t b) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(b);
#else
    float v;
    memcpy(&v, &b, 4);
    return v;
#endif
}

// Precision.floatToFp16Bits: IEEE binary16, ties to even, subnormals, overflow to Inf, NaN kept quiet.
RT_HD uint16_t fp16_bits(float v) {
    uint32_t f = bits(v);
    uint32_t sign = (f >> 16) & 0x8000u;
    int exp = (int)((f >> 23) & 0xff);
    uint32_t mant = f & 0x007fffffu;
    if (exp == 0xff) {
        return (uint16_t)(sign | 0x7c00u | (mant != 0 ? 0x0200u | (mant >> 13) : 0u));
    }
    int e = exp - 127 + 15;
    if (e >= 0x1f) {
        return (uint16_t)(sign | 0x7c00u);
    }
    if (e <= 0) {
        if (e < -10) {
            return (uint16_t)sign;
        }
        uint32_t m = mant | 0x00800000u;
        int shift = 14 - e;
        uint32_t half = m >> shift;
        uint32_t rest = m & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1u) != 0)) {
            half++;
        }
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u) != 0)) {
        half++;
    }
    return (uint16_t)(sign | half);
}

// Precision.fp16BitsToFloat
RT_HD float fp16_value(uint16_t h) {
    uint32_t b = h;
    uint32_t sign = (b & 0x8000u) << 16;
    uint32_t exp = (b >> 10) & 0x1fu;
    uint32_t mant = b & 0x3ffu;
    if (exp == 0x1f) {
        return from_bits(sign | 0x7f800000u | (mant << 13));
    }
    if (exp == 0) {
        float m = (float)mant * 5.9604644775390625e-8f; // 2^-24
        return sign != 0 ? -m : m;
    }
    return from_bits(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

// Precision.toFp16
RT_HD float round_fp16(float v) { return fp16_value(fp16_bits(v)); }

// Precision.toBf16
RT_HD float round_bf16(float v) {
    uint32_t b = bits(v);
    if ((b & 0x7f800000u) == 0x7f800000u) {
        return (b & 0x007fffffu) != 0 ? from_bits(b | 0x00400000u) : v;
    }
    uint32_t lsb = (b >> 16) & 1u;
    return from_bits((b + 0x7fffu + lsb) & 0xffff0000u);
}

// 0: fp32, 1: fp16, 2: bf16 (Precision's order)
RT_HD float round_to(int precision, float v) {
    return precision == 1 ? round_fp16(v) : precision == 2 ? round_bf16(v) : v;
}

RT_HD bool finite(float v) { return (bits(v) & 0x7f800000u) != 0x7f800000u; }

// The unscale walk (Loops.scale) per element, fused with the Inf/NaN check: the scaled value, and whether the
// input was not finite. The kernel reduces the squares and flags.
RT_HD float unscale(float g, float scale, int* bad) {
    *bad += finite(g) ? 0 : 1;
    return g * scale;
}

// CpuBackend.dropoutMask: element i of a replayable stream kept with probability 1 - p.
RT_HD uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

RT_HD bool dropout_keep(uint64_t seed, double p, int64_t i) {
    int64_t threshold = (int64_t)(p * (double)(1ll << 53));
    int64_t r = (int64_t)(mix64(seed + 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1)) >> 11);
    return r >= threshold;
}

// Activations (CpuBackend's Activations rules), forward and backward side by side.
RT_HD float relu(float x) { return x > 0.f || x != x ? x : 0.f; } // NaN stays NaN, -0 -> +0 (torch.relu)

RT_HD float relu_backward(float x, float gy) { return x > 0.f ? gy : 0.f; }

RT_HD double sigmoid_d(double v) {
    if (v >= 0) {
        return 1.0 / (1.0 + exp(-v));
    }
    double e = exp(v);
    return e / (1.0 + e);
}

RT_HD float sigmoid(float x) { return (float)sigmoid_d(x); }

RT_HD float sigmoid_backward(float y, float gy) { return gy * y * (1.f - y); }

// Loops.tanh(double): 1 - 2 / (exp(2|v|) + 1), odd, the identity below 1e-4
RT_HD double tanh_d(double v) {
    double a = fabs(v);
    if (a < 1e-4) {
        return v;
    }
    double t = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    return v < 0 ? -t : t;
}

RT_HD float tanh_f(float x) { return (float)tanh_d(x); }

RT_HD float tanh_backward(float y, float gy) { return gy * (1.f - y * y); }

// Special.erfc: Numerical Recipes' Chebyshev fit (fractional error < 1.2e-7), and the normal CDF from it
RT_HD double erfc_nr(double x) {
    const double c[10] = {-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                          0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277};
    double z = fabs(x);
    double t = 1.0 / (1.0 + 0.5 * z);
    double p = c[9];
    for (int i = 8; i >= 0; i--) {
        p = c[i] + t * p;
    }
    double r = t * exp(-z * z + p);
    return x >= 0 ? r : 2.0 - r;
}

RT_HD double normal_cdf(double x) { return 0.5 * erfc_nr(-x * 0.7071067811865476); }

// Every activation of the Activation enum, in its order (CpuBackend's Activations rules; ActivationKernelsTest checks
// the names and order): forward, and backward's addend from what the forward saved (kinds 0-1 the input, standing
// for the sign mask; 2-3 the output; 4 its derivative, act_derivative; 5-8 the input)
enum ActKind { RELU, LEAKY_RELU, SIGMOID, TANH, GELU_ERF, GELU_TANH, SILU, ELU, SOFTPLUS };

#define RT_SQRT_2_OVER_PI 0.7978845608028654
#define RT_INV_SQRT_2PI 0.3989422804014327
#define RT_GELU_TANH_C 0.044715

RT_HD float act_forward(int kind, float x, float param) {
    double v = x;
    switch (kind) {
        case RELU: return relu(x);
        case LEAKY_RELU: return x > 0.f ? x : x * param;
        case SIGMOID: return sigmoid(x);
        case TANH: return tanh_f(x);
        case GELU_ERF: return (float)(v * normal_cdf(v));
        case GELU_TANH: return (float)(0.5 * v * (1.0 + tanh_d(RT_SQRT_2_OVER_PI * (v + RT_GELU_TANH_C * v * v * v))));
        case SILU: return (float)(v * sigmoid_d(v));
        case ELU: return x > 0.f ? x : (float)(param * expm1(v));
        case SOFTPLUS: return x > 20.f ? x : (float)log1p(exp(v)); // torch's threshold 20
        default: return NAN; // a kind these kernels do not know: NaN, which the non-finite trace names
    }
}

// The derivative a kind that saves it (act_saves_derivative) writes beside its output: exact GELU's Phi(x) + x phi(x),
// from the same Phi as act_forward (Loops.geluErf)
RT_HD bool act_saves_derivative(int kind) { return kind == GELU_ERF; }

RT_HD float act_derivative(int kind, float x, float param) {
    double v = x;
    (void)param;
    switch (kind) {
        case GELU_ERF: return (float)(normal_cdf(v) + v * RT_INV_SQRT_2PI * exp(-0.5 * v * v));
        default: return NAN;
    }
}

RT_HD float act_backward(int kind, float saved, float gy, float param) {
    double v = saved;
    switch (kind) {
        case RELU: return relu_backward(saved, gy);
        case LEAKY_RELU: return saved > 0.f ? gy : gy * param;
        case SIGMOID: return sigmoid_backward(saved, gy);
        case TANH: return tanh_backward(saved, gy);
        case GELU_ERF: return gy * saved; // saved: the derivative
        case GELU_TANH: {
            double t = tanh_d(RT_SQRT_2_OVER_PI * (v + RT_GELU_TANH_C * v * v * v));
            double d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * RT_SQRT_2_OVER_PI * (1.0 + 3.0 * RT_GELU_TANH_C * v * v);
            return (float)(gy * d);
        }
        case SILU: {
            double s = sigmoid_d(v);
            return (float)(gy * s * (1.0 + v * (1.0 - s)));
        }
        case ELU: return saved > 0.f ? gy : (float)(gy * param * exp(v));
        case SOFTPLUS: return saved > 20.f ? gy : (float)(gy * sigmoid_d(v));
        default: return NAN;
    }
}

// Losses: bce_with_logits and mse per element (the kernels sum them in double), and their gradients' addends
RT_HD double bce_term(float x, float t) {
    double v = x;
    return fmax(v, 0.0) - v * t + log1p(exp(-fabs(v)));
}

RT_HD float bce_grad(float x, float t, float scale) { return (float)(scale * (sigmoid_d(x) - t)); }

RT_HD double mse_term(float y, float t) {
    double d = (double)y - t;
    return d * d;
}

RT_HD float mse_grad(float y, float t, float scale) { return scale * 2.f * (y - t); }

// Loops.adamRange, one element: returns the new weight, updates m and v.
struct AdamStep {
    float b1, one_minus_b1, b2, one_minus_b2, bc2_sqrt, neg_step_size, eps;
    int decoupled;
    float decay, wd;
};

RT_HD float adam(float p, float g, float* m, float* v, const AdamStep& s) {
    if (s.decoupled) {
        p = p * s.decay;
    } else if (s.wd != 0) {
        g = fmaf(s.wd, p, g);
    }
    *m = fmaf(s.one_minus_b1, g, *m * s.b1);
    *v = *v * s.b2 + s.one_minus_b2 * (g * g);
    float denom = sqrtf(*v) / s.bc2_sqrt + s.eps;
    return p + s.neg_step_size * *m / denom;
}

// Loops.sgdRange, one element
struct SgdStep {
    float wd, mom, keep, neg_lr;
    int decay, nesterov;
};

RT_HD float sgd(float p, float g, float* buf, int has_buf, int first, const SgdStep& s) {
    float d = g;
    if (s.decay) {
        d = fmaf(s.wd, p, d);
    }
    if (has_buf) {
        *buf = first ? d : fmaf(s.keep, d, *buf * s.mom);
        d = s.nesterov ? fmaf(s.mom, *buf, d) : *buf;
    }
    return fmaf(s.neg_lr, d, p);
}

// Losses.softmaxCrossEntropy, one row of c logits: writes the softmax and the row's log Z = log sum exp(z), returns
// -log softmax(z)[y] = log Z - z[y] (in log space, so logits near 1e3 stay finite).
RT_HD double softmax_ce_row(const float* z, int c, int y, float* p, float* log_z) {
    float max = -INFINITY;
    for (int j = 0; j < c; j++) {
        max = fmaxf(max, z[j]);
    }
    // Loops.expSum4: the exps added into four interleaved sums, combined as (s0 + s1) + (s2 + s3)
    double s[4] = {0, 0, 0, 0};
    int j = 0;
    for (; j + 4 <= c; j += 4) {
        for (int k = 0; k < 4; k++) {
            s[k] += exp((double)z[j + k] - max);
        }
    }
    for (; j < c; j++) {
        s[0] += exp((double)z[j] - max);
    }
    double log_sum = log((s[0] + s[1]) + (s[2] + s[3]));
    *log_z = (float)(log_sum + max);
    for (j = 0; j < c; j++) {
        p[j] = (float)exp((double)z[j] - max - log_sum);
    }
    return log_sum + max - z[y];
}

// Losses.softmaxCrossEntropyBackward, one row: gx += scale * (p - onehot(y)), the z-loss's row scale (when given)
// added to the scale of p as the CPU does
RT_HD void softmax_ce_backward_row(const float* p, int c, int y, float scale, const float* row_scale, float* gx) {
    float s = row_scale ? scale + *row_scale : scale;
    for (int j = 0; j < c; j++) {
        gx[j] += s * p[j];
    }
    gx[y] -= scale;
}

// The columns row r of a softmax of width c sees: all, or under the causal mask (rows in square c x c blocks) the
// columns j <= r % c.
RT_HD int softmax_visible(long long r, int c, int causal) { return causal ? (int)(r % c) + 1 : c; }

// Loops.sum8 / squares8: a row's sum of (x - shift), or of its squares, in eight double sums (element j in sum j % 8
// but the tail's, which goes to the first), combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
RT_HD double combine8(const double* s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

RT_HD double row_sum(const float* x, int d, float shift, bool squares) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        for (int k = 0; k < 8; k++) {
            double c = x[j + k] - shift;
            s[k] += squares ? c * c : c;
        }
    }
    for (; j < d; j++) {
        double c = x[j] - shift;
        s[0] += squares ? c * c : c;
    }
    return combine8(s);
}

// Loops.dot8: sum_j a[j] * b[j], each product exact in double, in the eight sums of row_sum
RT_HD double row_dot(const float* a, const float* b, int d) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        for (int k = 0; k < 8; k++) {
            s[k] += (double)a[j + k] * b[j + k];
        }
    }
    for (; j < d; j++) {
        s[0] += (double)a[j] * b[j];
    }
    return combine8(s);
}

// Sequences.softmax, one row of c of which the first `visible` count (the masked rest get exactly 0): exp(z - max)
// in float, summed in double as Loops.sum8 (row_sum), scaled by the float reciprocal of the sum.
RT_HD void softmax_row(const float* z, int c, int visible, float* p) {
    float max = -INFINITY;
    for (int j = 0; j < visible; j++) {
        max = fmaxf(max, z[j]);
    }
    for (int j = 0; j < visible; j++) {
        p[j] = (float)exp((double)(z[j] - max));
    }
    float inv = (float)(1.0 / row_sum(p, visible, 0.f, false));
    for (int j = 0; j < visible; j++) {
        p[j] *= inv;
    }
    for (int j = visible; j < c; j++) {
        p[j] = 0.f;
    }
}

// Sequences.softmaxBackward, one row: gx += p * (gp - sum_j gp * p), the dot product in double as Loops.dot8
// (row_dot).
RT_HD void softmax_backward_row(const float* p, const float* gp, int c, float* gx) {
    float d = (float)row_dot(p, gp, c);
    for (int j = 0; j < c; j++) {
        gx[j] += p[j] * (gp[j] - d);
    }
}

// Sequences.attentionStats, one row of attention's logits z and their softmax p, of which the first `visible`
// columns count (softmax_visible): stores the largest |z| among them in *max_abs (a float from 0, as Java's Math.max:
// a NaN logit makes it NaN) and returns the row's entropy -sum_j p log p in nats, in double with each float p
// promoted, only p > 0 counted (0 log 0 = 0). The caller combines rows per head in row order.
RT_HD double attention_row_stats(const float* z, const float* p, int visible, float* max_abs) {
    float m = 0.f;
    double entropy = 0;
    for (int j = 0; j < visible; j++) {
        float a = fabsf(z[j]);
        m = m != m || m >= a ? m : a;
        float q = p[j];
        if (q > 0.f) {
            entropy -= (double)q * log((double)q);
        }
    }
    *max_abs = m;
    return entropy;
}

// Sequences.permute: a row-major tensor of `rank` axes (at most RT_MAX_RANK) with its axes reordered, axis d of the
// output being axis perm[d] of the input (torch.permute). Passed by value: 13 ints, no padding.
#define RT_MAX_RANK 6

struct Permute {
    int rank;
    int shape[RT_MAX_RANK];
    int perm[RT_MAX_RANK];
};

// The input index of output element i (the output contiguous): i's coordinates over the permuted shape, each
// stepping the input by its axis's row-major stride.
RT_HD long long permute_source(const Permute& p, long long i) {
    long long stride[RT_MAX_RANK];
    long long s = 1;
    for (int d = p.rank - 1; d >= 0; d--) {
        stride[d] = s;
        s *= p.shape[d];
    }
    long long src = 0;
    for (int d = p.rank - 1; d >= 0; d--) {
        int axis = p.perm[d];
        src += i % p.shape[axis] * stride[axis];
        i /= p.shape[axis];
    }
    return src;
}

// Sequences.embeddingBackward, one column j of rows of width d: gw[ids[r], j] += gy[r, j] in the order of r, so
// repeated ids sum the same way every time (no atomics).
RT_HD void embedding_backward_column(const int* ids, const float* gy, int rows, int d, int j, float* gw) {
    for (int r = 0; r < rows; r++) {
        gw[(long long)ids[r] * d + j] += gy[(long long)r * d + j];
    }
}

// CpuBackend.layerNorm, one row of d: y, xhat, returns 1/std (the mean and the centred variance in double, the rest
// in float)
RT_HD float layer_norm_row(const float* x, const float* w, const float* b, int d, float eps, float* y, float* xhat) {
    float mean = (float)(row_sum(x, d, 0.f, false) / d);
    double var = row_sum(x, d, mean, true) / d;
    float rs = (float)(1.0 / sqrt(var + eps));
    for (int j = 0; j < d; j++) {
        float h = (x[j] - mean) * rs;
        xhat[j] = h;
        y[j] = h * w[j] + b[j];
    }
    return rs;
}

// CpuBackend.layerNormBackward's input gradient, one row (the parameter gradients are column sums over rows): the
// two means in double (the eight sums of row_sum, of dh = g * w and of dh * h), the rest in float
RT_HD void layer_norm_backward_row(const float* g, const float* h, const float* w, float rs, int d, float* gx) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        for (int k = 0; k < 8; k++) {
            float dh = g[j + k] * w[j + k];
            s[k] += dh;
            p[k] += (double)dh * h[j + k];
        }
    }
    for (; j < d; j++) {
        float dh = g[j] * w[j];
        s[0] += dh;
        p[0] += (double)dh * h[j];
    }
    float mean_dh = (float)(combine8(s) / d);
    float mean_dot = (float)(combine8(p) / d);
    for (j = 0; j < d; j++) {
        float dh = g[j] * w[j];
        gx[j] += rs * (dh - mean_dh - h[j] * mean_dot);
    }
}

// CpuBackend.columnSums for column j: rows summed in float 32 at a time (a[r, j], or a[r, j] * b[r, j] when b is
// not null), each block's sum added in double
RT_HD double column_sum(const float* a, const float* b, int rows, int d, int j) {
    double acc = 0;
    for (int r0 = 0; r0 < rows; r0 += 32) {
        float block = 0.f;
        int r1 = r0 + 32 < rows ? r0 + 32 : rows;
        for (int r = r0; r < r1; r++) {
            long long at = (long long)r * d + j;
            block += b ? a[at] * b[at] : a[at];
        }
        acc += block;
    }
    return acc;
}

// Telemetry's per-element statistics, accumulated by a reduction: sum of squares, max |v|, exact zeros, values
// outside [lo, hi] (saturation), for 16-bit rounding the values it flushes to zero (underflow), and the NaN and
// infinite values.
struct Stats {
    double squares;
    float max_abs;
    float reserved; // no padding: PTX ISA 8.0 has no way to say a copy's bytes are unused
    long long zeros, outside, non_zero, flushed, non_finite;
};

RT_HD void stats_add(Stats* s, float v, float lo, float hi, int precision) {
    s->squares += (double)v * v;
    float a = fabsf(v);
    s->max_abs = a > s->max_abs ? a : s->max_abs;
    s->zeros += v == 0.f ? 1 : 0;
    s->outside += v < lo || v > hi ? 1 : 0;
    float r = round_to(precision, v);
    s->non_zero += v != 0.f ? 1 : 0;
    s->flushed += v != 0.f && r == 0.f ? 1 : 0;
    s->non_finite += finite(v) ? 0 : 1;
}

RT_HD void stats_merge(Stats* a, const Stats& b) {
    a->squares += b.squares;
    a->max_abs = b.max_abs > a->max_abs ? b.max_abs : a->max_abs;
    a->zeros += b.zeros;
    a->outside += b.outside;
    a->non_zero += b.non_zero;
    a->flushed += b.flushed;
    a->non_finite += b.non_finite;
}

} // namespace rt
