package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Spark's GPU scheduling, without a GPU: a standalone worker whose discovery script (a fake, in place of
 * deploy/bin/gpu-discovery.sh) offers GPUs "3" and "5" runs both ranks of a job that asks for one GPU per task, in one
 * executor. Each rank must take the GPU Spark assigned it, never "device 0 on every rank"; with no CUDA driver here,
 * both then train on the CPU and say why.
 */
class GpuSchedulingTest {
    @TempDir
    Path tmp;

    @Test
    void shouldGiveEachRankTheGpuSparkAssignedIt() throws Exception {
        Path discovery = tmp.resolve("fake-gpus.sh");
        Files.writeString(discovery, "#!/bin/sh\necho '{\"name\": \"gpu\", \"addresses\": [\"3\", \"5\"]}'\n");
        assertTrue(discovery.toFile().setExecutable(true));
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process start = Launcher.spark(
                        java.util.List.of(
                                "deploy/standalone/start-cluster.sh",
                                "--workers",
                                "1",
                                "--cores",
                                "2",
                                "--gpus",
                                "2",
                                "--gpu-discovery",
                                discovery.toString(),
                                "--port",
                                "" + port),
                        tmp.resolve("start.txt"))
                .start();
        try {
            assertTrue(start.waitFor(180, TimeUnit.SECONDS), "the cluster did not start");
            assertEquals(0, start.exitValue(), Files.readString(tmp.resolve("start.txt")));
            Path log = tmp.resolve("gpus.jsonl");
            Process p = Launcher.spark(
                            java.util.List.of(
                                    "deploy/standalone/bin/spark-submit",
                                    "--master",
                                    "spark://127.0.0.1:" + port,
                                    "--conf",
                                    "spark.executor.resource.gpu.amount=2",
                                    "--conf",
                                    "spark.task.resource.gpu.amount=1",
                                    "deploy/target/ringtape-all.jar",
                                    "train",
                                    "--fresh",
                                    "deploy/jobs/digits-mlp.yaml",
                                    "--set",
                                    "workers=2",
                                    "--set",
                                    "train.epochs=1",
                                    "--set",
                                    "checkpoint.dir=" + tmp.resolve("checkpoints"),
                                    "--set",
                                    "telemetry.out=" + log,
                                    "--set",
                                    "export.path=" + tmp.resolve("m.safetensors")),
                            tmp.resolve("submit.txt"))
                    .start();
            assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the job did not finish");
            String out = Files.readString(tmp.resolve("submit.txt"));
            assertEquals(0, p.exitValue(), out);
            Map<Integer, String> gpuOfRank = new TreeMap<>();
            for (JsonNode r : TrainCommandTest.records(log)) {
                if (r.get("type").asText().equals("run")) {
                    assertEquals("cpu", r.get("backend").asText(), "no CUDA driver here: " + r);
                    assertTrue(r.get("backend_why").asText().contains("training on the CPU"), r.toString());
                    assertTrue(r.has("gpu"), "rank 0's assigned GPU in the run record: " + r);
                }
                if (r.path("event").asText().equals("rank_started")) {
                    gpuOfRank.put(r.get("rank").asInt(), r.path("gpu").asText(null));
                }
            }
            assertEquals(2, gpuOfRank.size(), "run records of both ranks: " + gpuOfRank);
            assertEquals(
                    java.util.Set.of("3", "5"),
                    java.util.Set.copyOf(gpuOfRank.values()),
                    "each rank on the GPU it was assigned: " + gpuOfRank);
        } finally {
            Launcher.spark(java.util.List.of("deploy/standalone/stop-cluster.sh"), tmp.resolve("stop.txt"))
                    .start()
                    .waitFor(60, TimeUnit.SECONDS);
        }
    }
}
