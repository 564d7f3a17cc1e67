package dev.ringtape.gpukernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Every kernel of the cuda backend against the CPU backend on the same inputs, on a real GPU: run with {@code mvn -pl
 * gpu-kernels -am test -Dgroups=cuda -Dsurefire.failIfNoSpecifiedTests=false} on a machine with a CUDA 12 driver
 * and an sm_80-or-newer GPU. Elsewhere (every machine of this project) each test is skipped, saying why.
 * Tolerances: the GEMMs and reductions sum in another order than the CPU (1e-4 relative); libm-based activations
 * within a few float ulps (1e-5 relative); the rest bit for bit in spirit (1e-6).
 */
@Tag("cuda")
class CudaDeviceTest {
    private static Backend gpu;
    private final CpuBackend cpu = new CpuBackend();
    private final Random rnd = new Random(21);

    @BeforeEach
    void open() {
        CudaProbe.State state = CudaProbe.state();
        assumeTrue(state.usable(), "no CUDA device here: " + state.describe());
        if (gpu == null) {
            gpu = new CudaProvider().open("0");
        }
    }

    private float[] gaussian(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    /**
     * Runs {@code op} on both backends, each on its own copies of {@code inputs} (in its memory), and compares every
     * tensor it returns.
     */
    private void same(
            String what,
            double tolerance,
            List<float[]> inputs,
            List<int[]> shapes,
            BiFunction<Backend, List<Tensor>, List<Tensor>> op) {
        List<List<float[]>> results = new ArrayList<>();
        for (Backend be : new Backend[] {cpu, gpu}) {
            List<Tensor> ts = new ArrayList<>();
            for (int i = 0; i < inputs.size(); i++) {
                ts.add(SelfCheck.onto(be, inputs.get(i).clone(), shapes.get(i)));
            }
            List<float[]> out = new ArrayList<>();
            for (Tensor t : op.apply(be, ts)) {
                out.add(t.toArray());
            }
            results.add(out);
        }
        for (int k = 0; k < results.get(0).size(); k++) {
            float[] want = results.get(0).get(k);
            float[] got = results.get(1).get(k);
            for (int i = 0; i < want.length; i++) {
                double err = Math.abs((double) want[i] - got[i]);
                assertTrue(
                        err <= tolerance * Math.max(1, Math.abs(want[i]))
                                || Float.floatToRawIntBits(want[i]) == Float.floatToRawIntBits(got[i]),
                        what + ", output " + k + "[" + i + "]: CPU " + want[i] + ", GPU " + got[i]);
            }
        }
    }

    @Test
    void shouldAgreeWithTheCpuOnEveryKernel() {
        int[] m = {32, 48};
        int[] w = {24, 48};
        same(
                "gemm",
                1e-4,
                List.of(gaussian(32 * 48), gaussian(24 * 48), gaussian(32 * 24)),
                List.of(m, w, new int[] {32, 24}),
                (be, t) -> {
                    be.gemm(false, true, 32, 24, 48, 0.5f, t.get(0), t.get(1), 1f, t.get(2));
                    return List.of(t.get(2));
                });
        same(
                "gemm transposed A into a view",
                1e-4,
                List.of(gaussian(32 * 48), gaussian(32 * 24), gaussian(60 * 48)),
                List.of(m, new int[] {32, 24}, new int[] {60 * 48}),
                (be, t) -> {
                    Tensor view = Tensor.view(t.get(2).storage(), 100, 24, 48);
                    be.gemm(true, false, 24, 48, 32, 1f, t.get(1), t.get(0), 1f, view);
                    return List.of(t.get(2));
                });
        same(
                "add row vector, sum rows, add, axpy",
                1e-5,
                List.of(gaussian(32 * 24), gaussian(24), gaussian(32 * 24)),
                List.of(new int[] {32, 24}, new int[] {24}, new int[] {32, 24}),
                (be, t) -> {
                    be.addRowVector(t.get(0), t.get(1));
                    be.sumRowsInto(t.get(0), t.get(1));
                    be.add(t.get(0), t.get(2), t.get(2));
                    be.axpy(-0.25f, t.get(0), t.get(2));
                    return List.of(t.get(0), t.get(1), t.get(2));
                });
        for (Activation act : Activation.values()) {
            same(
                    act.toString(),
                    1e-5,
                    List.of(gaussian(1000), gaussian(1000), new float[1000], new float[1000]),
                    List.of(new int[] {1000}, new int[] {1000}, new int[] {1000}, new int[] {1000}),
                    (be, t) -> {
                        Mask mask = new Mask(1000);
                        Tensor derivative = act.saves() == Activation.Saves.DERIVATIVE
                                ? SelfCheck.onto(be, new float[1000], 1000)
                                : null;
                        be.activation(act, 0.1f, t.get(0), t.get(2), mask, derivative);
                        Tensor saved =
                                switch (act.saves()) {
                                    case MASK -> null;
                                    case OUTPUT -> t.get(2);
                                    case INPUT -> t.get(0);
                                    case DERIVATIVE -> derivative;
                                };
                        be.activationBackward(act, 0.1f, saved, mask, t.get(1), t.get(3));
                        return List.of(t.get(2), t.get(3));
                    });
        }
        same(
                "layer norm",
                1e-5,
                List.of(gaussian(16 * 40), gaussian(40), gaussian(40), gaussian(16 * 40)),
                List.of(new int[] {16, 40}, new int[] {40}, new int[] {40}, new int[] {16, 40}),
                (be, t) -> {
                    Tensor y = SelfCheck.onto(be, new float[640], 16, 40);
                    Tensor xhat = SelfCheck.onto(be, new float[640], 16, 40);
                    Tensor gx = SelfCheck.onto(be, new float[640], 16, 40);
                    Tensor gw = SelfCheck.onto(be, new float[40], 40);
                    Tensor gb = SelfCheck.onto(be, new float[40], 40);
                    float[] rstd = new float[16];
                    be.layerNorm(t.get(0), t.get(1), t.get(2), 1e-5f, y, xhat, rstd);
                    be.layerNormBackward(t.get(3), xhat, rstd, t.get(1), gx, gw, gb);
                    return List.of(y, xhat, gx, gw, gb);
                });
        int[] classes = new int[64];
        for (int i = 0; i < classes.length; i++) {
            classes[i] = rnd.nextInt(10);
        }
        double[] loss = new double[2];
        float[] rowScale = gaussian(64);
        same(
                "softmax cross-entropy, log Z and the z-loss's gradient",
                1e-5,
                List.of(gaussian(640), new float[640], new float[640]),
                List.of(new int[] {64, 10}, new int[] {64, 10}, new int[] {64, 10}),
                (be, t) -> {
                    float[] logZ = new float[64];
                    loss[be == cpu ? 0 : 1] = be.softmaxCrossEntropy(t.get(0), classes, t.get(1), logZ);
                    be.softmaxCrossEntropyBackward(t.get(1), classes, 1f / 64, null, t.get(2));
                    be.softmaxCrossEntropyBackward(t.get(1), classes, 1f / 64, rowScale, t.get(2));
                    return List.of(t.get(1), t.get(2), Tensor.of(logZ, 64));
                });
        assertEquals(loss[0], loss[1], 1e-6 * loss[0]);
        same(
                "batched gemm over strided views, both transposes",
                1e-4,
                List.of(gaussian(3 * 8 * 5 + 7), gaussian(3 * 5 * 6), gaussian(3 * 8 * 6 + 11)),
                List.of(new int[] {3 * 8 * 5 + 7}, new int[] {3, 5, 6}, new int[] {3 * 8 * 6 + 11}),
                (be, t) -> {
                    Tensor a = Tensor.view(t.get(0).storage(), 7, 3, 8, 5);
                    Tensor c = Tensor.view(t.get(2).storage(), 11, 3, 8, 6);
                    be.gemmBatched(false, false, 8, 6, 5, 0.5f, a, 40, t.get(1), 30, 1f, c, 48, 3);
                    be.gemmBatched(true, true, 5, 8, 6, 1f, t.get(1), 30, c, 48, 0f, a, 40, 3);
                    return List.of(t.get(0), t.get(2));
                });
        same(
                "permute, and back accumulating",
                1e-6,
                List.of(gaussian(2 * 5 * 3 * 4 * 6), gaussian(3 * 2 * 4 * 5 * 6), gaussian(2 * 5 * 3 * 4 * 6)),
                List.of(new int[] {2, 5, 3, 4, 6}, new int[] {3, 2, 4, 5, 6}, new int[] {2, 5, 3, 4, 6}),
                (be, t) -> {
                    be.permute(t.get(0), new int[] {2, 5, 3, 4, 6}, new int[] {2, 0, 3, 1, 4}, t.get(1), false);
                    be.permute(t.get(1), new int[] {3, 2, 4, 5, 6}, new int[] {1, 3, 0, 2, 4}, t.get(2), true);
                    return List.of(t.get(1), t.get(2));
                });
        int[] ids = new int[40];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rnd.nextInt(6); // repeated: the backward sums them in order
        }
        same(
                "embedding, its gradient into an arena view",
                1e-6,
                List.of(gaussian(6 * 12), new float[40 * 12], gaussian(40 * 12), gaussian(100 + 6 * 12)),
                List.of(new int[] {6, 12}, new int[] {40, 12}, new int[] {40, 12}, new int[] {100 + 6 * 12}),
                (be, t) -> {
                    be.embedding(ids, t.get(0), t.get(1));
                    be.embeddingBackward(ids, t.get(2), Tensor.view(t.get(3).storage(), 100, 6, 12));
                    return List.of(t.get(1), t.get(3));
                });
        for (boolean causal : new boolean[] {false, true}) {
            same(
                    (causal ? "causal " : "") + "softmax and its backward",
                    1e-5,
                    List.of(gaussian(3 * 7 * 7), gaussian(3 * 7 * 7), gaussian(3 * 7 * 7), new float[3 * 7 * 7]),
                    List.of(new int[] {3, 7, 7}, new int[] {3, 7, 7}, new int[] {3, 7, 7}, new int[] {3, 7, 7}),
                    (be, t) -> {
                        be.softmax(t.get(0), 7, causal, t.get(3));
                        be.softmaxBackward(t.get(3), t.get(1), 7, t.get(2));
                        return List.of(t.get(3), t.get(2));
                    });
        }
        float[] targets = new float[200];
        for (int i = 0; i < 200; i++) {
            targets[i] = rnd.nextBoolean() ? 1 : 0;
        }
        same(
                "bce and mse",
                1e-5,
                List.of(gaussian(200), targets, new float[200], new float[200]),
                List.of(new int[] {200}, new int[] {200}, new int[] {200}, new int[] {200}),
                (be, t) -> {
                    float bce = (float) be.bceWithLogits(t.get(0), t.get(1));
                    float mse = (float) be.mse(t.get(0), t.get(1));
                    be.bceWithLogitsBackward(t.get(0), t.get(1), 0.01f, t.get(2));
                    be.mseBackward(t.get(0), t.get(1), 0.01f, t.get(3));
                    return List.of(t.get(2), t.get(3), Tensor.of(new float[] {bce, mse}, 2));
                });
        same(
                "dropout",
                1e-6,
                List.of(gaussian(3000), new float[3000], gaussian(3000)),
                List.of(new int[] {3000}, new int[] {3000}, new int[] {3000}),
                (be, t) -> {
                    Mask mask = new Mask(3000);
                    be.dropoutMask(77, 0.3f, mask);
                    be.maskedScale(t.get(0), mask, 1 / 0.7f, t.get(1), false);
                    be.maskedScale(t.get(0), mask, 1 / 0.7f, t.get(2), true);
                    return List.of(t.get(1), t.get(2));
                });
        same(
                "conv pieces and max pooling",
                1e-5,
                List.of(gaussian(2 * 3 * 9 * 9), gaussian(5)),
                List.of(new int[] {2, 3, 9, 9}, new int[] {5}),
                (be, t) -> {
                    Tensor cols = SelfCheck.onto(be, new float[27 * 2 * 81], 27, 2 * 81);
                    be.im2col(t.get(0), 3, 1, 1, cols);
                    Tensor back = SelfCheck.onto(be, new float[2 * 3 * 81], 2, 3, 9, 9);
                    be.col2imAdd(cols, 3, 1, 1, back);
                    Tensor y = SelfCheck.onto(be, new float[2 * 3 * 16], 2, 3, 4, 4);
                    int[] argmax = new int[96];
                    be.maxPool2d(t.get(0), 2, 2, y, argmax);
                    Tensor gx = SelfCheck.onto(be, new float[2 * 3 * 81], 2, 3, 9, 9);
                    be.maxPool2dBackward(y, argmax, gx);
                    Tensor flat = SelfCheck.onto(be, fixed(5 * 2 * 16), 5, 32);
                    Tensor out = SelfCheck.onto(be, new float[160], 2, 5, 4, 4);
                    be.convOutput(flat, t.get(1), out);
                    Tensor gflat = SelfCheck.onto(be, new float[160], 5, 32);
                    Tensor gbias = SelfCheck.onto(be, new float[5], 5);
                    be.convOutputBackward(out, gflat, gbias);
                    return List.of(cols, back, y, gx, out, gflat, gbias);
                });
        same(
                "16-bit rounding and the unscale walk",
                1e-6,
                List.of(gaussian(5000), gaussian(5000)),
                List.of(new int[] {5000}, new int[] {5000}),
                (be, t) -> {
                    long[] counts = new long[2];
                    be.round(Precision.FP16, t.get(0), counts);
                    be.round(Precision.BF16, t.get(1), null);
                    float[] max = new float[1];
                    int[] zeros = new int[1];
                    float squares = (float) be.scale(t.get(1), 1f / 1024, max, zeros, 0);
                    return List.of(
                            t.get(0), t.get(1), Tensor.of(new float[] {squares, max[0], zeros[0], counts[1]}, 4));
                });
        same(
                "Adam and SGD",
                1e-6,
                List.of(gaussian(777), gaussian(777), new float[777], new float[777], gaussian(777)),
                List.of(new int[] {777}, new int[] {777}, new int[] {777}, new int[] {777}, new int[] {777}),
                (be, t) -> {
                    double[] stats = new double[2];
                    be.adamStep(
                            t.get(0),
                            t.get(1),
                            t.get(2),
                            t.get(3),
                            3,
                            1e-3,
                            new Backend.AdamHyper(0.9, 0.999, 1e-8, 0.01, true),
                            stats);
                    be.sgdStep(
                            t.get(4), t.get(1), t.get(2), false, 0.1, new Backend.SgdHyper(0.9, 0, 1e-4, true), null);
                    return List.of(
                            t.get(0),
                            t.get(2),
                            t.get(3),
                            t.get(4),
                            Tensor.of(new float[] {(float) stats[0], (float) stats[1]}, 2));
                });
    }

