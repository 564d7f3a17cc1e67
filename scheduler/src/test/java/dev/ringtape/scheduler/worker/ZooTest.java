package dev.ringtape.scheduler.worker;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.train.GradientReducer;
import dev.ringtape.runtime.train.StateStore;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.telemetry.TelemetrySink;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every job of deploy/jobs/zoo raises the diagnosis its first line expects ({@code # expect: CODE [layer]}, several
 * joined by {@code or}), and the healthy ones ({@code # expect: healthy}) raise no warning or error.
 */
class ZooTest {
    static Stream<Path> zoo() throws Exception {
        try (Stream<Path> s = Files.list(Path.of("../deploy/jobs/zoo"))) {
            List<Path> all =
                    s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
            assertTrue(all.size() >= 10, "the zoo has " + all.size() + " jobs");
            return all.stream();
        }
    }

    /** Trains the job of {@code file} with {@code overrides} in this process, one worker; its telemetry records. */
    static List<ObjectNode> train(Path file, List<String> overrides) throws Exception {
        JobSpec job = JobSpec.from(JobFile.load(file, overrides));
        List<ObjectNode> records = new ArrayList<>();
        TelemetrySink collect = new TelemetrySink() {
            @Override
            public void emit(ObjectNode record) {
                records.add(record.deepCopy());
            }

            @Override
            public void close() {}
        };
        Worker.run(
                job,
                file.toAbsolutePath().getParent(),
                GradientReducer.local(),
                StateStore.NONE,
                collect,
                new PrintStream(OutputStream.nullOutputStream()));
        return records;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("zoo")
    void shouldDiagnoseWhatTheJobIsBuiltToShow(Path file) throws Exception {
        String first = Files.readAllLines(file).get(0);
        assertTrue(first.startsWith("# expect: "), file + " starts with '# expect: ...'");
        String expect = first.substring("# expect: ".length()).strip();
        List<ObjectNode> records = train(file, List.of());
        List<String> opened = records.stream()
                .filter(r -> r.get("type").asText().equals("diagnosis")
                        && r.get("state").asText().equals("open"))
                .map(r -> r.get("code").asText() + " " + r.get("layer").asText() + " "
                        + r.get("severity").asText())
                .distinct()
                .toList();
        if (expect.equals("healthy")) {
            assertFalse(
                    opened.stream().anyMatch(d -> d.endsWith(" warn") || d.endsWith(" error")),
                    "a healthy job raised " + opened);
            return;
        }
        boolean found = false;
        for (String alternative : expect.split(" or ")) {
            String[] want = alternative.strip().split(" ");
            found |= opened.stream()
                    .anyMatch(
                            d -> d.startsWith(want[0] + " ") && (want.length == 1 || d.split(" ")[1].equals(want[1])));
        }
        assertTrue(found, "expected " + expect + ", raised " + opened);
    }
}
