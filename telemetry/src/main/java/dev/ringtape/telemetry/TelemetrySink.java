package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Where telemetry records go: a JSON Lines file, a stream to the driver, or nowhere. A record is one JSON object
 * with at least {@code type}, {@code ts}, {@code job} and {@code step} (see {@link Records}).
 */
public interface TelemetrySink extends AutoCloseable {
    /** A sink that drops everything. */
    TelemetrySink NONE = new TelemetrySink() {
        @Override
        public void emit(ObjectNode record) {}

        @Override
        public void close() {}
    };

    /** Both sinks: each record to {@code first}, then to {@code second}; closing closes both. */
    static TelemetrySink both(TelemetrySink first, TelemetrySink second) {
        return new TelemetrySink() {
            @Override
            public void emit(ObjectNode record) {
                first.emit(record);
                second.emit(record);
            }

            @Override
            public void close() {
                try {
                    first.close();
                } finally {
                    second.close();
                }
            }
        };
    }

    /** Writes one record; a file sink flushes it before returning. */
    void emit(ObjectNode record);

    @Override
    void close();
}
