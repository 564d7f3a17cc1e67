package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's own build, as a first run after a clone shows it: Maven 3.8 writes colour resets even in batch
 * mode, which reached the user as {@code [0m[0m[gpu-kernels] built with ...} (issue 27). A stand-in Maven that
 * writes such output shows what the launcher passes on.
 */
class LauncherBuildTest {
    @TempDir
    Path tmp;

    @Test
    void shouldPassOnTheBuildsOutputWithoutEscapeSequences() throws Exception {
        Path mvn = tmp.resolve("mvn");
        Files.writeString(
                mvn,
                "#!/bin/sh\n"
                        + "printf '\\033[0m\\033[0m[gpu-kernels] built with nvcc\\n'\n"
                        + "printf '\\033[1;31m[ERROR]\\033[m a failing module\\n'\n"
                        + "exit 0\n");
        Files.setPosixFilePermissions(mvn, PosixFilePermissions.fromString("rwx------"));
        // a jar that does not exist is stale: the launcher builds it (with the stand-in), then fails to run it
        Launcher.Outcome o = Launcher.run(
                60, List.of("env", "RINGTAPE_MVN=" + mvn, "RINGTAPE_JAR=" + tmp.resolve("none.jar")), "--version");
        assertTrue(o.stderr().contains("\n[gpu-kernels] built with nvcc\n"), o.stderr());
        assertTrue(o.stderr().contains("\n[ERROR] a failing module\n"), o.stderr());
        assertFalse(o.stderr().contains("\033"), "no escape sequence reaches the user: " + o.stderr());
    }
}
