package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kill -9 the launcher (and its JVM) mid-run, run the same command again: it resumes from the newest snapshot and
 * ends with the export an uninterrupted run writes, bit for bit.
 */
class ResumeCommandTest {
    @TempDir
    Path tmp;

    private List<String> command(String name) {
        List<String> args = new ArrayList<>(List.of(
                "train",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "train.epochs=120",
                "--set",
                "checkpoint.every_steps=100"));
        args.addAll(Launcher.outputs(tmp, name));
        return args;
    }

    @Test
    void shouldResumeAfterTheLauncherIsKilledAndExportWhatAnUninterruptedRunExports() throws Exception {
        List<String> reference = new ArrayList<>(command("reference"));
        reference.add(1, "--fresh");
        Launcher.Outcome ref = Launcher.run(600, reference.toArray(String[]::new));
        assertEquals(0, ref.exit(), ref.stderr());

        List<String> cmd = new ArrayList<>(
                List.of(Launcher.root().resolve("deploy/bin/ringtape").toString()));
        cmd.addAll(command("killed"));
        Process p = new ProcessBuilder(cmd)
                .directory(Launcher.root().toFile())
                .redirectErrorStream(true)
                .redirectOutput(tmp.resolve("killed-out.txt").toFile())
                .start();
        Path log = tmp.resolve("killed.jsonl");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        try {
            while (Launcher.lastSnapshotStep(log) < 1000) {
                assertTrue(
                        p.isAlive(),
                        "ended before a snapshot past step 1000: " + Files.readString(tmp.resolve("killed-out.txt")));
                assertTrue(System.nanoTime() < deadline, "no snapshot past step 1000 within 300 s");
                Thread.sleep(50);
            }
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly); // kill -9, the JVM and the launcher alike
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
        assertTrue(!Files.exists(tmp.resolve("killed.safetensors")), "killed before it finished");

        Launcher.Outcome again = Launcher.run(600, command("killed").toArray(String[]::new));
        assertEquals(0, again.exit(), again.stderr());
        assertTrue(again.stdout().contains("ringtape: resuming from "), again.stdout());
        boolean resumed = false;
        for (JsonNode r : TrainCommandTest.records(log)) {
            // checkpoint records and resume events too, against telemetry/schema
            assertEquals(List.of(), dev.ringtape.telemetry.Schema.problems(r), "the schema holds: " + r);
            resumed |= r.path("type").asText().equals("event")
                    && r.path("event").asText().equals("resumed")
                    && r.path("step").asLong() > 1000;
        }
        assertTrue(resumed, "a resumed event in the same log");
        assertEquals(
                Launcher.tensorBits(tmp.resolve("reference.safetensors")),
                Launcher.tensorBits(tmp.resolve("killed.safetensors")),
                "the same model, bit for bit");

        // the job edited since: refused, with what changed
        List<String> edited = new ArrayList<>(command("killed"));
        edited.addAll(List.of("--set", "train.optimizer.lr=0.003"));
        Launcher.Outcome refused = Launcher.run(120, edited.toArray(String[]::new));
        assertEquals(1, refused.exit(), refused.stdout());
        assertTrue(
                refused.stderr().contains("is a snapshot of another job: train.optimizer.lr 0.001 -> 0.003 (spec hash"),
                refused.stderr());
    }
}
