package dev.ringtape.runtime.nn;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Builds a {@link Sequential} from the {@code model:} section of a job (DESIGN.md, conformance/FORMAT.md), checking
 * every key and inferring shapes layer by layer so that a mismatch names the layer. Parameters are initialized in
 * declaration order from one seeded generator.
 */
public final class ModelBuilder {
    private static final Map<String, Activation> ACTIVATIONS = Map.of(
            "relu", Activation.RELU,
            "leaky_relu", Activation.LEAKY_RELU,
            "sigmoid", Activation.SIGMOID,
            "tanh", Activation.TANH,
            "gelu", Activation.GELU_ERF,
            "silu", Activation.SILU,
            "elu", Activation.ELU,
            "softplus", Activation.SOFTPLUS);

    /** Layer types and the keys each accepts. */
    private static final Map<String, Set<String>> KEYS = new TreeMap<>(Map.ofEntries(
            Map.entry("linear", Set.of("type", "out", "bias", "init", "bias_init")),
            Map.entry("relu", Set.of("type")),
            Map.entry("sigmoid", Set.of("type")),
            Map.entry("tanh", Set.of("type")),
            Map.entry("silu", Set.of("type")),
            Map.entry("softplus", Set.of("type")),
            Map.entry("leaky_relu", Set.of("type", "negative_slope")),
            Map.entry("elu", Set.of("type", "alpha")),
            Map.entry("gelu", Set.of("type", "approximate")),
            Map.entry("layernorm", Set.of("type", "eps")),
            Map.entry("dropout", Set.of("type", "p")),
            Map.entry("residual", Set.of("type", "layers")),
            Map.entry("flatten", Set.of("type")),
            Map.entry(
                    "conv2d",
                    Set.of("type", "out_channels", "kernel", "stride", "padding", "bias", "init", "bias_init")),
            Map.entry("maxpool2d", Set.of("type", "kernel", "stride"))));

    private final SplittableRandom rng;

    private ModelBuilder(long seed) {
        this.rng = new SplittableRandom(seed);
    }

    /** Builds the model described by {@code model} (the JSON/YAML node of the {@code model:} key). */
    public static Sequential build(JsonNode model, long seed) throws SpecException {
        if (model == null || !model.isObject()) {
            throw new SpecException("model", "missing or not a mapping");
        }
        SpecNode spec = new SpecNode(model, "model").allowOnly(Set.of("input", "layers", "loss"));
        int[] input = spec.shape("input");
        ModelBuilder b = new ModelBuilder(seed);
        List<Layer> layers = new ArrayList<>();
        int[] out = b.layers(spec.objects("layers"), "", input, layers);
        SpecNode lossNode = spec.object("loss").allowOnly(Set.of("type"));
        String lossType = lossNode.string("type");
        Loss loss = Loss.byKey(lossType);
        if (loss == null) {
            List<String> keys = Arrays.stream(Loss.values()).map(Loss::key).toList();
            String near = SpecException.closest(lossType, keys);
            throw new SpecException(
                    "model.loss.type",
                    "unknown loss '" + lossType + "'" + (near == null ? "" : " (did you mean '" + near + "'?)")
                            + "; expected one of " + String.join(", ", keys));
        }
        if (loss != Loss.MSE && out.length != 1) {
            throw new SpecException(
                    "model.loss",
                    loss.key() + " needs a flat output per sample, the last layer gives " + Shapes.str(out)
                            + " (add a flatten layer)");
        }
        return new Sequential(input, out, layers, loss);
    }

    /** Builds {@code specs} into {@code into}, returning the per-sample output shape. */
    private int[] layers(List<SpecNode> specs, String prefix, int[] shape, List<Layer> into) throws SpecException {
        if (specs.isEmpty()) {
            throw new SpecException(prefix.isEmpty() ? "model.layers" : "model." + prefix + "layers", "empty");
        }
        int[] s = shape;
        for (int i = 0; i < specs.size(); i++) {
            String name = prefix + "layers." + i;
            s = layer(specs.get(i), name, s, into);
        }
        return s;
    }

