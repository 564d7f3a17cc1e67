package dev.ringtape.scheduler.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * joined by {@code or}), and the healthy ones ({@code # expect: healthy}) raise no warning or error. A broken job's
 * second line ({@code # first: CODE [layer] by step N}) says which diagnosis the run's summary names first (the
 * first cause, {@code Rules.chain}) and by which step: every zoo pathology is there from step 0, so N is how long the
 * run went before it was named (the table in telemetry/README.md).
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
        for (ObjectNode r : records) {
            assertEquals(List.of(), dev.ringtape.telemetry.Schema.problems(r), "the schema holds: " + r);
        }
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

    @ParameterizedTest(name = "{0}")
    @MethodSource("zoo")
    void shouldNameTheFirstCauseFirst(Path file) throws Exception {
        List<String> lines = Files.readAllLines(file);
        if (lines.get(0).contains("healthy")) {
            return;
        }
        assertTrue(lines.get(1).startsWith("# first: "), file + ": a broken job's second line is '# first: ...'");
        String[] want = lines.get(1).substring("# first: ".length()).strip().split(" ");
        long by = Long.parseLong(want[want.length - 1]);
        java.util.Map<String, ObjectNode> first = new java.util.LinkedHashMap<>();
        for (ObjectNode r : train(file, List.of())) {
            if (r.get("type").asText().equals("diagnosis")
                    && r.get("state").asText().equals("open")
                    && !r.get("severity").asText().equals("info")) {
                first.putIfAbsent(r.get("code").asText() + " " + r.get("layer").asText(), r);
            }
        }
        List<String> chain = dev.ringtape.telemetry.Rules.chain(
                first.keySet(),
                k -> first.get(k).get("code").asText(),
                k -> first.get(k).get("step").asLong());
        assertTrue(!chain.isEmpty(), file + ": nothing was named");
        ObjectNode cause = first.get(chain.get(0));
        assertEquals(want[0], cause.get("code").asText(), file + ": the chain " + chain);
        if (!want[1].equals("by")) {
            assertEquals(want[1], cause.get("layer").asText(), file + ": the chain " + chain);
        }
        assertTrue(cause.get("step").asLong() <= by, file + ": named at step " + cause.get("step") + ", not by " + by);
    }
}
