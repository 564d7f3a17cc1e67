package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WatchTest {
    @TempDir
    Path dir;

    static final List<String> RUN = List.of(
            "{\"type\":\"run\",\"job\":\"j\",\"step\":0,\"world_size\":2,\"layers\":[{},{}]}",
            "{\"type\":\"step\",\"job\":\"j\",\"step\":0,\"loss\":2.5,\"loss_scale\":65536.0,\"skipped\":false}",
            "{\"type\":\"layer\",\"job\":\"j\",\"step\":0,\"layer\":\"layers.1\",\"activation\":\"relu\",\"dead_frac\":0.42,\"saturated_frac\":0}",
            "{\"type\":\"diagnosis\",\"job\":\"j\",\"step\":10,\"code\":\"DEAD_RELU\",\"severity\":\"warn\",\"layer\":\"layers.1\",\"state\":\"open\",\"evidence\":{\"dead_frac\":0.42},\"hint\":\"h\"}",
            "{\"type\":\"step\",\"job\":\"j\",\"step\":10,\"loss\":1.5,\"loss_scale\":65536.0,\"skipped\":false}",
            "{\"type\":\"diagnosis\",\"job\":\"j\",\"step\":40,\"code\":\"DEAD_RELU\",\"severity\":\"warn\",\"layer\":\"layers.1\",\"state\":\"cleared\",\"evidence\":{},\"hint\":\"h\"}",
            "{\"type\":\"end\",\"job\":\"j\",\"step\":50,\"eval\":{\"loss\":0.5,\"accuracy\":0.9},\"skipped_steps\":0}");

    /** Appends the run's lines with pauses, splitting one line across two writes, as a live trainer would. */
    Thread writer(Path log) {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(100); // the log does not exist yet when watching starts
                for (String line : RUN) {
                    int half = line.length() / 2;
                    Files.writeString(
                            log,
                            line.substring(0, half),
                            StandardCharsets.UTF_8,
                            StandardOpenOption.CREATE,
                            StandardOpenOption.APPEND);
                    Thread.sleep(15);
                    Files.writeString(
                            log, line.substring(half) + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
                    Thread.sleep(15);
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        t.start();
        return t;
    }

    @Test
    void shouldFollowAGrowingLogToItsEnd() throws Exception {
        Path log = dir.resolve("run.jsonl");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Thread w = writer(log);
        int exit = new Watch(log, new PrintStream(bytes, true, StandardCharsets.UTF_8), "error", 10).run(30_000);
        w.join();
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, out);
        assertTrue(out.contains("watching j: 2 worker(s), 2 layers"), out);
        assertTrue(out.contains("step 10: WARN DEAD_RELU(layers.1)"), out);
        assertTrue(
                out.contains("step 10  loss 1.5000  scale 65536.0  worst layers.1 42% dead  open DEAD_RELU(layers.1)"),
                out);
        assertTrue(out.contains("step 40: cleared DEAD_RELU(layers.1)"), out);
        assertTrue(out.contains("end at step 50: eval loss 0.5000, accuracy 90.00%"), out);
    }

    @Test
    void shouldFailAsSoonAsAWarningOpensWithFailOnWarn() throws Exception {
        Path log = dir.resolve("run.jsonl");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Thread w = writer(log);
        int exit = new Watch(log, new PrintStream(bytes, true, StandardCharsets.UTF_8), "warn", 10).run(30_000);
        w.join();
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(1, exit, out);
        assertTrue(out.contains("watch: failing on DEAD_RELU(layers.1) (--fail-on warn)"), out);
        assertTrue(!out.contains("end at step"), "stops at the diagnosis, before the end: " + out);
    }
}
