package dev.ringtape.scheduler.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class JobSpecTest {

    static Stream<Path> badJobs() throws IOException, URISyntaxException {
        Path dir = Path.of(JobSpecTest.class.getResource("/bad-jobs").toURI());
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> all =
                    s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
            assertTrue(all.size() >= 20, "at least 20 malformed jobs, found " + all.size());
            return all.stream();
        }
    }

    /** Each malformed job names its file, line and key in one line; the expectation is the file's first line. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("badJobs")
    void shouldRejectAMalformedJobWithFileLineAndKey(Path file) throws IOException {
        String first = Files.readAllLines(file).get(0);
        assertTrue(first.startsWith("# expect: "), file + " must start with '# expect: ...'");
        String expected = first.substring("# expect: ".length());
        JobException e = assertThrows(JobException.class, () -> JobSpec.from(JobFile.load(file, List.of())));
        String message = e.getMessage();
        assertTrue(message.contains(expected), () -> "expected '" + expected + "' in: " + message);
        assertTrue(message.startsWith(file.toString()), message);
        assertFalse(message.contains("\n"), "one line: " + message);
        assertFalse(message.contains("Exception"), message);
    }

    @Test
    void shouldAcceptTheShippedJobsWithTheirDefaults() throws Exception {
        JobSpec job = JobSpec.from(JobFile.load(Path.of("../deploy/jobs/digits-mlp.yaml"), List.of()));
        assertEquals("digits-mlp", job.name());
        assertEquals(30, job.train().epochs());
        assertEquals(1, job.train().microBatches());
        assertEquals("fp32", job.train().precision());
        assertEquals(65536.0, job.train().lossScale().init());
        assertEquals(2000, job.train().lossScale().growthInterval());
        assertEquals(0.2, job.data().evalSplit());
        assertEquals("runs/digits-mlp/telemetry.jsonl", job.telemetry().out());
        assertEquals(25.0, job.allreduce().bucketMb());
        JobSpec gpt = JobSpec.from(JobFile.load(Path.of("../deploy/jobs/gpt-licenses.yaml"), List.of()));
        assertEquals(DataFormat.TEXT, gpt.data().train().kind());
        assertEquals("none", gpt.data().normalize(), "token ids are not normalized");
        assertEquals(0.1, gpt.data().evalSplit());
    }

    @Test
    void shouldApplySetOverridesAndBlameThemInErrors() throws Exception {
        Path job = Path.of("../deploy/jobs/digits-mlp.yaml");
        JobSpec spec = JobSpec.from(JobFile.load(
                job, List.of("train.epochs=3", "model.layers.0.out=64", "train.optimizer.lr=0.01", "workers=2")));
        assertEquals(3, spec.train().epochs());
        assertEquals(64, spec.model().get("layers").get(0).get("out").asInt());
        assertEquals(0.01, spec.train().optimizer().get("lr").asDouble());
        assertEquals(2, spec.workers());
        assertEquals(0, spec.threads(), "auto by default");
        assertEquals(3, JobSpec.from(JobFile.load(job, List.of("threads=3"))).threads());
        assertEquals(0, JobSpec.from(JobFile.load(job, List.of("threads=auto"))).threads());
        JobException e = assertThrows(
                JobException.class, () -> JobSpec.from(JobFile.load(job, List.of("train.global_batch=-1"))));
        assertEquals("--set train.global_batch=-1: train.global_batch: must be at least 1, got -1", e.getMessage());
        assertEquals(
                "false",
                JobSpec.from(JobFile.load(job, List.of("spark.conf.spark.ui.enabled=false")))
                        .spark()
                        .conf()
                        .get("spark.ui.enabled"),
                "a Spark setting's dots stay in its name");
        JobException bad = assertThrows(JobException.class, () -> JobFile.load(job, List.of("model.layers.9.out=3")));
        assertTrue(bad.getMessage().contains("'9' is not an index of a list of 3"), bad.getMessage());
    }

    @Test
    void shouldTellSnapshotsOfBfloat16FramesApartButNotTheDefaultSpelledOut() throws Exception {
        Path job = Path.of("../deploy/jobs/digits-mlp.yaml");
        String plain = JobSpec.from(JobFile.load(job, List.of())).specHash();
        assertEquals(
                plain,
                JobSpec.from(JobFile.load(job, List.of("allreduce.compress=none")))
                        .specHash());
        assertEquals(
                plain,
                JobSpec.from(JobFile.load(job, List.of("workers=2", "allreduce.bucket_mb=1")))
                        .specHash());
        assertFalse(plain.equals(JobSpec.from(JobFile.load(job, List.of("allreduce.compress=bf16")))
                .specHash()));
        JobException e = assertThrows(
                JobException.class, () -> JobSpec.from(JobFile.load(job, List.of("allreduce.compress=bf61"))));
        assertTrue(
                e.getMessage().contains("allreduce.compress") && e.getMessage().contains("bf16"), e.getMessage());
    }
}
