package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.ops.Ops;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A model: layers applied in order, with its per-sample input shape and its loss. */
public final class Sequential {
    private final int[] inputShape;
    private final int[] outputShape;
    private final List<Layer> layers;
    private final Loss loss;
    private final double zLoss;
    private final Map<String, Tensor> parameters;
    private int recomputeSegments;

    public Sequential(int[] inputShape, int[] outputShape, List<Layer> layers, Loss loss, double zLoss) {
        this.inputShape = inputShape.clone();
        this.outputShape = outputShape.clone();
        this.layers = List.copyOf(layers);
        this.loss = loss;
        this.zLoss = zLoss;
        Map<String, Tensor> params = new LinkedHashMap<>();
        for (Layer l : layers) {
            for (Tensor p : l.parameters()) {
                params.put(p.name(), p);
            }
        }
        this.parameters = Collections.unmodifiableMap(params);
    }

    /** Applies {@code layers} in order, each under its name on the tape. */
    static Tensor run(List<Layer> layers, Tensor x, ForwardContext ctx) {
        Tensor h = x;
        for (Layer l : layers) {
            h = Layers.named(l, h, ctx);
        }
        return h;
    }

    /**
     * The forward pass. Under a 16-bit autocast the input is rounded first. With activation recompute on and a tape
     * open, the layers run in segments of which only the boundaries stay alive; see {@link Recompute}.
     */
    public Tensor forward(Tensor x, ForwardContext ctx) {
        Tensor h = Ops.cast(x);
        if (recomputeSegments <= 0 || Tape.current() == null) {
            return run(layers, h, ctx);
        }
        return Recompute.forward(layers, recomputeSegments, h, ctx);
    }

    /** Keeps only {@code segments} segment boundaries alive between forward and backward (0 = off). */
    public Sequential recompute(int segments) {
        if (segments < 0) {
            throw new IllegalArgumentException("recompute segments must be >= 0, got " + segments);
        }
        this.recomputeSegments = segments;
        return this;
    }

    /** Whether the input is token ids (the first layer an embedding), which have no gradient. */
    public boolean takesTokenIds() {
        return !layers.isEmpty() && layers.get(0) instanceof Layers.Embedding;
    }

    /** The output shape of one sample. */
    public int[] outputShape() {
        return outputShape.clone();
    }

    public int[] inputShape() {
        return inputShape.clone();
    }

    public List<Layer> layers() {
        return layers;
    }

    public Loss loss() {
        return loss;
    }

    /** What training minimizes: the loss, plus the z-loss's {@code z_loss * mean(logZ^2)} when the job asks. */
    public Tensor objective(Tensor output, Tensor target) {
        return objective(output, target, null);
    }

    /** {@link #objective(Tensor, Tensor)}, with the logits' mean log Z in {@code meanLogZ[0]} (softmax outputs). */
    public Tensor objective(Tensor output, Tensor target, double[] meanLogZ) {
        return loss.apply(output, target, zLoss, meanLogZ);
    }

    /** Parameters by name ({@code layers.0.weight}, ...), in declaration order. */
    public Map<String, Tensor> parameters() {
        return parameters;
    }

    /** Every parameter tensor, in declaration order. */
    public List<Tensor> parameterList() {
        return new ArrayList<>(parameters.values());
    }

    public void zeroGrad() {
        for (Tensor p : parameters.values()) {
            p.zeroGrad();
        }
    }
}
