package dev.ringtape.telemetry;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;

/**
 * The one home of the telemetry schema: every record type and every key, as the writers (the step loop, the
 * trainer, the diagnoser, the driver's merger) and the readers ({@code watch}, {@code report}, the console) spell
 * them. telemetry/README.md documents each of them, which {@code SchemaTest} checks.
 */
public final class Schema {
    private Schema() {}

    /** Record types: the {@code type} of a record. */
    public static final class Type {
        private Type() {}

        public static final String RUN = "run";
        public static final String STEP = "step";
        public static final String LAYER = "layer";
        public static final String DIAGNOSIS = "diagnosis";
        public static final String NONFINITE = "nonfinite";
        public static final String EVENT = "event";
        public static final String CHECKPOINT = "checkpoint";
        public static final String END = "end";
    }

    // every record
    public static final String TYPE = "type";
    public static final String TS = "ts";
    public static final String JOB = "job";
    public static final String STEP = "step";
    public static final String RANK = "rank";

    // run
    /** The version of this schema a log was written in ({@link #VERSION}), so readers can tell what to expect. */
    public static final String SCHEMA_VERSION = "schema_version";
    /**
     * This schema's version: 2 since the {@code schema_version} key itself and BLOWUP (sixth session); logs without
     * the key are version 1.
     */
    public static final int VERSION = 2;

    public static final String WORLD_SIZE = "world_size";
    public static final String THREADS = "threads";
    public static final String THREADS_WHY = "threads_why";
    public static final String BACKEND = "backend";
    public static final String BACKEND_WHY = "backend_why";
    public static final String GPU = "gpu";
    public static final String CONFIG = "config";
    public static final String LAYERS = "layers";
    public static final String NAME = "name";
    public static final String PARAMS = "params";

    // step
    public static final String LOSS = "loss";
    public static final String LR = "lr";
    public static final String LOSS_SCALE = "loss_scale";
    public static final String SKIPPED = "skipped";
    public static final String GRAD_NORM = "grad_norm";
    public static final String CLIPPED = "clipped";
    public static final String SAMPLES = "samples";
    public static final String PHASE_MS = "phase_ms";
    public static final String FORWARD = "forward";
    public static final String BACKWARD = "backward";
    public static final String ALLREDUCE = "allreduce";
    public static final String OPTIMIZER = "optimizer";
    public static final String TELEMETRY = "telemetry";
    public static final String ALLREDUCE_BYTES = "allreduce_bytes";
    public static final String ALLREDUCE_HIDDEN_MS = "allreduce_hidden_ms";
    /** Bytes this rank sent in the step's sums of arrays (frame headers included; half as many under bf16). */
    public static final String ALLREDUCE_SENT_BYTES = "allreduce_sent_bytes";

    public static final String ALLREDUCE_BUSBW_GBPS = "allreduce_busbw_gbps";

    // layer: a parameter tensor, or an activation
    public static final String LAYER = "layer";
    public static final String PARAM = "param";
    public static final String WEIGHT_NORM = "weight_norm";
    public static final String UPDATE_RATIO = "update_ratio";
    public static final String GRAD_MAX_ABS = "grad_max_abs";
    public static final String NONFINITE_COUNT = "nonfinite";
    public static final String ZERO_FRAC = "zero_frac";
    public static final String UNDERFLOW_FRAC = "underflow_frac";
    public static final String ACTIVATION = "activation";
    public static final String MEAN = "mean";
    public static final String STD = "std";
    public static final String SATURATED_FRAC = "saturated_frac";
    public static final String DEAD_FRAC = "dead_frac";
    /** An attention layer's head (its layer records are one per head). */
    public static final String HEAD = "head";

    public static final String ATTENTION_ENTROPY = "attention_entropy";
    public static final String ATTENTION_MAX_LOGIT = "attention_max_logit";
    /** The step's mean log-normalizer of a softmax cross-entropy output, {@code logsumexp(logits)} over its rows. */
    public static final String LOG_Z = "log_z";

    public static final String RANKS_REPORTING = "ranks_reporting";
    public static final String RANKS = "ranks";
    public static final String OUTLIER_RANK = "outlier_rank";

    // diagnosis
    public static final String CODE = "code";
    public static final String SEVERITY = "severity";
    public static final String STATE = "state";
    public static final String EVIDENCE = "evidence";
    public static final String HINT = "hint";
    public static final String OPEN = "open";
    public static final String CLEARED = "cleared";

    // nonfinite
    public static final String MICRO_BATCH = "micro_batch";
    public static final String PHASE = "phase";
    public static final String OP = "op";
    public static final String BEFORE_ALLREDUCE = "before_allreduce";

    // event
    public static final String EVENT = "event";
    public static final String EXECUTOR = "executor";
    public static final String TRANSPORT = "transport";
    public static final String ENDPOINT = "endpoint";
    /** The {@code links} event: Mbit/s into each rank, measured before the first step (index r: from rank r - 1). */
    public static final String LINK_MBIT_S = "link_mbit_s";
    /** The {@code links} event: the rank on a slow link ({@link Links}), when one is. */
    public static final String STRAGGLER = "straggler";

