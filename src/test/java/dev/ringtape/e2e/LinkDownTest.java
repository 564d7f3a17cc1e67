package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A link that goes down mid-run (issue 24): two emulated hosts, the digits job on both; once a snapshot past step
 * 500 is written, the second host's link goes down for 8 s, longer than {@code allreduce.timeout_s} (3 s). The ring
 * fails within the timeout with an error that says which peer went silent, the driver runs the stage again from the
 * newest snapshot (as often as it must while the link is down), and the run ends with the model of an uninterrupted
 * run, bit for bit. Skipped, with the reason, where the machine refuses user or network namespaces.
 */
class LinkDownTest {
    @TempDir
    Path tmp;

    private List<String> job(String name) {
        List<String> args = new ArrayList<>(List.of(
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "workers=2",
                "--set",
                "train.epochs=100",
                "--set",
                "allreduce.timeout_s=3",
                "--set",
                "checkpoint.every_steps=100",
                "--set",
                "checkpoint.max_restarts=10"));
        args.addAll(Launcher.outputs(tmp, name));
        return args;
    }

    @Test
    void shouldFailWithinTheTimeoutAndEndWithTheUninterruptedModelOnceTheLinkIsBack() throws Exception {
        Path log = tmp.resolve("down.jsonl");
        Path out = tmp.resolve("out.txt");
        List<String> submit = new ArrayList<>(List.of(
                "deploy/standalone/bin/spark-submit",
                "--master",
                "\"$TESTBED_MASTER\"",
                "deploy/target/ringtape-all.jar"));
        submit.addAll(job("down"));
        // the job in the background; once a snapshot past step 500 is in the log, host 2's link down for 8 s
        String script = String.join(" ", submit) + " & job=$!\n"
                + "until grep -q '\"type\":\"checkpoint\",[^}]*\"step\":[5-9][0-9][0-9],' " + log + " 2>/dev/null; do\n"
                + "  kill -0 $job 2>/dev/null || break; sleep 0.05\n"
                + "done\n"
                + "ip -n h2 link set eth0 down; echo 'test: link down'; sleep 8; ip -n h2 link set eth0 up\n"
                + "echo 'test: link up'; status=0; wait $job || status=$?; exit $status\n";
        Launcher.Outcome o = Launcher.testbed(List.of("--hosts", "2"), script, out, 500);
        String said = o.stdout();
        assertEquals(0, o.exit(), said);
        assertTrue(said.contains("test: link down"), said);
        String failure = null;
        boolean resumed = false;
        for (JsonNode r : TrainCommandTest.records(log)) {
            if (r.path("event").asText().equals("stage_failed") && failure == null) {
                failure = r.path("error").asText();
            }
            resumed |= r.path("event").asText().equals("resumed")
                    && r.path("attempt").asInt() >= 1;
        }
        assertTrue(failure != null && resumed, "stage_failed and resumed events in the log: " + said);
        assertTrue(failure.matches("(?s).*made no progress for 3\\d{3} ms: .*rank \\d.*"), failure);
        assertTrue(!said.contains("\tat "), "no stack trace on the console: " + said);

        Launcher.Outcome ref = Launcher.run(600, job("reference").toArray(String[]::new));
        assertEquals(0, ref.exit(), ref.stderr());
        assertEquals(
                Launcher.tensorBits(tmp.resolve("reference.safetensors")),
                Launcher.tensorBits(tmp.resolve("down.safetensors")),
                "the model of an uninterrupted run, bit for bit");
    }
}
