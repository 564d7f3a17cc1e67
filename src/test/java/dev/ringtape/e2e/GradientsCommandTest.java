package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** {@code ringtape gradients} through the launcher, as FORMAT.md specifies it. */
class GradientsCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path CASES = Launcher.root().resolve("runtime/src/test/resources/conformance");
    private static final Path BAD = Launcher.root().resolve("runtime/src/test/resources/bad-cases");

    private static List<String> files(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.toString().endsWith(".json"))
                    .map(Path::toString)
                    .sorted()
                    .toList();
        }
    }

    @Test
    void shouldPrintOneResultLinePerCaseAndExitZero() throws Exception {
        List<String> cases = files(CASES);
        Launcher.Outcome o = Launcher.run(
                120, Stream.concat(Stream.of("gradients"), cases.stream()).toArray(String[]::new));
        assertEquals(0, o.exit(), o.stderr());
        String[] lines = o.stdout().strip().split("\n");
        assertEquals(cases.size(), lines.length);
        for (int i = 0; i < lines.length; i++) {
            JsonNode got = JSON.readTree(lines[i]);
            JsonNode golden = JSON.readTree(Path.of(cases.get(i)).toFile());
            assertEquals(golden.get("name").asText(), got.get("name").asText());
            for (String key : List.of("output", "loss", "grads")) {
                assertTrue(got.has(key), key + " missing in " + got.get("name"));
            }
            // token ids have no gradient: a case that starts with an embedding has none (FORMAT.md)
            assertEquals(golden.get("expected").has("input_grad"), got.has("input_grad"), "input_grad of " + got);
            assertEquals(
                    golden.get("expected").get("loss").asDouble(),
                    got.get("loss").asDouble(),
                    1e-3 * (1 + Math.abs(golden.get("expected").get("loss").asDouble())));
        }
    }

    @Test
    void shouldReportEveryBadCaseOnOneLineAndExitNonZeroWithoutAStackTrace() throws Exception {
        List<String> args = new ArrayList<>();
        args.add("gradients");
        args.add(CASES.resolve("linear_ce.json").toString());
        args.addAll(files(BAD));
        args.add(BAD.resolve("does_not_exist.json").toString());
        Launcher.Outcome o = Launcher.run(120, args.toArray(String[]::new));
        assertEquals(1, o.exit());
        String[] lines = o.stdout().strip().split("\n");
        assertEquals(args.size() - 1, lines.length);
        assertFalse(JSON.readTree(lines[0]).has("error"), "the good case still runs");
        for (int i = 1; i < lines.length; i++) {
            JsonNode r = JSON.readTree(lines[i]);
            assertTrue(r.has("name") && r.has("error"), lines[i]);
        }
        assertFalse(o.stderr().contains("Exception"), o.stderr());
        assertFalse(o.stderr().contains("\tat "), o.stderr());
        assertTrue(
                o.stderr().contains((args.size() - 2) + " of " + (args.size() - 1) + " cases could not run"),
                o.stderr());
    }
}