    public static final String BOTH_WAYS = "both_ways";
    public static final String MBIT_S = "mbit_s";
    public static final String FASTEST_MBIT_S = "fastest_mbit_s";

    // checkpoint (and resume events)
    public static final String PATH = "path";
    public static final String BYTES = "bytes";
    public static final String ERROR = "error";
    public static final String ATTEMPT = "attempt";

    // end
    public static final String EVAL = "eval";
    public static final String ACCURACY = "accuracy";
    /** The held-out loss of a model that reads token ids, in bits per token (bytes, for {@code format: text}). */
    public static final String BITS_PER_BYTE = "bits_per_byte";

    public static final String STEPS = "steps";
    public static final String SKIPPED_STEPS = "skipped_steps";
    public static final String SECONDS = "seconds";

    /** One key of a record type: its name, whether every record of the type has it, and its JSON types. */
    public record Key(String name, boolean required, List<String> types) {
        static Key of(String name, boolean required, String... types) {
            return new Key(name, required, List.of(types));
        }
    }

    private static final String STR = "string";
    private static final String INT = "integer";
    private static final String BOOL = "boolean";
    private static final String OBJ = "object";
    private static final String ARR = "array";
    /** A measured number: JSON has no NaN or infinity, so a non-finite one is written as null. */
    private static final String[] NUM = {"number", "null"};

    /**
     * Every record type and its keys: the JSON Schemas in telemetry/schema/ are made from this table ({@link
     * #jsonSchema}), and the records runs write are checked against it ({@link #problems}).
     */
    public static java.util.Map<String, List<Key>> records() {
        java.util.Map<String, List<Key>> m = new java.util.LinkedHashMap<>();
        m.put(
                Type.RUN,
                List.of(
                        Key.of(SCHEMA_VERSION, true, INT),
                        Key.of(WORLD_SIZE, true, INT),
                        Key.of(CONFIG, true, OBJ),
                        Key.of(LAYERS, true, ARR),
                        Key.of(THREADS, false, INT),
                        Key.of(THREADS_WHY, false, STR),
                        Key.of(BACKEND, false, STR),
                        Key.of(BACKEND_WHY, false, STR),
                        Key.of(GPU, false, STR)));
        m.put(
                Type.STEP,
                List.of(
                        Key.of(LOSS, true, NUM),
                        Key.of(LR, true, NUM),
                        Key.of(LOSS_SCALE, true, NUM),
                        Key.of(SKIPPED, true, BOOL),
                        Key.of(GRAD_NORM, true, NUM),
                        Key.of(CLIPPED, true, BOOL),
                        Key.of(SAMPLES, true, INT),
                        Key.of(PHASE_MS, true, OBJ),
                        Key.of(LOG_Z, false, NUM),
                        Key.of(ALLREDUCE_BYTES, false, INT),
                        Key.of(ALLREDUCE_SENT_BYTES, false, INT),
                        Key.of(ALLREDUCE_HIDDEN_MS, false, NUM),
                        Key.of(ALLREDUCE_BUSBW_GBPS, false, NUM)));
        m.put(
                Type.LAYER,
                List.of(
                        Key.of(LAYER, true, STR),
                        Key.of(PARAM, false, STR),
                        Key.of(GRAD_NORM, false, NUM),
                        Key.of(WEIGHT_NORM, false, NUM),
                        Key.of(UPDATE_RATIO, false, NUM),
                        Key.of(GRAD_MAX_ABS, false, NUM),
                        Key.of(NONFINITE_COUNT, false, INT),
                        Key.of(ZERO_FRAC, false, NUM),
                        Key.of(UNDERFLOW_FRAC, false, NUM),
                        Key.of(SKIPPED, false, BOOL),
                        Key.of(ACTIVATION, false, STR),
                        Key.of(MEAN, false, NUM),
                        Key.of(STD, false, NUM),
                        Key.of(SATURATED_FRAC, false, NUM),
                        Key.of(DEAD_FRAC, false, NUM),
                        Key.of(HEAD, false, INT),
                        Key.of(ATTENTION_ENTROPY, false, NUM),
                        Key.of(ATTENTION_MAX_LOGIT, false, NUM),
                        Key.of(RANKS_REPORTING, false, INT),
                        Key.of(RANKS, false, OBJ),
                        Key.of(OUTLIER_RANK, false, INT)));
        m.put(
                Type.DIAGNOSIS,
                List.of(
                        Key.of(CODE, true, STR),
                        Key.of(SEVERITY, true, STR),
                        Key.of(LAYER, true, STR),
                        Key.of(STATE, true, STR),
                        Key.of(EVIDENCE, true, OBJ),
                        Key.of(HINT, true, STR),
                        Key.of(RANKS, false, ARR)));
        m.put(
                Type.NONFINITE,
                List.of(
                        Key.of(MICRO_BATCH, true, INT),
                        Key.of(PHASE, true, STR),
                        Key.of(OP, true, STR),
                        Key.of(LAYER, true, STR),
                        Key.of(BEFORE_ALLREDUCE, true, BOOL)));
        m.put(
                Type.EVENT,
                List.of(
                        Key.of(EVENT, true, STR),
                        Key.of(EXECUTOR, false, STR),
                        Key.of(TRANSPORT, false, STR),
                        Key.of(ENDPOINT, false, STR),
                        Key.of(LINK_MBIT_S, false, ARR),
                        Key.of(STRAGGLER, false, OBJ),
                        Key.of(GPU, false, STR),
                        Key.of(PATH, false, STR),
                        Key.of(ATTEMPT, false, INT),
                        Key.of(ERROR, false, STR)));
        m.put(
                Type.CHECKPOINT,
                List.of(
                        Key.of(PATH, false, STR),
                        Key.of(BYTES, false, INT),
                        Key.of(SECONDS, false, NUM),
                        Key.of(ERROR, false, STR)));
        m.put(
                Type.END,
                List.of(
                        Key.of(EVAL, true, OBJ),
                        Key.of(STEPS, true, INT),
                        Key.of(SKIPPED_STEPS, true, INT),
                        Key.of(SECONDS, true, NUM)));
        return m;
    }

