package dev.ringtape.runtime.conformance;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.nn.ForwardContext;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeSet;

/**
 * Runs one golden-gradient case (conformance/FORMAT.md): builds the model, loads the given parameters, runs one taped
 * forward and backward pass, and answers with the output, loss, parameter gradients and input gradient. A case that
 * cannot run answers {@code {"name", "error"}} with a one-line reason.
 */
public final class GradientCase {
    private static final ObjectMapper JSON = new ObjectMapper();

    private GradientCase() {}

    /** The result line for {@code file}: the computed tensors, or an error. */
    public static ObjectNode run(Path file) {
        String name = file.getFileName().toString().replaceFirst("\\.json$", "");
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            return error(name, "no such file: " + file);
        } catch (JsonProcessingException e) {
            return error(
                    name,
                    "malformed JSON at line " + e.getLocation().getLineNr() + ", column "
                            + e.getLocation().getColumnNr() + ": " + e.getOriginalMessage());
        } catch (IOException e) {
            return error(name, "cannot read " + file + ": " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            return error(name, "a case must be one JSON object");
        }
        if (root.hasNonNull("name") && root.get("name").isTextual()) {
            name = root.get("name").asText();
        }
        try {
            return run(name, root);
        } catch (SpecException e) {
            return error(name, e.getMessage());
        } catch (IllegalArgumentException e) {
            return error(name, e.getMessage());
        }
    }

    private static ObjectNode run(String name, JsonNode root) throws SpecException {
        Sequential model = ModelBuilder.build(root.get("model"), 0L);
        loadParams(model, root.get("params"));
        Tensor input = tensor(root.get("input"), "input").requiresGrad(true);
        int[] sample = Shapes.sample(input.shape());
        if (input.rank() < 1 || !Arrays.equals(sample, model.inputShape())) {
            throw new SpecException(
                    "input",
                    "shape " + Shapes.str(input.shape()) + " does not match the model input "
                            + Shapes.str(model.inputShape()) + " with a batch axis in front");
        }
        Tensor target = tensor(root.get("target"), "target");
        ObjectNode out = JSON.createObjectNode();
        out.put("name", name);
        try (Tape tape = Tape.record()) {
            Tensor y = model.forward(input, ForwardContext.EVAL);
            Tensor loss = model.objective(y, target);
            tape.backward(loss);
            out.set("output", json(y));
            out.put("loss", loss.item());
        }
        ObjectNode grads = out.putObject("grads");
        for (Map.Entry<String, Tensor> p : model.parameters().entrySet()) {
            Tensor g = p.getValue().grad();
            grads.set(p.getKey(), json(g == null ? Tensor.zeros(p.getValue().shape()) : g));
        }
        if (!model.takesTokenIds()) {
            out.set("input_grad", json(input.grad() == null ? Tensor.zeros(input.shape()) : input.grad()));
        }
        return out;
    }

    private static void loadParams(Sequential model, JsonNode params) throws SpecException {
        if (params == null || !params.isObject()) {
            throw new SpecException("params", "missing or not an object of name -> {shape, data}");
        }
        Map<String, Tensor> want = model.parameters();
        for (Iterator<String> it = params.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!want.containsKey(k)) {
                throw new SpecException(
                        "params." + k, "the model has no such parameter; it has " + new TreeSet<>(want.keySet()));
            }
        }
        for (Map.Entry<String, Tensor> e : want.entrySet()) {
            JsonNode given = params.get(e.getKey());
            if (given == null) {
                throw new SpecException("params", "missing parameter " + e.getKey());
            }
            Tensor t = tensor(given, "params." + e.getKey());
            if (!Arrays.equals(t.shape(), e.getValue().shape())) {
                throw new SpecException(
                        "params." + e.getKey(),
                        "shape " + Shapes.str(t.shape()) + " does not match the model's "
                                + Shapes.str(e.getValue().shape()));
            }
            e.getValue().copyFrom(t);
        }
    }

    /** Reads {@code {"shape": [...], "data": [...]}}. */
    public static Tensor tensor(JsonNode node, String path) throws SpecException {
        if (node == null || !node.isObject()) {
            throw new SpecException(path, "missing or not a {shape, data} object");
        }
        JsonNode shapeNode = node.get("shape");
        JsonNode dataNode = node.get("data");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw new SpecException(path + ".shape", "missing or not a list");
        }
        if (dataNode == null || !dataNode.isArray()) {
            throw new SpecException(path + ".data", "missing or not a list");
        }
        int[] shape = new int[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.isIntegralNumber() || d.asInt() < 0) {
                throw new SpecException(path + ".shape", "dimension " + i + " is " + d + ", not a size");
            }
            shape[i] = d.asInt();
        }
        int n = Shapes.size(shape);
        if (dataNode.size() != n) {
            throw new SpecException(
                    path + ".data", "has " + dataNode.size() + " values, shape " + Shapes.str(shape) + " needs " + n);
        }
        float[] data = new float[n];
        for (int i = 0; i < n; i++) {
            JsonNode v = dataNode.get(i);
            if (!v.isNumber()) {
                throw new SpecException(path + ".data", "value " + i + " is " + v + ", not a number");
            }
            data[i] = (float) v.asDouble();
        }
        return Tensor.of(data, shape);
    }

    /** Writes a tensor as {@code {"shape": [...], "data": [...]}}. */
    public static ObjectNode json(Tensor t) {
        ObjectNode o = JSON.createObjectNode();
        ArrayNode s = o.putArray("shape");
        for (int d : t.shape()) {
            s.add(d);
        }
        ArrayNode d = o.putArray("data");
        for (float v : t.toArray()) {
            d.add(v);
        }
        return o;
    }

    private static ObjectNode error(String name, String message) {
        ObjectNode o = JSON.createObjectNode();
        o.put("name", name);
        o.put("error", message.replace('\n', ' '));
        return o;
    }
}
