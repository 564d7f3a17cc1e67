package dev.ringtape.allreduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Ranks as separate JVM processes: real sockets, a real shared driver, a real kill. */
class RingProcessTest {
    @TempDir
    Path dir;

    /** A rank's process and every line it printed so far. */
    record Rank(Process process, List<String> lines) {
        boolean printed(String prefix) {
            return lines.stream().anyMatch(l -> l.startsWith(prefix));
        }

        String failure() {
            return lines.stream()
                    .filter(l -> l.startsWith("FAILED"))
                    .findFirst()
                    .orElse("(none)");
        }
    }

    List<Rank> launch(int world, String transport, int size, int rounds, long timeoutMs) throws Exception {
        List<Rank> ranks = new ArrayList<>();
        long token = System.nanoTime();
        for (int r = 0; r < world; r++) {
            Process p = new ProcessBuilder(
                            Path.of(System.getProperty("java.home"), "bin", "java")
                                    .toString(),
                            "--add-exports",
                            "java.base/jdk.internal.misc=ALL-UNNAMED",
                            "-Xmx512m",
                            "-cp",
                            System.getProperty("java.class.path"),
                            RingProcessMain.class.getName(),
                            String.valueOf(r),
                            String.valueOf(world),
                            transport,
                            dir.toString(),
                            String.valueOf(token),
                            String.valueOf(size),
                            String.valueOf(rounds),
                            String.valueOf(timeoutMs))
                    .redirectErrorStream(true)
                    .start();
            List<String> lines = new CopyOnWriteArrayList<>();
            Thread reader = new Thread(() -> {
                try (BufferedReader in =
                        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = in.readLine()) != null) {
                        lines.add(line);
                    }
                } catch (java.io.IOException e) {
                    lines.add("reader: " + e);
                }
            });
            reader.setDaemon(true);
            reader.start();
            ranks.add(new Rank(p, lines));
        }
        return ranks;
    }

    static void awaitExit(Rank r, long seconds) throws InterruptedException {
        if (!r.process().waitFor(seconds, TimeUnit.SECONDS)) {
            r.process().destroyForcibly();
            throw new AssertionError("a rank did not exit within " + seconds + " s: " + r.lines());
        }
    }

    @ParameterizedTest(name = "{0} processes over {1}")
    @CsvSource({"2, ipc", "3, udp", "4, ipc"})
    void shouldSumAcrossProcesses(int world, String transport) throws Exception {
        List<Rank> ranks = launch(world, transport, 1_000_003, 3, 20_000);
        for (Rank r : ranks) {
            awaitExit(r, 120);
        }
        for (int i = 0; i < world; i++) {
            Rank r = ranks.get(i);
            assertEquals(0, r.process().exitValue(), "rank " + i + ": " + r.lines());
            assertTrue(r.printed("done"), r.lines().toString());
        }
    }

    @Test
    void shouldFailTheSurvivorsWithinTheTimeoutWhenAPeerIsKilled() throws Exception {
        long timeoutMs = 3_000;
        List<Rank> ranks = launch(3, "udp", 100_000, 1_000_000, timeoutMs);
        Rank victim = ranks.get(1);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!victim.printed("round 3 ok")) {
            assertTrue(System.nanoTime() < deadline, "the ring never got going: " + victim.lines());
            Thread.sleep(20);
        }
        victim.process().destroyForcibly();
        long killed = System.nanoTime();
        for (int i : new int[] {0, 2}) {
            Rank r = ranks.get(i);
            awaitExit(r, 30);
            double after = (System.nanoTime() - killed) / 1e9;
            assertEquals(3, r.process().exitValue(), "rank " + i + " must fail: " + r.lines());
            assertTrue(after < timeoutMs / 1000.0 + 5, "rank " + i + " failed " + after + " s after the kill");
            assertTrue(r.failure().contains("made no progress") || r.failure().contains("is gone"), r.failure());
        }
        assertTrue(
                ranks.get(2).failure().contains("rank 1"),
                "rank 2 names its dead neighbour: " + ranks.get(2).failure());
        // the survivors removed their driver directories; the killed rank's is swept by the next launch
        String victimDir = "-proc1-" + victim.process().pid() + "-";
        try (java.util.stream.Stream<Path> left = java.nio.file.Files.list(Path.of("/dev/shm"))) {
            assertTrue(
                    left.anyMatch(p -> p.getFileName().toString().contains(victimDir)), "the killed rank left its dir");
        }
        assertTrue(MediaDrivers.sweepStale() >= 1, "the sweep removes it");
        try (java.util.stream.Stream<Path> left = java.nio.file.Files.list(Path.of("/dev/shm"))) {
            assertTrue(
                    left.noneMatch(p -> p.getFileName().toString().contains("-proc")), "nothing of this test remains");
        }
    }
}
