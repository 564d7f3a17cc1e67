package dev.ringtape.runtime.nn;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/** A JSON/YAML object node with its key path, and typed reads that fail with a {@link SpecException}. */
public final class SpecNode {
    private final JsonNode node;
    private final String path;

    public SpecNode(JsonNode node, String path) {
        this.node = node;
        this.path = path;
    }

    public String path() {
        return path;
    }

    public JsonNode raw() {
        return node;
    }

    private String at(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    /** Fails on any key not in {@code allowed}, suggesting the closest one. */
    public SpecNode allowOnly(Set<String> allowed) throws SpecException {
        Iterator<String> names = node.fieldNames();
        while (names.hasNext()) {
            String k = names.next();
            if (!allowed.contains(k)) {
                String near = SpecException.closest(k, allowed);
                throw new SpecException(
                        at(k),
                        "unknown key" + (near == null ? "" : " (did you mean '" + near + "'?)") + "; valid keys: "
                                + String.join(", ", allowed.stream().sorted().toList()));
            }
        }
        return this;
    }

    public boolean has(String key) {
        return node.has(key) && !node.get(key).isNull();
    }

    public SpecNode object(String key) throws SpecException {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            throw new SpecException(at(key), "missing (required)");
        }
        if (!v.isObject()) {
            throw new SpecException(at(key), "expected a mapping, got " + describe(v));
        }
        return new SpecNode(v, at(key));
    }

    public List<SpecNode> objects(String key) throws SpecException {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            throw new SpecException(at(key), "missing (required)");
        }
        if (!v.isArray()) {
            throw new SpecException(at(key), "expected a list, got " + describe(v));
        }
        List<SpecNode> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            JsonNode e = v.get(i);
            if (!e.isObject()) {
                throw new SpecException(at(key) + "." + i, "expected a mapping, got " + describe(e));
            }
            out.add(new SpecNode(e, at(key) + "." + i));
        }
        return out;
    }

    public String string(String key) throws SpecException {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            throw new SpecException(at(key), "missing (required)");
        }
        if (!v.isTextual()) {
            throw new SpecException(at(key), "expected a string, got " + describe(v));
        }
        return v.asText();
    }

    public String string(String key, String dflt) throws SpecException {
        return has(key) ? string(key) : dflt;
    }

    /** An integer at least {@code min}. */
    public int integer(String key, int min) throws SpecException {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            throw new SpecException(at(key), "missing (required)");
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new SpecException(at(key), "expected an integer, got " + describe(v));
        }
        int i = v.asInt();
        if (i < min) {
            throw new SpecException(at(key), "must be at least " + min + ", got " + i);
        }
        return i;
    }

    public int integer(String key, int min, int dflt) throws SpecException {
        return has(key) ? integer(key, min) : dflt;
    }

    /** A finite number in {@code [min, max]}. */
    public double number(String key, double min, double max, double dflt) throws SpecException {
        if (!has(key)) {
            return dflt;
        }
        JsonNode v = node.get(key);
        if (!v.isNumber()) {
            throw new SpecException(at(key), "expected a number, got " + describe(v));
        }
        double d = v.asDouble();
        if (!(d >= min && d <= max)) {
            throw new SpecException(at(key), "must be in [" + min + ", " + max + "], got " + d);
        }
        return d;
    }

    public boolean bool(String key, boolean dflt) throws SpecException {
        if (!has(key)) {
            return dflt;
        }
        JsonNode v = node.get(key);
        if (!v.isBoolean()) {
            throw new SpecException(at(key), "expected true or false, got " + describe(v));
        }
        return v.asBoolean();
    }

    /** A list of positive integers (a shape). */
    public int[] shape(String key) throws SpecException {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            throw new SpecException(at(key), "missing (required)");
        }
        if (!v.isArray() || v.isEmpty()) {
            throw new SpecException(at(key), "expected a non-empty list of positive integers, got " + describe(v));
        }
        int[] s = new int[v.size()];
        for (int i = 0; i < s.length; i++) {
            JsonNode e = v.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToInt() || e.asInt() <= 0) {
                throw new SpecException(at(key), "expected positive integers, element " + i + " is " + describe(e));
            }
            s[i] = e.asInt();
        }
        return s;
    }

    public static String describe(JsonNode v) {
        if (v.isTextual()) {
            return "'" + v.asText() + "'";
        }
        if (v.isObject()) {
            return "a mapping";
        }
        if (v.isArray()) {
            return "a list";
        }
        return v.toString();
    }
}
