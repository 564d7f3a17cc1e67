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

    /**
     * telemetry/schema/TYPE.schema.json are {@link Schema#jsonSchema}'s, byte for byte; after a change to the table,
     * {@code mvn -pl telemetry test -Dtest=SchemaTest -Dringtape.schema.write=true} writes them anew.
     */
    @Test
    void shouldKeepTheCheckedInJsonSchemasCurrent() throws Exception {
        Path dir = Path.of("schema");
        boolean write = Boolean.getBoolean("ringtape.schema.write");
        for (String type : Schema.records().keySet()) {
            String want =
                    Records.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(Schema.jsonSchema(type)) + "\n";
            Path file = dir.resolve(type + ".schema.json");
            if (write) {
                Files.createDirectories(dir);
                Files.writeString(file, want);
            }
            assertTrue(Files.exists(file), file + " is missing");
            assertEquals(want, Files.readString(file), file + " is stale: write it anew (see this test's doc)");
        }
        try (var files = Files.list(dir)) {
            assertEquals(Schema.records().size(), files.count(), "one file per record type, no other");
        }
    }

    @Test
    void shouldNameWhatIsWrongWithARecord() {
        var step = Records.of(Schema.Type.STEP, "j", 3);
        step.put(Schema.LOSS, 0.5).put(Schema.LR, "high").put("lost", 1);
        List<String> p = Schema.problems(step);
        assertTrue(p.contains("step.lr: STRING, expected [number, null]"), p.toString());
        assertTrue(p.contains("step.lost: not in the schema"), p.toString());
        assertTrue(p.contains("step.samples: missing"), p.toString());
        assertEquals(List.of("unknown record type 'nope'"), Schema.problems(Records.of("nope", "j", 0)));
    }
}
