package dev.ringtape.gpukernels;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Which of the jar's kernel images a device loads, in order of preference: the cubin built for its architecture
 * (sm_80 serves every 8.x GPU, sm_90 the 9.0 ones: machine code runs on later minor versions of its major), then the
 * PTX at ISA 8.0, which the driver compiles for any GPU from sm_80 on (the JIT path for newer ones, and the fallback
 * when a driver refuses a cubin from a newer toolkit).
 */
final class KernelImage {
    private KernelImage() {}

    /** The resource names under {@code /kernels/} to try for a device of compute capability {@code major.minor}. */
    static List<String> candidates(int major, int minor) {
        List<String> out = new ArrayList<>();
        if (major == 8) {
            out.add("sm_80.cubin");
        } else if (major == 9 && minor == 0) {
            out.add("sm_90.cubin");
        }
        if (major >= 8) {
            out.add("compute_80.ptx");
        }
        return out;
    }

    /** The bytes of an image (PTX with the NUL the driver expects at its end). */
    static byte[] load(String name) throws IOException {
        try (InputStream in = KernelImage.class.getResourceAsStream("/kernels/" + name)) {
            if (in == null) {
                throw new IOException("kernels/" + name + " is missing from the jar");
            }
            byte[] b = in.readAllBytes();
            if (name.endsWith(".ptx")) {
                byte[] z = new byte[b.length + 1];
                System.arraycopy(b, 0, z, 0, b.length);
                return z;
            }
            return b;
        }
    }
}
