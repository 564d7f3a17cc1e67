package dev.ringtape.scheduler.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.ringtape.checkpointing.Snapshot;
import dev.ringtape.checkpointing.SnapshotFormat;
import dev.ringtape.runtime.train.GradientReducer;
import dev.ringtape.runtime.train.StateStore;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.telemetry.TelemetrySink;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;

/**
 * Train k steps, snapshot, train m more; against: restore that snapshot (through the file format) and train m: the
 * parameters and the optimizer state are bit for bit the same, with dropout and fp16 dynamic loss scaling in the job.
 */
class ResumeTest {
    private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    @TempDir
    Path tmp;

    /** Runs the job, keeping a snapshot of every step in {@code keep}; optionally from {@code from}. */
    private static void run(JobSpec job, Path dir, Map<Long, Snapshot> keep, Snapshot from) throws Exception {
        StateStore store = (step, state) ->
                keep.put(step, Snapshot.of(new dev.ringtape.checkpointing.JobId("job", null), 1, state.get()));
        Worker.run(
                job,
                shape -> Worker.data(job, dir, shape),
                GradientReducer.local(),
                store,
                TelemetrySink.NONE,
                QUIET,
                from == null ? null : from.resume(),
                null,
                null);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(
            strings = {"{type: adamw, lr: 0.003}", "{type: sgd, lr: 0.05, momentum: 0.9}"})
    void shouldResumeBitForBitWithDropoutAndFp16(String optimizer) throws Exception {
        Path job = tmp.resolve("job.yaml");
        Files.writeString(
                job,
                String.join(
                        "\n",
                        "name: resume",
                        "seed: 5",
                        "data:",
                        "  train: {format: csv, path: "
                                + Path.of("../deploy/data/digits.csv.gz").toAbsolutePath() + "}",
                        "  eval: {split: 0.2}",
                        "model:",
                        "  input: [64]",
                        "  layers:",
                        "    - {type: linear, out: 64}",
                        "    - {type: relu}",
                        "    - {type: dropout, p: 0.2}",
                        "    - {type: linear, out: 10}",
                        "  loss: {type: softmax_cross_entropy}",
                        "train:",
                        "  steps: 40",
                        "  global_batch: 64",
                        "  micro_batches: 2",
                        "  optimizer: " + optimizer,
                        "  precision: fp16",
                        "  loss_scale: {init: 1.0e9, growth_interval: 5}",
                        ""));
        assertResumesBitForBit(job);
    }

    /** A GPT on text, attention dropout and qk layer norm in it, fp16 with dynamic loss scaling. */
    @org.junit.jupiter.api.Test
    void shouldResumeAGptBitForBit() throws Exception {
        Path job = tmp.resolve("gpt.yaml");
        Files.writeString(
                job,
                String.join(
                        "\n",
                        "name: resume-gpt",
                        "seed: 5",
                        "data:",
                        "  train: {format: text, context: 16, path: "
                                + Path.of("../deploy/data/gnu-licenses.txt.gz").toAbsolutePath() + "}",
                        "  eval: {split: 0.1}",
                        "model:",
                        "  input: [16]",
                        "  layers:",
                        "    - {type: embedding, vocab: 256, dim: 32, init: {normal: {std: 0.02}}}",
                        "    - {type: positional, max_len: 16, init: {normal: {std: 0.02}}}",
                        "    - type: residual",
                        "      layers:",
                        "        - {type: layernorm}",
                        "        - {type: attention, heads: 4, dropout: 0.1, qk_layernorm: true}",
                        "    - type: residual",
                        "      layers: [{type: layernorm}, {type: linear, out: 64}, {type: gelu}, {type: linear, out: 32}]",
                        "    - {type: layernorm}",
                        "    - {type: linear, out: 256, bias: false}",
                        "  loss: {type: softmax_cross_entropy, z_loss: 1.0e-4}",
                        "train:",
                        "  steps: 40",
                        "  global_batch: 16",
                        "  micro_batches: 2",
                        "  optimizer: {type: adamw, lr: 0.003, betas: [0.9, 0.95]}",
                        "  lr_schedule: {type: cosine, warmup_steps: 10}",
                        "  precision: fp16",
                        "  loss_scale: {init: 1.0e9, growth_interval: 5}",
                        ""));
        assertResumesBitForBit(job);
    }

    private void assertResumesBitForBit(Path job) throws Exception {
        JobSpec spec = JobSpec.from(JobFile.load(job, List.of()));
        Map<Long, Snapshot> straight = new HashMap<>();
        run(spec, tmp, straight, null);
        // the snapshot after step 17 (mid-epoch, after loss-scale backoffs and growths), through the file format
        Snapshot at17 = SnapshotFormat.decode(SnapshotFormat.encode(straight.get(17L)), "at17");
        Map<Long, Snapshot> resumed = new HashMap<>();
        run(spec, tmp, resumed, at17);
        assertEquals(null, resumed.get(17L), "the resumed run starts at step 18");
        Snapshot a = straight.get(39L);
        Snapshot b = resumed.get(39L);
        assertNotNull(b);
        assertEquals(a.lossScale(), b.lossScale());
        assertEquals(a.growthTracker(), b.growthTracker());
        for (var pair : List.of(List.of(a.parameters(), b.parameters()), List.of(a.optimizer(), b.optimizer()))) {
            assertEquals(pair.get(0).keySet(), pair.get(1).keySet());
            for (String k : pair.get(0).keySet()) {
                float[] x = pair.get(0).get(k).data();
                float[] y = pair.get(1).get(k).data();
                for (int i = 0; i < x.length; i++) {
                    assertEquals(
                            Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(y[i]), k + "[" + i + "] differs");
                }
            }
        }
    }
}
