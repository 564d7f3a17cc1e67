package dev.ringtape.scheduler.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The driver on real local Spark, in this JVM: equivalence of worker layouts, and what it refuses up front. */
class SparkTrainTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    @TempDir
    Path tmp;

    private JobSpec digits(String... overrides) throws Exception {
        List<String> all = new ArrayList<>(List.of(
                "data.train.path=" + ROOT.resolve("deploy/data/digits.csv.gz"),
                "telemetry.out="
                        + tmp.resolve("log-" + String.join("_", overrides).hashCode() + ".jsonl"),
                "export.path="
                        + tmp.resolve("model-" + String.join("_", overrides).hashCode() + ".safetensors"),
                // every test trains from scratch, in its own checkpoint directory
                "checkpoint.dir="
                        + tmp.resolve("ck-" + String.join("_", overrides).hashCode())));
        all.addAll(List.of(overrides));
        // the main job, trained for 50 steps instead of 30 epochs
        Path job = tmp.resolve("digits-mlp.yaml");
        Files.writeString(
                job,
                Files.readString(ROOT.resolve("deploy/jobs/digits-mlp.yaml")).replace("epochs: 30", "steps: 50"));
        return JobSpec.from(JobFile.load(job, all));
    }

    @Test
    void shouldExportTheSameModelFromOneWorkerTwoWorkersTwoMicroBatchesAndSmallBuckets() throws Exception {
        List<Map<String, Safetensors.Entry>> exports = new ArrayList<>();
        for (String[] layout : List.of(
                new String[] {"workers=1", "train.micro_batches=1"},
                new String[] {"workers=2", "train.micro_batches=1"},
                new String[] {"workers=2", "train.micro_batches=2"},
                // buckets of ~10 KB: the ring sums some while backward still writes the arena's other gradients
                new String[] {"workers=2", "allreduce.bucket_mb=0.01"})) {
            JobSpec job = digits(layout[0], layout[1]);
            SparkTrain.Result r = SparkTrain.run(job, null, QUIET);
            assertEquals(50, r.steps());
            exports.add(Safetensors.read(r.export()));
            List<JsonNode> steps = new ArrayList<>();
            for (String line : Files.readAllLines(Path.of(job.telemetry().out()))) {
                JsonNode rec = new ObjectMapper().readTree(line);
                if (rec.get("type").asText().equals("step")) {
                    steps.add(rec);
                }
                if (rec.get("type").asText().equals("run")) {
                    // each rank says how many compute threads it runs: local mode leaves the driver a core
                    int cores = Runtime.getRuntime().availableProcessors();
                    assertEquals(
                            Math.max(1, (cores - 1) / job.workers()),
                            rec.path("threads").asInt(),
                            line);
                    assertTrue(rec.path("threads_why").asText().startsWith("auto: local mode"), line);
                }
            }
            assertEquals(50L * job.workers(), steps.size(), "a step record per rank and step");
        }
        for (int i = 1; i < exports.size(); i++) {
            assertClose(exports.get(0), exports.get(i), "layout " + i + ", ");
        }
    }

    @Test
    void shouldTrainWithBfloat16FramesAsWellAsFloat32WhileSendingHalfTheBytes() throws Exception {
        double[] sent = new double[2];
        SparkTrain.Result[] results = new SparkTrain.Result[2];
        List<Map<String, Safetensors.Entry>> exports = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            JobSpec job = digits("workers=2", "allreduce.compress=" + (i == 0 ? "none" : "bf16"), "train.steps=200");
            results[i] = SparkTrain.run(job, null, QUIET);
            exports.add(Safetensors.read(results[i].export()));
            for (String line : Files.readAllLines(Path.of(job.telemetry().out()))) {
                JsonNode rec = new ObjectMapper().readTree(line);
                if (rec.get("type").asText().equals("step")) {
                    sent[i] += rec.path("allreduce_sent_bytes").asDouble();
                }
            }
        }
        // the same values in two bytes instead of four, and the same 32-byte frame headers
        assertEquals(0.5, sent[1] / sent[0], 0.02, "bf16 sent " + sent[1] + " bytes, float32 " + sent[0]);
        assertTrue(sent[0] > 0);
        assertEquals(results[0].evalAccuracy(), results[1].evalAccuracy(), 0.02, "accuracy with bf16 frames");
        assertEquals(results[0].evalLoss(), results[1].evalLoss(), 0.1 * results[0].evalLoss(), "held-out loss");
        boolean differs = false;
        for (String name : exports.get(0).keySet()) {
            differs |= !java.util.Arrays.equals(
                    exports.get(0).get(name).values(), exports.get(1).get(name).values());
        }
        assertTrue(differs, "bf16 frames round the gradients, so the weights are not float32's bit for bit");
    }

    /** Every tensor of {@code b} within 1e-5 of {@code a}'s largest magnitude of that tensor. */
    private static void assertClose(Map<String, Safetensors.Entry> a, Map<String, Safetensors.Entry> b, String what) {
        for (String name : a.keySet()) {
            float[] x = a.get(name).values();
            float[] y = b.get(name).values();
            double diff = 0;
            double scale = 0;
            for (int j = 0; j < x.length; j++) {
                diff = Math.max(diff, Math.abs(x[j] - y[j]));
                scale = Math.max(scale, Math.abs(x[j]));
            }
            assertTrue(
                    diff <= 1e-5 * scale, what + name + ": max difference " + diff + " against max |value| " + scale);
        }
    }

    @Test
    void shouldResumeTwoWorkersSnapshotWithOneWorkerAndEndWhereAnUninterruptedRunEnds() throws Exception {
        String shared = "checkpoint.dir=" + tmp.resolve("shared-checkpoints");
        // two workers write snapshots after steps 19 and 39 (and finish); the newest, 39, is resumed by one worker
        SparkTrain.run(digits("workers=2", "checkpoint.every_steps=20", shared), null, QUIET);
        JobSpec one = digits("workers=1", "checkpoint.every_steps=20", shared);
        java.io.ByteArrayOutputStream console = new java.io.ByteArrayOutputStream();
        SparkTrain.Result resumed = SparkTrain.run(one, null, new PrintStream(console, true), false, false);
        assertTrue(console.toString().contains("snapshot-000000000039.rtsnap at step 40"), console.toString());
        SparkTrain.Result straight =
                SparkTrain.run(digits("workers=1", "checkpoint.every_steps=20"), null, QUIET, false, true);
        // optimizer state is replicated: nothing to reshard, and the global batch is the same; only the sum's order
        // of the first 40 steps differs
        assertClose(Safetensors.read(straight.export()), Safetensors.read(resumed.export()), "resumed, ");
    }

    /** The digits as Spark ML pipelines write them: parquet with an array<float> or a vector column, and libsvm. */
    private void writeSparkSources() throws Exception {
        dev.ringtape.runtime.data.Dataset d =
                dev.ringtape.runtime.data.CsvReader.read(ROOT.resolve("deploy/data/digits.csv.gz"), "last");
        List<org.apache.spark.sql.Row> arrays = new ArrayList<>();
        List<org.apache.spark.sql.Row> vectors = new ArrayList<>();
        StringBuilder libsvm = new StringBuilder();
        for (int i = 0; i < d.size(); i++) {
            List<Float> x = new ArrayList<>();
            double[] v = new double[64];
            libsvm.append((int) d.labels()[i]);
            for (int j = 0; j < 64; j++) {
                float f = d.features()[i * 64 + j];
                x.add(f);
                v[j] = f;
                if (f != 0) {
                    libsvm.append(' ').append(j + 1).append(':').append(f);
                }
            }
            libsvm.append('\n');
            arrays.add(org.apache.spark.sql.RowFactory.create((double) d.labels()[i], x));
            vectors.add(org.apache.spark.sql.RowFactory.create(
                    (double) d.labels()[i], org.apache.spark.ml.linalg.Vectors.dense(v)));
        }
        Files.writeString(tmp.resolve("digits.libsvm"), libsvm);
        var spark = org.apache.spark.sql.SparkSession.builder()
                .master("local[1]")
                .config("spark.ui.enabled", "false")
                .getOrCreate();
        try {
            var label = org.apache.spark.sql.types.DataTypes.createStructField(
                    "digit", org.apache.spark.sql.types.DataTypes.DoubleType, false);
            spark.createDataFrame(
                            arrays,
                            org.apache.spark.sql.types.DataTypes.createStructType(List.of(
                                    label,
                                    org.apache.spark.sql.types.DataTypes.createStructField(
                                            "pixels",
                                            org.apache.spark.sql.types.DataTypes.createArrayType(
                                                    org.apache.spark.sql.types.DataTypes.FloatType),
                                            false))))
                    .write()
                    .parquet(tmp.resolve("arrays.parquet").toString());
            spark.createDataFrame(
                            vectors,
                            org.apache.spark.sql.types.DataTypes.createStructType(List.of(
                                    org.apache.spark.sql.types.DataTypes.createStructField(
                                            "label", org.apache.spark.sql.types.DataTypes.DoubleType, false),
                                    org.apache.spark.sql.types.DataTypes.createStructField(
                                            "features", org.apache.spark.ml.linalg.SQLDataTypes.VectorType(), false))))
                    .write()
                    .parquet(tmp.resolve("vectors.parquet").toString());
        } finally {
            spark.stop();
        }
    }

    @Test
    void shouldTrainFromParquetAndLibsvmShardsThatSparkReads() throws Exception {
        writeSparkSources();
        for (String source : List.of(
                "{format: parquet, path: " + tmp.resolve("arrays.parquet") + ", label: digit, features: pixels}",
                "{format: parquet, path: " + tmp.resolve("vectors.parquet") + "}",
                "{format: libsvm, path: " + tmp.resolve("digits.libsvm") + "}")) {
            JobSpec job = digits("data.train=" + source, "workers=2", "train.steps=150");
            SparkTrain.Result r = SparkTrain.run(job, null, QUIET);
            assertTrue(r.evalAccuracy() > 0.9, source + ": held-out accuracy " + r.evalAccuracy());
            assertTrue(r.evalSamples() > 250 && r.evalSamples() < 480, "a 20 % split: " + r.evalSamples());
        }
        JobSpec wrong = digits(
                "data.train={format: parquet, path: " + tmp.resolve("arrays.parquet") + ", label: target}",
                "workers=2");
        DataException e = assertThrows(DataException.class, () -> SparkTrain.run(wrong, null, QUIET));
        assertEquals(
                tmp.resolve("arrays.parquet") + ": no column 'target' (data.train.label); its columns are digit,"
                        + " pixels",
                e.getMessage());
    }

    @Test
    void shouldTrainRegressionAndBinaryHeadsOnOneLabelValuePerSample() throws Exception {
        // the digits as a binary task (is it a 0?) and as a regression of the digit's value, out: 1 heads
        dev.ringtape.runtime.data.Dataset d =
                dev.ringtape.runtime.data.CsvReader.read(ROOT.resolve("deploy/data/digits.csv.gz"), "last");
        StringBuilder binary = new StringBuilder();
        StringBuilder value = new StringBuilder();
        for (int i = 0; i < d.size(); i++) {
            StringBuilder row = new StringBuilder();
            for (int j = 0; j < 64; j++) {
                row.append(d.features()[i * 64 + j]).append(',');
            }
            binary.append(row).append(d.labels()[i] == 0 ? 1 : 0).append('\n');
            value.append(row).append(d.labels()[i]).append('\n');
        }
        Files.writeString(tmp.resolve("zero.csv"), binary);
        Files.writeString(tmp.resolve("value.csv"), value);
        String head = "model={input: [64], layers: [{type: linear, out: 32}, {type: relu}, {type: linear, out: 1}],"
                + " loss: {type: %s}}";
        SparkTrain.Result bce = SparkTrain.run(
                digits(
                        "data.train.path=" + tmp.resolve("zero.csv"),
                        String.format(head, "bce_with_logits"),
                        "workers=2",
                        "train.steps=150"),
                null,
                QUIET);
        assertTrue(bce.evalAccuracy() > 0.97, "telling zeros from the rest: " + bce.evalAccuracy());
        SparkTrain.Result mse = SparkTrain.run(
                digits(
                        "data.train.path=" + tmp.resolve("value.csv"),
                        String.format(head, "mse"),
                        "train.optimizer.lr=0.003",
                        "train.steps=300"),
                null,
                QUIET);
        assertTrue(Double.isNaN(mse.evalAccuracy()), "no accuracy for a regression");
        assertTrue(mse.evalLoss() < 2.5, "the digit's value (variance 8.3) regressed: mse " + mse.evalLoss());
    }

    @Test
    void shouldRefuseAHeadThatCannotMatchOneLabelValuePerSample() throws Exception {
        var e = assertThrows(dev.ringtape.scheduler.job.JobException.class, () -> digits("model.loss.type=mse"));
        assertTrue(
                e.getMessage()
                        .endsWith(
                                "model.loss: mse compares the output with the label, one value per sample,"
                                        + " but the last layer gives [10] per sample; end the model with {type: linear, out: 1}"),
                e.getMessage());
    }

    @Test
    void shouldRefuseMoreWorkersThanALocalMasterHasSlots() throws Exception {
        JobSpec job = digits("workers=2", "spark.master=local[1]");
        SparkTrain.JobFailed e =
                assertThrows(SparkTrain.JobFailed.class, () -> SparkTrain.checkConf(job, SparkTrain.conf(job)));
        assertEquals(
                "workers: 2 barrier tasks need 2 task slots at once, but spark.master local[1] offers 1;"
                        + " use local[2] or at most 1 workers",
                e.getMessage());
    }

    @Test
    void shouldRefuseDynamicAllocation() throws Exception {
        JobSpec job = digits();
        System.setProperty("spark.dynamicAllocation.enabled", "true"); // as spark-submit --conf sets it
        try {
            SparkTrain.JobFailed e =
                    assertThrows(SparkTrain.JobFailed.class, () -> SparkTrain.checkConf(job, SparkTrain.conf(job)));
            assertTrue(e.getMessage().startsWith("spark.dynamicAllocation.enabled is true"), e.getMessage());
        } finally {
            System.clearProperty("spark.dynamicAllocation.enabled");
        }
    }

    @Test
    void shouldGiveExecutorsTheJvmFlagsAndKeepASubmittedMaster() throws Exception {
        JobSpec job = digits("workers=2");
        SparkConf conf = SparkTrain.conf(job);
        assertEquals("local[2]", conf.get("spark.master"));
        assertTrue(conf.get("spark.executor.extraJavaOptions").contains("jdk.internal.misc"));
        assertEquals("128m", conf.get("spark.task.maxDirectResultSize"), "the model comes back directly");
        // the executors' flags are the launcher's (deploy/conf/jvm.options): the same JIT settings on every JVM
        java.util.List<String> launcher = java.nio.file.Files.readAllLines(Path.of("../deploy/conf/jvm.options"));
        for (String flag : SparkTrain.EXECUTOR_FLAGS.split(" ")) {
            assertTrue(launcher.contains(flag), flag + " is not in deploy/conf/jvm.options");
        }
        System.setProperty("spark.master", "spark://127.0.0.1:7077");
        try {
            assertEquals("spark://127.0.0.1:7077", SparkTrain.conf(job).get("spark.master"));
        } finally {
            System.clearProperty("spark.master");
        }
    }

    @Test
    void shouldNameAMissingDataFileAndAnUnwritableExportBeforeStartingSpark() throws Exception {
        JobSpec missing = digits("data.train.path=" + tmp.resolve("nope.csv"));
        DataException d = assertThrows(DataException.class, () -> SparkTrain.run(missing, null, QUIET));
        assertEquals(tmp.resolve("nope.csv") + ": no such file", d.getMessage());
        Path file = Files.writeString(tmp.resolve("a-file"), "");
        JobSpec unwritable = digits("export.path=" + file.resolve("model.safetensors"));
        SparkTrain.JobFailed e =
                assertThrows(SparkTrain.JobFailed.class, () -> SparkTrain.run(unwritable, null, QUIET));
        assertTrue(
                e.getMessage().startsWith("export.path: cannot write " + file.resolve("model.safetensors")),
                e.getMessage());
    }
    /**
     * --fresh moves the last run's log aside under its last write's time, never over another one, and leaves an
     * empty or missing log alone: a run from step 0 appended to it read as one run that trained twice.
     */
    @Test
    void shouldSetThePreviousRunsTelemetryAsideForAFreshRun() throws Exception {
        Path log = tmp.resolve("runs/job/telemetry.jsonl");
        assertEquals(null, SparkTrain.setAside(log), "no log yet");
        Files.createDirectories(log.getParent());
        Files.writeString(log, "");
        assertEquals(null, SparkTrain.setAside(log), "an empty log stays");
        List<Path> aside = new ArrayList<>();
        for (int run = 0; run < 2; run++) {
            Files.writeString(log, "{\"type\":\"run\",\"n\":" + run + "}\n");
            Files.setLastModifiedTime(log, java.nio.file.attribute.FileTime.fromMillis(1_780_000_000_000L));
            Path moved = SparkTrain.setAside(log);
            assertTrue(!Files.exists(log), "the log itself is gone: the new run starts it");
            assertTrue(
                    moved.getFileName().toString().matches("telemetry\\.\\d{8}-\\d{6}(-2)?\\.jsonl"), moved.toString());
            assertEquals("{\"type\":\"run\",\"n\":" + run + "}\n", Files.readString(moved));
            aside.add(moved);
        }
        assertTrue(!aside.get(0).equals(aside.get(1)), "the second of the same second gets a counter: " + aside);
    }
}