    /**
     * Attention's telemetry on the same logits and probabilities (the CPU's softmax, some exactly 0, the
     * probabilities a view at an offset), over a few rows and over several blocks of rows: the max |logit| per head
     * exactly, the entropy sums (the CPU's order, the device's log within an ulp of the JDK's) to 1e-12.
     */
    @Test
    void shouldGatherAttentionStatisticsLikeTheCpu() {
        int[][] sizes = {{2, 3, 7}, {4, 8, 40}}; // n, heads, t
        for (int[] size : sizes) {
            int n = size[0];
            int heads = size[1];
            int t = size[2];
            int count = n * heads * t * t;
            float[] scores = gaussian(count);
            for (int k = 0; k < count; k++) {
                scores[k] *= 4;
                if (rnd.nextInt(50) == 0) {
                    scores[k] = -300f; // a probability exactly 0 where the row sees it
                }
            }
            for (boolean causal : new boolean[] {false, true}) {
                Tensor probs = Tensor.zeros(n, heads, t, t);
                cpu.softmax(Tensor.of(scores.clone(), n, heads, t, t), t, causal, probs);
                float[] padded = new float[count + 5];
                System.arraycopy(probs.data(), 0, padded, 5, count);
                double[][] stats = new double[2][2 * heads];
                Backend[] both = {cpu, gpu};
                for (int k = 0; k < 2; k++) {
                    Backend be = both[k];
                    Tensor z = SelfCheck.onto(be, scores.clone(), n, heads, t, t);
                    Tensor p = Tensor.view(
                            SelfCheck.onto(be, padded.clone(), padded.length).storage(), 5, n, heads, t, t);
                    be.attentionStats(z, p, heads, causal, stats[k]);
                }
                String at = (causal ? "causal " : "") + "attention statistics of " + n + " x " + heads + " heads x " + t
                        + " x " + t + ", ";
                for (int h = 0; h < heads; h++) {
                    assertEquals(stats[0][h], stats[1][h], 0.0, at + "max |logit| of head " + h);
                    double want = stats[0][heads + h];
                    assertEquals(want, stats[1][heads + h], 1e-12 * Math.abs(want), at + "entropy of head " + h);
                }
            }
        }
    }

