package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.ops.Ops;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/** The layer types of the job schema. Each is small: it holds its parameters and calls one op. */
public final class Layers {
    private Layers() {}

    /** {@code y = x W^T + b}. */
    public record Linear(String name, Tensor weight, Tensor bias) implements Layer {
        @Override
        public String type() {
            return "linear";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            return Ops.linear(x, Ops.cast(weight), Ops.cast(bias));
        }

        @Override
        public List<Tensor> parameters() {
            return bias == null ? List.of(weight) : List.of(weight, bias);
        }
    }

    /** An elementwise activation; reports its output to the layer sampler on sampled steps. */
    public record Act(String name, String type, Activation activation, float param) implements Layer {
        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            Tensor y = Ops.activation(activation, param, x);
            LayerSampler sampler = LayerSampler.current();
            if (sampler != null) {
                sampler.activation(name, type, y);
            }
            return y;
        }

        @Override
        public List<Tensor> parameters() {
            return List.of();
        }
    }

    /** Layer normalization over the last axis. */
    public record LayerNorm(String name, Tensor weight, Tensor bias, float eps) implements Layer {
        @Override
        public String type() {
            return "layernorm";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            return Ops.layerNorm(x, weight, bias, eps);
        }

        @Override
        public List<Tensor> parameters() {
            return List.of(weight, bias);
        }
    }

    /** Inverted dropout, active only when training. */
    public record Dropout(String name, float p) implements Layer {
        @Override
        public String type() {
            return "dropout";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            return ctx.training() ? Ops.dropout(x, p, ctx.seedFor(name)) : x;
        }

        @Override
        public List<Tensor> parameters() {
            return List.of();
        }
    }

    /** {@code [N, ...] -> [N, prod(...)]}. */
    public record Flatten(String name) implements Layer {
        @Override
        public String type() {
            return "flatten";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            int n = x.dim(0);
            return Ops.reshape(x, n, n == 0 ? 0 : x.size() / n);
        }

        @Override
        public List<Tensor> parameters() {
            return List.of();
        }
    }

    /** 2-D convolution (cross-correlation), NCHW. */
    public record Conv2d(String name, Tensor weight, Tensor bias, int stride, int padding) implements Layer {
        @Override
        public String type() {
            return "conv2d";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            return Ops.conv2d(x, Ops.cast(weight), Ops.cast(bias), stride, padding);
        }

        @Override
        public List<Tensor> parameters() {
            return bias == null ? List.of(weight) : List.of(weight, bias);
        }
    }

    /** Max pooling, NCHW. */
    public record MaxPool2d(String name, int kernel, int stride) implements Layer {
        @Override
        public String type() {
            return "maxpool2d";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            return Ops.maxPool2d(x, kernel, stride);
        }

        @Override
        public List<Tensor> parameters() {
            return List.of();
        }
    }

    /** {@code y = x + body(x)}. */
    public record Residual(String name, List<Layer> body) implements Layer {
        @Override
        public String type() {
            return "residual";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            return Ops.add(x, Sequential.run(body, x, ctx));
        }

        @Override
        public List<Tensor> parameters() {
            List<Tensor> out = new ArrayList<>();
            for (Layer l : body) {
                out.addAll(l.parameters());
            }
            return out;
        }
    }

    /** Runs {@code layer} with its name as the current layer. */
    static Tensor named(Layer layer, Tensor x, ForwardContext ctx) {
        String before = Tape.enterLayer(layer.name());
        try {
            return layer.forward(x, ctx);
        } finally {
            Tape.exitLayer(before);
        }
    }
}
