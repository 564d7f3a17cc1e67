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
            into.add(of(name, in[in.length - 1], (float) spec.number("eps", Double.MIN_VALUE, 1.0, 1e-5)));
            return in;
        });

        /** A layer norm of width {@code d} as PyTorch initializes it: weight 1, bias 0. */
        static LayerNorm of(String name, int d, float eps) {
            Tensor w = Tensor.zeros(d).named(name + ".weight").requiresGrad(true);
            w.fill(1f);
            Tensor bias = Tensor.zeros(d).named(name + ".bias").requiresGrad(true);
            return new LayerNorm(name, w, bias, eps);
        }

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

    /** Token ids to vectors: {@code y[.., :] = weight[id, :]}, as {@code nn.Embedding}. */
    public record Embedding(String name, Tensor weight) implements Layer {
        static final LayerKind KIND =
                new LayerKind("embedding", Set.of("vocab", "dim", "init"), (b, spec, name, in, into) -> {
                    int vocab = spec.integer("vocab", 1);
                    int dim = spec.integer("dim", 1);
                    Tensor w = Tensor.zeros(vocab, dim).named(name + ".weight").requiresGrad(true);
                    ModelBuilder.init(spec, "init", new Init.Normal(1.0)).fill(w, vocab, dim, b.rng());
                    into.add(new Embedding(name, w));
                    int[] o = Arrays.copyOf(in, in.length + 1);
                    o[in.length] = dim;
                    return o;
                });

        @Override
        public String type() {
            return "embedding";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            return Ops.embedding(x, Ops.cast(weight));
        }

        @Override
        public List<Tensor> parameters() {
            return List.of(weight);
        }
    }

    /** Learned absolute positions, added: {@code y = x + weight[:T]} over [N, T, D]. */
    public record Positional(String name, Tensor weight) implements Layer {
        static final LayerKind KIND =
                new LayerKind("positional", Set.of("max_len", "init"), (b, spec, name, in, into) -> {
                    int maxLen = spec.integer("max_len", 1);
                    if (in.length != 2) {
                        throw new SpecException(
                                spec.path(),
                                name + " (positional): needs [positions, width] per sample, got " + Shapes.str(in));
                    }
                    if (in[0] > maxLen) {
                        throw new SpecException(
                                spec.path() + ".max_len",
                                name + " (positional): the input has " + in[0] + " positions, more than max_len "
                                        + maxLen);
                    }
                    Tensor w =
                            Tensor.zeros(maxLen, in[1]).named(name + ".weight").requiresGrad(true);
                    ModelBuilder.init(spec, "init", new Init.Normal(1.0)).fill(w, maxLen, in[1], b.rng());
                    into.add(new Positional(name, w));
                    return in;
                });

        @Override
        public String type() {
            return "positional";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            return Ops.addPositional(x, Ops.cast(weight));
        }

        @Override
        public List<Tensor> parameters() {
            return List.of(weight);
        }
    }

    /**
     * Multi-head scaled dot-product self-attention over [N, T, D], as nanoGPT's {@code CausalSelfAttention} ({@code
     * c_attn} is {@code qkv}, {@code c_proj} is {@code proj}), optionally with layer norm on queries and keys. The heads
     * run as batched GEMMs over [N, heads]; the attention weights stay in float32.
     */
    public record Attention(
            String name,
            int heads,
            boolean causal,
            float dropout,
            Tensor qkvWeight,
            Tensor qkvBias,
            Tensor projWeight,
            Tensor projBias,
            LayerNorm qNorm,
            LayerNorm kNorm)
            implements Layer {
        static final LayerKind KIND = new LayerKind(
                "attention",
                Set.of("heads", "causal", "qk_layernorm", "bias", "dropout", "init"),
                (b, spec, name, in, into) -> {
                    if (in.length != 2) {
                        throw new SpecException(
                                spec.path(),
                                name + " (attention): needs [positions, width] per sample, got " + Shapes.str(in));
                    }
                    int d = in[1];
                    int heads = spec.integer("heads", 1);
                    if (d % heads != 0) {
                        throw new SpecException(
                                spec.path() + ".heads",
                                name + " (attention): width " + d + " does not split into " + heads + " heads");
                    }
                    Init init = ModelBuilder.init(spec, "init");
                    Tensor qkv =
                            Tensor.zeros(3 * d, d).named(name + ".qkv.weight").requiresGrad(true);
                    init.fill(qkv, d, 3 * d, b.rng());
                    Tensor qkvBias = b.bias(spec, name + ".qkv", 3 * d);
                    Tensor proj =
                            Tensor.zeros(d, d).named(name + ".proj.weight").requiresGrad(true);
                    init.fill(proj, d, d, b.rng());
                    Tensor projBias = b.bias(spec, name + ".proj", d);
                    LayerNorm qNorm = null;
                    LayerNorm kNorm = null;
                    if (spec.bool("qk_layernorm", false)) {
                        qNorm = LayerNorm.of(name + ".q_norm", d / heads, 1e-5f);
                        kNorm = LayerNorm.of(name + ".k_norm", d / heads, 1e-5f);
                    }
                    float dropout = (float) spec.number("dropout", 0.0, 0.999999, 0.0);
                    into.add(new Attention(
                            name,
                            heads,
                            spec.bool("causal", true),
                            dropout,
                            qkv,
                            qkvBias,
                            proj,
                            projBias,
                            qNorm,
                            kNorm));
                    return in;
                });

        @Override
        public String type() {
            return "attention";
        }

        @Override
        public Tensor forward(Tensor x, ForwardContext ctx) {
            if (x.rank() != 3) {
                throw new IllegalArgumentException(
                        name + " (attention): needs [N, T, D], got " + Shapes.str(x.shape()));
            }
            int n = x.dim(0);
            int t = x.dim(1);
            int d = x.dim(2);
            int hd = d / heads;
            Tensor qkv = Ops.linear(x, Ops.cast(qkvWeight), Ops.cast(qkvBias));
            // [N, T, 3, H, hd] -> [3, N, H, T, hd]: q, k and v each [N, H, T, hd], one matrix per head
            Tensor parts = Ops.permute(Ops.reshape(qkv, n, t, 3, heads, hd), 2, 0, 3, 1, 4);
            Tensor q = Ops.select(parts, 0);
            Tensor k = Ops.select(parts, 1);
            Tensor v = Ops.select(parts, 2);
            if (qNorm != null) {
                q = qNorm.forward(q, ctx);
                k = kNorm.forward(k, ctx);
            }
            Tensor scores = Ops.bmm(q, false, k, true, (float) (1.0 / Math.sqrt(hd)));
            Tensor weights = Ops.softmax(scores, causal);
            LayerSampler sampler = LayerSampler.current();
            if (sampler != null) {
                sampler.attention(name, scores, weights, heads, causal);
            }
            if (ctx.training() && dropout > 0f) {
                weights = Ops.dropout(weights, dropout, ctx.seedFor(name + ".weights"));
            }
            Tensor y = Ops.bmm(weights, false, v, false, 1f);
            Tensor merged = Ops.reshape(Ops.permute(y, 0, 2, 1, 3), n, t, d);
            return Ops.linear(merged, Ops.cast(projWeight), Ops.cast(projBias));
        }

        @Override
        public List<Tensor> parameters() {
            List<Tensor> out = new ArrayList<>();
            out.add(qkvWeight);
            if (qkvBias != null) {
                out.add(qkvBias);
            }
            out.add(projWeight);
            if (projBias != null) {
                out.add(projBias);
            }
            if (qNorm != null) {
                out.addAll(qNorm.parameters());
                out.addAll(kNorm.parameters());
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
