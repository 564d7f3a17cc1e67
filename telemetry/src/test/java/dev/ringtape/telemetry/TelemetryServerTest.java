package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Ranks' frames over a real socket: records reach the log while the rank runs and in order when more come than the
 * sink queues, a rank's error is told apart from a record's.
 */
class TelemetryServerTest {
    /** A log that keeps what reaches it. */
    private static final class Kept implements TelemetrySink {
        final List<ObjectNode> got = new ArrayList<>();

        @Override
        public synchronized void emit(ObjectNode r) {
            got.add(r);
        }

        synchronized int size() {
            return got.size();
        }

        @Override
        public void close() {}
    }

    @Test
    @Timeout(60) // the sink before this test deadlocked here: the producer held its monitor in a full queue's put
    void shouldDeliverARecordWhileTheRankRunsAndEveryRecordInOrderWhenTheQueueOverflows() throws Exception {
        Kept log = new Kept();
        JobKey key = JobKey.fresh();
        try (TelemetryServer server = new TelemetryServer(
                "127.0.0.1", 1, key, new RankMerger(1, log), new PrintStream(OutputStream.nullOutputStream()))) {
            try (SocketSink rank = new SocketSink(server.endpoint(), 0, key, 5_000)) {
                rank.emit(Records.of(Schema.Type.EVENT, "j", 0));
                rank.emit(Records.of(Schema.Type.EVENT, "j", 1)); // step 0 is written once the rank is past it
                // the sender is not woken per record: they must still get there on their own, not only at close
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (log.size() < 1 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertEquals(1, log.size(), "a record emitted 10 s ago has not reached the driver");
                // more than the sink's queue holds (4,096), as fast as they come: the producer must wake the sender
                for (int i = 2; i <= 10_000; i++) {
                    rank.emit(Records.of(Schema.Type.EVENT, "j", i));
                }
            }
            server.finish(10_000);
        }
        assertEquals(10_001, log.got.size());
        for (int i = 0; i <= 10_000; i++) {
            assertEquals(i, log.got.get(i).path("step").asInt(), "record " + i);
        }
    }

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
        JobKey key = JobKey.fresh();
        try (TelemetryServer server = new TelemetryServer(
                "127.0.0.1", 1, key, new RankMerger(1, log), new PrintStream(OutputStream.nullOutputStream()))) {
            try (SocketSink rank = new SocketSink(server.endpoint(), 0, key, 5_000)) {
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
