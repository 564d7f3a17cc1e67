package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A two-worker job in local mode while a stranger, who does not hold the job's key, knocks on every TCP port the
 * job's JVM listens on (issue 30): a rank's registration line, a rank's telemetry frames with words of its own, a
 * silent connection held open, half a line, a megabyte without a newline, and a burst of a thousand connects. The
 * job ends with the undisturbed run's weights, bit for bit, in about the undisturbed time; nothing the stranger said
 * reaches the log, the console or the report; the console names the stranger's address; and every port the job
 * listens on is on loopback, Spark's UI included.
 */
class StrangerTest {
    private static final String WORDS = Stranger.WORDS;

    @TempDir
    Path tmp;

    @Test
    void shouldTrainTheUndisturbedModelWhileAStrangerKnocksOnEveryPort() throws Exception {
        long t0 = System.nanoTime();
        Launcher.Outcome quiet = Launcher.run(300, args(tmp.resolve("quiet")));
        double quietS = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, quiet.exit(), quiet.stderr());

        Path dir = tmp.resolve("knocked");
        List<String> cmd = new ArrayList<>();
        cmd.add(Launcher.root().resolve("deploy/bin/ringtape").toString());
        cmd.addAll(List.of(args(dir)));
        Path out = tmp.resolve("out.txt");
        Path err = tmp.resolve("err.txt");
        long t1 = System.nanoTime();
        Process p = new ProcessBuilder(cmd)
                .directory(Launcher.root().toFile())
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        Stranger stranger = new Stranger("127.0.0.1");
        try {
            ProcessHandle jvm = null;
            while (p.isAlive() && !p.waitFor(20, TimeUnit.MILLISECONDS)) {
                if (jvm == null) {
                    jvm = p.descendants()
                            .filter(h -> h.info().command().orElse("").endsWith("java"))
                            .findFirst()
                            .orElse(null);
                }
                if (jvm != null) {
                    stranger.knock(jvm.pid());
                }
                assertTrue(System.nanoTime() - t1 < 300_000_000_000L, "the knocked run did not end in 300 s");
            }
        } finally {
            stranger.leave();
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        double knockedS = (System.nanoTime() - t1) / 1e9;
        String stdout = Files.readString(out, StandardCharsets.UTF_8);
        String stderr = Files.readString(err, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), stdout + stderr);

        assertTrue(
                stranger.ports.size() >= 3,
                "Spark's RPC and UI, the telemetry server, the exchange: " + stranger.ports);
        for (Map.Entry<Integer, String> port : stranger.ports.entrySet()) {
            assertTrue(
                    port.getValue().equals("0100007F") || port.getValue().equals("0000000000000000FFFF00000100007F"),
                    "port " + port.getKey() + " listens on " + port.getValue() + ", not on loopback");
        }
        assertTrue(stranger.knocks.get() > 1_000, "the stranger got through to the job's ports: " + stranger.knocks);

        assertEquals(
                Launcher.tensorBits(tmp.resolve("quiet").resolve("m.safetensors")),
                Launcher.tensorBits(dir.resolve("m.safetensors")),
                "the knocked run's weights are the undisturbed run's");
        assertTrue(knockedS < quietS * 1.5 + 10, "knocked " + knockedS + " s against " + quietS + " s undisturbed");

        String log = Files.readString(dir.resolve("t.jsonl"), StandardCharsets.UTF_8);
        Launcher.Outcome report = Launcher.run(
                120,
                "report",
                dir.resolve("t.jsonl").toString(),
                "-o",
                dir.resolve("r.html").toString());
        assertEquals(0, report.exit(), report.stderr());
        String html = Files.readString(dir.resolve("r.html"), StandardCharsets.UTF_8);
        for (String[] where : new String[][] {{"stdout", stdout}, {"stderr", stderr}, {"log", log}, {"report", html}}) {
            assertFalse(where[1].contains(WORDS), "the stranger's words in the " + where[0] + ": " + where[1]);
        }
        assertFalse(stderr.contains("\tat "), "no stack trace on the console: " + stderr);
        Matcher named = Pattern.compile("warning: the driver's (telemetry server|ring endpoint exchange) refused a"
                        + " connection from 127\\.0\\.0\\.1:(\\d+)")
                .matcher(stdout);
        assertTrue(named.find(), "the console names the stranger: " + stdout);
        assertTrue(
                stranger.localPorts.contains(Integer.parseInt(named.group(2))),
                "the named peer is one of the stranger's connections: " + named.group());
    }

    private static String[] args(Path dir) {
        return new String[] {
            "train",
            "--fresh",
            "deploy/jobs/digits-mlp.yaml",
            "--set",
            "workers=2",
            "--set",
            "train.epochs=10",
            "--set",
            "checkpoint.dir=" + dir.resolve("ck"),
            "--set",
            "telemetry.out=" + dir.resolve("t.jsonl"),
            "--set",
            "export.path=" + dir.resolve("m.safetensors")
        };
    }
}
