package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The emulated cluster (deploy/testbed/testbed.sh, issue 24): three hosts, each a network namespace with a shaped
 * 1 Gbit/s link to a bridge, a Spark standalone master on the bridge and a worker on the first two; the digits job
 * submitted there with two workers trains across the hosts, its ranks on the hosts' addresses and its ring over Aeron
 * UDP, while a stranger on the third host, who holds no key, knocks on every port of the driver across its link
 * (issue 30): the run ends as it should, the stranger's words appear nowhere, and the console names its address.
 * Skipped, with the reason, where the machine refuses user or network namespaces.
 */
class TestbedTest {
    @TempDir
    Path tmp;

    @Test
    void shouldTrainAcrossTwoEmulatedHostsOverShapedLinks() throws Exception {
        Path out = tmp.resolve("out.txt");
        Path log = tmp.resolve("t.jsonl");
        Path strangerOut = tmp.resolve("stranger.txt");
        String classes = Path.of(Stranger.class
                        .getProtectionDomain()
                        .getCodeSource()
                        .getLocation()
                        .toURI())
                .toString();
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // the job in the background; once its driver JVM runs, the stranger on host 3 (198.18.0.13) until it ends
        String script = "deploy/standalone/bin/spark-submit --master \"$TESTBED_MASTER\""
                + " deploy/target/ringtape-all.jar train --fresh deploy/jobs/digits-mlp.yaml --set workers=2"
                + " --set telemetry.out=" + log + " --set export.path=" + tmp.resolve("m.safetensors")
                + " --set checkpoint.dir=" + tmp.resolve("ck") + " & job=$!\n"
                + "ip netns exec h3 " + javaBin + " -cp " + classes + " " + Stranger.class.getName()
                + " $job 198.18.0.1 > " + strangerOut + " 2>&1 & stranger=$!\n"
                + "status=0; wait $job || status=$?; wait $stranger; exit $status\n";
        Launcher.Outcome o =
                Launcher.testbed(List.of("--hosts", "3", "--spare", "1", "--rate", "1gbit"), script, out, 400);
        String said = o.stdout();
        assertEquals(0, o.exit(), said);
        assertTrue(said.contains("testbed: 3 host(s) at 1gbit, 2 with a worker, master spark://198.18.0.1:7077"), said);
        String stranger = Files.readString(strangerOut);
        java.util.regex.Matcher knocks =
                java.util.regex.Pattern.compile("stranger: (\\d+) knocks").matcher(stranger);
        assertTrue(
                knocks.find() && Integer.parseInt(knocks.group(1)) > 1_000,
                "the stranger reached the driver: " + stranger);
        assertTrue(
                said.contains("refused a connection from 198.18.0.13:"),
                "the console names the stranger's host: " + said);
        assertTrue(!said.contains(Stranger.WORDS), "nothing the stranger said reaches the console: " + said);
        assertTrue(!said.contains("\tat "), "and no stack trace, Spark's transport's included: " + said);
        assertTrue(!Files.readString(log).contains(Stranger.WORDS), "nor the log");
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