    /** The same values on both backends' runs (a lambda's inputs beyond the listed ones). */
    private static float[] fixed(int n) {
        float[] a = new float[n];
        Random r = new Random(5);
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    @Test
    void shouldPassItsSelfCheckAndBeChosenByAuto() {
        assertNull(new CudaProvider().unavailableReason());
        assertEquals("cuda", Backends.select("auto", "0").backend().name());
    }

    /** Ten Adam steps of an MLP with layer norm, GELU and dropout, with telemetry sampled, on each backend. */
    private static double[] train(Backend be, List<float[]> weightsOut) throws Exception {
        Backends.Scope in = Backends.use(be);
        try {
            com.fasterxml.jackson.databind.JsonNode spec = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(
                            """
                    {"input": [16], "layers": [
                      {"type": "linear", "out": 48}, {"type": "layernorm"}, {"type": "gelu"},
                      {"type": "dropout", "p": 0.1}, {"type": "linear", "out": 48}, {"type": "relu"},
                      {"type": "linear", "out": 5}], "loss": {"type": "softmax_cross_entropy"}}""");
            dev.ringtape.runtime.nn.Sequential model = dev.ringtape.runtime.nn.ModelBuilder.build(spec, 3);
            dev.ringtape.runtime.train.StepLoop loop = new dev.ringtape.runtime.train.StepLoop(
                    model,
                    dev.ringtape.runtime.optim.Adam.adam(model.parameterList()),
                    dev.ringtape.runtime.optim.LrSchedule.constant(1e-2),
                    dev.ringtape.runtime.train.LossScaler.disabled(),
                    dev.ringtape.runtime.train.GradientReducer.local(),
                    dev.ringtape.telemetry.TelemetrySink.NONE,
                    new dev.ringtape.runtime.train.StepLoop.Options(
                            "cuda",
                            2,
                            Precision.FP32,
                            1.0,
                            7,
                            25L << 20,
                            5,
                            dev.ringtape.telemetry.Thresholds.defaults()));
            dev.ringtape.runtime.data.Dataset d = dev.ringtape.runtime.data.Synthetic.teacher(256, 16, 5, 3);
            dev.ringtape.runtime.data.BatchPlan plan = new dev.ringtape.runtime.data.BatchPlan(256, 64, 1, 2, 5);
            double[] losses = new double[10];
            int[] order = plan.order(1);
            for (int s = 0; s < 10; s++) {
                List<Tensor[]> micro = new ArrayList<>();
                for (int m = 0; m < 2; m++) {
                    micro.add(d.batch(order, plan.offset(s % plan.stepsPerEpoch(), 0, m), plan.microBatchSize()));
                }
                losses[s] = loop.step(s, micro).loss();
            }
            model.parameterList().forEach(p -> weightsOut.add(p.toArray()));
            return losses;
        } finally {
            in.close();
        }
    }

    @Test
    void shouldTrainAStepLikeTheCpu() throws Exception {
        List<float[]> cpuWeights = new ArrayList<>();
        List<float[]> gpuWeights = new ArrayList<>();
        double[] want = train(cpu, cpuWeights);
        double[] got = train(gpu, gpuWeights);
        for (int s = 0; s < want.length; s++) {
            assertEquals(want[s], got[s], 1e-4 * Math.max(1, want[s]), "loss at step " + s);
        }
        for (int k = 0; k < cpuWeights.size(); k++) {
            float[] a = cpuWeights.get(k);
            float[] b = gpuWeights.get(k);
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-3 * Math.max(1, Math.abs(a[i])), "parameter " + k + "[" + i + "]");
            }
        }
    }
}