    /** The keys every record has (and {@code rank}, which a rank's records have). */
    private static List<Key> common() {
        return List.of(
                Key.of(TYPE, true, STR),
                Key.of(TS, true, STR),
                Key.of(JOB, true, STR),
                Key.of(STEP, true, INT),
                Key.of(RANK, false, INT));
    }

    /** The JSON Schema (draft 2020-12) of records of {@code type}: the file telemetry/schema/TYPE.schema.json. */
    public static com.fasterxml.jackson.databind.node.ObjectNode jsonSchema(String type) {
        com.fasterxml.jackson.databind.node.ObjectNode s = Records.JSON.createObjectNode();
        s.put("$schema", "https://json-schema.org/draft/2020-12/schema");
        s.put("title", "Ringtape telemetry record: " + type + " (schema_version " + VERSION + ")");
        s.put("type", "object");
        com.fasterxml.jackson.databind.node.ObjectNode props = s.putObject("properties");
        com.fasterxml.jackson.databind.node.ArrayNode required = s.putArray("required");
        List<Key> keys = new ArrayList<>(common());
        keys.addAll(records().get(type));
        for (Key k : keys) {
            com.fasterxml.jackson.databind.node.ObjectNode p = props.putObject(k.name());
            if (k.name().equals(TYPE)) {
                p.put("const", type);
            } else if (k.types().size() == 1) {
                p.put("type", k.types().get(0));
            } else {
                k.types().forEach(p.putArray("type")::add);
            }
            if (k.required()) {
                required.add(k.name());
            }
        }
        s.put("additionalProperties", false);
        return s;
    }

    /** What is wrong with {@code record} against its type's schema: keys missing, unknown, or of another type. */
    public static List<String> problems(com.fasterxml.jackson.databind.JsonNode record) {
        String type = record.path(TYPE).asText();
        List<Key> keys = records().get(type);
        if (keys == null) {
            return List.of("unknown record type '" + type + "'");
        }
        List<Key> all = new ArrayList<>(common());
        all.addAll(keys);
        List<String> out = new ArrayList<>();
        java.util.Set<String> known = new java.util.HashSet<>();
        for (Key k : all) {
            known.add(k.name());
            com.fasterxml.jackson.databind.JsonNode v = record.get(k.name());
            if (v == null) {
                if (k.required()) {
                    out.add(type + "." + k.name() + ": missing");
                }
            } else if (k.types().stream().noneMatch(t -> is(v, t))) {
                out.add(type + "." + k.name() + ": " + v.getNodeType() + ", expected " + k.types());
            }
        }
        record.fieldNames().forEachRemaining(f -> {
            if (!known.contains(f)) {
                out.add(type + "." + f + ": not in the schema");
            }
        });
        return out;
    }

    private static boolean is(com.fasterxml.jackson.databind.JsonNode v, String type) {
        return switch (type) {
            case "string" -> v.isTextual();
            case "integer" -> v.isIntegralNumber();
            case "number" -> v.isNumber();
            case "boolean" -> v.isBoolean();
            case "object" -> v.isObject();
            case "array" -> v.isArray();
            case "null" -> v.isNull();
            default -> false;
        };
    }

    /** Every key and record type this class names (for the documentation check). */
    public static List<String> all() {
        List<String> out = new ArrayList<>();
        for (Class<?> c : new Class<?>[] {Schema.class, Type.class}) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers())
                        && Modifier.isPublic(f.getModifiers())
                        && f.getType() == String.class) {
                    try {
                        out.add((String) f.get(null));
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        }
        return out;
    }
}
