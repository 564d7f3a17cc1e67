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
        Tensor y = Tensor.output(outShape);
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
                        be().gemm(false, false, rows, in, out, 1f, gy, sw.get(), 1f, g.of(x));
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
        Tensor y = Tensor.output(t.shape());
        y.copyFrom(t);
        Tape.forwardResult("cast", y, false);
        Tape.recordOp("cast", y, new Tensor[] {t}, (gy, g) -> be().axpy(1f, gy, g.of(t)));
        return y;
    }

    /** Elementwise {@code a + b} of equal shapes. */
    public static Tensor add(Tensor a, Tensor b) {
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new IllegalArgumentException(
                    "add: shapes " + Shapes.str(a.shape()) + " and " + Shapes.str(b.shape()) + " differ");
        }
        Tensor y = Tensor.output(a.shape());
        be().add(a, b, y);
        Tape.forwardResult("add", y, false);
        Tape.recordOp("add", y, new Tensor[] {a, b}, (gy, g) -> {
            if (g.needs(a)) {
                be().axpy(1f, gy, g.of(a));
            }
            if (g.needs(b)) {
                be().axpy(1f, gy, g.of(b));
            }
        });
        return y;
    }

    /** An elementwise activation; {@code param} is LeakyReLU's slope or ELU's alpha. */
    public static Tensor activation(Activation act, float param, Tensor x) {
        Tensor y = Tensor.output(x.shape());
        Mask mask = act.saves() == Activation.Saves.MASK ? new Mask(x.size()) : null;
        be().activation(act, param, x, y, mask);
        String op = act.name().toLowerCase(java.util.Locale.ROOT);
        Tape.forwardResult(op, y, false);
        Saved saved =
                switch (act.saves()) {
                    case MASK -> null;
                    case OUTPUT -> Saved.of(y);
                    case INPUT -> Saved.of(x);
                };
        Tape.recordOp(
                op,
                y,
                new Tensor[] {x},
                (gy, g) -> be().activationBackward(act, param, saved == null ? null : saved.get(), mask, gy, g.of(x)),
                saved == null ? mask : saved);
        return y;
    }

    /** Layer normalization over the last axis (biased variance), with affine weight and bias. */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        int d = weight.size();
        if (x.dim(-1) != d) {
            throw new IllegalArgumentException("layernorm: input has " + x.dim(-1) + " features, weight has " + d);
        }
        Tensor y = Tensor.output(x.shape());
        Tensor xhat = Tensor.output(x.shape());
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
        Tensor y = Tensor.output(x.shape());
        be().maskedScale(x, mask, scale, y, false);
        Tape.forwardResult("dropout", y, false);
        Tape.recordOp(
                "dropout", y, new Tensor[] {x}, (gy, g) -> be().maskedScale(gy, mask, scale, g.of(x), true), mask);
        return y;
    }

    /** A view of x with another shape (same number of elements). */
    public static Tensor reshape(Tensor x, int... shape) {
        Tensor y = x.reshape(shape);
        int[] inShape = x.shape();
        Tape.recordOp("reshape", y, new Tensor[] {x}, (gy, g) -> be().axpy(1f, gy.reshape(inShape), g.of(x)));
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
        Tensor y = Tensor.output(n, o, oh, ow);
        be().convOutput(flat, bias, y);
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
                    }
                    if (g.needs(x)) {
                        Tensor gcols = Tensor.output(ckk, n * ohw);
                        be().gemm(true, false, ckk, n * ohw, o, 1f, sw.get().reshape(o, ckk), gflat, 0f, gcols);
                        be().col2imAdd(gcols, k, stride, padding, g.of(x));
                    }
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

    /** Mean softmax cross-entropy of logits [N, C] against class ids, fused in log space. */
    public static Tensor softmaxCrossEntropy(Tensor logits, int[] classes) {
        if (logits.rank() != 2 || logits.dim(0) != classes.length) {
            throw new IllegalArgumentException("softmax_cross_entropy: logits " + Shapes.str(logits.shape())
                    + " do not match " + classes.length + " targets");
        }
        int c = logits.dim(1);
        for (int i = 0; i < classes.length; i++) {
            if (classes[i] < 0 || classes[i] >= c) {
                throw new IllegalArgumentException(
                        "softmax_cross_entropy: target " + i + " is class " + classes[i] + ", outside [0, " + c + ")");
            }
        }
        Tensor probs = Tensor.output(logits.shape());
        Tensor loss = Tensor.output();
        loss.set((float) be().softmaxCrossEntropy(logits, classes, probs));
        Tape.forwardResult("softmax_cross_entropy", loss, true);
        float inv = 1f / classes.length;
        Tape.recordOp(
                "softmax_cross_entropy",
                loss,
                new Tensor[] {logits},
                (gy, g) -> be().softmaxCrossEntropyBackward(probs, classes, gy.item() * inv, g.of(logits)),
                probs);
        return loss;
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
