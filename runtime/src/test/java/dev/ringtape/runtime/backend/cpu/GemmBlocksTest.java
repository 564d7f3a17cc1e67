package dev.ringtape.runtime.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.tensor.HostStorage;
import dev.ringtape.runtime.tensor.Tensor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * A GEMM gives the same bits on any number of threads, and through either way of calling OpenBLAS (the shim on the
 * arrays in place, JavaCPP's binding on copies): OpenBLAS's own threads would not (with its Haswell kernels a
 * 64x128x64 product differs in the last bits on two threads), so a run trained on one thread and replayed on two
 * would drift apart. The products here are cut into blocks of rows and of columns, and some are one block.
 */
class GemmBlocksTest {
    private final int before = GemmBlocks.threads();

    /** {m, n, k}: rows split, columns split, uneven last blocks, one block, and the digits job's layers. */
    private static final int[][] SHAPES = {
        {1024, 64, 128},
        {64, 1100, 128},
        {1300, 300, 33},
        {2100, 70, 129},
        {10, 1024, 784},
        {64, 128, 64},
        {128, 64, 64},
        {300, 257, 129}
    };

    @AfterEach
    void restore() {
        GemmBlocks.threads(before);
    }

    @Test
    void shouldCutAProductByItsShapeAlone() {
        assertEquals(1, GemmBlocks.count(64, 128, 64), "the digits job's layers are one call each");
        assertEquals(1, GemmBlocks.count(128, 256, 784), "and Fashion-MNIST's");
        assertEquals(2, GemmBlocks.count(1024, 64, 128));
        assertEquals(2, GemmBlocks.count(64, 1100, 128), "columns, when there are more of them");
        assertEquals(4, GemmBlocks.count(2100, 70, 129), "three blocks of 576 rows and one of 372");
        assertEquals(16, GemmBlocks.count(8192, 1024, 1024));
        GemmBlocks.threads(7);
        assertEquals(4, GemmBlocks.count(2100, 70, 129), "the thread count plays no part");
    }

    @Test
    void shouldGiveTheSameBitsOnAnyNumberOfThreadsAndThroughEitherBinding() {
        assertNull(mismatch(new Random(23)), CpuBackend.describe());
    }

    /**
     * The same with each of OpenBLAS's x86-64 kernel families this processor can run, chosen by {@code
     * OPENBLAS_CORETYPE} in a JVM of its own (OpenBLAS reads it once, when it loads): the Haswell kernels are the
     * ones whose bits depend on OpenBLAS's own thread count, and they run on every machine of this project.
     */
    @Test
    void shouldGiveTheSameBitsOnAnyNumberOfThreadsWithEachKernelFamily() throws Exception {
        String flags = cpuFlags();
        Assumptions.assumeTrue(flags != null, "no /proc/cpuinfo: not an x86-64 Linux machine");
        Map<String, List<String>> families = new LinkedHashMap<>();
        families.put("Haswell", List.of("avx2", "fma"));
        families.put("SkylakeX", List.of("avx512f", "avx512bw", "avx512dq", "avx512vl"));
        families.put("Cooperlake", List.of("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"));
        int ran = 0;
        for (Map.Entry<String, List<String>> f : families.entrySet()) {
            if (!f.getValue().stream().allMatch(x -> flags.contains(" " + x + " "))) {
                continue;
            }
            ProcessBuilder pb = new ProcessBuilder(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp",
                    System.getProperty("java.class.path"),
                    GemmBlocksTest.class.getName());
            pb.environment().put("OPENBLAS_CORETYPE", f.getKey());
            pb.redirectErrorStream(true);
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), f.getKey() + ": " + out);
            assertEquals(0, p.exitValue(), "OPENBLAS_CORETYPE=" + f.getKey() + ": " + out);
            assertTrue(
                    out.toLowerCase(java.util.Locale.ROOT)
                            .contains(f.getKey().toLowerCase(java.util.Locale.ROOT) + " kernels"),
                    "OpenBLAS took the kernels named: " + out);
            ran++;
        }
        assertTrue(ran > 0 || !flags.contains(" avx2 "), "the Haswell kernels run wherever there is AVX2");
    }

    /** The child of the test above: exit 0 when every product agrees, else 1 and what differed. */
    public static void main(String[] args) {
        String bad = mismatch(new Random(23));
        System.out.println(CpuBackend.describe());
        if (bad != null) {
            System.out.println(bad);
            System.exit(1);
        }
    }

    private static String cpuFlags() throws Exception {
        Path info = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(info)) {
            return null;
        }
        return Files.readAllLines(info).stream()
                .filter(l -> l.startsWith("flags"))
                .findFirst()
                .map(l -> l.substring(l.indexOf(':') + 1) + " ")
                .orElse(null);
    }

    /** Every shape and transpose on 1, 2, 3, 4 and 7 threads, in place and copied: null, or the first difference. */
    private static String mismatch(Random r) {
        int before = GemmBlocks.threads();
        try {
            for (int[] mnk : SHAPES) {
                for (int t = 0; t < 4; t++) {
                    String bad = mismatch(r, mnk[0], mnk[1], mnk[2], (t & 1) != 0, (t & 2) != 0);
                    if (bad != null) {
                        return bad;
                    }
                }
            }
            return null;
        } finally {
            GemmBlocks.threads(before);
        }
    }

    private static String mismatch(Random r, int m, int n, int k, boolean ta, boolean tb) {
        String what = m + "x" + n + "x" + k + (ta ? " A^T" : "") + (tb ? " B^T" : "");
        Tensor a = padded(random(r, m * k), 3);
        Tensor b = padded(random(r, k * n), 5);
        float[] c0 = random(r, m * n);
        float[] want = null;
        for (int threads : new int[] {1, 2, 3, 4, 7}) {
            GemmBlocks.threads(threads);
            for (boolean inPlace : new boolean[] {true, false}) {
                if (inPlace && NativeBlas.REASON != null) {
                    continue; // no shim here: the copied path is the only one
                }
                Tensor c = padded(c0, 7);
                CpuBackend.gemm(inPlace, ta, tb, m, n, k, 0.75f, a, b, 0.5f, c);
                float[] all = ((HostStorage) c.storage()).array();
                for (int i = 0; i < all.length; i++) {
                    if ((i < 7 || i >= 7 + m * n) && !Float.isNaN(all[i])) {
                        return what + ": C[" + i + "] outside the product was written";
                    }
                }
                float[] got = c.toArray();
                if (want == null) {
                    want = got;
                    String far = far(reference(ta, tb, m, n, k, a.toArray(), b.toArray(), c0), got);
                    if (far != null) {
                        return what + ": " + far;
                    }
                } else if (!Arrays.equals(bits(want), bits(got))) {
                    return what + ": " + threads + " thread(s) " + (inPlace ? "in place" : "copied")
                            + " differ from the first result in the last bits";
                }
            }
        }
        return null;
    }

    /** {@code 0.75 op(A) op(B) + 0.5 C} in double. */
    private static double[] reference(boolean ta, boolean tb, int m, int n, int k, float[] a, float[] b, float[] c) {
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int l = 0; l < k; l++) {
                    s += (double) (ta ? a[l * m + i] : a[i * k + l]) * (tb ? b[j * k + l] : b[l * n + j]);
                }
                out[i * n + j] = 0.75 * s + 0.5 * c[i * n + j];
            }
        }
        return out;
    }

    /** Null when {@code got} is {@code want} to float rounding, else the first value that is not. */
    private static String far(double[] want, float[] got) {
        for (int i = 0; i < want.length; i++) {
            if (Math.abs(want[i] - got[i]) > 1e-4 * (1 + Math.abs(want[i]))) {
                return "C[" + i + "] is " + got[i] + ", float64 says " + want[i];
            }
        }
        return null;
    }

    private static int[] bits(float[] v) {
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = Float.floatToRawIntBits(v[i]);
        }
        return b;
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** {@code v} as a view at {@code offset} of an array with NaN around it. */
    private static Tensor padded(float[] v, int offset) {
        float[] p = new float[v.length + offset + 9];
        Arrays.fill(p, Float.NaN);
        System.arraycopy(v, 0, p, offset, v.length);
        return Tensor.view(new HostStorage(p), offset, v.length);
    }
}
