package dev.ringtape.gpukernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.ringtape.runtime.backend.Backends;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Choosing the backend on a machine without a GPU (every machine of this project): {@code cuda} is one error that
 * names CUDA and what is missing, {@code auto} trains on the CPU and says why in one line, and probing twice gives
 * the same answer (JCuda's driver class cannot be touched again after its first failed load).
 */
class CudaSelectionTest {
    @Test
    void shouldRefuseCudaWithWhatIsMissingAndFallBackOnAuto() {
        CudaProbe.State state = CudaProbe.state();
        assumeFalse(state.usable(), "this machine has a CUDA device");
        assertSame(state, CudaProbe.state(), "probed once");
        assertFalse(state.describe().contains("\n"), state.describe());

        Backends.Unavailable e = assertThrows(Backends.Unavailable.class, () -> Backends.select("cuda", null));
        assertTrue(e.getMessage().startsWith("backend cuda cannot run here: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().contains(state.describe()), e.getMessage());

        Backends.Selection auto = Backends.select("auto", "3");
        assertEquals("cpu", auto.backend().name());
        assertTrue(auto.fellBack());
        assertTrue(auto.why().startsWith("auto: cuda not available ("), auto.why());
        assertTrue(auto.why().endsWith("; training on the CPU"), auto.why());
        // a second selection, after the probe's failed load, is the same answer and no NoClassDefFoundError
        assertEquals(auto.why(), Backends.select("auto", null).why());
        assertEquals("cpu", Backends.select("cpu", null).why());
    }

    @Test
    void shouldNameTheMissingDriverLibraryInOneLine() {
        CudaProbe.State state = CudaProbe.state();
        assumeFalse(state.usable() || state.driverVersion() != 0, "this machine has a CUDA driver");
        assertTrue(state.describe().startsWith("no CUDA driver: libcuda.so.1"), state.describe());
        assertEquals(List.of(), state.devices());
    }

    @Test
    void shouldPickTheLinkerLineOutOfJCudasLoadReport() {
        String report = "Error while loading native library \"JCudaDriver-12.6.0-linux-x86_64\"\n"
                + "Operating system name: Linux\n"
                + "Stack trace from the attempt to load the library as a resource:\n"
                + "java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver-12.6.0-linux-x86_64.so: libcuda.so.1: cannot"
                + " open shared object file: No such file or directory\n"
                + "\tat java.base/jdk.internal.loader.NativeLibraries.load(Native Method)\n";
        assertEquals(
                "libcuda.so.1: cannot open shared object file",
                CudaProbe.missingLibrary(new UnsatisfiedLinkError(report)));
        assertEquals("short", CudaProbe.missingLibrary(new UnsatisfiedLinkError("short")));
    }

    @Test
    void shouldDescribeADriverAndItsDevices() {
        CudaProbe.State s = new CudaProbe.State(
                12040, List.of(new CudaProbe.Device(0, "NVIDIA A100-SXM4-80GB", 85_899_345_920L, 8, 0)), null);
        assertEquals("CUDA driver 12.4, 1 device(s): 0: NVIDIA A100-SXM4-80GB (sm_80, 80.0 GiB)", s.describe());
        assertEquals(
                "CUDA driver 12.2, no device: no CUDA device",
                new CudaProbe.State(12020, List.of(), "no CUDA device").describe());
    }
}
