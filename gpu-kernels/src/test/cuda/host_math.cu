// Runs the kernels' arithmetic (ringtape_math.cuh) on the host, for HostMathTest, which compares it with the Java CPU
// backend on the same inputs. Usage: host_math <case> < input; numbers in and out are a float's or a double's bits
// in hex (exact both ways), integers in decimal. Cases and their input:
//   fp16 n x[n]            -> fp16-rounded x, then the fp16 bits
//   bf16 n x[n]            -> bf16-rounded x
//   unscale n s x[n]       -> x * s, the non-finite count, the sum of squares (double)
//   adam n <AdamStep 10> p[n] g[n] m[n] v[n]   -> p m v
//   sgd n first hasbuf <SgdStep 6> p[n] g[n] buf[n] -> p buf
//   softmax_ce rows c z[rows*c] y[rows] scale has_row_scale row_scale[rows if has_row_scale]
//                          -> probs, the loss sum (double), gx = scale * (p - onehot) (+ row_scale * p), log Z
//   softmax rows c causal z[rows*c] gp[rows*c] -> probs, then gx = p * (gp - sum gp * p) from zeros
//   attention_stats rows t causal z[rows*t] p[rows*t] -> each row's max |z| seen, then each row's entropy (double)
//   permute rank shape[rank] perm[rank] accumulate x[n] y[n] -> y (x's axes reordered, or added to y)
//   embedding_backward rows d vocab ids[rows] gy[rows*d] gw[vocab*d] -> gw with gy's rows added at the ids
//   sizes                  -> sizeof Stats (read back at byte offsets), then RT_MAX_RANK
//   layer_norm rows d eps x w b gy -> y xhat rstd gx gw gb
//   act kind param n x[n] saved[n] gy[n] -> y, act'(saved) * gy (kind: the Activation enum's ordinal; saved: what
//                          the forward saves, the input or the output, the input standing for ReLU's sign mask)
//   loss kind n x[n] t[n] scale -> each term (double), then each gradient addend (kind 0 bce, 1 mse)
//   dropout seed p n       -> the keep bits as 0/1
//   stats n lo hi precision x[n] -> squares (double) max_abs zeros outside non_zero flushed
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "ringtape_math.cuh"

static float rf() {
    unsigned b;
    if (scanf("%x", &b) != 1) {
        fprintf(stderr, "host_math: input ended early\n");
        exit(2);
    }
    return rt::from_bits(b);
}

static double rd() {
    unsigned long long b;
    if (scanf("%llx", &b) != 1) {
        fprintf(stderr, "host_math: input ended early\n");
        exit(2);
    }
    double v;
    memcpy(&v, &b, 8);
    return v;
}

static long long ri() {
    long long v;
    if (scanf("%lld", &v) != 1) {
        fprintf(stderr, "host_math: input ended early\n");
        exit(2);
    }
    return v;
}

static void wf(float v) { printf("%08x\n", rt::bits(v)); }

static void wd(double v) {
    unsigned long long b;
    memcpy(&b, &v, 8);
    printf("%016llx\n", b);
}