    private int[] layer(SpecNode spec, String name, int[] in, List<Layer> into) throws SpecException {
        String type = spec.string("type");
        Set<String> keys = KEYS.get(type);
        if (keys == null) {
            String near = SpecException.closest(type, KEYS.keySet());
            throw new SpecException(
                    spec.path() + ".type",
                    "unknown layer type '" + type + "'" + (near == null ? "" : " (did you mean '" + near + "'?)")
                            + "; expected one of " + String.join(", ", KEYS.keySet()));
        }
        spec.allowOnly(keys);
        String where = name + " (" + type + ")";
        switch (type) {
            case "linear" -> {
                int fanIn = in[in.length - 1];
                int out = spec.integer("out", 1);
                Tensor w = Tensor.zeros(out, fanIn).named(name + ".weight").requiresGrad(true);
                init(spec, "init").fill(w, fanIn, out, rng);
                Tensor bias = null;
                if (spec.bool("bias", true)) {
                    bias = Tensor.zeros(out).named(name + ".bias").requiresGrad(true);
                    bias.fill((float) spec.number("bias_init", -1e30, 1e30, 0.0));
                }
                into.add(new Layers.Linear(name, w, bias));
                int[] o = in.clone();
                o[o.length - 1] = out;
                return o;
            }
            case "layernorm" -> {
                int d = in[in.length - 1];
                float eps = (float) spec.number("eps", Double.MIN_VALUE, 1.0, 1e-5);
                Tensor w = Tensor.zeros(d).named(name + ".weight").requiresGrad(true);
                w.fill(1f);
                Tensor b = Tensor.zeros(d).named(name + ".bias").requiresGrad(true);
                into.add(new Layers.LayerNorm(name, w, b, eps));
                return in;
            }
            case "dropout" -> {
                float p = (float) spec.number("p", 0.0, 0.999999, 0.5);
                into.add(new Layers.Dropout(name, p));
                return in;
            }
            case "flatten" -> {
                into.add(new Layers.Flatten(name));
                return new int[] {Shapes.size(in)};
            }
            case "residual" -> {
                List<Layer> body = new ArrayList<>();
                int[] out = layers(spec.objects("layers"), name + ".", in, body);
                if (!Arrays.equals(out, in)) {
                    throw new SpecException(
                            spec.path(),
                            where + ": its body maps " + Shapes.str(in) + " to " + Shapes.str(out)
                                    + ", but x + body(x) needs the same shape");
                }
                into.add(new Layers.Residual(name, body));
                return in;
            }
            case "conv2d" -> {
                requireImage(spec, where, in);
                int c = in[0];
                int out = spec.integer("out_channels", 1);
                int k = spec.integer("kernel", 1);
                int stride = spec.integer("stride", 1, 1);
                int pad = spec.integer("padding", 0, 0);
                int oh = Shapes.windows(in[1], k, stride, pad);
                int ow = Shapes.windows(in[2], k, stride, pad);
                if (in[1] + 2 * pad < k || in[2] + 2 * pad < k) {
                    throw new SpecException(
                            spec.path() + ".kernel",
                            where + ": kernel " + k + " is larger than the padded input " + Shapes.str(in));
                }
                Tensor w = Tensor.zeros(out, c, k, k).named(name + ".weight").requiresGrad(true);
                init(spec, "init").fill(w, c * k * k, out * k * k, rng);
                Tensor bias = null;
                if (spec.bool("bias", true)) {
                    bias = Tensor.zeros(out).named(name + ".bias").requiresGrad(true);
                    bias.fill((float) spec.number("bias_init", -1e30, 1e30, 0.0));
                }
                into.add(new Layers.Conv2d(name, w, bias, stride, pad));
                return new int[] {out, oh, ow};
            }
            case "maxpool2d" -> {
                requireImage(spec, where, in);
                int k = spec.integer("kernel", 1);
                int stride = spec.integer("stride", 1, k);
                if (in[1] < k || in[2] < k) {
                    throw new SpecException(
                            spec.path() + ".kernel",
                            where + ": kernel " + k + " is larger than the input " + Shapes.str(in));
                }
                into.add(new Layers.MaxPool2d(name, k, stride));
                return new int[] {in[0], Shapes.windows(in[1], k, stride, 0), Shapes.windows(in[2], k, stride, 0)};
            }
            default -> {
                Activation act = ACTIVATIONS.get(type);
                float param = 0f;
                if (type.equals("leaky_relu")) {
                    param = (float) spec.number("negative_slope", -1e30, 1e30, 0.01);
                } else if (type.equals("elu")) {
                    param = (float) spec.number("alpha", -1e30, 1e30, 1.0);
                } else if (type.equals("gelu")) {
                    String approx = spec.string("approximate", "none");
                    if (approx.equals("tanh")) {
                        act = Activation.GELU_TANH;
                    } else if (!approx.equals("none")) {
                        throw new SpecException(
                                spec.path() + ".approximate", "expected 'none' or 'tanh', got '" + approx + "'");
                    }
                }
                into.add(new Layers.Act(name, type, act, param));
                return in;
            }
        }
    }

    private static void requireImage(SpecNode spec, String where, int[] in) throws SpecException {
        if (in.length != 3) {
            throw new SpecException(
                    spec.path(), where + ": needs [channels, height, width] per sample, got " + Shapes.str(in));
        }
    }

    /** The {@code init:} of a layer: a name, {@code {normal: {std}}} or {@code {uniform: {a}}}. */
    private static Init init(SpecNode spec, String key) throws SpecException {
        if (!spec.has(key)) {
            return new Init.KaimingUniform();
        }
        JsonNode v = spec.raw().get(key);
        String path = spec.path() + "." + key;
        if (v.isTextual()) {
            return switch (v.asText()) {
                case "kaiming_uniform" -> new Init.KaimingUniform();
                case "kaiming_normal" -> new Init.KaimingNormal();
                case "xavier_uniform" -> new Init.XavierUniform();
                case "xavier_normal" -> new Init.XavierNormal();
                case "zeros" -> new Init.Constant(0f);
                default -> throw new SpecException(
                        path,
                        "unknown initializer '" + v.asText() + "'; expected kaiming_uniform, kaiming_normal,"
                                + " xavier_uniform, xavier_normal, zeros, {normal: {std: s}} or {uniform: {a: a}}");
            };
        }
        if (v.isObject() && v.size() == 1) {
            SpecNode n = new SpecNode(v, path);
            if (v.has("normal")) {
                SpecNode p = n.object("normal").allowOnly(Set.of("std"));
                return new Init.Normal(p.number("std", 0.0, 1e30, 1.0));
            }
            if (v.has("uniform")) {
                SpecNode p = n.object("uniform").allowOnly(Set.of("a"));
                return new Init.Uniform(p.number("a", 0.0, 1e30, 1.0));
            }
        }
        throw new SpecException(
                path,
                "expected an initializer name, {normal: {std: s}} or {uniform: {a: a}}, got " + SpecNode.describe(v));
    }
}
