package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shaded jar under a plain {@code spark-submit} of a Spark laid out as a distribution (its jars first on the
 * classpath, Spark's own launcher building the JVM command): in local mode, and on a real standalone cluster of
 * two worker processes on 127.0.0.1 started by deploy/standalone/start-cluster.sh.
 */
class SparkSubmitTest {
    @TempDir
    Path tmp;

    private record Run(int exit, String output) {}

    private static Run sh(long timeoutS, Path log, List<String> cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = Launcher.spark(cmd, log);
        Process p = pb.start();
        boolean done = p.waitFor(timeoutS, TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        String out = Files.readString(log);
        assertTrue(done, String.join(" ", cmd) + " did not finish in " + timeoutS + " s:\n" + out);
        return new Run(p.exitValue(), out);
    }

    private Run submit(String master, Path telemetry, Path export) throws Exception {
        sh(120, tmp.resolve("home.txt"), List.of("deploy/standalone/spark-home.sh"));
        return sh(
                300,
                tmp.resolve("submit.txt"),
                List.of(
                        "deploy/standalone/bin/spark-submit",
                        "--master",
                        master,
                        "deploy/target/ringtape-all.jar",
                        "train",
                        "--fresh",
                        "deploy/jobs/digits-mlp.yaml",
                        "--set",
                        "workers=2",
                        "--set",
                        "telemetry.out=" + telemetry,
                        "--set",
                        "export.path=" + export));
    }

    private static void assertTrainedByTwoRanks(Run run, Path telemetry, Path export) throws Exception {
        assertEquals(0, run.exit(), run.output());
        assertTrue(run.output().contains("eval accuracy"), "progress reaches the driver's console: " + run.output());
        assertTrue(!run.output().contains(" INFO DAGScheduler"), "Spark's INFO logging is quiet: " + run.output());
        List<JsonNode> records = TrainCommandTest.records(telemetry);
        double accuracy = TrainCommandTest.last(records, "end")
                .get("eval")
                .get("accuracy")
                .asDouble();
        assertTrue(accuracy >= 0.97, "held-out accuracy " + accuracy);
        Set<Integer> ranks = new TreeSet<>();
        for (JsonNode r : records) {
            if (r.get("type").asText().equals("step")) {
                ranks.add(r.get("rank").asInt());
            }
        }
        assertEquals(Set.of(0, 1), ranks, "step records of both ranks in the driver's log");
        assertTrue(Files.size(export) > 9610 * 4, "the exported model");
    }

    @Test
    void shouldTrainUnderAPlainSparkSubmitInLocalMode() throws Exception {
        Path telemetry = tmp.resolve("local.jsonl");
        Path export = tmp.resolve("local.safetensors");
        assertTrainedByTwoRanks(submit("local[2]", telemetry, export), telemetry, export);
    }

    @Test
    void shouldTrainOnAStandaloneClusterOfTwoWorkerProcesses() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        List<String> start = new ArrayList<>(
                List.of("deploy/standalone/start-cluster.sh", "--workers", "2", "--cores", "1", "--port", "" + port));
        try {
            Run started = sh(180, tmp.resolve("start.txt"), start);
            assertEquals(0, started.exit(), started.output());
            String master = started.output().strip().lines().reduce((a, b) -> b).orElse("");
            assertEquals("spark://127.0.0.1:" + port, master);
            Path telemetry = tmp.resolve("cluster.jsonl");
            Path export = tmp.resolve("cluster.safetensors");
            assertTrainedByTwoRanks(submit(master, telemetry, export), telemetry, export);
        } finally {
            Run stopped = sh(60, tmp.resolve("stop.txt"), List.of("deploy/standalone/stop-cluster.sh"));
            assertEquals(0, stopped.exit(), stopped.output());
        }
    }
}
