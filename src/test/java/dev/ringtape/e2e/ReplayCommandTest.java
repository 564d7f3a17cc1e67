package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ringtape replay}: step N re-run from the snapshot before it gives the step the run logged, to the last
 * digit, on another number of threads than the run had, with the BLAS kernels OpenBLAS picks for this processor
 * and with its Haswell kernels (whose bits depended on OpenBLAS's own thread count: issue 23).
 */
class ReplayCommandTest {
    @TempDir
    Path tmp;

    @Test
    void shouldReplayAStepFromTheSnapshotBeforeItAndFindWhatTheRunLogged() throws Exception {
        replaysTheLoggedStep(List.of("env", "-u", "OPENBLAS_CORETYPE"), tmp.resolve("own"));
        Launcher.Outcome late = Launcher.run(120, "replay", "deploy/jobs/digits-mlp.yaml", "--step", "99999");
        assertEquals(1, late.exit());
        assertTrue(late.stderr().contains("the job ends before step 99999"), late.stderr());
    }

    @Test
    void shouldReplayTheLoggedStepWithOpenBlasHaswellKernels() throws Exception {
        String flags = Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                        .filter(l -> l.startsWith("flags"))
                        .findFirst()
                        .orElse("")
                + " ";
        Assumptions.assumeTrue(
                flags.contains(" avx2 ") && flags.contains(" fma "),
                "no AVX2 and FMA: OpenBLAS's Haswell kernels cannot run here");
        replaysTheLoggedStep(List.of("env", "OPENBLAS_CORETYPE=Haswell"), tmp.resolve("haswell"));
    }

    /** Trains the digits job on one compute thread and replays its step 450 on two, both under {@code env}. */
    private static void replaysTheLoggedStep(List<String> env, Path dir) throws Exception {
        String ck = "checkpoint.dir=" + dir.resolve("ck");
        Launcher.Outcome train = Launcher.run(
                300,
                env,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                ck,
                "--set",
                "threads=1",
                "--set",
                "checkpoint.every_steps=100",
                "--set",
                "telemetry.every_steps=1",
                "--set",
                "telemetry.out=" + dir.resolve("t.jsonl"),
                "--set",
                "export.path=" + dir.resolve("m.safetensors"));
        assertEquals(0, train.exit(), train.stderr());
        Launcher.Outcome replay = Launcher.run(
                120, env, "replay", "deploy/jobs/digits-mlp.yaml", "--step", "450", "--set", ck, "--set", "threads=2");
        assertEquals(0, replay.exit(), replay.stderr());
        assertTrue(replay.stdout().contains("snapshot-000000000399.rtsnap (after step 399)"), replay.stdout());
        JsonNode logged = TrainCommandTest.records(dir.resolve("t.jsonl")).stream()
                .filter(r ->
                        r.path("type").asText().equals("step") && r.path("step").asLong() == 450)
                .findFirst()
                .orElseThrow();
        assertTrue(
                replay.stdout()
                        .contains("step 450: loss " + logged.path("loss").asText() + ", grad norm "
                                + logged.path("grad_norm").asText()),
                env + ": the replayed step is the logged one, to the last digit: " + replay.stdout() + " vs " + logged);
        assertTrue(replay.stdout().contains("largest gradients:"), replay.stdout());
    }
}
