package dev.ringtape.checkpointing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.TreeSet;

/**
 * Which job a snapshot belongs to: a hash of what determines the trained model ({@code hash}) and that part of the
 * job itself as JSON ({@code spec}), so that a snapshot of another job is refused with what changed, key by key.
 * Snapshots written before the spec was kept have a null one.
 */
public record JobId(String hash, String spec) implements java.io.Serializable {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What differs from {@code before} (a snapshot's spec) to {@code after} (this job's), one {@code key.path old ->
     * new} each, in key order; null when either cannot be read.
     */
    static String changes(String before, String after) {
        if (before == null || after == null) {
            return null;
        }
        try {
            List<String> out = new ArrayList<>();
            diff("", JSON.readTree(before), JSON.readTree(after), out);
            return out.isEmpty() ? null : String.join("; ", out);
        } catch (IOException e) {
            return null;
        }
    }

    private static void diff(String path, JsonNode a, JsonNode b, List<String> out) {
        if (a != null && b != null && a.isObject() && b.isObject()) {
            TreeSet<String> keys = new TreeSet<>();
            a.fieldNames().forEachRemaining(keys::add);
            b.fieldNames().forEachRemaining(keys::add);
            for (String k : keys) {
                diff(path.isEmpty() ? k : path + "." + k, a.get(k), b.get(k), out);
            }
        } else if (a != null && b != null && a.isArray() && b.isArray()) {
            Iterator<JsonNode> x = a.elements();
            Iterator<JsonNode> y = b.elements();
            for (int i = 0; x.hasNext() || y.hasNext(); i++) {
                diff(path + "." + i, x.hasNext() ? x.next() : null, y.hasNext() ? y.next() : null, out);
            }
        } else if (a == null || b == null || !a.equals(b)) {
            out.add(path + " " + show(a) + " -> " + show(b));
        }
    }

    private static String show(JsonNode v) {
        if (v == null || v.isMissingNode()) {
            return "(none)";
        }
        return v.isTextual() ? v.asText() : v.toString();
    }
}
