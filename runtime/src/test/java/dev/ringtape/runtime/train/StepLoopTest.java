package dev.ringtape.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.autograd.ActivationMemory;
import dev.ringtape.runtime.data.BatchPlan;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.data.Synthetic;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.optim.Adam;
import dev.ringtape.runtime.optim.LrSchedule;
import dev.ringtape.runtime.optim.Sgd;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.telemetry.TelemetrySink;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The step loop against its oracles: equivalences that hold exactly or to float rounding. */
class StepLoopTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static final String MLP =
            """
            {"input": [16], "layers": [
              {"type": "linear", "out": 48}, {"type": "tanh"}, {"type": "linear", "out": 48}, {"type": "relu"},
              {"type": "linear", "out": 5}], "loss": {"type": "softmax_cross_entropy"}}""";

    /**
     * A two-block GPT on the reversal task (context 8, vocabulary 12), its attention without biases: a key bias
     * shifts a whole row of scores, so its true gradient is 0 and what it gets is rounding, which Adam would blow up
     * to full-size updates that no two batch splits share. {@link #GPT_DROPOUT} has them, qk layer norm, and attention
     * dropout (whose masks differ with the micro-batch split), for the recompute check, which is bitwise.
     */
    static final String GPT =
            """
            {"input": [8], "layers": [
              {"type": "embedding", "vocab": 12, "dim": 16, "init": {"normal": {"std": 0.3}}},
              {"type": "positional", "max_len": 8, "init": {"normal": {"std": 0.3}}},
              {"type": "residual", "layers": [{"type": "layernorm"},
                {"type": "attention", "heads": 4, "bias": false}]},
              {"type": "residual", "layers": [{"type": "layernorm"}, {"type": "linear", "out": 32},
                {"type": "gelu"}, {"type": "linear", "out": 16}]},
              {"type": "residual", "layers": [{"type": "layernorm"},
                {"type": "attention", "heads": 2, "bias": false}]},
              {"type": "layernorm"}, {"type": "linear", "out": 12}],
             "loss": {"type": "softmax_cross_entropy", "z_loss": 0.001}}""";

    static final String GPT_DROPOUT = GPT.replace("\"heads\": 4, \"bias\": false}", "\"heads\": 4, \"dropout\": 0.1}")
            .replace("\"heads\": 2, \"bias\": false}", "\"heads\": 2, \"qk_layernorm\": true}");

    /** The model of a parameterized test: the MLP on teacher data, or the GPT on reversal sequences. */
    static String spec(String which) {
        return which.equals("gpt") ? GPT : MLP;
    }

    static Dataset data(String which, int samples, long seed) {
        return which.equals("gpt") ? Synthetic.reversal(samples, 8, 12, seed) : Synthetic.teacher(samples, 16, 5, seed);
    }

    static Sequential model(String json, long seed) throws Exception {
        return ModelBuilder.build(JSON.readTree(json), seed);
    }

    /** A loop that leaves the averaged gradients in place (lr 0 SGD). */
    static StepLoop gradientsOnly(Sequential m, int k, Precision p, LossScaler scaler, GradientReducer reducer) {
        return new StepLoop(
                m,
                new Sgd(m.parameterList(), 0, 0, 0, false),
                LrSchedule.constant(0),
                scaler,
                reducer,
                TelemetrySink.NONE,
                new StepLoop.Options("test", k, p, 0, 7));
    }

    /** Adam at a constant {@code lr}, fp32, no loss scaling, one worker, no clipping. */
    static StepLoop adamAlone(Sequential m, double lr, String job, int k) {
        return new StepLoop(
                m,
                Adam.adam(m.parameterList()),
                LrSchedule.constant(lr),
                LossScaler.disabled(),
                GradientReducer.local(),
                TelemetrySink.NONE,
                new StepLoop.Options(job, k, Precision.FP32, 0, 1));
    }

    /** The micro-batches of {@code rank} for step {@code s} of epoch 1. */
    static List<Tensor[]> micro(Dataset d, BatchPlan plan, int s, int rank) {
        int[] order = plan.order(1);
        List<Tensor[]> out = new ArrayList<>();
        for (int m = 0; m < plan.microBatches(); m++) {
            out.add(d.batch(order, plan.offset(s, rank, m), plan.microBatchSize()));
        }
        return out;
    }

    static Map<String, float[]> grads(Sequential m) {
        Map<String, float[]> out = new java.util.LinkedHashMap<>();
        m.parameters().forEach((k, p) -> out.put(k, p.grad().data().clone()));
        return out;
    }

    /** max |a - b| / max |b| over a tensor. */
    static double relativeDifference(float[] a, float[] b) {
        double diff = 0;
        double scale = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(b[i]));
        }
        return diff / scale;
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp", "gpt"})
    void shouldGiveTheSameGradientForFourMicroBatchesAsForOneBigBatch(String which) throws Exception {
        Dataset d = data(which, 256, 3);
        Sequential one = model(spec(which), 1);
        Sequential four = model(spec(which), 1);
        gradientsOnly(one, 1, Precision.FP32, LossScaler.disabled(), GradientReducer.local())
                .step(0, micro(d, new BatchPlan(256, 64, 1, 1, 5), 0, 0));
        gradientsOnly(four, 4, Precision.FP32, LossScaler.disabled(), GradientReducer.local())
                .step(0, micro(d, new BatchPlan(256, 64, 1, 4, 5), 0, 0));
        Map<String, float[]> a = grads(four);
        grads(one).forEach((k, want) -> {
            double rel = relativeDifference(a.get(k), want);
            assertTrue(rel <= 1e-6, k + ": relative difference " + rel);
        });
    }

    /** Two workers' weights after a few Adam steps, their buckets (of ~4 KB) summed at once or on another thread. */
    private static List<float[]> twoWorkers(boolean onAnotherThread) throws Exception {
        Dataset d = Synthetic.teacher(512, 16, 5, 4);
        SharedMemoryReducer shared = new SharedMemoryReducer(2, 30_000);
        BatchPlan plan = new BatchPlan(512, 64, 2, 2, 9);
        List<Sequential> replicas = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            Sequential m = model(MLP, 2);
            replicas.add(m);
            int rank = r;
            Thread t = new Thread(() -> {
                java.util.concurrent.ExecutorService ring = java.util.concurrent.Executors.newSingleThreadExecutor();
                try {
                    StepLoop loop = new StepLoop(
                            m,
                            Adam.adam(m.parameterList()),
                            LrSchedule.constant(1e-2),
                            LossScaler.disabled(),
                            onAnotherThread ? shared.rankOnAnotherThread(rank, ring) : shared.rank(rank),
                            TelemetrySink.NONE,
                            new StepLoop.Options("two", 2, Precision.FP32, 1.0, 7, 4096));
                    for (int s = 0; s < 8; s++) {
                        loop.step(s, micro(d, plan, s % plan.stepsPerEpoch(), rank));
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    ring.shutdown();
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        List<float[]> out = new ArrayList<>();
        replicas.get(0).parameterList().forEach(p -> out.add(p.toArray()));
        return out;
    }

    @Test
    void shouldSumBucketsOnAnotherThreadWhileBackwardGoesOnExactlyAsAtOnce() throws Exception {
        // gradients are views of the arena the other thread sums into: backward must touch nothing outside its own
        List<float[]> atOnce = twoWorkers(false);
        List<float[]> meanwhile = twoWorkers(true);
        for (int i = 0; i < atOnce.size(); i++) {
            assertArrayEquals(atOnce.get(i), meanwhile.get(i), "parameter " + i + " after 8 steps");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp", "gpt"})
    void shouldTrainFourWorkersExactlyLikeOneWorkerOnTheGlobalBatch(String which) throws Exception {
        Dataset d = data(which, 512, 4);
        int steps = 6;
        Sequential single = model(spec(which), 2);
        StepLoop alone = new StepLoop(
                single,
                Adam.adam(single.parameterList()),
                LrSchedule.constant(1e-2),
                LossScaler.disabled(),
                GradientReducer.local(),
                TelemetrySink.NONE,
                new StepLoop.Options("one", 1, Precision.FP32, 1.0, 7));
        BatchPlan plan1 = new BatchPlan(512, 64, 1, 1, 9);
        List<Double> losses = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            losses.add(alone.step(s, micro(d, plan1, s, 0)).loss());
        }

        int world = 4;
        SharedMemoryReducer shared = new SharedMemoryReducer(world, 30_000);
        BatchPlan plan4 = new BatchPlan(512, 64, world, 2, 9);
        List<Sequential> replicas = new ArrayList<>();
        List<Double> rank0Losses = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            Sequential m = model(spec(which), 2);
            replicas.add(m);
            int rank = r;
            Thread t = new Thread(() -> {
                try {
                    StepLoop loop = new StepLoop(
                            m,
                            Adam.adam(m.parameterList()),
                            LrSchedule.constant(1e-2),
                            LossScaler.disabled(),
                            shared.rank(rank),
                            TelemetrySink.NONE,
                            new StepLoop.Options("four", 2, Precision.FP32, 1.0, 7));
                    for (int s = 0; s < steps; s++) {
                        double loss = loop.step(s, micro(d, plan4, s, rank)).loss();
                        if (rank == 0) {
                            rank0Losses.add(loss);
                        }
                    }
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join(60_000);
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        for (int s = 0; s < steps; s++) {
            assertEquals(losses.get(s), rank0Losses.get(s), 1e-5, "mean loss of step " + s);
        }
        for (Sequential replica : replicas) {
            single.parameters().forEach((k, p) -> {
                double rel = relativeDifference(replica.parameters().get(k).data(), p.data());
                assertTrue(rel <= 1e-5, k + ": replicas drift from the single worker by " + rel);
            });
        }
        // and the replicas agree with each other exactly: every rank applied the same reduced gradient
        for (Sequential replica : replicas.subList(1, world)) {
            replicas.get(0)
                    .parameters()
                    .forEach((k, p) -> assertArrayEquals(
                            p.data(), replica.parameters().get(k).data(), k));
        }
    }

    static final String DEEP_DROPOUT =
            """
            {"input": [16], "layers": [
              {"type": "linear", "out": 32}, {"type": "relu"}, {"type": "dropout", "p": 0.3},
              {"type": "linear", "out": 32}, {"type": "gelu"}, {"type": "dropout", "p": 0.2},
              {"type": "residual", "layers": [{"type": "layernorm"}, {"type": "linear", "out": 32}, {"type": "tanh"}]},
              {"type": "linear", "out": 32}, {"type": "sigmoid"}, {"type": "dropout", "p": 0.1},
              {"type": "linear", "out": 5}], "loss": {"type": "softmax_cross_entropy"}}""";

    @ParameterizedTest
    @ValueSource(strings = {"mlp", "gpt"})
    void shouldGiveBitwiseEqualGradientsWithRecomputeAndDropout(String which) throws Exception {
        String spec = which.equals("gpt") ? GPT_DROPOUT : DEEP_DROPOUT;
        assertTrue(spec.contains("dropout") && spec.contains("qk_layernorm") || spec.equals(DEEP_DROPOUT));
        Dataset d = data(which, 128, 5);
        BatchPlan plan = new BatchPlan(128, 32, 1, 2, 3);
        Sequential plain = model(spec, 4);
        gradientsOnly(plain, 2, Precision.FP32, LossScaler.disabled(), GradientReducer.local())
                .step(3, micro(d, plan, 0, 0));
        for (int segments : new int[] {1, 3, 5, 11}) {
            Sequential re = model(spec, 4).recompute(segments);
            gradientsOnly(re, 2, Precision.FP32, LossScaler.disabled(), GradientReducer.local())
                    .step(3, micro(d, plan, 0, 0));
            grads(plain).forEach((k, want) -> {
                float[] got = re.parameters().get(k).grad().data();
                for (int i = 0; i < want.length; i++) {
                    assertEquals(
                            Float.floatToIntBits(want[i]),
                            Float.floatToIntBits(got[i]),
                            segments + " segments, " + k + "[" + i + "]");
                }
            });
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tanh", "relu"})
    void shouldHoldFewerActivationBytesWithRecompute(String activation) throws Exception {
        StringBuilder layers = new StringBuilder();
        for (int i = 0; i < 32; i++) {
            layers.append("{\"type\": \"linear\", \"out\": 256}, {\"type\": \"" + activation + "\"},");
        }
        String deep = "{\"input\": [256], \"layers\": [" + layers + "{\"type\": \"linear\", \"out\": 10}],"
                + " \"loss\": {\"type\": \"softmax_cross_entropy\"}}";
        Dataset d = Synthetic.teacher(128, 256, 10, 6);
        BatchPlan plan = new BatchPlan(128, 128, 1, 1, 3);
        long[] peaks = new long[2];
        int[] segments = {0, 8};
        for (int i = 0; i < 2; i++) {
            Sequential m = model(deep, 1).recompute(segments[i]);
            ActivationMemory.current().resetPeak();
            long before = ActivationMemory.current().liveBytes();
            gradientsOnly(m, 1, Precision.FP32, LossScaler.disabled(), GradientReducer.local())
                    .step(0, micro(d, plan, 0, 0));
            peaks[i] = ActivationMemory.current().peakBytes() - before;
            assertEquals(before, ActivationMemory.current().liveBytes(), "everything saved is released after backward");
        }
        // longest segments first (Recompute.plan), a segment's trailing activation recorded outside its replay: a
        // quarter of the activations at most, for tanh (which saves its output) as for ReLU (a bit mask)
        assertTrue(peaks[1] * 4 < peaks[0], "recompute peak " + peaks[1] + " vs " + peaks[0]);
    }

    @Test
    void shouldFollowGradScalersRuleOnAScriptedOverflowPattern() {
        LossScaler s = new LossScaler(true, 1024, 2.0, 0.5, 3);
        boolean[] overflow = {false, false, false, true, false, true, true, false, false, false, false, false, false};
        // by hand: grow after 3 clean steps in a row, halve on every overflow, an overflow resets the count
        float[] expected = {1024, 1024, 2048, 1024, 1024, 512, 256, 256, 256, 512, 512, 512, 1024};
        for (int i = 0; i < overflow.length; i++) {
            s.update(overflow[i]);
            assertEquals(expected[i], s.scale(), "after step " + i);
        }
        LossScaler defaults = LossScaler.defaults();
        assertEquals(65536f, defaults.scale());
        for (int i = 0; i < 1999; i++) {
            defaults.update(false);
        }
        assertEquals(65536f, defaults.scale());
        defaults.update(false);
        assertEquals(131072f, defaults.scale(), "growth after 2000 clean steps");
    }

    static final String DEEP_SIGMOID =
            """
            {"input": [8], "layers": [
              {"type": "linear", "out": 8, "init": {"normal": {"std": 0.1}}}, {"type": "sigmoid"},
              {"type": "linear", "out": 8, "init": {"normal": {"std": 0.1}}}, {"type": "sigmoid"},
              {"type": "linear", "out": 8, "init": {"normal": {"std": 0.1}}}, {"type": "sigmoid"},
              {"type": "linear", "out": 8, "init": {"normal": {"std": 0.1}}}, {"type": "sigmoid"},
              {"type": "linear", "out": 8, "init": {"normal": {"std": 0.1}}}, {"type": "sigmoid"},
              {"type": "linear", "out": 8, "init": {"normal": {"std": 0.1}}}, {"type": "sigmoid"},
              {"type": "linear", "out": 8, "init": {"normal": {"std": 0.1}}}, {"type": "sigmoid"},
              {"type": "linear", "out": 3, "init": {"normal": {"std": 0.1}}}],
             "loss": {"type": "softmax_cross_entropy"}}""";

    static double zeroFraction(float[] g) {
        int zeros = 0;
        for (float v : g) {
            zeros += v == 0f ? 1 : 0;
        }
        return (double) zeros / g.length;
    }

    @Test
    void shouldLoseSmallGradientsInFp16WithoutScalingAndRecoverThemWithIt() throws Exception {
        Dataset d = Synthetic.teacher(64, 8, 3, 7);
        BatchPlan plan = new BatchPlan(64, 64, 1, 1, 3);
        Sequential fp32 = model(DEEP_SIGMOID, 5);
        gradientsOnly(fp32, 1, Precision.FP32, LossScaler.disabled(), GradientReducer.local())
                .step(0, micro(d, plan, 0, 0));
        float[] reference = fp32.parameters().get("layers.0.weight").grad().data();
        double maxRef = 0;
        for (float v : reference) {
            maxRef = Math.max(maxRef, Math.abs(v));
        }
        assertTrue(
                maxRef < 3e-8 && maxRef > 0,
                "the first layer's gradients are below half of fp16's smallest subnormal: " + maxRef);
        assertEquals(0.0, zeroFraction(reference));

        Sequential unscaled = model(DEEP_SIGMOID, 5);
        gradientsOnly(unscaled, 1, Precision.FP16, new LossScaler(true, 1, 2, 0.5, 1 << 30), GradientReducer.local())
                .step(0, micro(d, plan, 0, 0));
        double lost =
                zeroFraction(unscaled.parameters().get("layers.0.weight").grad().data());
        assertTrue(lost > 0.5, "without scaling, fp16 flushes most first-layer gradients to zero: " + lost);

        Sequential scaled = model(DEEP_SIGMOID, 5);
        StepLoop.Result r = gradientsOnly(scaled, 1, Precision.FP16, LossScaler.defaults(), GradientReducer.local())
                .step(0, micro(d, plan, 0, 0));
        assertFalse(r.skipped());
        float[] recovered = scaled.parameters().get("layers.0.weight").grad().data();
        assertEquals(0.0, zeroFraction(recovered), "with a scale of 65536 none underflows");
        double rel = relativeDifference(recovered, reference);
        assertTrue(rel < 2e-2, "and they match fp32 to 16-bit precision: " + rel);
    }

    @Test
    void shouldRecordASkippedStepsGradientsUnscaledAndMarkedSkipped() throws Exception {
        // a loss scale large enough that some fp16 gradients overflow: the step is skipped; its layer records must
        // not carry the finite gradients still multiplied by the scale (a false spike at every growth of the scale)
        Dataset d = Synthetic.teacher(64, 8, 3, 7);
        BatchPlan plan = new BatchPlan(64, 64, 1, 1, 3);
        String mlp = "{\"input\": [8], \"layers\": [{\"type\": \"linear\", \"out\": 16}, {\"type\": \"relu\"},"
                + " {\"type\": \"linear\", \"out\": 3}], \"loss\": {\"type\": \"softmax_cross_entropy\"}}";
        double reference = layerGradNorm(mlp, d, plan, LossScaler.disabled(), Precision.FP32);
        int checked = 0;
        for (float scale = 1 << 16; scale < 1e13f; scale *= 4) {
            List<ObjectNode> records = new ArrayList<>();
            Sequential m = model(mlp, 5);
            boolean skipped = new StepLoop(
                            m,
                            new Sgd(m.parameterList(), 0, 0, 0, false),
                            LrSchedule.constant(0),
                            new LossScaler(true, scale, 2, 0.5, 1 << 30),
                            GradientReducer.local(),
                            sink(records),
                            options(Precision.FP16))
                    .step(0, micro(d, plan, 0, 0))
                    .skipped();
            ObjectNode got = records.stream()
                    .filter(r -> "layers.0.weight".equals(r.path("param").asText()))
                    .findFirst()
                    .orElseThrow();
            if (!skipped || !(got.path("grad_norm").asDouble() > 0)) {
                continue; // not skipped yet, or nothing finite was left to measure
            }
            assertTrue(got.path("skipped").asBoolean(), "the record says the step was skipped: " + got);
            double ratio = got.path("grad_norm").asDouble() / reference;
            // the overflowed values are left out of the norm, so it is below the fp32 one; still scaled, it would be
            // about `scale` times it
            assertTrue(ratio > 0.1 && ratio < 10, "at scale " + scale + ", the unscaled gradient norm: x" + ratio);
            checked++;
        }
        assertTrue(checked > 0, "some scale overflowed only in part");
    }

    private static StepLoop.Options options(Precision p) {
        return new StepLoop.Options("t", 1, p, 0, 1, 25L << 20, 1, dev.ringtape.telemetry.Thresholds.defaults());
    }

    private static double layerGradNorm(String json, Dataset d, BatchPlan plan, LossScaler scaler, Precision p)
            throws Exception {
        List<ObjectNode> records = new ArrayList<>();
        Sequential m = model(json, 5);
        new StepLoop(
                        m,
                        new Sgd(m.parameterList(), 0, 0, 0, false),
                        LrSchedule.constant(0),
                        scaler,
                        GradientReducer.local(),
                        sink(records),
                        options(p))
                .step(0, micro(d, plan, 0, 0));
        return records.stream()
                .filter(r -> "layers.0.weight".equals(r.path("param").asText()))
                .findFirst()
                .orElseThrow()
                .path("grad_norm")
                .asDouble();
    }

    @Test
    void shouldCountWhatFp16RoundingFlushesAndDiagnoseItOnlyWithoutScaling() throws Exception {
        Dataset d = Synthetic.teacher(64, 8, 3, 7);
        BatchPlan plan = new BatchPlan(64, 64, 1, 1, 3);
        for (float scale : new float[] {1f, 65536f}) {
            List<ObjectNode> records = new ArrayList<>();
            Sequential m = model(DEEP_SIGMOID, 5);
            StepLoop loop = new StepLoop(
                    m,
                    new Sgd(m.parameterList(), 0, 0, 0, false),
                    LrSchedule.constant(0),
                    new LossScaler(true, scale, 2, 0.5, 1 << 30),
                    GradientReducer.local(),
                    sink(records),
                    new StepLoop.Options(
                            "t", 1, Precision.FP16, 0, 1, 25L << 20, 1, dev.ringtape.telemetry.Thresholds.defaults()));
            loop.step(0, micro(d, plan, 0, 0));
            loop.step(1, micro(d, plan, 0, 0)); // FP16_UNDERFLOW opens on its second sample in a row
            // the layer whose gradients rounding flushed most (NaN where no non-zero value was left to round)
            String worst = null;
            double most = -1;
            for (ObjectNode r : records) {
                if (r.has("param") && r.path("underflow_frac").asDouble(-1) > most) {
                    most = r.path("underflow_frac").asDouble();
                    worst = r.path("layer").asText();
                }
            }
            List<String> diagnosed = records.stream()
                    .filter(r -> "FP16_UNDERFLOW".equals(r.path("code").asText()))
                    .map(r -> r.path("layer").asText())
                    .toList();
            if (scale == 1f) {
                assertTrue(most > 0.5, "at scale 1, rounding flushes most of " + worst + "'s gradient: " + most);
                assertTrue(diagnosed.contains(worst), "and FP16_UNDERFLOW names it: " + diagnosed);
                assertEquals(
                        1.0,
                        zeroFraction(
                                m.parameters().get("layers.0.weight").grad().data()));
            } else {
                assertEquals(0.0, most, "at 65536 nothing is flushed");
                assertEquals(List.of(), diagnosed);
            }
        }
    }

    static TelemetrySink sink(List<ObjectNode> records) {
        return new TelemetrySink() {
            @Override
            public void emit(ObjectNode record) {
                records.add(record);
            }

            @Override
            public void close() {}
        };
    }

    @Test
    void shouldSkipOverflowingStepsAndBackOffTheScaleInFp16() throws Exception {
        Dataset d = Synthetic.teacher(64, 16, 5, 8);
        BatchPlan plan = new BatchPlan(64, 64, 1, 1, 3);
        Sequential m = model(MLP, 6);
        Map<String, float[]> before = new java.util.LinkedHashMap<>();
        m.parameters().forEach((k, p) -> before.put(k, p.data().clone()));
        // a scale of 2^40 overflows fp16 at once: the step must be skipped and the weights untouched
        StepLoop loop = new StepLoop(
                m,
                Adam.adam(m.parameterList()),
                LrSchedule.constant(1e-2),
                new LossScaler(true, 0x1p40, 2, 0.5, 2000),
                GradientReducer.local(),
                TelemetrySink.NONE,
                new StepLoop.Options("t", 1, Precision.FP16, 0, 1));
        StepLoop.Result r = loop.step(0, micro(d, plan, 0, 0));
        assertTrue(r.skipped());
        assertEquals(0x1p39f, loop.scaler().scale());
        m.parameters().forEach((k, p) -> assertArrayEquals(before.get(k), p.data(), k));
        int steps = 1;
        while (loop.step(steps, micro(d, plan, 0, 0)).skipped()) {
            steps++;
        }
        assertTrue(
                loop.scaler().scale() <= 65504f * 64,
                "backed off to a usable scale: " + loop.scaler().scale());
    }

    @Test
    void shouldNameTheFirstOpThatProducedANaNAndLeaveTheWeightsAlone() throws Exception {
        Dataset d = Synthetic.teacher(64, 16, 5, 9);
        d.features()[16 * 5 + 3] = Float.NaN; // sample 5, feature 3
        Sequential m = model(MLP, 7);
        Map<String, float[]> before = new java.util.LinkedHashMap<>();
        m.parameters().forEach((k, p) -> before.put(k, p.data().clone()));
        StepLoop loop = adamAlone(m, 1e-2, "nan", 2);
        int[] all = new int[64];
        for (int i = 0; i < 64; i++) {
            all[i] = i;
        }
        StepLoop.Result r = loop.step(12, List.of(d.batch(all, 0, 32), d.batch(all, 32, 32)));
        assertTrue(r.skipped());
        NonFiniteTracer.NonFinite n = r.nonFinite();
        assertNotNull(n);
        assertEquals("layers.0", n.layer());
        assertEquals("forward", n.phase());
        assertEquals("linear", n.op());
        assertEquals(0, n.microBatch());
        assertEquals(12, n.step());
        assertTrue(n.beforeAllreduce());
        assertTrue(n.describe().contains("the forward of linear in layers.0"), n.describe());
        m.parameters().forEach((k, p) -> assertArrayEquals(before.get(k), p.data(), k));
    }

    @Test
    void shouldNameTheBackwardOpOfAWorkerAloneWhoseGradientOverflowsUnderAFiniteLoss() throws Exception {
        // a worker alone measures its gradients only in the unscale walk: a non-finite one found there is still its
        // own (before any all-reduce), traced to the op, not blamed on a sum
        Dataset d = Synthetic.teacher(8, 16, 5, 9);
        for (int b = 0; b < 8; b++) {
            d.features()[16 * b] = 1e38f; // feature 0: finite activations (weights 1e-4), a weight gradient of ~1e39
        }
        Sequential m = model(
                """
                {"input": [16], "layers": [{"type": "linear", "out": 8, "init": {"normal": {"std": 1e-4}}},
                  {"type": "relu"}, {"type": "linear", "out": 5, "init": {"normal": {"std": 10}}}],
                 "loss": {"type": "softmax_cross_entropy"}}""",
                7);
        StepLoop loop = adamAlone(m, 1e-2, "overflow", 1);
        int[] all = {0, 1, 2, 3, 4, 5, 6, 7};
        StepLoop.Result r = loop.step(3, List.<Tensor[]>of(d.batch(all, 0, 8)));
        assertTrue(Double.isFinite(r.loss()), "the loss is finite: " + r.loss());
        assertTrue(r.skipped());
        NonFiniteTracer.NonFinite n = r.nonFinite();
        assertNotNull(n);
        assertEquals("backward", n.phase(), n.describe());
        assertEquals("layers.0", n.layer(), n.describe());
        assertTrue(n.beforeAllreduce(), n.describe());
    }

    /**
     * Once the pool holds a step's buffers, a step allocates little: op outputs, gradients, and the ops' own scratch
     * (layer norm's normalized input, the cross-entropy's probabilities), which the tape hands back after their rules,
     * and attention's batched products, one shim call per matrix without a Tensor view of each (before, the GPT bench
     * step allocated 13 MB a step through these; this GPT allocates 0.7 MB a step without the scratch's return).
     * With activation recompute, a segment's first pass runs without a tape, and its intermediates go back to the
     * pool when it returns ({@link dev.ringtape.runtime.tensor.BufferPool#scratch}).
     */
    @ParameterizedTest
    @ValueSource(strings = {"mlp", "gpt", "gpt-recompute"})
    void shouldAllocateLittlePerStepOnceItsBuffersAreInThePool(String which) throws Exception {
        // 64-256-256-10 at batch 128: each step's op outputs and gradients are about 0.8 MB of arrays
        boolean gpt = which.startsWith("gpt");
        int batch = gpt ? 256 : 128;
        Dataset d = gpt ? Synthetic.reversal(4 * batch, 8, 12, 3) : Synthetic.teacher(512, 64, 10, 3);
        BatchPlan plan = new BatchPlan(d.size(), batch, 1, 1, 3);
        Sequential m = model(
                gpt
                        ? GPT
                        : """
                {"input": [64], "layers": [{"type": "linear", "out": 256}, {"type": "relu"},
                  {"type": "linear", "out": 256}, {"type": "relu"}, {"type": "linear", "out": 10}],
                 "loss": {"type": "softmax_cross_entropy"}}""",
                3);
        if (which.equals("gpt-recompute")) {
            m = m.recompute(3); // the first pass's intermediates and each replay's root and boundary gradient
        }
        StepLoop loop = adamAlone(m, 1e-3, "alloc", 1);
        List<List<Tensor[]>> batches = new ArrayList<>();
        for (int s = 0; s < 4; s++) {
            batches.add(micro(d, plan, s, 0));
        }
        for (int s = 0; s < 50; s++) {
            loop.step(s, batches.get(s % 4));
        }
        com.sun.management.ThreadMXBean mx =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        // the steady state: until C2 has compiled the Vector API loops, they allocate their vectors (megabytes a
        // step, seen twice in CI on a busy machine), so the best of up to ten windows of 20 steps is judged
        List<Long> windows = new ArrayList<>();
        long best = Long.MAX_VALUE;
        // recompute runs layer norm's forward twice: its per-row statistics (small arrays) twice a step
        long limit = which.equals("gpt-recompute") ? 256 * 1024 : 128 * 1024;
        for (int w = 0; w < 10 && best >= limit; w++) {
            long before = mx.getThreadAllocatedBytes(Thread.currentThread().getId());
            for (int s = 50 + 20 * w; s < 70 + 20 * w; s++) {
                loop.step(s, batches.get(s % 4));
            }
            long perStep = (mx.getThreadAllocatedBytes(Thread.currentThread().getId()) - before) / 20;
            windows.add(perStep);
            best = Math.min(best, perStep);
        }
        assertTrue(best < limit, which + ": bytes allocated per step, per window: " + windows);
    }

    @Test
    void shouldClipByGlobalNormLikeTorch() throws Exception {
        Dataset d = Synthetic.teacher(64, 16, 5, 10);
        BatchPlan plan = new BatchPlan(64, 64, 1, 1, 3);
        Sequential m = model(MLP, 8);
        StepLoop loop = new StepLoop(
                m,
                new Sgd(m.parameterList(), 0, 0, 0, false),
                LrSchedule.constant(0),
                LossScaler.disabled(),
                GradientReducer.local(),
                TelemetrySink.NONE,
                new StepLoop.Options("clip", 1, Precision.FP32, 0.01, 1));
        StepLoop.Result r = loop.step(0, micro(d, plan, 0, 0));
        assertTrue(r.clipped());
        assertTrue(r.gradNorm() > 0.01);
        double sq = 0;
        for (Tensor p : m.parameterList()) {
            for (float v : p.grad().data()) {
                sq += (double) v * v;
            }
        }
        assertEquals(0.01 / (1 + 1e-6 / r.gradNorm()), Math.sqrt(sq), 1e-7, "norm after clipping");
    }

    @Test
    void shouldHandBucketsToTheReducerInReverseOrderWhileBackwardIsStillRunning() throws Exception {
        Dataset d = Synthetic.teacher(64, 16, 5, 11);
        BatchPlan plan = new BatchPlan(64, 64, 1, 1, 3);
        Sequential m = model(MLP, 9);
        // parameters in arena order: layers.0 768 + 48 floats, layers.2 2304 + 48, layers.4 240 + 5; 512-byte
        // buckets (128 floats) close at layers.4 (245 floats), layers.2 (2352) and layers.0 (816)
        List<String> events = new ArrayList<>();
        Tensor firstWeight = m.parameters().get("layers.0.weight");
        GradientReducer recording = new GradientReducer() {
            @Override
            public int rank() {
                return 0;
            }

            @Override
            public int worldSize() {
                return 2; // alone, a worker has nothing to hand over
            }

            @Override
            public void sum(float[] arena, int offset, int length) {}

            @Override
            public void sumScalars(double[] values) {}

            @Override
            public void startSum(float[] arena, int offset, int length) {
                // the first layer's weight is the last gradient backward computes: zero until then
                boolean running = true;
                for (float v : firstWeight.grad().toArray()) {
                    running &= v == 0f;
                }
                events.add(offset + "+" + length + (running ? " while backward runs" : ""));
            }

            @Override
            public void finishSums() {
                events.add("finish");
            }
        };
        StepLoop loop = new StepLoop(
                m,
                new Sgd(m.parameterList(), 0, 0, 0, false),
                LrSchedule.constant(0),
                LossScaler.disabled(),
                recording,
                TelemetrySink.NONE,
                new StepLoop.Options("buckets", 1, Precision.FP32, 0, 1, 512));
        loop.step(0, micro(d, plan, 0, 0));
        assertEquals(
                List.of("3168+245 while backward runs", "816+2352 while backward runs", "0+816", "finish"), events);
    }
}
