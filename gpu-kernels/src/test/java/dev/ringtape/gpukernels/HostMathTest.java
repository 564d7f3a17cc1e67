package dev.ringtape.gpukernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.runtime.backend.cpu.Loops;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Tensor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CUDA kernels' arithmetic ({@code ringtape_math.cuh}), compiled by nvcc as host code and run on the CPU, against
 * the Java CPU backend on the same inputs: what can be checked of the device path without a device. Bit for bit
 * where both sides do the same IEEE operations in the same order (16-bit rounding, the unscale, Adam, SGD, ReLU,
 * LeakyReLU, MSE, dropout, layer norm, permutation, the embedding's gradient, the softmax's backward, and attention's
 * statistics, whose logs agree on the probabilities used); within one float ulp where a libm function is involved
 * (exp, log1p, expm1 in the softmaxes, log Z, BCE and the other activations: glibc's and Java's may differ in the last
 * bit of a double, which can move the rounded float by one ulp). Skipped, with the reason, where nvcc is not on the
 * PATH.
 */
class HostMathTest {
    private static Path program;
    private final Random rnd = new Random(11);
    private final CpuBackend cpu = new CpuBackend();

    @BeforeAll
    static void build() throws Exception {
        Path src = Path.of("src/test/cuda/host_math.cu").toAbsolutePath();
        Path include = Path.of("src/main/cuda").toAbsolutePath();
        program = Path.of("target/host_math").toAbsolutePath();
        Process p;
        try {
            p = new ProcessBuilder("nvcc", "-std=c++17", "-I" + include, "-o", program.toString(), src.toString())
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            program = null;
            return; // no nvcc: every test is skipped with the reason
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "nvcc took more than 2 minutes");
        assertEquals(0, p.exitValue(), "nvcc failed on host_math.cu:\n" + out);
    }

