package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The documented schema (telemetry/README.md) and the one the code writes and reads are the same. */
class SchemaTest {
    @Test
    void shouldDocumentEveryKeyAndRecordTypeTheCodeUses() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        List<String> missing = Schema.all().stream()
                .distinct()
                .filter(k -> !readme.contains("`" + k + "`") && !readme.contains("\"" + k + "\""))
                .toList();
        assertEquals(List.of(), missing, "keys the code uses that telemetry/README.md does not mention");
    }

    @Test
    void shouldDocumentEveryThresholdAndRule() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        for (String name : Thresholds.DEFAULTS.keySet()) {
            assertTrue(readme.contains("`" + name + "`"), "threshold " + name + " is documented");
        }
        for (Rule r : Rules.all()) {
            assertTrue(readme.contains("| " + r.code() + " |"), "rule " + r.code() + " is in the table");
        }
    }
}
