package dev.ringtape.runtime.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.tensor.HostStorage;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.Arrays;
import java.util.Random;
import org.bytedeco.openblas.global.openblas;
import org.junit.jupiter.api.Test;

/**
 * The shim that hands Java arrays to OpenBLAS in place ({@link NativeBlas}) against JavaCPP's binding of the same
 * {@code cblas_sgemm}: the same bits for every transpose, with operands and result at offsets of larger arrays, and
 * nothing outside the result's values written.
 */
class NativeBlasTest {
    private final Random r = new Random(11);

    @Test
    void shouldBeBuiltAndLoadedOnLinuxX86() {
        if (System.getProperty("os.name").equals("Linux")
                && System.getProperty("os.arch").equals("amd64")) {
            assertNull(NativeBlas.REASON, "the build compiles the shim here (gcc), and it loads");
            // doctor's line names the kernels OpenBLAS chose and the library the GEMMs go through
            String core = NativeBlas.corename();
            assertTrue(core != null && !core.isBlank(), "OpenBLAS names its kernels");
            assertTrue(CpuBackend.describe().contains(core + " kernels"), CpuBackend.describe());
            assertTrue(NativeBlas.library().contains("libopenblas"), NativeBlas.library());
            assertTrue(
                    CpuBackend.describe()
                            .contains("through "
                                    + java.nio.file.Path.of(NativeBlas.library())
                                            .getFileName()),
                    CpuBackend.describe());
        }
        assertTrue(CpuBackend.describe().contains(NativeBlas.REASON == null ? "in place" : "copied"));
    }

    @Test
    void shouldGiveJavaCppsBitsInPlaceAtOffsets() {
        if (NativeBlas.REASON != null) {
            return; // the CPU backend calls JavaCPP's binding itself then
        }
        int[][] sizes = {{1, 1, 1}, {5, 3, 4}, {37, 19, 23}, {128, 256, 256}, {128, 10, 256}};
        for (int[] mnk : sizes) {
            int m = mnk[0];
            int n = mnk[1];
            int k = mnk[2];
            for (int t = 0; t < 4; t++) {
                boolean ta = (t & 1) != 0;
                boolean tb = (t & 2) != 0;
                int cta = ta ? openblas.CblasTrans : openblas.CblasNoTrans;
                int ctb = tb ? openblas.CblasTrans : openblas.CblasNoTrans;
                float[] a = random(m * k);
                float[] b = random(k * n);
                float[] c = random(m * n);
                float[] want = c.clone();
                openblas.cblas_sgemm(
                        openblas.CblasRowMajor, cta, ctb, m, n, k, 0.75f, a, ta ? m : k, b, tb ? k : n, 0.5f, want, n);
                float[] ga = padded(a, 3);
                float[] gb = padded(b, 5);
                float[] gc = padded(c, 7);
                NativeBlas.sgemm(cta, ctb, m, n, k, 0.75f, ga, 3, ta ? m : k, gb, 5, tb ? k : n, 0.5f, gc, 7, n);
                String what = m + "x" + n + "x" + k + (ta ? " A^T" : "") + (tb ? " B^T" : "");
                for (int i = 0; i < gc.length; i++) {
                    if (i < 7 || i >= 7 + c.length) {
                        assertTrue(Float.isNaN(gc[i]), what + ": C[" + i + "] outside the result was written");
                    } else {
                        assertEquals(
                                Float.floatToRawIntBits(want[i - 7]),
                                Float.floatToRawIntBits(gc[i]),
                                what + " C[" + i + "]");
                    }
                }
                assertEquals(Arrays.toString(a), Arrays.toString(Arrays.copyOfRange(ga, 3, 3 + a.length)));
            }
        }
    }

    @Test
    void shouldRefuseAProductLargerThanItsTensors() {
        CpuBackend be = new CpuBackend();
        Tensor a = Tensor.zeros(4, 3);
        Tensor b = Tensor.zeros(3, 5);
        Tensor small = Tensor.view(new HostStorage(new float[30]), 20, 2, 5); // 10 values, of an array of 30
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> be.gemm(false, false, 4, 5, 3, 1f, a, b, 0f, small));
        assertTrue(e.getMessage().contains("4x5x3"), e.getMessage());
    }

    private float[] random(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** {@code v} at {@code offset} of an array with NaN around it. */
    private static float[] padded(float[] v, int offset) {
        float[] p = new float[v.length + offset + 9];
        Arrays.fill(p, Float.NaN);
        System.arraycopy(v, 0, p, offset, v.length);
        return p;
    }
}
