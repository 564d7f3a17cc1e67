package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A host on a slow link (issue 24): three emulated hosts, two at 1 Gbit/s and the third at 100 Mbit/s, the digits job
 * on three workers, one per host. Before the first step the ranks probe their links; the log's {@code links} event
 * and the console name the rank on the third host as the straggler, slow both ways, and the run trains as usual.
 * Skipped, with the reason, where the machine refuses user or network namespaces.
 */
class SlowLinkTest {
    @TempDir
    Path tmp;

    @Test
    void shouldNameTheRankOnTheSlowHost() throws Exception {
        Path out = tmp.resolve("out.txt");
        Path log = tmp.resolve("t.jsonl");
        String script = "deploy/standalone/bin/spark-submit --master \"$TESTBED_MASTER\""
                + " deploy/target/ringtape-all.jar train --fresh deploy/jobs/digits-mlp.yaml --set workers=3"
                + " --set train.epochs=10 --set train.global_batch=63 --set telemetry.out=" + log
                + " --set export.path="
                + tmp.resolve("m.safetensors") + " --set checkpoint.dir=" + tmp.resolve("ck");
        Launcher.Outcome o = Launcher.testbed(
                List.of("--hosts", "3", "--rate", "1gbit", "--slow-rate", "100mbit"), script, out, 400);
        String said = o.stdout();
        assertEquals(0, o.exit(), said);
        List<JsonNode> records = TrainCommandTest.records(log);
        JsonNode links = records.stream()
                .filter(r -> r.path("event").asText().equals("links"))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no links event: " + said));
        assertEquals(3, links.path("link_mbit_s").size(), links.toString());
        JsonNode straggler = links.path("straggler");
        assertTrue(straggler.path("executor").asText().startsWith("198.18.0.13:"), "the third host is named: " + links);
        assertTrue(straggler.path("both_ways").asBoolean(), links.toString());
        double slow = straggler.path("mbit_s").asDouble();
        double fastest = straggler.path("fastest_mbit_s").asDouble();
        assertTrue(slow > 50 && slow < 150, "about 100 Mbit/s: " + links);
        assertTrue(fastest > 2 * slow, "the others are faster: " + links);
        int rank = straggler.path("rank").asInt();
        assertTrue(
                said.contains(
                        "warn: rank " + rank + " (" + straggler.path("executor").asText() + ") is on a slow link"),
                "the console names it: " + said);
        assertTrue(
                said.contains("straggler: the ranks waited for rank " + rank + " ("
                        + straggler.path("executor").asText() + ") about "),
                "and says how long the others waited for it: " + said);
        double accuracy = TrainCommandTest.last(records, "end")
                .get("eval")
                .get("accuracy")
                .asDouble();
        assertTrue(accuracy >= 0.9, "held-out accuracy " + accuracy);
    }
}
