package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint directory on a real file system that fills up: a 200 KiB tmpfs, mounted in a private mount namespace
 * ({@code unshare}, no privileges needed where user namespaces are allowed), holds one snapshot of the digits job
 * (116 KB) but not two. The second write runs out of space mid-file: the run says so once and trains on, the first
 * snapshot stays the newest and intact, and no partial file is left.
 */
class FullDiskTest {
    @TempDir
    Path tmp;

    @Test
    void shouldKeepThePreviousSnapshotTheNewestWhenTheDiskFillsDuringAWrite() throws Exception {
        Path dir = tmp.resolve("checkpoints");
        Files.createDirectories(dir);
        List<String> prefix = List.of(
                "unshare",
                "--user",
                "--map-root-user",
                "--mount",
                "sh",
                "-c",
                // mount, train, then list what the train command left on that file system (it goes with the namespace)
                "mount -t tmpfs -o size=200k tmpfs \"$0\" || exit 97; \"$@\"; rc=$?; echo listing:; ls -la \"$0\";"
                        + " exit $rc",
                dir.toString());
        Launcher.Outcome o = Launcher.run(
                300,
                prefix,
                "train",
                "deploy/jobs/digits-mlp.yaml",
                "--fresh",
                "--set",
                "train.epochs=3",
                "--set",
                "checkpoint.every_steps=20",
                "--set",
                "checkpoint.dir=" + dir,
                "--set",
                "telemetry.out=" + tmp.resolve("log.jsonl"),
                "--set",
                "export.path=" + tmp.resolve("model.safetensors"));
        Assumptions.assumeFalse(
                o.exit() == 97 || o.stderr().startsWith("unshare:"),
                "cannot mount a small tmpfs in a private namespace here (user namespaces not allowed): "
                        + o.stderr().strip());
        assertEquals(0, o.exit(), "training goes on when a snapshot cannot be written: " + o.stderr());
        assertTrue(
                o.stdout().contains("step 39: warning: snapshot not written: ")
                        && o.stdout().contains("No space left on device")
                        && o.stdout().contains("the newest is still file:" + dir + "/snapshot-000000000019.rtsnap"),
                o.stdout());
        assertEquals(1, o.stdout().split("warning: snapshot not written").length - 1, "told once: " + o.stdout());
        assertTrue(Files.exists(tmp.resolve("model.safetensors")), "the model is exported");

        List<JsonNode> checkpoints = new ArrayList<>();
        for (JsonNode r : TrainCommandTest.records(tmp.resolve("log.jsonl"))) {
            if (r.path("type").asText().equals("checkpoint")) {
                checkpoints.add(r);
            }
        }
        assertEquals(3, checkpoints.size(), checkpoints.toString());
        long written = checkpoints.get(0).path("bytes").asLong();
        assertEquals(19, checkpoints.get(0).path("step").asLong());
        for (JsonNode failed : checkpoints.subList(1, 3)) {
            assertTrue(failed.path("error").asText().contains("No space left on device"), failed.toString());
        }
        // on the full file system: the first snapshot, whole, and nothing else (no partial temporary file)
        List<String> files = new ArrayList<>();
        for (String line : o.stdout().substring(o.stdout().indexOf("listing:")).split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 9 && !f[8].equals(".") && !f[8].equals("..")) {
                files.add(f[8] + " " + f[4]);
            }
        }
        assertEquals(List.of("snapshot-000000000019.rtsnap " + written), files);
    }
}
