package dev.ringtape.runtime.backend;

import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Tensor;

/**
 * The compute kernels every backend provides (found with {@link java.util.ServiceLoader}, see {@link Backends}).
 *
 * <p>Ops in {@code dev.ringtape.runtime.ops} touch tensor data only through these kernels, so a device backend can
 * replace the CPU one. Conventions: shapes are checked by the ops, not here; every kernel named {@code …Backward}
 * <em>accumulates</em> ({@code +=}) into its gradient outputs, which is what makes fan-out and micro-batch
 * accumulation correct by construction.
 */
public interface Backend {
    /** A short name for logs and the {@code backend:} key: {@code cpu}, {@code cuda}. */
    String name();

    /** Whether this backend can run here (a device is present, natives load). */
    boolean available();

    /** Higher wins when {@code backend: auto}. */
    int priority();

    /**
     * Row-major {@code C = alpha * op(A) op(B) + beta * C}, {@code op(A)} being {@code m x k} and {@code op(B)} {@code
     * k x n}.
     */
    void gemm(
            boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, Tensor b, float beta, Tensor c);

    /** {@code x[r, :] += v} for every row r of the {@code rows x v.size()} matrix x. */
    void addRowVector(Tensor x, Tensor v);

    /** {@code out[j] += sum_r x[r, j]}. */
    void sumRowsInto(Tensor x, Tensor out);

    /** {@code out = a + b} elementwise. */
    void add(Tensor a, Tensor b, Tensor out);

    /** {@code dst += alpha * src} elementwise. */
    void axpy(float alpha, Tensor src, Tensor dst);

    /** {@code y = act(x)}; fills {@code mask} (x > 0) when the activation saves a mask. */
    void activation(Activation act, float param, Tensor x, Tensor y, Mask mask);

    /**
     * {@code gx += act'(.) * gy}, from what the activation saved: its mask, its output, or its input ({@code saved}).
     */
    void activationBackward(Activation act, float param, Tensor saved, Mask mask, Tensor gy, Tensor gx);

    /** Layer norm over the last axis of width {@code d}; writes y, the normalized xhat and 1/std per row. */
    void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor xhat, float[] rstd);

    /** Backward of {@link #layerNorm}; any of gx, gWeight, gBias may be null when not needed. */
    void layerNormBackward(
            Tensor gy, Tensor xhat, float[] rstd, Tensor weight, Tensor gx, Tensor gWeight, Tensor gBias);

    /** Mean softmax cross-entropy of logits [N, C] against class ids; writes the softmax into {@code probs}. */
    double softmaxCrossEntropy(Tensor logits, int[] classes, Tensor probs);

    /** {@code gx += scale * (probs - onehot(classes))}. */
    void softmaxCrossEntropyBackward(Tensor probs, int[] classes, float scale, Tensor gx);

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
