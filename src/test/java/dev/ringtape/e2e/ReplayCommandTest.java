package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ringtape replay}: step N re-run from the snapshot before it gives the step the run logged. */
class ReplayCommandTest {
    @TempDir
    Path tmp;

    @Test
    void shouldReplayAStepFromTheSnapshotBeforeItAndFindWhatTheRunLogged() throws Exception {
        String ck = "checkpoint.dir=" + tmp.resolve("ck");
        Launcher.Outcome train = Launcher.run(
                300,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                ck,
                "--set",
                "checkpoint.every_steps=100",
                "--set",
                "telemetry.every_steps=1",
                "--set",
                "telemetry.out=" + tmp.resolve("t.jsonl"),
                "--set",
                "export.path=" + tmp.resolve("m.safetensors"));
        assertEquals(0, train.exit(), train.stderr());
        Launcher.Outcome replay =
                Launcher.run(120, "replay", "deploy/jobs/digits-mlp.yaml", "--step", "450", "--set", ck);
        assertEquals(0, replay.exit(), replay.stderr());
        assertTrue(replay.stdout().contains("snapshot-000000000399.rtsnap (after step 399)"), replay.stdout());
        JsonNode logged = TrainCommandTest.records(tmp.resolve("t.jsonl")).stream()
                .filter(r ->
                        r.path("type").asText().equals("step") && r.path("step").asLong() == 450)
                .findFirst()
                .orElseThrow();
        assertTrue(
                replay.stdout()
                        .contains("step 450: loss " + logged.path("loss").asText() + ", grad norm "
                                + logged.path("grad_norm").asText()),
                "the replayed step is the logged one, to the last digit: " + replay.stdout() + " vs " + logged);
        assertTrue(replay.stdout().contains("largest gradients:"), replay.stdout());
        Launcher.Outcome late = Launcher.run(120, "replay", "deploy/jobs/digits-mlp.yaml", "--step", "99999");
        assertEquals(1, late.exit());
        assertTrue(late.stderr().contains("the job ends before step 99999"), late.stderr());
    }
}
