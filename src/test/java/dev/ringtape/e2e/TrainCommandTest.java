package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ringtape train} and {@code ringtape gradcheck} through the launcher, as a user runs them. */
class TrainCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    static List<JsonNode> records(Path log) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(log)) {
            out.add(JSON.readTree(line));
        }
        return out;
    }

    static JsonNode last(List<JsonNode> records, String type) {
        JsonNode found = null;
        for (JsonNode r : records) {
            if (r.get("type").asText().equals(type)) {
                found = r;
            }
        }
        return found;
    }

    @Test
    void shouldStopTheTrainingJvmWhenTheLauncherIsTerminated() throws Exception {
        // the launcher runs java as a child (to filter its stderr), so it must pass a SIGTERM on
        Path log = tmp.resolve("long.jsonl");
        Process p = new ProcessBuilder(
                        Launcher.root().resolve("deploy/bin/ringtape").toString(),
                        "train",
                        "--fresh",
                        "deploy/jobs/digits-mlp.yaml",
                        "--set",
                        "train.epochs=100000",
                        "--set",
                        "telemetry.out=" + log)
                .directory(Launcher.root().toFile())
                .redirectErrorStream(true)
                .redirectOutput(tmp.resolve("out.txt").toFile())
                .start();
        List<ProcessHandle> jvms = List.of();
        try {
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (!Files.exists(log) || !Files.readString(log).contains("\"type\":\"step\"")) {
                assertTrue(p.isAlive(), "the launcher stopped early: " + Files.readString(tmp.resolve("out.txt")));
                assertTrue(System.nanoTime() < deadline, "no step record within 120 s");
                Thread.sleep(100);
            }
            jvms = p.descendants()
                    .filter(h -> h.info().command().orElse("").endsWith("java"))
                    .toList();
            assertEquals(1, jvms.size(), "one training JVM under the launcher: " + jvms);
            p.destroy(); // SIGTERM to the launcher only
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "the launcher exits");
            assertTrue(
                    jvms.get(0).onExit().get(30, java.util.concurrent.TimeUnit.SECONDS) != null
                            && !jvms.get(0).isAlive(),
                    "and so does its java");
            assertEquals(143, p.exitValue(), "with java's exit status for SIGTERM");
        } finally {
            jvms.forEach(ProcessHandle::destroyForcibly); // no longer the launcher's descendants once it is gone
            p.destroyForcibly();
        }
    }

    @Test
    void shouldTrainTheDigitsMlpWithTwoWorkersPast97PercentHeldOutAccuracy() throws Exception {
        Path log = tmp.resolve("digits.jsonl");
        Launcher.Outcome o = Launcher.run(
                300,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "workers=2",
                "--set",
                "telemetry.out=" + log);
        assertEquals(0, o.exit(), o.stderr());
        List<JsonNode> records = records(log);
        for (JsonNode r : records) {
            // the merged log of two ranks, as the driver writes it, against telemetry/schema
            assertEquals(List.of(), dev.ringtape.telemetry.Schema.problems(r), "the schema holds: " + r);
        }
        assertEquals(
                java.util.Set.of(0, 1),
                records.stream()
                        .filter(r -> r.get("type").asText().equals("step"))
                        .map(r -> r.get("rank").asInt())
                        .collect(java.util.stream.Collectors.toSet()),
                "step records of both ranks");
        assertTrue(last(records, "step").get("allreduce_busbw_gbps").isNumber(), "the all-reduce's bus bandwidth");
        assertEquals("run", records.get(0).get("type").asText());
        JsonNode end = last(records, "end");
        assertNotNull(end, "an end record");
        double accuracy = end.get("eval").get("accuracy").asDouble();
        assertTrue(accuracy >= 0.97, "held-out accuracy " + accuracy);
        JsonNode step = last(records, "step");
        for (String key : List.of("loss", "lr", "loss_scale", "skipped", "grad_norm", "clipped", "phase_ms")) {
            assertTrue(step.has(key), "step records carry " + key);
        }
        for (JsonNode r : records) {
            for (String key : List.of("type", "ts", "job", "step")) {
                assertTrue(r.has(key), r.get("type") + " record carries " + key);
            }
        }
        assertTrue(o.stdout().contains("ETA"), "progress lines: " + o.stdout());
        assertTrue(o.stdout().contains("eval accuracy"), o.stdout());
        // backend: auto without a usable GPU trains on the CPU and says so once, with why (in the run record too)
        JsonNode run = records.get(0);
        assertEquals("cpu", run.get("backend").asText());
        String why = run.get("backend_why").asText();
        assertTrue(why.startsWith("auto: cuda not available (") && why.endsWith("); training on the CPU"), why);
        assertEquals(
                1,
                o.stdout().lines().filter(l -> l.equals("backend " + why)).count(),
                "one line about the fallback: " + o.stdout());
    }

    @Test
    void shouldTrainTheShippedGptOnTextWithTwoWorkersWellBelowTheUnigramBitsPerByte() throws Exception {
        Path log = tmp.resolve("gpt.jsonl");
        Launcher.Outcome o = Launcher.run(
                300,
                "train",
                "--fresh",
                "deploy/jobs/gpt-licenses.yaml",
                "--set",
                "train.steps=80",
                "--set",
                "train.lr_schedule.warmup_steps=10",
                "--set",
                "workers=2",
                "--set",
                "telemetry.out=" + log);
        assertEquals(0, o.exit(), o.stderr());
        List<JsonNode> records = records(log);
        for (JsonNode r : records) {
            assertEquals(List.of(), dev.ringtape.telemetry.Schema.problems(r), "the schema holds: " + r);
        }
        JsonNode eval = last(records, "end").get("eval");
        // 8 bits at the start; the licence texts' byte unigram entropy is about 4.6 bits (3.76 measured here at 80
        // steps, 3.70 for PyTorch's same model at 250 in shared/calibration)
        double bits = eval.get("bits_per_byte").asDouble();
        assertTrue(bits < 4.3, "held-out bits per byte " + bits);
        assertEquals(eval.get("loss").asDouble() / Math.log(2), bits, 1e-9);
        assertTrue(eval.get("accuracy").asDouble() > 0.2, "next-byte accuracy " + eval.get("accuracy"));
        assertTrue(o.stdout().contains(String.format("%.3f bits/byte", bits)), o.stdout());
    }

    @Test
    void shouldRefuseBackendCudaWithoutAGpuInOneLineBeforeReadingData() throws Exception {
        Launcher.Outcome o = Launcher.run(
                120,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "backend=cuda",
                "--set",
                "data.train.path=no/such.csv"); // not read: the backend is refused first
        assertEquals(1, o.exit());
        String line = o.stderr().strip();
        assertEquals(1, line.lines().count(), line);
        assertTrue(line.startsWith("ringtape train: digits-mlp: backend cuda cannot run here: "), line);
        assertTrue(line.endsWith(" (backend: auto trains on the CPU instead)"), line);
        assertFalse(line.contains("Exception"), line);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"aeron-ipc", "aeron-udp"})
    void shouldTrainTwoWorkersOverTheAeronRingLikeOne(String transport) throws Exception {
        Path one = tmp.resolve("one.jsonl");
        Path two = tmp.resolve("two.jsonl");
        Launcher.Outcome a = Launcher.run(
                300,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "train.epochs=5",
                "--set",
                "telemetry.out=" + one);
        Launcher.Outcome b = Launcher.run(
                300,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "train.epochs=5",
                "--set",
                "workers=2",
                "--set",
                "train.micro_batches=2",
                "--set",
                "allreduce.transport=" + transport,
                "--set",
                "telemetry.out=" + two);
        assertEquals(0, a.exit(), a.stderr());
        assertEquals(0, b.exit(), b.stderr());
        JsonNode endOne = last(records(one), "end");
        JsonNode endTwo = last(records(two), "end");
        assertEquals(endOne.get("steps").asLong(), endTwo.get("steps").asLong());
        // the same samples per step, summed in another order: the same run up to float rounding
        assertEquals(
                endOne.get("eval").get("loss").asDouble(),
                endTwo.get("eval").get("loss").asDouble(),
                1e-4);
        assertEquals(2, last(records(two), "run").get("world_size").asInt());
        long rankOneSteps = records(two).stream()
                .filter(r ->
                        r.get("type").asText().equals("step") && r.get("rank").asInt() == 1)
                .count();
        assertEquals(endTwo.get("steps").asLong(), rankOneSteps, "rank 1's step records reach the driver's log");
    }

    @Test
    void shouldLetWatchFailACiPipelineOnTheZoosDeadReluJob() throws Exception {
        Path log = tmp.resolve("dead.jsonl");
        Launcher.Outcome train = Launcher.run(
                300, "train", "--fresh", "deploy/jobs/zoo/dead-relu-sgd-high-lr.yaml", "--set", "telemetry.out=" + log);
        assertEquals(0, train.exit(), train.stderr());
        assertTrue(
                train.stdout()
                        .lines()
                        .anyMatch(l -> l.matches("step \\d+: warn DEAD_RELU in layers\\.3: dead frac .*")),
                "the diagnosis is told on the console as it opens: " + train.stdout());
        assertTrue(
                train.stdout().contains("diagnosis, first cause first:\n  error BLOWUP from step 0, cleared at step ")
                        && train.stdout().contains("\n  then warn DEAD_RELU in layers.3 from step "),
                "summed up at the end as a chain, the blow-up first: " + train.stdout());
        assertTrue(
                train.stdout().contains("first thing to try: the first steps blew the weights up"),
                "from the first cause: " + train.stdout());
        Launcher.Outcome strict = Launcher.run(60, "watch", log.toString(), "--fail-on", "warn");
        assertEquals(1, strict.exit(), strict.stdout());
        assertTrue(strict.stdout().contains("watch: failing on"), strict.stdout());
        Launcher.Outcome healthy = Launcher.run(
                300,
                "train",
                "--fresh",
                "deploy/jobs/zoo/healthy-digits-mlp.yaml",
                "--set",
                "telemetry.out=" + tmp.resolve("ok.jsonl"));
        assertEquals(0, healthy.exit(), healthy.stderr());
        assertTrue(
                healthy.stdout().lines().noneMatch(l -> l.matches("step \\d+: (warn|error) .*")),
                "a healthy run prints no warning: " + healthy.stdout());
        assertTrue(healthy.stdout().contains("diagnosis: no rule fired"), healthy.stdout());
        Launcher.Outcome relaxed =
                Launcher.run(60, "watch", tmp.resolve("ok.jsonl").toString(), "--fail-on", "warn");
        assertEquals(0, relaxed.exit(), relaxed.stdout());
        assertTrue(relaxed.stdout().contains("end at step"), relaxed.stdout());
    }

    @Test
    void shouldNameTheOriginOfANaNInTheDataAndKeepTraining() throws Exception {
        Path log = tmp.resolve("nan.jsonl");
        Launcher.Outcome o = Launcher.run(
                300,
                "train",
                "--fresh",
                "deploy/jobs/zoo/nan-in-data.yaml",
                "--set",
                "train.micro_batches=2",
                "--set",
                "telemetry.out=" + log);
        assertEquals(0, o.exit(), o.stderr());
        assertTrue(o.stdout().contains(": the forward of linear in layers.0, before the all-reduce"), o.stdout());
        List<JsonNode> records = records(log);
        JsonNode nonfinite = last(records, "nonfinite");
        assertNotNull(nonfinite, "a nonfinite record");
        assertEquals("layers.0", nonfinite.get("layer").asText());
        assertEquals("forward", nonfinite.get("phase").asText());
        assertEquals("linear", nonfinite.get("op").asText());
        assertTrue(nonfinite.get("before_allreduce").asBoolean());
        long skipped = records.stream()
                .filter(r -> r.get("type").asText().equals("step")
                        && r.get("skipped").asBoolean())
                .count();
        assertTrue(skipped >= 1 && skipped <= 2, "only the steps holding the bad row are skipped: " + skipped);
        JsonNode end = last(records, "end");
        assertTrue(
                end.get("eval").get("loss").isNumber(), "weights stayed finite, so the eval loss is a number: " + end);
    }

    @Test
    void shouldRejectABadJobInOneLineWithoutAStackTrace() throws Exception {
        Path bad = tmp.resolve("bad.yaml");
        Files.writeString(
                bad,
                "model:\n  input: [4]\n  layers: [{type: linear, out: 1}]\n  loss: {type: mse}\n"
                        + "data:\n  train: {format: csv, path: x.csv}\ntrain:\n  optimiser: {type: sgd}\n");
        Launcher.Outcome o = Launcher.run(120, "train", "--fresh", bad.toString());
        assertEquals(1, o.exit());
        assertEquals(
                "ringtape train: " + bad + ":8: train.optimiser: unknown key (did you mean 'optimizer'?);"
                        + " valid keys: clip_grad_norm, epochs, global_batch, init_from, loss_scale, lr_schedule,"
                        + " micro_batches, optimizer, precision, recompute, steps",
                o.stderr().strip());
        Launcher.Outcome missing =
                Launcher.run(120, "train", "--fresh", tmp.resolve("nope.yaml").toString());
        assertEquals(1, missing.exit());
        assertFalse(missing.stderr().contains("Exception"), missing.stderr());
    }

    @Test
    void shouldReportAMissingDataFileByName() throws Exception {
        Launcher.Outcome o = Launcher.run(
                120, "train", "--fresh", "deploy/jobs/digits-mlp.yaml", "--set", "data.train.path=no/such.csv");
        assertEquals(1, o.exit());
        assertEquals("ringtape train: no/such.csv: no such file", o.stderr().strip());
    }

    @Test
    void shouldReportAnInputErrorInOneLineWithoutSparksExecutorLog() throws Exception {
        // the driver reads the data's first row: a model that cannot take it is refused before Spark starts
        Launcher.Outcome shape =
                Launcher.run(120, "train", "--fresh", "deploy/jobs/digits-mlp.yaml", "--set", "model.input=[65]");
        assertEquals(1, shape.exit());
        assertEquals(
                "ringtape train: data.train: samples have 64 features [64] but model.input is [65]",
                shape.stderr().strip());
        // a bad value further down is found by the ranks as they read: still one line, and no executor's log
        Path csv = tmp.resolve("bad.csv");
        StringBuilder rows = new StringBuilder();
        for (int i = 0; i < 200; i++) {
            rows.append(i % 7)
                    .append(',')
                    .append(i == 150 ? "abc" : String.valueOf(i % 3))
                    .append('\n');
        }
        Files.writeString(csv, rows);
        Launcher.Outcome value = Launcher.run(
                300,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "workers=2",
                "--set",
                "data.train.path=" + csv,
                "--set",
                "model.input=[1]",
                "--set",
                "telemetry.out=" + tmp.resolve("bad.jsonl"));
        assertEquals(1, value.exit());
        assertEquals(
                "ringtape train: digits-mlp: " + csv + ":151: column 2 is 'abc', not a number",
                value.stderr().strip(),
                "one line, no stack trace, no Spark executor or task log");
    }

    @Test
    void shouldWriteTensorBoardEventsAsItTrainsAndTheSameFromTheLog() throws Exception {
        Path log = tmp.resolve("tb.jsonl");
        Launcher.Outcome o = Launcher.run(
                300,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "train.epochs=3",
                "--set",
                "telemetry.tensorboard=" + tmp.resolve("live"),
                "--set",
                "telemetry.out=" + log);
        assertEquals(0, o.exit(), o.stderr());
        Launcher.Outcome c = Launcher.run(
                60,
                "tensorboard",
                log.toString(),
                "-o",
                tmp.resolve("converted").toString());
        assertEquals(0, c.exit(), c.stderr());
        assertTrue(c.stdout().contains("tensorboard --logdir " + tmp.resolve("converted")), c.stdout());
        byte[] live = onlyFile(tmp.resolve("live"));
        byte[] converted = onlyFile(tmp.resolve("converted"));
        assertTrue(live.length > 10_000, "an event per step at least: " + live.length + " bytes");
        // the first record (file_version) carries the time it was written; every later one is the log's, in order
        int first = 8
                + 4
                + (int) java.nio.ByteBuffer.wrap(live, 0, 8)
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                        .getLong()
                + 4;
        int firstConverted = 8
                + 4
                + (int) java.nio.ByteBuffer.wrap(converted, 0, 8)
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                        .getLong()
                + 4;
        assertTrue(
                java.util.Arrays.equals(live, first, live.length, converted, firstConverted, converted.length),
                "written as it went or converted after, the same events");
        Path nowhere = tmp.resolve("nowhere");
        Launcher.Outcome missing =
                Launcher.run(60, "tensorboard", tmp.resolve("none.jsonl").toString(), "-o", nowhere.toString());
        assertEquals(1, missing.exit());
        assertEquals(
                "ringtape tensorboard: " + tmp.resolve("none.jsonl") + ": no such file",
                missing.stderr().strip());
        assertTrue(!Files.exists(nowhere), "no event file (nor directory) for a log that is not there");
    }

    private static byte[] onlyFile(Path dir) throws Exception {
        try (var files = Files.list(dir)) {
            List<Path> all = files.toList();
            assertEquals(1, all.size(), all.toString());
            assertTrue(all.get(0).getFileName().toString().startsWith("events.out.tfevents."), all.toString());
            return Files.readAllBytes(all.get(0));
        }
    }

    @Test
    void shouldRefuseWhatWouldStallOrLoseASparkJobInOneLine() throws Exception {
        Launcher.Outcome slots = Launcher.run(
                120,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "workers=2",
                "--set",
                "spark.master=local[1]");
        assertEquals(1, slots.exit());
        assertEquals(
                "ringtape train: digits-mlp: workers: 2 barrier tasks need 2 task slots at once, but spark.master"
                        + " local[1] offers 1; use local[2] or at most 1 workers",
                slots.stderr().strip());
        Path file = Files.writeString(tmp.resolve("a-file"), "");
        Launcher.Outcome export = Launcher.run(
                120,
                "train",
                "--fresh",
                "deploy/jobs/digits-mlp.yaml",
                "--set",
                "export.path=" + file.resolve("m.safetensors"));
        assertEquals(1, export.exit());
        assertTrue(
                export.stderr().strip().startsWith("ringtape train: digits-mlp: export.path: cannot write "),
                export.stderr());
        assertEquals(1, export.stderr().strip().lines().count(), export.stderr());
    }

    @Test
    void shouldReportEachPreflightCheckOnItsOwnLine() throws Exception {
        Launcher.Outcome o = Launcher.run(120, "doctor", "deploy/jobs/digits-mlp.yaml");
        assertEquals(0, o.exit(), o.stdout() + o.stderr());
        for (String what : List.of("java", "shm", "udp", "cuda", "blas", "spark")) {
            assertTrue(o.stdout().lines().anyMatch(l -> l.matches("(ok|warn) +" + what + " .*")), o.stdout());
        }
    }

    @Test
    void shouldPassGradcheckOnTheDigitsJob() throws Exception {
        Launcher.Outcome o = Launcher.run(120, "gradcheck", "deploy/jobs/digits-mlp.yaml");
        assertEquals(0, o.exit(), o.stdout() + o.stderr());
        assertTrue(o.stdout().contains("layers.0.weight"), o.stdout());
        assertTrue(o.stdout().contains("all parameter gradients agree with finite differences"), o.stdout());
    }
}
