package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RankMergerTest {
    private final List<ObjectNode> written = new ArrayList<>();
    private final TelemetrySink collect = new TelemetrySink() {
        @Override
        public void emit(ObjectNode record) {
            written.add(record);
        }

        @Override
        public void close() {}
    };

    private static ObjectNode record(String type, long step, int rank) {
        ObjectNode o = Records.of(type, "j", step);
        o.put("rank", rank);
        return o;
    }

    private static ObjectNode dead(long step, int rank, double deadFrac, int nonfinite) {
        ObjectNode o = record("layer", step, rank);
        o.put("layer", "layers.1");
        o.put("activation", "relu");
        o.put("dead_frac", deadFrac);
        o.put("nonfinite", nonfinite);
        return o;
    }

    @Test
    void shouldWriteAStepOnlyOnceEveryRankIsPastIt() {
        RankMerger m = new RankMerger(2, collect);
        m.accept(0, record("run", 0, 0));
        m.accept(1, record("run", 0, 1));
        assertEquals(1, written.size(), "one run record, rank 0's");
        assertFalse(written.get(0).has("rank"));
        m.accept(0, record("step", 0, 0));
        m.accept(0, record("step", 1, 0));
        assertEquals(1, written.size(), "rank 1 has not reported step 0 yet");
        m.accept(1, record("step", 0, 1));
        assertEquals(1, written.size(), "rank 1 may still send more of step 0");
        m.accept(1, record("step", 1, 1));
        assertEquals(3, written.size());
        assertEquals(0, written.get(1).get("rank").asInt());
        assertEquals(1, written.get(2).get("rank").asInt());
        m.rankDone(0);
        m.rankDone(1);
        assertEquals(5, written.size(), "step 1 of both ranks once both are done");
    }

    @Test
    void shouldAggregateLayerStatisticsAndNameTheOneOutlierRank() {
        RankMerger m = new RankMerger(3, collect);
        m.accept(0, dead(10, 0, 0.02, 0));
        m.accept(1, dead(10, 1, 0.03, 0));
        m.accept(2, dead(10, 2, 0.90, 4));
        m.flush();
        assertEquals(1, written.size(), "one layer record for three ranks");
        ObjectNode r = written.get(0);
        assertEquals(0.03, r.get("dead_frac").asDouble(), 1e-12, "the median");
        assertEquals(0.02, r.get("ranks").get("dead_frac").get("min").asDouble(), 1e-12);
        assertEquals(0.90, r.get("ranks").get("dead_frac").get("max").asDouble(), 1e-12);
        assertEquals(4, r.get("nonfinite").asInt(), "non-finite counts add up");
        assertEquals(2, r.get("outlier_rank").asInt());
        assertEquals(3, r.get("ranks_reporting").asInt());
    }

    @Test
    void shouldMergeEachAttentionHeadOverTheRanksApart() {
        RankMerger m = new RankMerger(2, collect);
        for (int rank = 0; rank < 2; rank++) {
            for (int head = 0; head < 2; head++) {
                ObjectNode o = record("layer", 10, rank);
                o.put("layer", "layers.2.layers.1");
                o.put("head", head);
                o.put("attention_entropy", head == 0 ? 2.0 + rank : 0.05);
                o.put("attention_max_logit", head == 0 ? 5.0 : 900.0 + 100 * rank);
                m.accept(rank, o);
            }
        }
        m.flush();
        List<ObjectNode> heads = written.stream()
                .filter(r -> r.get("type").asText().equals("layer"))
                .toList();
        assertEquals(2, heads.size(), "one record per head, not one per layer: " + heads);
        assertEquals(0, heads.get(0).get("head").asInt());
        assertEquals(1, heads.get(1).get("head").asInt());
        assertEquals(2.5, heads.get(0).get("attention_entropy").asDouble(), 1e-12, "the median of the ranks'");
        assertEquals(950.0, heads.get(1).get("attention_max_logit").asDouble(), 1e-12);
        assertEquals(
                900.0,
                heads.get(1).get("ranks").get("attention_max_logit").get("min").asDouble(),
                1e-12);
        assertFalse(heads.get(0).get("ranks").has("head"), "the head is a key, not a statistic");
    }

    @Test
    void shouldNameNoOutlierWhenTheRanksAgree() {
        RankMerger m = new RankMerger(3, collect);
        m.accept(0, dead(0, 0, 0.10, 0));
        m.accept(1, dead(0, 1, 0.12, 0));
        m.accept(2, dead(0, 2, 0.11, 0));
        m.flush();
        assertFalse(written.get(0).has("outlier_rank"), written.get(0).toString());
    }

    @Test
    void shouldMergeADiagnosisRaisedByEveryRank() {
        RankMerger m = new RankMerger(2, collect);
        for (int rank = 0; rank < 2; rank++) {
            ObjectNode d = record("diagnosis", 20, rank);
            d.put("code", "DEAD_RELU");
            d.put("layer", "layers.1");
            d.put("state", "open");
            m.accept(rank, d);
        }
        m.flush();
        assertEquals(1, written.size());
        assertEquals("[0,1]", written.get(0).get("ranks").toString());
    }

    @Test
    void shouldCarryRecordsConsoleLinesAndErrorsFromSocketsToTheMerger() throws Exception {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        JobKey key = JobKey.fresh();
        try (TelemetryServer server = new TelemetryServer(
                "127.0.0.1",
                2,
                key,
                new RankMerger(2, collect),
                new PrintStream(console, true, StandardCharsets.UTF_8))) {
            try (SocketSink a = new SocketSink(server.endpoint(), 0, key, 5000);
                    SocketSink b = new SocketSink(server.endpoint(), 1, key, 5000)) {
                a.emit(Records.of("step", "j", 0));
                b.emit(Records.of("step", "j", 0));
                a.console().println("epoch 1/1");
                b.error("rank 1: data.train: no such file");
            }
            server.finish(5000);
            assertEquals("rank 1: data.train: no such file", server.firstError());
        }
        assertEquals(2, written.size(), written.toString());
        assertTrue(written.stream().allMatch(r -> r.has("rank")));
        assertEquals("epoch 1/1", console.toString(StandardCharsets.UTF_8).strip());
    }
}
