package dev.ringtape.runtime.backend;

import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Storage;
import dev.ringtape.runtime.tensor.Tensor;

/**
 * The compute kernels every backend provides (its {@link BackendProvider} is found with {@link
 * java.util.ServiceLoader}, see {@link Backends}).
 *
 * <p>A backend owns the memory of the tensors it computes on ({@link #allocate}); ops, the tape and the step touch
 * tensor values only through these kernels and {@link Storage}'s few moves, so a device backend can replace the CPU
 * one. Conventions: shapes are checked by the ops, not here; every kernel named {@code …Backward}
 * <em>accumulates</em> ({@code +=}) into its gradient outputs, which is what makes fan-out and micro-batch
 * accumulation correct by construction. Parameter gradients may be views at an offset of a larger storage (the
 * all-reduce arena): every kernel that writes or reads a gradient of a parameter takes such views (the GEMM's
 * {@code c}, {@link #sumRowsInto}, {@link #layerNormBackward}'s parameter gradients, {@link #convOutputBackward}'s
 * bias, {@link #axpy}, the optimizer steps and the gradient passes below).
 */
public interface Backend {
    /** A short name for logs and the {@code backend:} key: {@code cpu}, {@code cuda}. */
    String name();

    /** New zero-filled storage of {@code n} floats in this backend's memory. */
    Storage allocate(int n);

    /**
     * Called once a run has chosen this backend, before its model and data are ready: a backend may start preparing
     * its kernels then (the CPU one compiles its per-parameter loops on another thread). Changes no result.
     */
    default void warmUp() {}

    /**
     * Row-major {@code C = alpha * op(A) op(B) + beta * C}, {@code op(A)} being {@code m x k} and {@code op(B)} {@code
     * k x n}.
     */
    void gemm(
            boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, Tensor b, float beta, Tensor c);

    /**
     * {@code batch} independent products {@link #gemm} would compute, the i-th reading {@code a} at {@code i *
     * strideA}, {@code b} at {@code i * strideB} and writing {@code c} at {@code i * strideC} (from each tensor's
     * offset): attention's per-head products as one call.
     */
    void gemmBatched(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            Tensor a,
            int strideA,
            Tensor b,
            int strideB,
            float beta,
            Tensor c,
            int strideC,
            int batch);

    /**
     * Writes {@code x}, of row-major {@code shape}, with its axes reordered: axis {@code i} of {@code y} is axis
     * {@code perm[i]} of x (as {@code torch.permute}), contiguous; with {@code accumulate}, adds into y instead.
     */
    void permute(Tensor x, int[] shape, int[] perm, Tensor y, boolean accumulate);

    /** {@code y[r, :] = weight[ids[r], :]} for each id (checked by the op), rows of the weight's width. */
    void embedding(int[] ids, Tensor weight, Tensor y);

    /** {@code gWeight[ids[r], :] += gy[r, :]}, in the order of r (so repeated ids sum the same way every time). */
    void embeddingBackward(int[] ids, Tensor gy, Tensor gWeight);

    /**
     * The softmax of each row of width {@code cols}; with {@code causal}, the rows form square {@code cols x cols}
     * blocks and row i of a block sees its columns j <= i only (the others get probability 0, as -inf logits).
     */
    void softmax(Tensor x, int cols, boolean causal, Tensor probs);

    /** {@code gx += probs * (gp - sum_j gp * probs)} per row of width {@code cols}: the softmax's backward. */
    void softmaxBackward(Tensor probs, Tensor gp, int cols, Tensor gx);

    /**
     * Telemetry's statistics of attention over [N, heads, T, T] logits {@code scores} and their softmax {@code
     * probs}, per head: {@code out[h]} the largest |logit| among the positions a query sees (all, or j <= i with
     * {@code causal}), {@code out[heads + h]} the sum over the head's N x T rows of the weights' entropy {@code -sum_j
     * p log p} in nats (0 log 0 = 0), accumulated in double.
     */
    void attentionStats(Tensor scores, Tensor probs, int heads, boolean causal, double[] out);

