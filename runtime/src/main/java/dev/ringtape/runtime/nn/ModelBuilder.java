package dev.ringtape.runtime.nn;

import com.fasterxml.jackson.databind.JsonNode;
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
    /** Every layer type of the job schema, by name: add a layer of {@link Layers} here with its kind. */
    static final Map<String, LayerKind> KINDS = kinds(
            Layers.Linear.KIND,
            Layers.LayerNorm.KIND,
            Layers.Dropout.KIND,
            Layers.Flatten.KIND,
            Layers.Residual.KIND,
            Layers.Conv2d.KIND,
            Layers.MaxPool2d.KIND,
            Layers.Embedding.KIND,
            Layers.Positional.KIND,
            Layers.Attention.KIND);

    private static Map<String, LayerKind> kinds(LayerKind... kinds) {
        Map<String, LayerKind> m = new TreeMap<>();
        for (LayerKind k : kinds) {
            m.put(k.type(), k);
        }
        for (LayerKind k : Layers.Act.kinds()) {
            m.put(k.type(), k);
        }
        return java.util.Collections.unmodifiableMap(m);
    }

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
        SpecNode lossNode = spec.object("loss").allowOnly(Set.of("type", "z_loss"));
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
        if (loss == Loss.SOFTMAX_CROSS_ENTROPY && out.length != 1 && out.length != 2) {
            throw new SpecException(
                    "model.loss",
                    loss.key() + " needs [classes] or [positions, classes] per sample, the last layer gives "
                            + Shapes.str(out) + " (add a flatten layer)");
        }
        if (loss == Loss.BCE_WITH_LOGITS && out.length != 1) {
            throw new SpecException(
                    "model.loss",
                    loss.key() + " needs a flat output per sample, the last layer gives " + Shapes.str(out)
                            + " (add a flatten layer)");
        }
        double zLoss = 0;
        if (lossNode.has("z_loss")) {
            if (loss != Loss.SOFTMAX_CROSS_ENTROPY) {
                throw new SpecException("model.loss.z_loss", "only softmax_cross_entropy has a z-loss");
            }
            zLoss = lossNode.number("z_loss", 0.0, 1.0, 0.0);
        }
        return new Sequential(input, out, layers, loss, zLoss);
    }

    /** Builds {@code specs} into {@code into}, returning the per-sample output shape. */
    int[] layers(List<SpecNode> specs, String prefix, int[] shape, List<Layer> into) throws SpecException {
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
        LayerKind kind = KINDS.get(type);
        if (kind == null) {
            String near = SpecException.closest(type, KINDS.keySet());
            throw new SpecException(
                    spec.path() + ".type",
                    "unknown layer type '" + type + "'" + (near == null ? "" : " (did you mean '" + near + "'?)")
                            + "; expected one of " + String.join(", ", KINDS.keySet()));
        }
        Set<String> keys = new java.util.HashSet<>(kind.keys());
        keys.add("type");
        spec.allowOnly(keys);
        return kind.builder().build(this, spec, name, in, into);
    }

    /** The generator parameters are initialized from, in declaration order. */
    SplittableRandom rng() {
        return rng;
    }

    /** A layer's bias of {@code out} values ({@code bias_init}, 0 by default), or null with {@code bias: false}. */
    Tensor bias(SpecNode spec, String name, int out) throws SpecException {
        if (!spec.bool("bias", true)) {
            return null;
        }
        Tensor bias = Tensor.zeros(out).named(name + ".bias").requiresGrad(true);
        bias.fill((float) spec.number("bias_init", -1e30, 1e30, 0.0));
        return bias;
    }

    static void requireImage(SpecNode spec, String where, int[] in) throws SpecException {
        if (in.length != 3) {
            throw new SpecException(
                    spec.path(), where + ": needs [channels, height, width] per sample, got " + Shapes.str(in));
        }
    }

    /** The {@code init:} of a layer: a name, {@code {normal: {std}}} or {@code {uniform: {a}}}. */
    static Init init(SpecNode spec, String key) throws SpecException {
        return init(spec, key, new Init.KaimingUniform());
    }

    /** The {@code init:} of a layer, {@code otherwise} when it has none. */
    static Init init(SpecNode spec, String key, Init otherwise) throws SpecException {
        if (!spec.has(key)) {
            return otherwise;
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
