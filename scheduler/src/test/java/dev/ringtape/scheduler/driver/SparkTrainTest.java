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
                        + tmp.resolve("model-" + String.join("_", overrides).hashCode() + ".safetensors")));
        all.addAll(List.of(overrides));
        // the main job, trained for 50 steps instead of 30 epochs
        Path job = tmp.resolve("digits-mlp.yaml");
        Files.writeString(
                job,
                Files.readString(ROOT.resolve("deploy/jobs/digits-mlp.yaml")).replace("epochs: 30", "steps: 50"));
        return JobSpec.from(JobFile.load(job, all));
    }

    @Test
    void shouldExportTheSameModelFromOneWorkerTwoWorkersAndTwoWorkersTimesTwoMicroBatches() throws Exception {
        List<Map<String, Safetensors.Entry>> exports = new ArrayList<>();
        for (String[] layout : List.of(
                new String[] {"workers=1", "train.micro_batches=1"},
                new String[] {"workers=2", "train.micro_batches=1"},
                new String[] {"workers=2", "train.micro_batches=2"})) {
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
            }
            assertEquals(50L * job.workers(), steps.size(), "a step record per rank and step");
        }
        for (int i = 1; i < exports.size(); i++) {
            for (String name : exports.get(0).keySet()) {
                float[] a = exports.get(0).get(name).values();
                float[] b = exports.get(i).get(name).values();
                double diff = 0;
                double scale = 0;
                for (int j = 0; j < a.length; j++) {
                    diff = Math.max(diff, Math.abs(a[j] - b[j]));
                    scale = Math.max(scale, Math.abs(a[j]));
                }
                assertTrue(
                        diff <= 1e-5 * scale,
                        "layout " + i + ", " + name + ": max difference " + diff + " against max |value| " + scale);
            }
        }
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
}
