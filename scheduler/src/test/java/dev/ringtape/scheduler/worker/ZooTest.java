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

    /** Runs of the zoo's jobs as they are, shared by the tests that read them. */
    private static final java.util.Map<Path, List<ObjectNode>> AS_IS = new java.util.concurrent.ConcurrentHashMap<>();

    /** {@link #train} of the job as it is, once per file. */
    static List<ObjectNode> trainAsIs(Path file) throws Exception {
        List<ObjectNode> r = AS_IS.get(file.toAbsolutePath());
        if (r == null) {
            r = train(file, List.of());
            AS_IS.put(file.toAbsolutePath(), r);
        }
        return r;
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
        List<ObjectNode> records = trainAsIs(file);
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
        for (ObjectNode r : trainAsIs(file)) {
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

    /**
     * A zoo job with a third line {@code # cure: CODE[,CODE] with KEY=VALUE ...} raises those diagnoses, and with the
     * overrides, which the rules' hints name, raises none of them and ends with a lower held-out loss.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("zoo")
    void shouldStaySilentAndEndLowerWithTheCureTheHintNames(Path file) throws Exception {
        List<String> lines = Files.readAllLines(file);
        if (lines.size() < 3 || !lines.get(2).startsWith("# cure: ")) {
            return;
        }
        String[] cure = lines.get(2).substring("# cure: ".length()).strip().split(" with ", 2);
        List<String> codes = List.of(cure[0].split(","));
        List<String> overrides = List.of(cure[1].strip().split(" +"));
        for (String code : codes) {
            String hint = dev.ringtape.telemetry.Rules.of(code).hint();
            for (String o : overrides) {
                String key = o.substring(0, o.indexOf('='));
                // a layer's key is named by its leaf (qk_layernorm), any other by its whole path
                String named = key.startsWith("model.layers.") ? key.substring(key.lastIndexOf('.') + 1) : key;
                assertTrue(hint.contains(named), code + "'s hint names " + named + ": " + hint);
            }
        }
        List<ObjectNode> sick = trainAsIs(file);
        List<ObjectNode> cured = train(file, overrides);
        for (String code : codes) {
            assertTrue(opened(sick, code), file + " raises " + code);
            assertFalse(opened(cured, code), file + " with " + overrides + " raises " + code);
        }
        double before = heldOut(sick);
        double after = heldOut(cured);
        assertTrue(
                Double.isFinite(after) && !(after >= before),
                "held-out loss " + after + " with " + overrides + ", " + before + " without");
    }

    private static boolean opened(List<ObjectNode> records, String code) {
        return records.stream()
                .anyMatch(r -> r.get("type").asText().equals("diagnosis")
                        && r.get("state").asText().equals("open")
                        && r.get("code").asText().equals(code));
    }

    private static double heldOut(List<ObjectNode> records) {
        for (ObjectNode r : records) {
            if (r.get("type").asText().equals("end")) {
                return r.get("eval").path("loss").asDouble(Double.NaN);
            }
        }
        return Double.NaN;
    }
}
