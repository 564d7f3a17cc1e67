package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.ops.Ops;
import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The layer types of the job schema, each in one place: its {@link LayerKind} (the YAML keys it takes and how it
 * builds from a spec and an input shape), its parameters, and its forward, which calls one op whose backward is
 * beside it on the tape ({@link Ops}). Activations are one layer type per row group of {@link Activation}.
 */
public final class Layers {
    private Layers() {}

    /** {@code y = x W^T + b}. */
    public record Linear(String name, Tensor weight, Tensor bias) implements Layer {
        static final LayerKind KIND =
                new LayerKind("linear", Set.of("out", "bias", "init", "bias_init"), (b, spec, name, in, into) -> {
                    int fanIn = in[in.length - 1];
                    int out = spec.integer("out", 1);
                    Tensor w = Tensor.zeros(out, fanIn).named(name + ".weight").requiresGrad(true);
                    ModelBuilder.init(spec, "init").fill(w, fanIn, out, b.rng());
                    into.add(new Linear(name, w, b.bias(spec, name, out)));
                    int[] o = in.clone();
                    o[o.length - 1] = out;
                    return o;
                });

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

    /**
     * An elementwise activation; on sampled steps it hands its output to the layer sampler, which measures what its
     * {@link Activation} row says can go wrong (saturation at bounds, dead units).
     */
    public record Act(String name, String type, Activation activation, float param) implements Layer {
        /** One layer type per activation type of {@link Activation} (both GELUs are {@code gelu}). */
        static List<LayerKind> kinds() {
            List<LayerKind> kinds = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            for (Activation a : Activation.values()) {
                if (seen.add(a.type())) {
                    kinds.add(kind(a.type()));
                }
            }
            return kinds;
        }

        private static LayerKind kind(String type) {
            List<Activation> rows = Arrays.stream(Activation.values())
                    .filter(a -> a.type().equals(type))
                    .toList();
            Set<String> keys = new HashSet<>();
            for (Activation a : rows) {
                if (a.param() != null) {
                    keys.add(a.param());
                }
                if (a.approximate() != null) {
                    keys.add("approximate");
                }
            }
            return new LayerKind(type, Set.copyOf(keys), (b, spec, name, in, into) -> {
                Activation act = rows.get(0);
                if (act.approximate() != null) {
                    String approx = spec.string("approximate", act.approximate());
                    act = rows.stream()
                            .filter(a -> a.approximate().equals(approx))
                            .findFirst()
                            .orElseThrow(() -> new SpecException(
                                    spec.path() + ".approximate",
                                    "expected "
                                            + String.join(
                                                    " or ",
                                                    rows.stream()
                                                            .map(a -> "'" + a.approximate() + "'")
                                                            .toList())
                                            + ", got '" + approx + "'"));
                }
                float param =
                        act.param() == null ? 0f : (float) spec.number(act.param(), -1e30, 1e30, act.paramDefault());
                into.add(new Act(name, type, act, param));
                return in;
            });
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            Tensor y = Ops.activation(activation, param, x);
            LayerSampler sampler = LayerSampler.current();
            if (sampler != null) {
                sampler.activation(name, activation, y);
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
        static final LayerKind KIND = new LayerKind("layernorm", Set.of("eps"), (b, spec, name, in, into) -> {
            int d = in[in.length - 1];
            float eps = (float) spec.number("eps", Double.MIN_VALUE, 1.0, 1e-5);
            Tensor w = Tensor.zeros(d).named(name + ".weight").requiresGrad(true);
            w.fill(1f);
            Tensor bias = Tensor.zeros(d).named(name + ".bias").requiresGrad(true);
            into.add(new LayerNorm(name, w, bias, eps));
            return in;
        });

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
        static final LayerKind KIND = new LayerKind("dropout", Set.of("p"), (b, spec, name, in, into) -> {
            into.add(new Dropout(name, (float) spec.number("p", 0.0, 0.999999, 0.5)));
            return in;
        });

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
        static final LayerKind KIND = new LayerKind("flatten", Set.of(), (b, spec, name, in, into) -> {
            into.add(new Flatten(name));
            return new int[] {Shapes.size(in)};
        });

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
        static final LayerKind KIND = new LayerKind(
                "conv2d",
                Set.of("out_channels", "kernel", "stride", "padding", "bias", "init", "bias_init"),
                (b, spec, name, in, into) -> {
                    ModelBuilder.requireImage(spec, name + " (conv2d)", in);
                    int c = in[0];
                    int out = spec.integer("out_channels", 1);
                    int k = spec.integer("kernel", 1);
                    int stride = spec.integer("stride", 1, 1);
                    int pad = spec.integer("padding", 0, 0);
                    if (in[1] + 2 * pad < k || in[2] + 2 * pad < k) {
                        throw new SpecException(
                                spec.path() + ".kernel",
                                name + " (conv2d): kernel " + k + " is larger than the padded input " + Shapes.str(in));
                    }
                    Tensor w =
                            Tensor.zeros(out, c, k, k).named(name + ".weight").requiresGrad(true);
                    ModelBuilder.init(spec, "init").fill(w, c * k * k, out * k * k, b.rng());
                    into.add(new Conv2d(name, w, b.bias(spec, name, out), stride, pad));
                    return new int[] {out, Shapes.windows(in[1], k, stride, pad), Shapes.windows(in[2], k, stride, pad)
                    };
                });

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
        static final LayerKind KIND =
                new LayerKind("maxpool2d", Set.of("kernel", "stride"), (b, spec, name, in, into) -> {
                    ModelBuilder.requireImage(spec, name + " (maxpool2d)", in);
                    int k = spec.integer("kernel", 1);
                    int stride = spec.integer("stride", 1, k);
                    if (in[1] < k || in[2] < k) {
                        throw new SpecException(
                                spec.path() + ".kernel",
                                name + " (maxpool2d): kernel " + k + " is larger than the input " + Shapes.str(in));
                    }
                    into.add(new MaxPool2d(name, k, stride));
                    return new int[] {in[0], Shapes.windows(in[1], k, stride, 0), Shapes.windows(in[2], k, stride, 0)};
                });

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
        static final LayerKind KIND = new LayerKind("residual", Set.of("layers"), (b, spec, name, in, into) -> {
            List<Layer> body = new ArrayList<>();
            int[] out = b.layers(spec.objects("layers"), name + ".", in, body);
            if (!Arrays.equals(out, in)) {
                throw new SpecException(
                        spec.path(),
                        name + " (residual): its body maps " + Shapes.str(in) + " to " + Shapes.str(out)
                                + ", but x + body(x) needs the same shape");
            }
            into.add(new Residual(name, body));
            return in;
        });

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