static std::vector<float> rv(long long n) {
    std::vector<float> v(n);
    for (long long i = 0; i < n; i++) v[i] = rf();
    return v;
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: host_math <case> < input\n");
        return 2;
    }
    const char* c = argv[1];
    if (!strcmp(c, "fp16") || !strcmp(c, "bf16")) {
        long long n = ri();
        std::vector<float> x = rv(n);
        for (float v : x) wf(!strcmp(c, "fp16") ? rt::round_fp16(v) : rt::round_bf16(v));
        if (!strcmp(c, "fp16")) for (float v : x) printf("%d\n", rt::fp16_bits(v));
    } else if (!strcmp(c, "unscale")) {
        long long n = ri();
        float s = rf();
        std::vector<float> x = rv(n);
        int bad = 0;
        double sq = 0;
        for (float v : x) {
            float u = rt::unscale(v, s, &bad);
            sq += (double)u * u;
            wf(u);
        }
        printf("%d\n", bad);
        wd(sq);
    } else if (!strcmp(c, "adam")) {
        long long n = ri();
        rt::AdamStep s;
        s.b1 = rf(); s.one_minus_b1 = rf(); s.b2 = rf(); s.one_minus_b2 = rf(); s.bc2_sqrt = rf();
        s.neg_step_size = rf(); s.eps = rf(); s.decoupled = (int)ri(); s.decay = rf(); s.wd = rf();
        std::vector<float> p = rv(n), g = rv(n), m = rv(n), v = rv(n);
        for (long long i = 0; i < n; i++) p[i] = rt::adam(p[i], g[i], &m[i], &v[i], s);
        for (float x : p) wf(x);
        for (float x : m) wf(x);
        for (float x : v) wf(x);
    } else if (!strcmp(c, "sgd")) {
        long long n = ri();
        int first = (int)ri();
        int has_buf = (int)ri();
        rt::SgdStep s;
        s.wd = rf(); s.mom = rf(); s.keep = rf(); s.neg_lr = rf(); s.decay = (int)ri(); s.nesterov = (int)ri();
        std::vector<float> p = rv(n), g = rv(n), b = rv(n);
        for (long long i = 0; i < n; i++) p[i] = rt::sgd(p[i], g[i], &b[i], has_buf, first, s);
        for (float x : p) wf(x);
        for (float x : b) wf(x);
    } else if (!strcmp(c, "softmax_ce")) {
        int rows = (int)ri(), k = (int)ri();
        std::vector<float> z = rv((long long)rows * k);
        std::vector<int> y(rows);
        for (int r = 0; r < rows; r++) y[r] = (int)ri();
        float scale = rf();
        bool has_row_scale = ri() != 0;
        std::vector<float> row_scale = rv(has_row_scale ? rows : 0);
        std::vector<float> p(z.size()), gx(z.size(), 0.f), log_z(rows);
        double total = 0;
        for (int r = 0; r < rows; r++) total += rt::softmax_ce_row(&z[r * k], k, y[r], &p[r * k], &log_z[r]);
        for (int r = 0; r < rows; r++) {
            const float* rs = has_row_scale ? &row_scale[r] : nullptr;
            rt::softmax_ce_backward_row(&p[r * k], k, y[r], scale, rs, &gx[r * k]);
        }
        for (float v : p) wf(v);
        wd(total);
        for (float v : gx) wf(v);
        for (float v : log_z) wf(v);
    } else if (!strcmp(c, "softmax")) {
        int rows = (int)ri(), k = (int)ri(), causal = (int)ri();
        std::vector<float> z = rv((long long)rows * k), gp = rv((long long)rows * k);
        std::vector<float> p(z.size()), gx(z.size(), 0.f);
        for (int r = 0; r < rows; r++) rt::softmax_row(&z[r * k], k, rt::softmax_visible(r, k, causal), &p[r * k]);
        for (int r = 0; r < rows; r++) rt::softmax_backward_row(&p[r * k], &gp[r * k], k, &gx[r * k]);
        for (float v : p) wf(v);
        for (float v : gx) wf(v);
    } else if (!strcmp(c, "attention_stats")) {
        int rows = (int)ri(), t = (int)ri(), causal = (int)ri();
        std::vector<float> z = rv((long long)rows * t), p = rv((long long)rows * t);
        std::vector<float> row_max(rows);
        std::vector<double> row_entropy(rows);
        for (int r = 0; r < rows; r++) { // as rt_attention_stats
            row_entropy[r] = rt::attention_row_stats(&z[(long long)r * t], &p[(long long)r * t],
                                                     rt::softmax_visible(r, t, causal), &row_max[r]);
        }
        for (float v : row_max) wf(v);
        for (double v : row_entropy) wd(v);
    } else if (!strcmp(c, "permute")) {
        rt::Permute p = {};
        p.rank = (int)ri();
        long long n = 1;
        for (int d = 0; d < p.rank; d++) {
            p.shape[d] = (int)ri();
            n *= p.shape[d];
        }
        for (int d = 0; d < p.rank; d++) p.perm[d] = (int)ri();
        int accumulate = (int)ri();
        std::vector<float> x = rv(n), y = rv(n);
        for (long long i = 0; i < n; i++) { // as rt_permute
            float v = x[rt::permute_source(p, i)];
            y[i] = accumulate ? y[i] + v : v;
        }
        for (float v : y) wf(v);
    } else if (!strcmp(c, "embedding_backward")) {
        int rows = (int)ri(), d = (int)ri(), vocab = (int)ri();
        std::vector<int> ids(rows);
        for (int r = 0; r < rows; r++) ids[r] = (int)ri();
        std::vector<float> gy = rv((long long)rows * d), gw = rv((long long)vocab * d);
        for (int j = 0; j < d; j++) rt::embedding_backward_column(&ids[0], &gy[0], rows, d, j, &gw[0]);
        for (float v : gw) wf(v);
    } else if (!strcmp(c, "sizes")) {
        printf("%zu\n%d\n", sizeof(rt::Stats), RT_MAX_RANK);
    } else if (!strcmp(c, "layer_norm")) {
        int rows = (int)ri(), d = (int)ri();
        float eps = rf();
        std::vector<float> x = rv((long long)rows * d), w = rv(d), b = rv(d), gy = rv((long long)rows * d);
        std::vector<float> y(x.size()), h(x.size()), rs(rows), gx(x.size(), 0.f);
        for (int r = 0; r < rows; r++) rs[r] = rt::layer_norm_row(&x[r * d], &w[0], &b[0], d, eps, &y[r * d], &h[r * d]);
        for (int r = 0; r < rows; r++) rt::layer_norm_backward_row(&gy[r * d], &h[r * d], &w[0], rs[r], d, &gx[r * d]);
        for (float v : y) wf(v);
        for (float v : h) wf(v);
        for (float v : rs) wf(v);
        for (float v : gx) wf(v);
        for (int j = 0; j < d; j++) { // the column sums, as rt_layer_norm_backward_params
            wf((float)rt::column_sum(&gy[0], &h[0], rows, d, j));
            wf((float)rt::column_sum(&gy[0], nullptr, rows, d, j));
        }
    } else if (!strcmp(c, "act")) {
        int kind = (int)ri();
        float param = rf();
        long long n = ri();
        std::vector<float> x = rv(n), saved = rv(n), gy = rv(n);
        for (long long i = 0; i < n; i++) wf(rt::act_forward(kind, x[i], param));
        // a kind that saves its derivative: backward from the derivative this code computes, which is written too
        bool deriv = rt::act_saves_derivative(kind);
        for (long long i = 0; i < n; i++) {
            float s = deriv ? rt::act_derivative(kind, x[i], param) : saved[i];
            wf(rt::act_backward(kind, s, gy[i], param));
        }
        for (long long i = 0; deriv && i < n; i++) wf(rt::act_derivative(kind, x[i], param));
    } else if (!strcmp(c, "loss")) {
        int kind = (int)ri();
        long long n = ri();
        std::vector<float> x = rv(n), t = rv(n);
        float scale = rf();
        for (long long i = 0; i < n; i++) wd(kind == 0 ? rt::bce_term(x[i], t[i]) : rt::mse_term(x[i], t[i]));
        for (long long i = 0; i < n; i++) wf(kind == 0 ? rt::bce_grad(x[i], t[i], scale) : rt::mse_grad(x[i], t[i], scale));
    } else if (!strcmp(c, "dropout")) {
        unsigned long long seed = (unsigned long long)ri();
        double p = rd();
        long long n = ri();
        for (long long i = 0; i < n; i++) printf("%d\n", rt::dropout_keep(seed, p, i) ? 1 : 0);
    } else if (!strcmp(c, "stats")) {
        long long n = ri();
        float lo = rf(), hi = rf();
        int precision = (int)ri();
        std::vector<float> x = rv(n);
        rt::Stats s = {0, 0.f, 0.f, 0, 0, 0, 0, 0};
        for (float v : x) rt::stats_add(&s, v, lo, hi, precision);
        wd(s.squares);
        wf(s.max_abs);
        printf("%lld\n%lld\n%lld\n%lld\n%lld\n", s.zeros, s.outside, s.non_zero, s.flushed, s.non_finite);
    } else {
        fprintf(stderr, "host_math: unknown case %s\n", c);
        return 2;
    }
    return 0;
}
