package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Ranks' frames over a real socket: records reach the log, a rank's error is told apart from a record's. */
class TelemetryServerTest {
    @Test
    void shouldKeepARecordThatCarriesAnErrorFieldAndReportOnlyTheRanksOwnError() throws Exception {
        List<ObjectNode> got = new ArrayList<>();
        TelemetrySink log = new TelemetrySink() {
            @Override
            public synchronized void emit(ObjectNode r) {
                got.add(r);
            }

            @Override
            public void close() {}
        };
        try (TelemetryServer server = new TelemetryServer(
                "127.0.0.1", 1, new RankMerger(1, log), new PrintStream(OutputStream.nullOutputStream()))) {
            try (SocketSink rank = new SocketSink(server.endpoint(), 0, 5_000)) {
                ObjectNode failedWrite = Records.of(Schema.Type.CHECKPOINT, "j", 39);
                failedWrite.put(Schema.ERROR, "No space left on device");
                rank.emit(failedWrite);
                rank.error("rank 0: out of memory");
            }
            server.finish(5_000);
            assertEquals("rank 0: out of memory", server.firstError());
        }
        assertEquals(1, got.size(), got.toString());
        assertEquals("checkpoint", got.get(0).path("type").asText());
        assertEquals("No space left on device", got.get(0).path("error").asText());
        assertEquals(0, got.get(0).path("rank").asInt());
    }
}
