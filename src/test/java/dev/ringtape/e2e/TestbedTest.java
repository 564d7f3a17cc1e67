package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The emulated cluster (deploy/testbed/testbed.sh, issue 24): two hosts, each a network namespace with a shaped
 * 1 Gbit/s link to a bridge, a Spark standalone master on the bridge and a worker per host; the digits job submitted
 * there with two workers trains across the hosts, its ranks on the hosts' addresses and its ring over Aeron UDP.
 * Skipped, with the reason, where the machine refuses user or network namespaces.
 */
class TestbedTest {
    @TempDir
    Path tmp;

    @Test
    void shouldTrainAcrossTwoEmulatedHostsOverShapedLinks() throws Exception {
        Path out = tmp.resolve("out.txt");
        Path log = tmp.resolve("t.jsonl");
        Process p = Launcher.spark(
                        List.of(
                                "deploy/testbed/testbed.sh",
                                "--hosts",
                                "2",
                                "--rate",
                                "1gbit",
                                "--",
                                "bash",
                                "-c",
                                "deploy/standalone/bin/spark-submit --master \"$TESTBED_MASTER\""
                                        + " deploy/target/ringtape-all.jar train --fresh deploy/jobs/digits-mlp.yaml"
                                        + " --set workers=2 --set telemetry.out=" + log + " --set export.path="
                                        + tmp.resolve("m.safetensors") + " --set checkpoint.dir=" + tmp.resolve("ck")),
                        out)
                .start();
        boolean done = p.waitFor(400, TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        String said = Files.readString(out);
        assertTrue(done, "the testbed run did not end in 400 s: " + said);
        Assumptions.assumeTrue(p.exitValue() != 77, said.strip());
        assertEquals(0, p.exitValue(), said);
        assertTrue(said.contains("testbed: 2 host(s) at 1gbit, master spark://198.18.0.1:7077"), said);
        Set<String> hosts = new TreeSet<>();
        for (JsonNode r : TrainCommandTest.records(log)) {
            if (r.path("event").asText().equals("rank_started")) {
                assertEquals("aeron-udp", r.path("transport").asText(), r.toString());
                hosts.add(r.path("executor").asText().replaceAll(":\\d+$", ""));
                assertTrue(r.path("endpoint").asText().startsWith("198.18.0."), "the ring on the host's link: " + r);
            }
        }
        assertEquals(Set.of("198.18.0.11", "198.18.0.12"), hosts, "one rank on each emulated host");
        double accuracy = TrainCommandTest.last(TrainCommandTest.records(log), "end")
                .get("eval")
                .get("accuracy")
                .asDouble();
        assertTrue(accuracy >= 0.97, "held-out accuracy " + accuracy);
    }
}
