package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A model: layers applied in order, with its per-sample input shape and its loss. */
public final class Sequential {
    private final int[] inputShape;
    private final List<Layer> layers;
    private final Loss loss;
    private final Map<String, Tensor> parameters;

    public Sequential(int[] inputShape, List<Layer> layers, Loss loss) {
        this.inputShape = inputShape.clone();
        this.layers = List.copyOf(layers);
        this.loss = loss;
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

    public Tensor forward(Tensor x, ForwardContext ctx) {
        return run(layers, x, ctx);
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