    /** {@code x[r, :] += v} for every row r of the {@code rows x v.size()} matrix x. */
    void addRowVector(Tensor x, Tensor v);

    /** {@code out[j] += sum_r x[r, j]}. */
    void sumRowsInto(Tensor x, Tensor out);

    /** {@code out = a + b} elementwise. */
    void add(Tensor a, Tensor b, Tensor out);

    /** {@code dst += alpha * src} elementwise. */
    void axpy(float alpha, Tensor src, Tensor dst);

    /** {@code sum_i x_i * w_i}, accumulated in double. */
    double dot(Tensor x, Tensor w);

    /** {@code sum_i t_i^2} (not finite exactly when some value is not). */
    double squares(Tensor t);

    /**
     * Multiplies {@code t} by {@code scale} in place (the unscale and clip passes) and returns the sum of squares of
     * the results; when {@code maxAbs} is not null, also stores the largest magnitude and the number of exact zeros
     * among them in {@code maxAbs[slot]} and {@code zeros[slot]} (one pass: a sampled step's telemetry).
     */
    double scale(Tensor t, float scale, float[] maxAbs, int[] zeros, int slot);

    /** The number of NaN and infinite values. */
    int countNonFinite(Tensor t);

    /**
     * Rounds {@code t} to {@code precision} in place (what a 16-bit tensor can hold, kept in float32); with {@code
     * counts} not null, adds the number of values that were not zero to {@code counts[0]} and of those rounding made
     * zero (underflow) to {@code counts[1]}.
     */
    void round(Precision precision, Tensor t, long[] counts);

    /** {@code y = act(x)}; fills {@code mask} (x > 0) when the activation saves a mask. */
    default void activation(Activation act, float param, Tensor x, Tensor y, Mask mask) {
        activation(act, param, x, y, mask, null);
    }

    /**
     * {@code y = act(x)}; fills {@code mask} (x > 0) when the activation saves a mask, and {@code derivative} with
     * act'(x) when it saves its derivative and {@code derivative} is not null (not under a tape: no backward).
     */
    void activation(Activation act, float param, Tensor x, Tensor y, Mask mask, Tensor derivative);

    /**
     * {@code gx += act'(.) * gy}, from what the activation saved: its mask, or as {@code saved} its output, its input
     * or its derivative ({@code gx += gy * saved}, the product rounded once).
     */
    void activationBackward(Activation act, float param, Tensor saved, Mask mask, Tensor gy, Tensor gx);

    /**
     * Telemetry's statistics of an activation output {@code y} (batch first; NCHW when {@code channels}), in one pass:
     * when {@code alive} is not null, ORs the magnitude bits of each unit's values into {@code alive[unit]} (units:
     * the last axis, or the channels), which stays 0 exactly for units that were 0 everywhere; when {@code moments}
     * is not null, sets it to the mean, the standard deviation and the fraction of values below {@code lo} or above
     * {@code hi}.
     */
    void activationStats(Tensor y, boolean channels, int[] alive, float lo, float hi, double[] moments);

