package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On a standalone cluster of two worker processes, {@code kill -9} one executor JVM mid-run: Spark fails the barrier
 * stage and never retries it; the driver runs it again from the newest snapshot, and the job ends with the model an
 * uninterrupted run exports.
 */
class ClusterFailoverTest {
    @TempDir
    Path tmp;

    private List<String> job(String name) {
        List<String> args = new ArrayList<>(List.of(
                "train",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "workers=2",
                "--set",
                "train.epochs=100",
                "--set",
                "allreduce.timeout_s=10",
                "--set",
                "checkpoint.every_steps=100"));
        args.addAll(Launcher.outputs(tmp, name));
        return args;
    }

    @Test
    void shouldFinishWithTheSameModelAfterAnExecutorIsKilled() throws Exception {
        Launcher.Outcome ref = Launcher.run(600, job("reference").toArray(String[]::new));
        assertEquals(0, ref.exit(), ref.stderr());

        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process start = Launcher.spark(
                        List.of(
                                "deploy/standalone/start-cluster.sh",
                                "--workers",
                                "2",
                                "--cores",
                                "1",
                                "--port",
                                "" + port),
                        tmp.resolve("start.txt"))
                .start();
        try {
            assertTrue(start.waitFor(180, TimeUnit.SECONDS), "the cluster did not start");
            assertEquals(0, start.exitValue(), Files.readString(tmp.resolve("start.txt")));
            List<String> submit = new ArrayList<>(List.of(
                    "deploy/standalone/bin/spark-submit",
                    "--master",
                    "spark://127.0.0.1:" + port,
                    "deploy/target/ringtape-all.jar"));
            submit.addAll(job("killed"));
            Process p = Launcher.spark(submit, tmp.resolve("submit.txt")).start();
            Path log = tmp.resolve("killed.jsonl");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
            while (Launcher.lastSnapshotStep(log) < 500) {
                assertTrue(
                        p.isAlive(),
                        "ended before a snapshot past step 500: " + Files.readString(tmp.resolve("submit.txt")));
                assertTrue(System.nanoTime() < deadline, "no snapshot past step 500 within 300 s");
                Thread.sleep(50);
            }
            // the executors of this cluster: children of the worker processes start-cluster.sh recorded
            List<ProcessHandle> executors =
                    Files.readAllLines(Launcher.root().resolve("deploy/standalone/target/cluster/pids")).stream()
                            .flatMap(pid -> ProcessHandle.of(Long.parseLong(pid.strip())).stream())
                            .flatMap(ProcessHandle::children)
                            .filter(h -> h.info().commandLine().orElse("").contains("CoarseGrainedExecutorBackend"))
                            .toList();
            assertEquals(2, executors.size(), "two executor JVMs: " + executors);
            executors.get(1).destroyForcibly(); // SIGKILL
            assertTrue(p.waitFor(400, TimeUnit.SECONDS), "the job did not finish after the kill");
            String out = Files.readString(tmp.resolve("submit.txt"));
            assertEquals(0, p.exitValue(), out);
            assertTrue(out.contains("ringtape: the stage failed"), out);
            boolean failed = false;
            boolean resumed = false;
            for (JsonNode r : TrainCommandTest.records(log)) {
                failed |= r.path("event").asText().equals("stage_failed");
                resumed |= r.path("event").asText().equals("resumed")
                        && r.path("attempt").asInt() == 1;
            }
            assertTrue(failed && resumed, "stage_failed and resumed events in the log");
            assertEquals(
                    Launcher.tensorBits(tmp.resolve("reference.safetensors")),
                    Launcher.tensorBits(tmp.resolve("killed.safetensors")),
                    "the model of an uninterrupted run, bit for bit");
        } finally {
            Launcher.spark(List.of("deploy/standalone/stop-cluster.sh"), tmp.resolve("stop.txt"))
                    .start()
                    .waitFor(60, TimeUnit.SECONDS);
        }
    }
}