    /** Runs a case of the host program on {@code input}; its output's tokens. */
    private static List<String> run(String kase, String input) throws Exception {
        assumeTrue(program != null, "nvcc is not on the PATH: the kernels' host-side math is not checked here");
        Process p = new ProcessBuilder(program.toString(), kase).start();
        p.getOutputStream().write(input.getBytes(StandardCharsets.US_ASCII));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), kase + ": " + err);
        List<String> tokens = new ArrayList<>();
        for (String t : out.split("\\s+")) {
            if (!t.isEmpty()) {
                tokens.add(t);
            }
        }
        return tokens;
    }

    private static String hex(float v) {
        return String.format("%08x", Float.floatToRawIntBits(v));
    }

    private static String hex(double v) {
        return String.format("%016x", Double.doubleToRawLongBits(v));
    }

    private static String hex(float[] a) {
        StringBuilder b = new StringBuilder();
        for (float v : a) {
            b.append(hex(v)).append(' ');
        }
        return b.toString();
    }

    private static float f(String token) {
        return Float.intBitsToFloat((int) Long.parseLong(token, 16));
    }

    private static double d(String token) {
        return Double.longBitsToDouble(Long.parseUnsignedLong(token, 16));
    }

    /** Values where rounding and special cases go wrong, then random ones over many magnitudes. */
    private float[] edgyValues(int random) {
        float[] edges = {
            0f,
            -0f,
            1f,
            -1f,
            65504f,
            65520f,
            65519.996f,
            6.1035156e-5f,
            5.9604645e-8f,
            2.9802322e-8f,
            2.9802326e-8f,
            1e-10f,
            Float.MIN_VALUE,
            Float.MAX_VALUE,
            Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY,
            Float.NaN,
            Float.intBitsToFloat(0x7f800001),
            1.0009766f,
            1.0014648f,
            3.3895314e38f
        };
        float[] out = new float[edges.length + random];
        System.arraycopy(edges, 0, out, 0, edges.length);
        for (int i = edges.length; i < out.length; i++) {
            out[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(20) - 10));
        }
        return out;
    }

    private float[] gaussian(int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextGaussian() * scale);
        }
        return a;
    }

    private static void assertUlps(float want, float got, int ulps, String what) {
        if (Float.floatToRawIntBits(want) == Float.floatToRawIntBits(got)) {
            return;
        }
        assertTrue(
                Float.isFinite(want) && Math.abs(want - got) <= ulps * Math.ulp(want),
                what + ": Java " + want + ", CUDA host math " + got);
    }

    @Test
    void shouldRoundToFp16AndBf16BitForBitAsTheCpuBackend() throws Exception {
        float[] x = edgyValues(4000);
        List<String> fp16 = run("fp16", x.length + " " + hex(x));
        List<String> bf16 = run("bf16", x.length + " " + hex(x));
        for (int i = 0; i < x.length; i++) {
            String at = "x = " + x[i] + " (" + hex(x[i]) + ")";
            assertEquals(hex(Precision.toFp16(x[i])), fp16.get(i), "fp16 of " + at);
            assertEquals(Precision.floatToFp16Bits(x[i]) & 0xffff, Integer.parseInt(fp16.get(x.length + i)), at);
            assertEquals(hex(Precision.toBf16(x[i])), bf16.get(i), "bf16 of " + at);
        }
    }

    @Test
    void shouldUnscaleAndCountOverflowLikeTheUnscaleWalk() throws Exception {
        float[] g = edgyValues(3000);
        float scale = 1f / 65536f;
        List<String> out = run("unscale", g.length + " " + hex(scale) + " " + hex(g));
        Tensor t = Tensor.of(g.clone(), g.length);
        int bad = cpu.countNonFinite(t);
        cpu.scale(t, scale, null, null, 0);
        for (int i = 0; i < g.length; i++) {
            assertEquals(hex(t.data()[i]), out.get(i), "unscaled " + g[i]);
        }
        assertEquals(bad, Integer.parseInt(out.get(g.length)), "non-finite gradients");
        assertTrue(bad >= 4, "the inputs hold Inf and NaN");
        float[] finite = gaussian(5000, 1e3);
        out = run("unscale", finite.length + " " + hex(scale) + " " + hex(finite));
        Tensor ft = Tensor.of(finite.clone(), finite.length);
        double squares = cpu.scale(ft, scale, null, null, 0);
        assertEquals(squares, d(out.get(finite.length + 1)), squares * 1e-6, "sum of squares");
    }

    @Test
    void shouldStepAdamAndSgdBitForBitAsTheCpuLoops() throws Exception {
        int n = 1001;
        for (boolean decoupled : new boolean[] {false, true}) {
            float[] p = gaussian(n, 1);
            float[] g = gaussian(n, 1e-2);
            float[] m = gaussian(n, 1e-3);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = rnd.nextFloat() * 1e-5f;
            }
            Loops.AdamStep s = new Loops.AdamStep(
                    0.9f, 0.1f, 0.999f, 1e-3f, 0.0316f, -0.0123f, 1e-8f, decoupled, 0.9999f, decoupled ? 0f : 0.01f);
            String in = n + " " + hex(s.b1()) + " " + hex(s.oneMinusB1()) + " " + hex(s.b2()) + " "
                    + hex(s.oneMinusB2()) + " " + hex(s.bc2Sqrt()) + " " + hex(s.negStepSize()) + " " + hex(s.eps())
                    + " " + (decoupled ? 1 : 0) + " " + hex(s.decay()) + " " + hex(s.wd()) + " " + hex(p) + hex(g)
                    + hex(m) + hex(v);
            List<String> out = run("adam", in);
            Loops.scalar().adam(p, g, 0, m, v, s, null);
            for (int i = 0; i < n; i++) {
                assertEquals(hex(p[i]), out.get(i), "Adam weight " + i + (decoupled ? " (AdamW)" : ""));
                assertEquals(hex(m[i]), out.get(n + i), "first moment " + i);
                assertEquals(hex(v[i]), out.get(2 * n + i), "second moment " + i);
            }
        }
        for (boolean nesterov : new boolean[] {false, true}) {
            float[] p = gaussian(n, 1);
            float[] g = gaussian(n, 1e-2);
            float[] buf = gaussian(n, 1e-2);
            Loops.SgdStep s = new Loops.SgdStep(1e-4f, 0.9f, 1f, -0.05f, true, nesterov);
            String in = n + " 0 1 " + hex(s.wd()) + " " + hex(s.mom()) + " " + hex(s.keep()) + " " + hex(s.negLr())
                    + " 1 " + (nesterov ? 1 : 0) + " " + hex(p) + hex(g) + hex(buf);
            List<String> out = run("sgd", in);
            Loops.scalar().sgd(p, g, 0, buf, false, s, null);
            for (int i = 0; i < n; i++) {
                assertEquals(hex(p[i]), out.get(i), "SGD weight " + i);
                assertEquals(hex(buf[i]), out.get(n + i), "momentum " + i);
            }
        }
    }

    @Test
    void shouldComputeSoftmaxCrossEntropyAndLogZAsTheCpuBackend() throws Exception {
        int rows = 64;
        int c = 10;
        float[] z = gaussian(rows * c, 4);
        z[3] = 900f; // a logit far out: log space keeps it finite
        int[] y = new int[rows];
        StringBuilder ys = new StringBuilder();
        for (int r = 0; r < rows; r++) {
            y[r] = rnd.nextInt(c);
            ys.append(y[r]).append(' ');
        }
        float scale = 1f / rows;
        for (boolean zLoss : new boolean[] {false, true}) {
            float[] rowScale = zLoss ? gaussian(rows, 1e-3) : null;
            List<String> out = run(
                    "softmax_ce",
                    rows + " " + c + " " + hex(z) + ys + hex(scale) + (zLoss ? " 1 " + hex(rowScale) : " 0"));
            Tensor probs = Tensor.zeros(rows, c);
            float[] logZ = new float[rows];
            double mean = cpu.softmaxCrossEntropy(Tensor.of(z.clone(), rows, c), y, probs, logZ);
            Tensor gx = Tensor.zeros(rows, c);
            cpu.softmaxCrossEntropyBackward(probs, y, scale, rowScale, gx);
            String with = zLoss ? " with the z-loss's row scales" : "";
            for (int i = 0; i < rows * c; i++) {
                assertUlps(probs.data()[i], f(out.get(i)), 1, "softmax " + i);
                assertUlps(gx.data()[i], f(out.get(rows * c + 1 + i)), 2, "gradient " + i + with);
            }
            for (int r = 0; r < rows; r++) {
                assertUlps(logZ[r], f(out.get(2 * rows * c + 1 + r)), 1, "log Z of row " + r);
            }
            double total = d(out.get(rows * c));
            assertEquals(mean, total / rows, Math.abs(mean) * 1e-12, "mean loss");
        }
    }

    @Test
    void shouldComputeTheSoftmaxAndItsCausalMaskAsTheCpuBackend() throws Exception {
        int cols = 9;
        int rows = 4 * cols; // four square blocks, as attention's [batch * heads, t, t]
        float[] z = gaussian(rows * cols, 3);
        z[5] = 500f;
        float[] gp = gaussian(rows * cols, 1);
        for (boolean causal : new boolean[] {false, true}) {
            List<String> out = run("softmax", rows + " " + cols + " " + (causal ? 1 : 0) + " " + hex(z) + hex(gp));
            Tensor probs = Tensor.zeros(rows, cols);
            cpu.softmax(Tensor.of(z.clone(), rows, cols), cols, causal, probs);
            float[] host = new float[rows * cols];
            for (int r = 0; r < rows; r++) {
                double sum = 0;
                for (int j = 0; j < cols; j++) {
                    int i = r * cols + j;
                    host[i] = f(out.get(i));
                    String at = (causal ? "causal " : "") + "softmax row " + r + ", column " + j;
                    if (causal && j > r % cols) {
                        assertEquals(hex(0f), out.get(i), at + " is masked: exactly 0");
                    }
                    assertUlps(probs.data()[i], host[i], 1, at);
                    sum += host[i];
                }
                assertEquals(1, sum, 1e-6, "row " + r + " sums to 1");
            }
            // the backward from the same probabilities: the same float operations, bit for bit
            Tensor gx = Tensor.zeros(rows, cols);
            cpu.softmaxBackward(Tensor.of(host, rows, cols), Tensor.of(gp.clone(), rows, cols), cols, gx);
            for (int i = 0; i < rows * cols; i++) {
                assertEquals(hex(gx.data()[i]), out.get(rows * cols + i), "softmax gradient " + i);
            }
        }
    }

    /**
     * Attention's telemetry: each row's max |logit| and entropy from the kernel's row function, combined per head by
     * the backend's own combine, against the CPU backend bit for bit. The entropies are bit for bit because the row
     * sums and the combine follow the CPU's order and glibc's log and the JDK's agree on these probabilities (on
     * every float from 7e-37 to 1, checked exhaustively on this project's platform; they differ in the last bit on
     * 230 floats below, which no probability here is).
     */
    @Test
    void shouldGatherAttentionStatisticsPerHeadBitForBitAsTheCpuBackend() throws Exception {
        int n = 3;
        int heads = 4;
        int t = 9;
        int rows = n * heads * t; // [n, heads, t, t]: row r belongs to head (r / t) % heads
        float[] z = gaussian(rows * t, 3);
        z[row(0, 1, 4, heads, t) * t + 2] = 500f; // the head's largest |logit|; the row's other probabilities are 0
        z[row(2, 1, 6, heads, t) * t + 6] = -700f; // a larger magnitude, negative: exactly 0 probability
        for (int k = 0; k < 12; k++) { // far below their row's max: probabilities exactly 0 among the seen columns
            int i = 1 + k % (t - 1); // twelve rows of queries that see at least two columns
            z[row(k % n, k % heads, i, heads, t) * t + k % i] = -300f;
        }
        z[row(1, 3, 0, heads, t) * t + t - 1] = 1e6f; // masked under causal (query 0 sees column 0 only)
        for (boolean causal : new boolean[] {false, true}) {
            Tensor probs = Tensor.zeros(n, heads, t, t);
            cpu.softmax(Tensor.of(z.clone(), n, heads, t, t), t, causal, probs);
            float[] p = probs.data();
            int seenZeros = 0;
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j <= (causal ? r % t : t - 1); j++) {
                    float q = p[r * t + j];
                    seenZeros += q == 0f ? 1 : 0;
                    assertTrue(q == 0f || q > 1e-30f, "probability " + q + " in the range where the logs may differ");
                }
            }
            assertTrue(seenZeros >= 12, "probabilities exactly 0 among the seen columns: " + seenZeros);
            double[] want = attentionStats(z, p, n, heads, t, causal);
            double[] got = hostAttentionStats(z, p, heads, t, causal);
            for (int k = 0; k < 2 * heads; k++) {
                String at = (causal ? "causal " : "")
                        + (k < heads ? "max |logit| of head " : "entropy of head ")
                        + k % heads;
                assertEquals(hex(want[k]), hex(got[k]), at + ": CPU " + want[k] + ", CUDA host math " + got[k]);
                assertTrue(want[k] > 0 && Double.isFinite(want[k]), at + " is " + want[k]);
            }
            assertEquals(700.0, want[1], 0.0, "head 1: |-700| beats 500");
            assertTrue(causal ? want[3] < 1e6 : want[3] == 1e6, "head 3's 1e6 counts only unmasked: " + want[3]);
        }
        // non-finite logits: an Inf makes its head's max Inf, a NaN NaN (as Java's Math.max), one in a masked column
        // nothing; a NaN probability is not > 0 and adds nothing
        float[] bad = z.clone();
        bad[row(0, 0, 3, heads, t) * t + 1] = Float.NEGATIVE_INFINITY;
        bad[row(2, 2, 5, heads, t) * t + 5] = Float.NaN;
        bad[row(1, 1, 2, heads, t) * t + 7] = Float.NaN; // masked: query 2 sees columns 0 to 2
        Tensor probs = Tensor.zeros(n, heads, t, t);
        cpu.softmax(Tensor.of(z.clone(), n, heads, t, t), t, true, probs);
        float[] p = probs.data();
        p[row(1, 3, 8, heads, t) * t + 4] = Float.NaN;
        double[] want = attentionStats(bad, p, n, heads, t, true);
        double[] got = hostAttentionStats(bad, p, heads, t, true);
        for (int k = 0; k < 2 * heads; k++) {
            assertTrue(
                    hex(want[k]).equals(hex(got[k])) || Double.isNaN(want[k]) && Double.isNaN(got[k]),
                    "with non-finite values, " + (k < heads ? "max |logit|" : "entropy") + " of head " + k % heads
                            + ": CPU " + want[k] + ", CUDA host math " + got[k]);
        }
        assertEquals(Double.POSITIVE_INFINITY, got[0], "an infinite logit");
        assertTrue(Double.isNaN(got[2]), "a NaN logit: " + got[2]);
        assertTrue(Double.isFinite(got[1]) && Double.isFinite(got[heads + 3]), "masked NaN logit, NaN probability");
    }

    /** Row i of head h of sample s in [n, heads, t, t] logits flattened to [n * heads * t, t]. */
    private static int row(int s, int h, int i, int heads, int t) {
        return (s * heads + h) * t + i;
    }

    private double[] attentionStats(float[] z, float[] p, int n, int heads, int t, boolean causal) {
        double[] out = new double[2 * heads];
        Arrays.fill(out, 7.0); // overwritten, not added to
        cpu.attentionStats(
                Tensor.of(z.clone(), n, heads, t, t), Tensor.of(p.clone(), n, heads, t, t), heads, causal, out);
        return out;
    }

    /** The rows' statistics from the host program, combined per head by {@link CudaBackend}'s combine. */
    private static double[] hostAttentionStats(float[] z, float[] p, int heads, int t, boolean causal)
            throws Exception {
        int rows = z.length / t;
        List<String> out = run("attention_stats", rows + " " + t + " " + (causal ? 1 : 0) + " " + hex(z) + hex(p));
        float[] rowMax = new float[rows];
        double[] rowEntropy = new double[rows];
        for (int r = 0; r < rows; r++) {
            rowMax[r] = f(out.get(r));
            rowEntropy[r] = d(out.get(rows + r));
        }
        double[] stats = new double[2 * heads];
        Arrays.fill(stats, 7.0);
        CudaBackend.attentionStatsByHead(rowMax, rowEntropy, t, heads, stats);
        return stats;
    }

    @Test
    void shouldPermuteAxesAsTheCpuBackend() throws Exception {
        int[][][] cases = {
            {{7}, {0}},
            {{5, 7}, {1, 0}},
            {{2, 3, 4}, {2, 0, 1}},
            {{2, 5, 3, 4, 6}, {2, 0, 3, 1, 4}}, // attention's qkv split: [n, t, 3, heads, hd] -> [3, n, heads, t, hd]
            {{2, 4, 5, 6}, {0, 2, 1, 3}}, // and the heads merged back
            {{2, 3, 1, 4, 2, 3}, {5, 3, 0, 4, 1, 2}}
        };
        for (int[][] c : cases) {
            int[] shape = c[0];
            int[] perm = c[1];
            int n = 1;
            int[] outShape = new int[shape.length];
            for (int d = 0; d < shape.length; d++) {
                n *= shape[d];
                outShape[d] = shape[perm[d]];
            }
            float[] x = gaussian(n, 1);
            float[] y0 = gaussian(n, 1);
            for (boolean accumulate : new boolean[] {false, true}) {
                StringBuilder in = new StringBuilder().append(shape.length).append(' ');
                for (int v : shape) {
                    in.append(v).append(' ');
                }
                for (int v : perm) {
                    in.append(v).append(' ');
                }
                in.append(accumulate ? 1 : 0).append(' ').append(hex(x)).append(hex(y0));
                List<String> out = run("permute", in.toString());
                Tensor y = Tensor.of(y0.clone(), outShape);
                cpu.permute(Tensor.of(x.clone(), shape), shape, perm, y, accumulate);
                for (int i = 0; i < n; i++) {
                    assertEquals(
                            hex(y.data()[i]),
                            out.get(i),
                            "permute " + Arrays.toString(shape) + " by " + Arrays.toString(perm)
                                    + (accumulate ? ", accumulating" : "") + ", element " + i);
                }
            }
        }
    }

    @Test
    void shouldSumEmbeddingGradientsInTheOrderOfTheIdsAsTheCpuBackend() throws Exception {
        int rows = 200;
        int dim = 13;
        int vocab = 7; // ids repeat: the order of the sums decides the bits
        int[] ids = new int[rows];
        StringBuilder in = new StringBuilder().append(rows + " " + dim + " " + vocab + " ");
        for (int r = 0; r < rows; r++) {
            ids[r] = rnd.nextInt(vocab);
            in.append(ids[r]).append(' ');
        }
        float[] gy = gaussian(rows * dim, 1);
        float[] gw = gaussian(vocab * dim, 1);
        List<String> out = run("embedding_backward", in + hex(gy) + hex(gw));
        Tensor gWeight = Tensor.of(gw.clone(), vocab, dim);
        cpu.embeddingBackward(ids, Tensor.of(gy, rows, dim), gWeight);
        for (int i = 0; i < vocab * dim; i++) {
            assertEquals(hex(gWeight.data()[i]), out.get(i), "embedding gradient " + i);
        }
    }

    /** What the PTX does not show (KernelCallsTest checks the structs passed by value against it). */
    @Test
    void shouldReadStatisticsAndPackPermutationsInTheLayoutsOfTheKernels() throws Exception {
        List<String> out = run("sizes", "");
        assertEquals(CudaBackend.STATS_BYTES, Integer.parseInt(out.get(0)), "sizeof(rt::Stats)");
        assertEquals(CudaBackend.MAX_RANK, Integer.parseInt(out.get(1)), "RT_MAX_RANK");
    }

    @Test
    void shouldNormalizeLayersBitForBitAsTheCpuBackend() throws Exception {
        int rows = 70; // three blocks of the column sums, the last one short
        int dim = 37;
        float[] x = gaussian(rows * dim, 3);
        float[] w = gaussian(dim, 1);
        float[] b = gaussian(dim, 1);
        float[] gy = gaussian(rows * dim, 1);
        float eps = 1e-5f;
        List<String> out =
                run("layer_norm", rows + " " + dim + " " + hex(eps) + " " + hex(x) + hex(w) + hex(b) + hex(gy));
        Tensor ty = Tensor.zeros(rows, dim);
        Tensor xhat = Tensor.zeros(rows, dim);
        float[] rstd = new float[rows];
        Tensor weight = Tensor.of(w, dim);
        cpu.layerNorm(Tensor.of(x, rows, dim), weight, Tensor.of(b, dim), eps, ty, xhat, rstd);
        Tensor gx = Tensor.zeros(rows, dim);
        Tensor gw = Tensor.zeros(dim);
        Tensor gb = Tensor.zeros(dim);
        cpu.layerNormBackward(Tensor.of(gy, rows, dim), xhat, rstd, weight, gx, gw, gb);
        int n = rows * dim;
        for (int i = 0; i < n; i++) {
            assertEquals(hex(ty.data()[i]), out.get(i), "y " + i);
            assertEquals(hex(xhat.data()[i]), out.get(n + i), "xhat " + i);
            assertEquals(hex(gx.data()[i]), out.get(2 * n + rows + i), "gx " + i);
        }
        for (int r = 0; r < rows; r++) {
            assertEquals(hex(rstd[r]), out.get(2 * n + r), "rstd " + r);
        }
        for (int j = 0; j < dim; j++) {
            assertEquals(hex(gw.data()[j]), out.get(3 * n + rows + 2 * j), "weight gradient " + j);
            assertEquals(hex(gb.data()[j]), out.get(3 * n + rows + 2 * j + 1), "bias gradient " + j);
        }
    }

    @Test
    void shouldComputeEveryActivationAndItsGradientAsTheCpuBackend() throws Exception {
        for (Activation act : Activation.values()) {
            float param = act == Activation.LEAKY_RELU ? 0.01f : act == Activation.ELU ? 1.3f : 0f;
            float[] x = gaussian(3000, 3);
            float[] edges = {0f, -0f, 25f, -25f, 20f, 20.5f, 1e-5f, -1e-5f, 60f, -60f};
            System.arraycopy(edges, 0, x, 0, edges.length);
            float[] gy = gaussian(x.length, 1);
            Tensor y = Tensor.zeros(x.length);
            Mask mask = new Mask(x.length);
            boolean byDerivative = act.saves() == Activation.Saves.DERIVATIVE;
            Tensor derivative = byDerivative ? Tensor.zeros(x.length) : null;
            cpu.activation(act, param, Tensor.of(x.clone(), x.length), y, mask, derivative);
            // backward from what the forward saved: the output for sigmoid and tanh, the derivative for exact GELU
            // (the host program computes its own from x, and writes it too), the input otherwise (the host program
            // reads ReLU's sign mask off the input)
            float[] saved = act.saves() == Activation.Saves.OUTPUT ? y.data() : byDerivative ? derivative.data() : x;
            Tensor gx = Tensor.zeros(x.length);
            cpu.activationBackward(
                    act,
                    param,
                    act.saves() == Activation.Saves.MASK ? null : Tensor.of(saved.clone(), x.length),
                    mask,
                    Tensor.of(gy, gy.length),
                    gx);
            List<String> out =
                    run("act", act.ordinal() + " " + hex(param) + " " + x.length + " " + hex(x) + hex(saved) + hex(gy));
            // exact where no libm function is involved; tanh's forward on the CPU is the JDK's vector tanh
            int ulps = act == Activation.RELU || act == Activation.LEAKY_RELU ? 0 : 1;
            for (int i = 0; i < x.length; i++) {
                String at = act + " at x = " + x[i];
                assertUlps(y.data()[i], f(out.get(i)), ulps, at);
                assertUlps(gx.data()[i], f(out.get(x.length + i)), ulps, "gradient of " + at);
                if (byDerivative) {
                    assertUlps(derivative.data()[i], f(out.get(2 * x.length + i)), ulps, "derivative of " + at);
                }
            }
        }
    }

    @Test
    void shouldComputeTheElementwiseLossesAsTheCpuBackend() throws Exception {
        int n = 2000;
        float[] x = gaussian(n, 5);
        float[] t = new float[n];
        for (int i = 0; i < n; i++) {
            t[i] = rnd.nextBoolean() ? 1f : 0f;
        }
        float scale = 1f / n;
        for (int kind = 0; kind < 2; kind++) {
            List<String> out = run("loss", kind + " " + n + " " + hex(x) + hex(t) + hex(scale));
            Tensor xt = Tensor.of(x.clone(), n);
            Tensor tt = Tensor.of(t.clone(), n);
            double mean = kind == 0 ? cpu.bceWithLogits(xt, tt) : cpu.mse(xt, tt);
            Tensor gx = Tensor.zeros(n);
            if (kind == 0) {
                cpu.bceWithLogitsBackward(xt, tt, scale, gx);
            } else {
                cpu.mseBackward(xt, tt, scale, gx);
            }
            double total = 0;
            for (int i = 0; i < n; i++) {
                total += d(out.get(i));
                assertUlps(gx.data()[i], f(out.get(n + i)), kind == 0 ? 1 : 0, (kind == 0 ? "bce" : "mse") + " " + i);
            }
            assertEquals(mean, total / n, Math.abs(mean) * 1e-13, kind == 0 ? "bce" : "mse");
        }
    }

    @Test
    void shouldDrawTheSameDropoutMaskFromASeed() throws Exception {
        for (float p : new float[] {0.1f, 0.5f, 0.9f}) {
            int n = 5000;
            long seed = rnd.nextLong() & Long.MAX_VALUE;
            List<String> out = run("dropout", seed + " " + hex((double) p) + " " + n);
            Mask mask = new Mask(n);
            cpu.dropoutMask(seed, p, mask);
            int kept = 0;
            for (int i = 0; i < n; i++) {
                boolean keep = (mask.words()[i >>> 6] & (1L << i)) != 0;
                assertEquals(keep ? "1" : "0", out.get(i), "element " + i + " of seed " + seed + ", p " + p);
                kept += keep ? 1 : 0;
            }
            assertEquals(1 - p, kept / (double) n, 0.03);
        }
    }

    @Test
    void shouldGatherTheTelemetryStatisticsOfTheCpuBackend() throws Exception {
        float[] x = gaussian(4096, 1e-6);
        for (int i = 0; i < 300; i++) {
            x[rnd.nextInt(x.length)] = 0f;
        }
        float lo = -1e-6f;
        float hi = 1e-6f;
        List<String> out = run("stats", x.length + " " + hex(lo) + " " + hex(hi) + " 1 " + hex(x));
        float[] maxAbs = new float[1];
        int[] zeros = new int[1];
        double squares = cpu.scale(Tensor.of(x.clone(), x.length), 1f, maxAbs, zeros, 0);
        long[] underflow = new long[2];
        cpu.round(Precision.FP16, Tensor.of(x.clone(), x.length), underflow);
        long outside = 0;
        for (float v : x) {
            outside += v < lo || v > hi ? 1 : 0;
        }
        assertEquals(squares, d(out.get(0)), squares * 1e-6, "sum of squares");
        assertEquals(hex(maxAbs[0]), out.get(1), "max |x|");
        assertEquals(zeros[0], Long.parseLong(out.get(2)), "zeros");
        assertEquals(outside, Long.parseLong(out.get(3)), "outside [lo, hi]");
        assertEquals(underflow[0], Long.parseLong(out.get(4)), "non-zero values");
        assertEquals(underflow[1], Long.parseLong(out.get(5)), "values fp16 flushes to zero");
        assertEquals(0, Long.parseLong(out.get(6)), "non-finite values");
        assertTrue(underflow[1] > 0, "values of 1e-6 scale: fp16 flushes some");
    }
}
