package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;

/** Builds telemetry records: every record has {@code type}, {@code ts} (ISO-8601), {@code job} and {@code step}. */
public final class Records {
    /**
     * The mapper every telemetry writer and reader shares. Doubles are written and read by Jackson's own
     * shortest-round-trip writer and fast parser (the same values as the JDK's; JDK 17's Double.toString and parser
     * were a steady cost of every record, and their compilation some of a run's start-up).
     */
    public static final ObjectMapper JSON = com.fasterxml.jackson.databind.json.JsonMapper.builder()
            .enable(com.fasterxml.jackson.core.StreamWriteFeature.USE_FAST_DOUBLE_WRITER)
            .enable(com.fasterxml.jackson.core.StreamReadFeature.USE_FAST_DOUBLE_PARSER)
            .build();

    private Records() {}

    /** A new record of {@code type} for {@code job} at {@code step}, stamped now. */
    public static ObjectNode of(String type, String job, long step) {
        ObjectNode o = JSON.createObjectNode();
        o.put(Schema.TYPE, type);
        o.put(Schema.TS, Instant.now().toString());
        o.put(Schema.JOB, job);
        o.put(Schema.STEP, step);
        return o;
    }

    /** Puts a double, writing null for NaN and infinities (JSON has no such numbers). */
    public static ObjectNode putNumber(ObjectNode o, String key, double value) {
        if (Double.isFinite(value)) {
            o.put(key, value);
        } else {
            o.putNull(key);
        }
        return o;
    }

    /**
     * A {@code step} record's samples per second over its phases' time (forward, backward, all-reduce, optimizer,
     * telemetry); NaN when it has no phase time.
     */
    public static double samplesPerSecond(com.fasterxml.jackson.databind.JsonNode step) {
        double ms = 0;
        for (com.fasterxml.jackson.databind.JsonNode v : step.path(Schema.PHASE_MS)) {
            ms += v.asDouble();
        }
        return ms > 0 ? step.path(Schema.SAMPLES).asDouble() * 1000 / ms : Double.NaN;
    }
}
