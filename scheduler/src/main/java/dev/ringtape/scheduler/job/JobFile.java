package dev.ringtape.scheduler.job;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.ringtape.runtime.nn.SpecException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A YAML job file read into a JSON tree, remembering the line of every key so that an error about {@code
 * train.optimizer.lr} can say {@code job.yaml:23}. {@code --set key.path=value} overrides are applied on top and
 * reported as coming from the command line.
 */
public final class JobFile {
    private static final YAMLFactory YAML = new YAMLFactory();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final Path path;
    private final ObjectNode root;
    private final Map<String, Integer> lines;
    private final Map<String, String> overridden = new HashMap<>();

    private JobFile(Path path, ObjectNode root, Map<String, Integer> lines) {
        this.path = path;
        this.root = root;
        this.lines = lines;
    }

    /** Reads {@code path} and applies {@code overrides} ({@code key.path=value}, the value in YAML syntax). */
    public static JobFile load(Path path, List<String> overrides) throws JobException {
        String text;
        try {
            text = Files.readString(path);
        } catch (NoSuchFileException e) {
            throw new JobException(path + ": no such file");
        } catch (IOException e) {
            throw new JobException(path + ": cannot read: " + e.getMessage());
        }
        Map<String, Integer> lines = new HashMap<>();
        JsonNode root;
        try (JsonParser p = YAML.createParser(text)) {
            if (p.nextToken() == null) {
                throw new JobException(path + ": the file is empty");
            }
            root = read(p, "", lines, path);
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            throw new JobException(
                    path + (at == null ? "" : ":" + at.getLineNr()) + ": not valid YAML: " + yamlProblem(e));
        } catch (IOException e) {
            throw new JobException(path + ": cannot read: " + e.getMessage());
        }
        if (!root.isObject()) {
            throw new JobException(path + ":1: a job file is a mapping of keys (name, model, data, train, ...)");
        }
        JobFile job = new JobFile(path, (ObjectNode) root, lines);
        for (String o : overrides) {
            job.override(o);
        }
        return job;
    }

    /** SnakeYAML's message without its source excerpts and position lines (the line is reported separately). */
    private static String yamlProblem(JsonProcessingException e) {
        StringBuilder out = new StringBuilder();
        for (String line : e.getOriginalMessage().split("\n")) {
            if (line.isBlank() || Character.isWhitespace(line.charAt(0)) || line.contains("in 'reader'")) {
                continue;
            }
            out.append(out.length() == 0 ? "" : "; ").append(line.strip());
        }
        return out.toString();
    }

    private static JsonNode read(JsonParser p, String at, Map<String, Integer> lines, Path path)
            throws IOException, JobException {
        JsonToken t = p.currentToken();
        switch (t) {
            case START_OBJECT -> {
                ObjectNode o = NODES.objectNode();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String key = p.currentName();
                    String keyPath = at.isEmpty() ? key : at + "." + key;
                    int line = p.currentTokenLocation().getLineNr();
                    if (o.has(key)) {
                        throw new JobException(path + ":" + line + ": " + keyPath + ": duplicate key (first at line "
                                + lines.get(keyPath) + ")");
                    }
                    lines.put(keyPath, line);
                    p.nextToken();
                    o.set(key, read(p, keyPath, lines, path));
                }
                return o;
            }
            case START_ARRAY -> {
                ArrayNode a = NODES.arrayNode();
                int i = 0;
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    String itemPath = at + "." + i++;
                    lines.put(itemPath, p.currentTokenLocation().getLineNr());
                    a.add(read(p, itemPath, lines, path));
                }
                return a;
            }
            case VALUE_STRING -> {
                return NODES.textNode(p.getText());
            }
            case VALUE_NUMBER_INT -> {
                return NODES.numberNode(p.getLongValue());
            }
            case VALUE_NUMBER_FLOAT -> {
                return NODES.numberNode(p.getDoubleValue());
            }
            case VALUE_TRUE, VALUE_FALSE -> {
                return NODES.booleanNode(p.getBooleanValue());
            }
            case VALUE_NULL -> {
                return NODES.nullNode();
            }
            default -> throw new JobException(
                    path + ":" + p.currentTokenLocation().getLineNr() + ": unexpected YAML token " + t);
        }
    }

    private static final String SPARK_CONF = "spark.conf.";

    private void override(String assignment) throws JobException {
        int eq = assignment.indexOf('=');
        if (eq <= 0) {
            throw new JobException("--set " + assignment + ": expected key.path=value");
        }
        String key = assignment.substring(0, eq).trim();
        String valueText = assignment.substring(eq + 1);
        JsonNode value;
        try (JsonParser p = YAML.createParser(valueText.isEmpty() ? "null" : valueText)) {
            p.nextToken();
            value = read(p, key, new HashMap<>(), Path.of("--set"));
        } catch (IOException e) {
            throw new JobException("--set " + key + ": the value '" + valueText + "' is not valid YAML");
        }
        // a Spark setting's name has dots of its own: everything after spark.conf. is one key
        String[] parts = key.startsWith(SPARK_CONF)
                ? new String[] {"spark", "conf", key.substring(SPARK_CONF.length())}
                : key.split("\\.");
        JsonNode node = root;
        for (int i = 0; i < parts.length - 1; i++) {
            JsonNode next = child(node, parts[i]);
            if (next == null || next.isNull()) {
                if (!node.isObject()) {
                    throw new JobException("--set " + key + ": "
                            + String.join(".", List.of(parts).subList(0, i + 1)) + " does not exist");
                }
                next = ((ObjectNode) node).putObject(parts[i]);
            }
            if (!next.isContainerNode()) {
                throw new JobException("--set " + key + ": "
                        + String.join(".", List.of(parts).subList(0, i + 1)) + " is a value, not a section");
            }
            node = next;
        }
        String last = parts[parts.length - 1];
        if (node.isObject()) {
            ((ObjectNode) node).set(last, value);
        } else {
            int index = index(last, node.size(), key);
            ((ArrayNode) node).set(index, value);
        }
        overridden.put(key, assignment);
    }

    private static JsonNode child(JsonNode node, String part) throws JobException {
        if (node.isArray()) {
            return node.get(index(part, node.size(), part));
        }
        return node.get(part);
    }

    private static int index(String part, int size, String key) throws JobException {
        try {
            int i = Integer.parseInt(part);
            if (i >= 0 && i < size) {
                return i;
            }
        } catch (NumberFormatException e) {
            // fall through to the error below
        }
        throw new JobException("--set " + key + ": '" + part + "' is not an index of a list of " + size);
    }

    public Path path() {
        return path;
    }

    public ObjectNode root() {
        return root;
    }

    /**
     * Where {@code keyPath} was written: {@code --set k=v}, or {@code file:line} of the key or of its nearest written
     * parent.
     */
    public String where(String keyPath) {
        for (String p = keyPath; !p.isEmpty(); p = p.contains(".") ? p.substring(0, p.lastIndexOf('.')) : "") {
            if (overridden.containsKey(p)) {
                return "--set " + overridden.get(p);
            }
            Integer line = lines.get(p);
            if (line != null) {
                return path + ":" + line;
            }
        }
        return path.toString();
    }

    /** The one-line error for a spec problem: {@code file:line: key.path: problem}. */
    public JobException error(SpecException e) {
        return new JobException(where(e.path()) + ": " + e.getMessage());
    }
}
