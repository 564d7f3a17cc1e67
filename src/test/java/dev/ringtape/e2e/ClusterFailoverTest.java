package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
        return List.of(
                "train",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "workers=2",
                "--set",
                "train.epochs=100",
                "--set",
                "allreduce.timeout_s=10",
                "--set",
                "checkpoint.every_steps=100",
                "--set",
                "checkpoint.dir=" + tmp.resolve(name + "-checkpoints"),
                "--set",
                "telemetry.out=" + tmp.resolve(name + ".jsonl"),
                "--set",
                "export.path=" + tmp.resolve(name + ".safetensors"));
    }

    private static ProcessBuilder sh(List<String> cmd, Path out) {
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .directory(Launcher.root().toFile())
                .redirectErrorStream(true)
                .redirectOutput(out.toFile());
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        pb.environment()
                .put(
                        "SPARK_HOME",
                        Launcher.root()
                                .resolve("deploy/standalone/target/spark-home")
                                .toString());
        return pb;
    }

    @Test
    void shouldFinishWithTheSameModelAfterAnExecutorIsKilled() throws Exception {
        Launcher.Outcome ref = Launcher.run(600, job("reference").toArray(String[]::new));
        assertEquals(0, ref.exit(), ref.stderr());

        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process start = sh(
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
            Process p = sh(submit, tmp.resolve("submit.txt")).start();
            Path log = tmp.resolve("killed.jsonl");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
            while (maxCheckpoint(log) < 500) {
                assertTrue(
                        p.isAlive(),
                        "ended before a snapshot past step 500: " + Files.readString(tmp.resolve("submit.txt")));
                assertTrue(System.nanoTime() < deadline, "no snapshot past step 500 within 300 s");
                Thread.sleep(50);
            }
            List<ProcessHandle> executors = ProcessHandle.allProcesses()
                    .filter(h -> h.info().commandLine().orElse("").contains("CoarseGrainedExecutorBackend"))
                    .filter(h -> h.info().commandLine().orElse("").contains("127.0.0.1:"))
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
                    tensors(tmp.resolve("reference.safetensors")),
                    tensors(tmp.resolve("killed.safetensors")),
                    "the model of an uninterrupted run, bit for bit");
        } finally {
            sh(List.of("deploy/standalone/stop-cluster.sh"), tmp.resolve("stop.txt"))
                    .start()
                    .waitFor(60, TimeUnit.SECONDS);
        }
    }

    private static long maxCheckpoint(Path log) throws Exception {
        if (!Files.exists(log)) {
            return -1;
        }
        long max = -1;
        for (String line : Files.readAllLines(log)) {
            if (line.contains("\"type\":\"checkpoint\"") && line.contains("\"path\"")) {
                max = Math.max(
                        max,
                        TrainCommandTest.JSON_MAPPER.readTree(line).path("step").asLong());
            }
        }
        return max;
    }

    private static List<Integer> tensors(Path file) throws Exception {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ByteBuffer data =
                ByteBuffer.wrap(all, (int) (8 + n), (int) (all.length - 8 - n)).order(ByteOrder.LITTLE_ENDIAN);
        List<Integer> out = new ArrayList<>();
        while (data.remaining() >= 4) {
            out.add(data.getInt());
        }
        return out;
    }
}
