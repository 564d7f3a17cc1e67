package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs {@code deploy/bin/ringtape} as a real process, with a deadline. */
final class Launcher {
    private Launcher() {}

    record Outcome(int exit, String stdout, String stderr) {}

    static Path root() {
        return Path.of(System.getProperty("ringtape.root", "../.."))
                .toAbsolutePath()
                .normalize();
    }

    static Outcome run(long timeoutSeconds, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(root().resolve("deploy/bin/ringtape").toString());
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile("ringtape-out", ".txt");
        Path err = Files.createTempFile("ringtape-err", ".txt");
        try {
            Process p = new ProcessBuilder(cmd)
                    .directory(root().toFile())
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .start();
            boolean done = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
            if (!done) {
                p.descendants().forEach(ProcessHandle::destroyForcibly); // the launcher's java
                p.destroyForcibly();
            }
            assertTrue(done, "ringtape " + String.join(" ", args) + " did not finish in " + timeoutSeconds + " s");
            return new Outcome(
                    p.exitValue(),
                    Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