    /** Layer norm over the last axis of width {@code d}; writes y, the normalized xhat and 1/std per row. */
    void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor xhat, float[] rstd);

    /** Backward of {@link #layerNorm}; any of gx, gWeight, gBias may be null when not needed. */
    void layerNormBackward(
            Tensor gy, Tensor xhat, float[] rstd, Tensor weight, Tensor gx, Tensor gWeight, Tensor gBias);

    /**
     * Mean softmax cross-entropy of logits [N, C] against class ids; writes the softmax into {@code probs} and each
     * row's {@code log sum exp} (log Z) into {@code logZ}.
     */
    double softmaxCrossEntropy(Tensor logits, int[] classes, Tensor probs, float[] logZ);

    /**
     * {@code gx += scale * (probs - onehot(classes))}, plus {@code rowScale[r] * probs[r, :]} per row when {@code
     * rowScale} is not null (the z-loss's gradient).
     */
    void softmaxCrossEntropyBackward(Tensor probs, int[] classes, float scale, float[] rowScale, Tensor gx);

    /** Mean over every element of {@code max(x,0) - x*t + log(1 + exp(-|x|))}. */
    double bceWithLogits(Tensor logits, Tensor target);

    /** {@code gx += scale * (sigmoid(x) - t)}. */
    void bceWithLogitsBackward(Tensor logits, Tensor target, float scale, Tensor gx);

    /** Mean over every element of {@code (y - t)^2}. */
    double mse(Tensor y, Tensor target);

    /** {@code gx += scale * 2 * (y - t)}. */
    void mseBackward(Tensor y, Tensor target, float scale, Tensor gx);

    /** Fills a dropout keep-mask from a seed: element i is kept with probability 1 - p, replayably. */
    void dropoutMask(long seed, float p, Mask mask);

    /** {@code y = mask ? x * scale : 0}; used forward ({@code y = out}) and backward ({@code +=} into gx). */
    void maskedScale(Tensor x, Mask mask, float scale, Tensor y, boolean accumulate);

    /**
     * Unfolds an NCHW batch into columns {@code [C*k*k, N*OH*OW]} (sample n at columns {@code n*OH*OW ...}), so a
     * convolution over the whole batch is one GEMM.
     */
    void im2col(Tensor x, int kernel, int stride, int padding, Tensor cols);

    /** Adds columns back into an NCHW batch gradient: the adjoint of {@link #im2col}. */
    void col2imAdd(Tensor cols, int kernel, int stride, int padding, Tensor gx);

    /**
     * A convolution's output from its GEMM: {@code y[s, o, :] = flat[o, s*hw .. (s+1)*hw) + bias[o]} for the NCHW
     * output {@code y}; {@code bias} may be null.
     */
    void convOutput(Tensor flat, Tensor bias, Tensor y);

    /**
     * The adjoint of {@link #convOutput}: {@code gflat[o, s*hw ..] = gy[s, o, :]} and, when {@code gBias} is not
     * null, {@code gBias[o] += sum gy[:, o, :]}.
     */
    void convOutputBackward(Tensor gy, Tensor gflat, Tensor gBias);

    /** Max pooling over NCHW; records the flat input index of each output's maximum. */
    void maxPool2d(Tensor x, int kernel, int stride, Tensor y, int[] argmax);

    /** {@code gx[argmax[i]] += gy[i]}. */
    void maxPool2dBackward(Tensor gy, int[] argmax, Tensor gx);

    /**
     * One step of PyTorch's {@code torch.optim.SGD} over a parameter, in place. With {@code stats} non-null, the same
     * pass adds the squared norm of the new weights to {@code stats[0]} and of the applied update to {@code stats[1]}
     * (for telemetry's update ratio, with no extra pass over memory). Hyperparameters are doubles, as in
     * Python, and rounded to float where PyTorch's kernels round them, so the float32 results agree bit for bit.
     */
    void sgdStep(
            Tensor param, Tensor grad, Tensor momentumBuffer, boolean firstStep, double lr, SgdHyper h, double[] stats);

    /**
     * One step of PyTorch's {@code Adam} ({@code decoupled = false}) or {@code AdamW} ({@code decoupled = true}), in
     * place, at 1-based step t; {@code stats} as for {@link #sgdStep}.
     */
    void adamStep(Tensor param, Tensor grad, Tensor m, Tensor v, long t, double lr, AdamHyper h, double[] stats);

    /** {@code torch.optim.Adam}'s and {@code AdamW}'s hyperparameters but the learning rate (the schedule's). */
    record AdamHyper(double beta1, double beta2, double eps, double weightDecay, boolean decoupled) {}

    /** {@code torch.optim.SGD}'s hyperparameters but the learning rate. */
    record SgdHyper(double momentum, double dampening, double weightDecay, boolean nesterov) {}
}
