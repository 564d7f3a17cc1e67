package dev.ringtape.runtime.ops;

import dev.ringtape.runtime.autograd.Saved;
import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.Arrays;

/**
 * The differentiable ops. Each method computes its forward result through the {@link Backend} and, right beside it,
 * records its backward rule on the open {@link Tape}. A rule saves only what it needs (ReLU a bit mask, max-pool the
 * argmax indices) and computes gradients only for inputs that require them.
 */
public final class Ops {
    private Ops() {}

    private static Backend be() {
        return Backends.current();
    }

    /** {@code y = x W^T + b} over the last axis of x; {@code bias} may be null. */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        int out = weight.dim(0);
        int in = weight.dim(1);
        if (x.dim(-1) != in) {
            throw new IllegalArgumentException("linear: input has " + x.dim(-1) + " features, weight expects " + in);
        }
        int rows = x.size() / in;
        int[] outShape = x.shape();
        outShape[outShape.length - 1] = out;
        Tensor y = Tensor.overwritten(outShape);
        be().gemm(false, true, rows, out, in, 1f, x, weight, 0f, y);
        if (bias != null) {
            be().addRowVector(y, bias);
        }
        Tape.forwardResult("linear", y, false);
        Saved sx = Saved.of(x);
        Saved sw = Saved.of(weight);
        Tensor[] inputs = bias == null ? new Tensor[] {x, weight} : new Tensor[] {x, weight, bias};
        Tape.recordOp(
                "linear",
                y,
                inputs,
                (gy, g) -> {
                    if (g.needs(x)) {
                        Tensor gx = g.fresh(x);
                        be().gemm(
                                        false,
                                        false,
                                        rows,
                                        in,
                                        out,
                                        1f,
                                        gy,
                                        sw.get(),
                                        gx == null ? 1f : 0f,
                                        gx == null ? g.of(x) : gx);
                    }
                    if (g.needs(weight)) {
                        be().gemm(true, false, out, in, rows, 1f, gy, sx.get(), 1f, g.of(weight));
                    }
                    if (bias != null && g.needs(bias)) {
                        be().sumRowsInto(gy, g.of(bias));
                    }
                },
                sx,
                sw);
        return y;
    }

    /**
     * The tensor as the autocast format holds it: under fp16/bf16 a rounded copy whose gradient flows back to the
     * fp32 master; under fp32 the tensor itself. Layers pass their weights through this.
     */
    public static Tensor cast(Tensor t) {
        if (t == null
                || dev.ringtape.runtime.autograd.Autocast.current() == dev.ringtape.runtime.precision.Precision.FP32) {
            return t;
        }
        Tensor y = Tensor.overwritten(t.shape());
        y.copyFrom(t);
        Tape.forwardResult("cast", y, false);
        Tape.recordOp("cast", y, new Tensor[] {t}, (gy, g) -> g.pass(t, gy));
        return y;
    }

    /** Elementwise {@code a + b} of equal shapes. */
    public static Tensor add(Tensor a, Tensor b) {
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new IllegalArgumentException(
                    "add: shapes " + Shapes.str(a.shape()) + " and " + Shapes.str(b.shape()) + " differ");
        }
        Tensor y = Tensor.overwritten(a.shape());
        be().add(a, b, y);
        Tape.forwardResult("add", y, false);
        Tape.recordOp("add", y, new Tensor[] {a, b}, (gy, g) -> {
            if (a == b) {
                be().axpy(2f, gy, g.of(a));
                return;
            }
            if (g.needs(b)) {
                Tensor gb = g.fresh(b);
                if (gb != null) {
                    gb.copyFrom(gy);
                } else {
                    be().axpy(1f, gy, g.of(b));
                }
            }
            if (g.needs(a)) {
                g.pass(a, gy); // last: gy may become a's gradient
            }
        });
        return y;
    }

    /** An elementwise activation; {@code param} is LeakyReLU's slope or ELU's alpha. */
    public static Tensor activation(Activation act, float param, Tensor x) {
        Tensor y = Tensor.overwritten(x.shape());
        Mask mask = act.saves() == Activation.Saves.MASK ? new Mask(x.size()) : null;
        // the derivative only where backward will run (Tape.recordOp's condition): evaluation skips its cost
        Tensor derivative = act.saves() == Activation.Saves.DERIVATIVE && Tape.current() != null && x.requiresGrad()
                ? Tensor.overwritten(x.shape())
                : null;
        be().activation(act, param, x, y, mask, derivative);
        String op = act.name().toLowerCase(java.util.Locale.ROOT);
        Tape.forwardResult(op, y, false);
        Saved saved =
                switch (act.saves()) {
                    case MASK, DERIVATIVE -> null;
                    case OUTPUT -> Saved.of(y);
                    case INPUT -> Saved.of(x);
                };
        Tape.recordOp(
                op,
                y,
                new Tensor[] {x},
                (gy, g) -> be().activationBackward(
                                act,
                                param,
                                derivative != null ? derivative : saved == null ? null : saved.get(),
                                mask,
                                gy,
                                g.of(x)),
                // the derivative as itself: the op's own, back to the pool after the rule
                derivative != null ? derivative : saved == null ? mask : saved);
        return y;
    }

    /** Layer normalization over the last axis (biased variance), with affine weight and bias. */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        int d = weight.size();
        if (x.dim(-1) != d) {
            throw new IllegalArgumentException("layernorm: input has " + x.dim(-1) + " features, weight has " + d);
        }
        Tensor y = Tensor.overwritten(x.shape());
        Tensor xhat = Tensor.overwritten(x.shape());
        float[] rstd = new float[x.size() / d];
        be().layerNorm(x, weight, bias, eps, y, xhat, rstd);
        Tape.forwardResult("layernorm", y, false);
        Saved sw = Saved.of(weight);
        Tape.recordOp(
                "layernorm",
                y,
                new Tensor[] {x, weight, bias},
                (gy, g) -> be().layerNormBackward(
                                gy,
                                xhat,
                                rstd,
                                sw.get(),
                                g.needs(x) ? g.of(x) : null,
                                g.needs(weight) ? g.of(weight) : null,
                                g.needs(bias) ? g.of(bias) : null),
                xhat,
                rstd,
                sw);
        return y;
    }

    /**
     * Inverted dropout: keeps each element with probability {@code 1 - p} and scales it by {@code 1/(1-p)}. The mask
     * is a function of {@code seed} alone, so replaying the forward pass with the same seed reproduces it.
     */
    public static Tensor dropout(Tensor x, float p, long seed) {
        if (p <= 0f) {
            return x;
        }
        Mask mask = new Mask(x.size());
        be().dropoutMask(seed, p, mask);
        float scale = p >= 1f ? 0f : 1f / (1f - p);
        Tensor y = Tensor.overwritten(x.shape());
        be().maskedScale(x, mask, scale, y, false);
        Tape.forwardResult("dropout", y, false);
        Tape.recordOp(
                "dropout",
                y,
                new Tensor[] {x},
                (gy, g) -> {
                    Tensor gx = g.fresh(x);
                    be().maskedScale(gy, mask, scale, gx == null ? g.of(x) : gx, gx == null);
                },
                mask);
        return y;
    }

    /** A view of x with another shape (same number of elements). */
    public static Tensor reshape(Tensor x, int... shape) {
        Tensor y = x.reshape(shape);
        Tape.recordOp("reshape", y, new Tensor[] {x}, (gy, g) -> g.pass(x, gy));
        return y;
    }

    /** 2-D cross-correlation over NCHW input with a square kernel, zero padding; {@code bias} may be null. */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException("conv2d: input must be NCHW, got " + Shapes.str(x.shape()));
        }
        int n = x.dim(0);
        int c = x.dim(1);
        int h = x.dim(2);
        int w = x.dim(3);
        int o = weight.dim(0);
        int k = weight.dim(2);
        if (weight.dim(1) != c) {
            throw new IllegalArgumentException("conv2d: input has " + c + " channels, weight expects " + weight.dim(1));
        }
        int oh = Shapes.windows(h, k, stride, padding);
        int ow = Shapes.windows(w, k, stride, padding);
        if (oh <= 0 || ow <= 0) {
            throw new IllegalArgumentException("conv2d: kernel " + k + " does not fit input " + h + "x" + w);
        }
        int ohw = oh * ow;
        int ckk = c * k * k;
        Tensor cols = Tensor.output(ckk, n * ohw);
        be().im2col(x, k, stride, padding, cols);
        // [O, C*k*k] x [C*k*k, N*OH*OW] -> [O, N*OH*OW], then to NCHW
        Tensor flat = Tensor.output(o, n * ohw);
        be().gemm(false, false, o, n * ohw, ckk, 1f, weight.reshape(o, ckk), cols, 0f, flat);
        cols.recycle(); // scratch, back to the pool (no op's output, so the tape would not)
        Tensor y = Tensor.output(n, o, oh, ow);
        be().convOutput(flat, bias, y);
        flat.recycle();
        Tape.forwardResult("conv2d", y, false);
        Saved sx = Saved.of(x);
        Saved sw = Saved.of(weight);
        Tensor[] inputs = bias == null ? new Tensor[] {x, weight} : new Tensor[] {x, weight, bias};
        Tape.recordOp(
                "conv2d",
                y,
                inputs,
                (gy, g) -> {
                    // gy NCHW -> [O, N*OH*OW]
                    Tensor gflat = Tensor.output(o, n * ohw);
                    be().convOutputBackward(gy, gflat, bias != null && g.needs(bias) ? g.of(bias) : null);
                    if (g.needs(weight)) {
                        // cols are recomputed rather than kept alive between forward and backward
                        Tensor colsAgain = Tensor.output(ckk, n * ohw);
                        be().im2col(sx.get(), k, stride, padding, colsAgain);
                        be().gemm(
                                        false,
                                        true,
                                        o,
                                        ckk,
                                        n * ohw,
                                        1f,
                                        gflat,
                                        colsAgain,
                                        1f,
                                        g.of(weight).reshape(o, ckk));
                        colsAgain.recycle();
                    }
                    if (g.needs(x)) {
                        Tensor gcols = Tensor.output(ckk, n * ohw);
                        be().gemm(true, false, ckk, n * ohw, o, 1f, sw.get().reshape(o, ckk), gflat, 0f, gcols);
                        be().col2imAdd(gcols, k, stride, padding, g.of(x));
                        gcols.recycle();
                    }
                    gflat.recycle();
                },
                sx,
                sw);
        return y;
    }

    /** Max pooling over NCHW input, no padding. */
    public static Tensor maxPool2d(Tensor x, int kernel, int stride) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException("maxpool2d: input must be NCHW, got " + Shapes.str(x.shape()));
        }
        int oh = Shapes.windows(x.dim(2), kernel, stride, 0);
        int ow = Shapes.windows(x.dim(3), kernel, stride, 0);
        if (oh <= 0 || ow <= 0) {
            throw new IllegalArgumentException(
                    "maxpool2d: kernel " + kernel + " does not fit input " + x.dim(2) + "x" + x.dim(3));
        }
        Tensor y = Tensor.output(x.dim(0), x.dim(1), oh, ow);
        int[] argmax = new int[y.size()];
        be().maxPool2d(x, kernel, stride, y, argmax);
        Tape.forwardResult("maxpool2d", y, false);
        Tape.recordOp("maxpool2d", y, new Tensor[] {x}, (gy, g) -> be().maxPool2dBackward(gy, argmax, g.of(x)), argmax);
        return y;
    }

    /**
     * Batched products over the leading axes: {@code y[..] = alpha * op(a[..]) op(b[..])}, the last two axes of each
     * being its matrices ({@code op} transposes when asked), the leading axes equal. One batched GEMM forward, two
     * backward: attention's scores and its weighted values.
     */
    public static Tensor bmm(Tensor a, boolean transA, Tensor b, boolean transB, float alpha) {
        if (a.rank() < 2
                || a.rank() != b.rank()
                || !Arrays.equals(Arrays.copyOf(a.shape(), a.rank() - 2), Arrays.copyOf(b.shape(), b.rank() - 2))) {
            throw new IllegalArgumentException(
                    "bmm: batches of " + Shapes.str(a.shape()) + " and " + Shapes.str(b.shape()) + " differ");
        }
        int m = transA ? a.dim(-1) : a.dim(-2);
        int k = transA ? a.dim(-2) : a.dim(-1);
        int kb = transB ? b.dim(-1) : b.dim(-2);
        int n = transB ? b.dim(-2) : b.dim(-1);
        if (k != kb) {
            throw new IllegalArgumentException("bmm: inner sizes " + k + " and " + kb + " differ");
        }
        int batch = a.size() / (m * k);
        int[] outShape = a.shape();
        outShape[outShape.length - 2] = m;
        outShape[outShape.length - 1] = n;
        Tensor y = Tensor.overwritten(outShape);
        be().gemmBatched(transA, transB, m, n, k, alpha, a, m * k, b, k * n, 0f, y, m * n, batch);
        Tape.forwardResult("bmm", y, false);
        Saved sa = Saved.of(a);
        Saved sb = Saved.of(b);
        Tape.recordOp(
                "bmm",
                y,
                new Tensor[] {a, b},
                (gy, g) -> {
                    if (g.needs(a)) {
                        Tensor ga = g.fresh(a);
                        float beta = ga == null ? 1f : 0f;
                        ga = ga == null ? g.of(a) : ga;
                        if (transA) {
                            be().gemmBatched(
                                            transB, true, k, m, n, alpha, sb.get(), k * n, gy, m * n, beta, ga, m * k,
                                            batch);
                        } else {
                            be().gemmBatched(
                                            false, !transB, m, k, n, alpha, gy, m * n, sb.get(), k * n, beta, ga, m * k,
                                            batch);
                        }
                    }
                    if (g.needs(b)) {
                        Tensor gb = g.fresh(b);
                        float beta = gb == null ? 1f : 0f;
                        gb = gb == null ? g.of(b) : gb;
                        if (transB) {
                            be().gemmBatched(
                                            true, transA, n, k, m, alpha, gy, m * n, sa.get(), m * k, beta, gb, k * n,
                                            batch);
                        } else {
                            be().gemmBatched(
                                            !transA, false, k, n, m, alpha, sa.get(), m * k, gy, m * n, beta, gb, k * n,
                                            batch);
                        }
                    }
                },
                sa,
                sb);
        return y;
    }

    /**
     * The softmax over the last axis, computed and kept in float32 under any autocast; with {@code causal}, the last
     * two axes are square and position i sees positions j <= i only.
     */
    public static Tensor softmax(Tensor x, boolean causal) {
        int cols = x.dim(-1);
        if (causal && (x.rank() < 2 || x.dim(-2) != cols)) {
            throw new IllegalArgumentException(
                    "softmax: a causal mask needs square last axes, got " + Shapes.str(x.shape()));
        }
        Tensor p = Tensor.overwritten(x.shape());
        be().softmax(x, cols, causal, p);
        Tape.forwardResult("softmax", p, true);
        Saved sp = Saved.of(p);
        Tape.recordOp("softmax", p, new Tensor[] {x}, (gy, g) -> be().softmaxBackward(sp.get(), gy, cols, g.of(x)), sp);
        return p;
    }

    /** {@code x} with its axes reordered as {@code torch.permute}: axis i of the result is axis {@code perm[i]}. */
    public static Tensor permute(Tensor x, int... perm) {
        int[] shape = x.shape();
        if (perm.length != shape.length) {
            throw new IllegalArgumentException(
                    "permute: " + Arrays.toString(perm) + " does not reorder the axes of " + Shapes.str(shape));
        }
        int[] out = new int[shape.length];
        int[] inverse = new int[shape.length];
        for (int i = 0; i < perm.length; i++) {
            out[i] = shape[perm[i]];
            inverse[perm[i]] = i;
        }
        Tensor y = Tensor.overwritten(out);
        be().permute(x, shape, perm, y, false);
        Tape.forwardResult("permute", y, false);
        Tape.recordOp("permute", y, new Tensor[] {x}, (gy, g) -> {
            Tensor gx = g.fresh(x);
            be().permute(gy, out, inverse, gx == null ? g.of(x) : gx, gx == null);
        });
        return y;
    }

    /** Entry {@code i} of the first axis of x, as a tensor of its own: q, k or v of a fused projection. */
    public static Tensor select(Tensor x, int i) {
        int[] shape = Arrays.copyOfRange(x.shape(), 1, x.rank());
        int n = Shapes.size(shape);
        if (i < 0 || i >= x.dim(0)) {
            throw new IllegalArgumentException("select: " + i + " is outside [0, " + x.dim(0) + ")");
        }
        Tensor y = Tensor.overwritten(shape);
        y.copyFrom(Tensor.view(x.storage(), x.offset() + i * n, shape));
        Tape.recordOp("select", y, new Tensor[] {x}, (gy, g) -> {
            Tensor gx = g.of(x);
            be().axpy(1f, gy, Tensor.view(gx.storage(), gx.offset() + i * n, shape));
        });
        return y;
    }

    /**
     * Rows of {@code weight} looked up by the token ids of {@code ids} (integers held as floats, any shape): the result
     * has the ids' shape and one more axis, the weight's width. Ids have no gradient.
     */
    public static Tensor embedding(Tensor ids, Tensor weight) {
        int vocab = weight.dim(0);
        int d = weight.dim(1);
        int[] rows = tokenIds("embedding", ids, vocab);
        int[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        shape[ids.rank()] = d;
        Tensor y = Tensor.overwritten(shape);
        be().embedding(rows, weight, y);
        Tape.forwardResult("embedding", y, false);
        Tape.recordOp(
                "embedding", y, new Tensor[] {weight}, (gy, g) -> be().embeddingBackward(rows, gy, g.of(weight)), rows);
        return y;
    }

    /** The ids of {@code t} as ints, each checked to be an integer in {@code [0, bound)}. */
    public static int[] tokenIds(String op, Tensor t, int bound) {
        float[] v = t.toArray();
        int[] ids = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            ids[i] = (int) v[i];
            if (ids[i] != v[i] || ids[i] < 0 || ids[i] >= bound) {
                throw new IllegalArgumentException(op + ": value " + v[i] + " at "
                        + Shapes.str(Shapes.index(t.shape(), i)) + " is not an id in [0, " + bound + ")");
            }
        }
        return ids;
    }

    /**
     * {@code y = x + weight[:T]} over x of shape [N, T, D]: learned absolute positions, the first T rows of a [max_len,
     * D] weight.
     */
    public static Tensor addPositional(Tensor x, Tensor weight) {
        if (x.rank() != 3 || x.dim(2) != weight.dim(1) || x.dim(1) > weight.dim(0)) {
            throw new IllegalArgumentException("positional: input " + Shapes.str(x.shape()) + " does not fit positions "
                    + Shapes.str(weight.shape()) + " ([N, T, D] with T <= max_len)");
        }
        int td = x.dim(1) * x.dim(2);
        int n = x.dim(0);
        Tensor y = Tensor.overwritten(x.shape());
        y.copyFrom(x);
        Tensor rows = Tensor.view(weight.storage(), weight.offset(), td);
        be().addRowVector(y.reshape(n, td), rows);
        Tape.forwardResult("positional", y, false);
        Tape.recordOp("positional", y, new Tensor[] {x, weight}, (gy, g) -> {
            if (g.needs(weight)) {
                Tensor gw = g.of(weight);
                be().sumRowsInto(gy.reshape(n, td), Tensor.view(gw.storage(), gw.offset(), td));
            }
            if (g.needs(x)) {
                g.pass(x, gy); // last: gy may become x's gradient
            }
        });
        return y;
    }

    /** Mean softmax cross-entropy of logits [N, C] against class ids, fused in log space. */
    public static Tensor softmaxCrossEntropy(Tensor logits, int[] classes) {
        return softmaxCrossEntropy(logits, classes, 0.0);
    }

    /**
     * Mean softmax cross-entropy of logits [N, C] against class ids, fused in log space, plus {@code zLoss *
     * mean(logZ^2)} (the z-loss of PaLM and Wortsman et al.: it keeps the log-normalizer near 0) when zLoss > 0.
     */
    public static Tensor softmaxCrossEntropy(Tensor logits, int[] classes, double zLoss) {
        return softmaxCrossEntropy(logits, classes, zLoss, null);
    }

    /** {@link #softmaxCrossEntropy(Tensor, int[], double)}, also setting {@code meanLogZ[0]} to the rows' mean log Z. */
    public static Tensor softmaxCrossEntropy(Tensor logits, int[] classes, double zLoss, double[] meanLogZ) {
        if (logits.rank() != 2 || logits.dim(0) != classes.length) {
            throw new IllegalArgumentException("softmax_cross_entropy: logits " + Shapes.str(logits.shape())
                    + " do not match " + classes.length + " targets");
        }
        checkClasses(classes, logits.dim(1));
        Tensor probs = Tensor.overwritten(logits.shape());
        Tensor loss = Tensor.output();
        float[] logZ = new float[classes.length];
        double ce = be().softmaxCrossEntropy(logits, classes, probs, logZ);
        if (meanLogZ != null) {
            meanLogZ[0] = sum(logZ, false) / logZ.length;
        }
        double z = zLoss > 0 ? zLoss * sum(logZ, true) / classes.length : 0;
        loss.set((float) (ce + z));
        Tape.forwardResult("softmax_cross_entropy", loss, true);
        float inv = 1f / classes.length;
        Tape.recordOp(
                "softmax_cross_entropy",
                loss,
                new Tensor[] {logits},
                (gy, g) -> {
                    float[] rowScale = null;
                    if (zLoss > 0) {
                        // d/dlogits of zLoss * logZ^2 / rows is 2 zLoss logZ / rows * softmax
                        rowScale = new float[logZ.length];
                        double perRow = gy.item() * 2.0 * zLoss / classes.length;
                        for (int r = 0; r < logZ.length; r++) {
                            rowScale[r] = (float) (perRow * logZ[r]);
                        }
                    }
                    be().softmaxCrossEntropyBackward(probs, classes, gy.item() * inv, rowScale, g.of(logits));
                },
                probs,
                logZ);
        return loss;
    }

    /*
     * The loops over the rows live apart from softmaxCrossEntropy, which runs once a step: inside it, their
     * back-edges had C2 compile it, its backend calls inlined, four times in the first ~350 steps (0.3-0.4 s of a
     * compiler thread on a two-core machine, bench/RESULTS.md, issue 28).
     */
    private static void checkClasses(int[] classes, int c) {
        for (int i = 0; i < classes.length; i++) {
            if (classes[i] < 0 || classes[i] >= c) {
                throw new IllegalArgumentException(
                        "softmax_cross_entropy: target " + i + " is class " + classes[i] + ", outside [0, " + c + ")");
            }
        }
    }

    /** The sum of {@code v}, or of {@code v^2}, in double. */
    private static double sum(float[] v, boolean squares) {
        double s = 0;
        for (float x : v) {
            s += squares ? (double) x * x : x;
        }
        return s;
    }

    /** Mean binary cross-entropy on logits, over every element, in log space. */
    public static Tensor bceWithLogits(Tensor logits, Tensor target) {
        requireSameShape("bce_with_logits", logits, target);
        Tensor loss = Tensor.output();
        loss.set((float) be().bceWithLogits(logits, target));
        Tape.forwardResult("bce_with_logits", loss, true);
        float inv = 1f / logits.size();
        Saved sl = Saved.of(logits);
        Tape.recordOp(
                "bce_with_logits",
                loss,
                new Tensor[] {logits},
                (gy, g) -> be().bceWithLogitsBackward(sl.get(), target, gy.item() * inv, g.of(logits)),
                sl);
        return loss;
    }

    /** Mean squared error over every element. */
    public static Tensor mse(Tensor y, Tensor target) {
        requireSameShape("mse", y, target);
        Tensor loss = Tensor.output();
        loss.set((float) be().mse(y, target));
        Tape.forwardResult("mse", loss, true);
        float inv = 1f / y.size();
        Saved sy = Saved.of(y);
        Tape.recordOp(
                "mse",
                loss,
                new Tensor[] {y},
                (gy, g) -> be().mseBackward(sy.get(), target, gy.item() * inv, g.of(y)),
                sy);
        return loss;
    }

    /**
     * {@code sum_i x_i * w_i} as a scalar, accumulated in double: a random projection of an op's output to a scalar,
     * for gradient checks. {@code weights} is a constant.
     */
    public static Tensor weightedSum(Tensor x, Tensor weights) {
        requireSameShape("weighted_sum", x, weights);
        Tensor y = Tensor.output();
        y.set((float) be().dot(x, weights));
        Tape.forwardResult("weighted_sum", y, true);
        Tape.recordOp("weighted_sum", y, new Tensor[] {x}, (gy, g) -> be().axpy(gy.item(), weights, g.of(x)));
        return y;
    }

    private static void requireSameShape(String op, Tensor a, Tensor b) {
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new IllegalArgumentException(
                    op + ": output " + Shapes.str(a.shape()) + " and target " + Shapes.str(b.shape()) + " differ");
        }
    }
}
