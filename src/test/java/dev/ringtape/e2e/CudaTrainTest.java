package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ringtape.gpukernels.CudaProbe;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The digits job end to end on a GPU, two workers: {@code mvn -pl src/test -am verify -Dgroups=cuda
 * -Dsurefire.failIfNoSpecifiedTests=false} on a machine with one. Skipped, saying why, everywhere else.
 */
@Tag("cuda")
class CudaTrainTest {
    @TempDir
    Path tmp;

    @Test
    void shouldTrainTheDigitsJobOnTheGpuPast97Percent() throws Exception {
        CudaProbe.State state = CudaProbe.state();
        assumeTrue(state.usable(), "no CUDA device here: " + state.describe());
        Path log = tmp.resolve("cuda.jsonl");
        Launcher.Outcome o = Launcher.run(
                600,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "backend=cuda",
                "--set",
                "workers=2",
                "--set",
                "checkpoint.dir=" + tmp.resolve("checkpoints"),
                "--set",
                "telemetry.out=" + log);
        assertEquals(0, o.exit(), o.stderr());
        List<JsonNode> records = TrainCommandTest.records(log);
        assertEquals("cuda", records.get(0).get("backend").asText());
        double accuracy = TrainCommandTest.last(records, "end")
                .get("eval")
                .get("accuracy")
                .asDouble();
        assertTrue(accuracy >= 0.97, "held-out accuracy " + accuracy);
    }
}
