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
        return run(timeoutSeconds, List.of(), args);
    }

    /** Runs {@code prefix deploy/bin/ringtape args}: the prefix a command that runs its arguments (unshare, env). */
    static Outcome run(long timeoutSeconds, List<String> prefix, String... args)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(prefix);
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

    /** A process in the repository root with Spark's environment: the laid-out SPARK_HOME, everything on loopback. */
    static ProcessBuilder spark(List<String> cmd, Path output) {
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .directory(root().toFile())
                .redirectErrorStream(true)
                .redirectOutput(output.toFile());
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        pb.environment()
                .put(
                        "SPARK_HOME",
                        root().resolve("deploy/standalone/target/spark-home").toString());
        return pb;
    }

    /**
     * Runs the bash {@code script} in an emulated cluster ({@code deploy/testbed/testbed.sh options -- bash -c
     * script}), its output (the testbed's and the script's) in {@code output} and in the outcome's stdout; skips the
     * calling test, with the testbed's reason, where the machine refuses user or network namespaces.
     */
    static Outcome testbed(List<String> options, String script, Path output, long timeoutSeconds)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("deploy/testbed/testbed.sh"));
        cmd.addAll(options);
        cmd.addAll(List.of("--", "bash", "-c", script));
        Process p = spark(cmd, output).start();
        boolean done = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        String said = Files.readString(output);
        assertTrue(done, "the testbed run did not end in " + timeoutSeconds + " s: " + said);
        org.junit.jupiter.api.Assumptions.assumeTrue(p.exitValue() != 77, said.strip());
        return new Outcome(p.exitValue(), said, "");
    }

    /** {@code --set}s that put a run's snapshots, telemetry log and model under {@code dir}, named {@code name}. */
    static List<String> outputs(Path dir, String name) {
        return List.of(
                "--set",
                "checkpoint.dir=" + dir.resolve(name + "-checkpoints"),
                "--set",
                "telemetry.out=" + dir.resolve(name + ".jsonl"),
                "--set",
                "export.path=" + dir.resolve(name + ".safetensors"));
    }

    /** The tensor bytes of a safetensors file (not its header, whose metadata may differ), as ints. */
    static List<Integer> tensorBits(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = java.nio.ByteBuffer.wrap(all)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .getLong();
        java.nio.ByteBuffer data = java.nio.ByteBuffer.wrap(all, (int) (8 + n), (int) (all.length - 8 - n))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        List<Integer> out = new ArrayList<>();
        while (data.remaining() >= 4) {
            out.add(data.getInt());
        }
        return out;
    }

    /** The highest step of a written snapshot ({@code checkpoint} record with a path) in a log, or -1. */
    static long lastSnapshotStep(Path log) throws IOException {
        if (!Files.exists(log)) {
            return -1;
        }
        long max = -1;
        for (String line : Files.readAllLines(log)) {
            if (line.contains("\"type\":\"checkpoint\"") && line.contains("\"path\"")) {
                max = Math.max(
                        max,
                        new com.fasterxml.jackson.databind.ObjectMapper()
                                .readTree(line)
                                .path("step")
                                .asLong());
            }
        }
        return max;
    }
}
