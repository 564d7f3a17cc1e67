package dev.ringtape.gpukernels;

import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.BackendProvider;
import dev.ringtape.runtime.backend.Backends;

/**
 * The {@code cuda} backend as {@link java.util.ServiceLoader} finds it. It can run where {@link CudaProbe} finds a
 * driver and a device, the jar's kernels load on it and a short computation agrees with the CPU backend ({@link
 * SelfCheck}); otherwise it says which of these failed, and {@code backend: auto} trains on the CPU.
 *
 * <p>This path has not run on a GPU: no machine of this project has one. What is verified without a device is listed
 * in gpu-kernels/README.md; the self-check is what stands between an unverified device path and a user's run.
 */
public final class CudaProvider implements BackendProvider {
    private static volatile String checked;

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public int priority() {
        return 10;
    }

    @Override
    public String unavailableReason() {
        CudaProbe.State state = CudaProbe.state();
        if (!state.usable()) {
            return state.describe();
        }
        String c = checked;
        if (c == null) {
            synchronized (CudaProvider.class) {
                if (checked == null) {
                    checked = selfCheck(state);
                }
                c = checked;
            }
        }
        return c.isEmpty() ? null : c;
    }

    /** "" when device 0 loads the kernels and agrees with the CPU; otherwise why not, in one line. */
    private static String selfCheck(CudaProbe.State state) {
        try {
            String differs = SelfCheck.run(new CudaBackend(CudaDevice.of(0)));
            return differs == null ? "" : state.describe() + "; but its self-check against the CPU failed: " + differs;
        } catch (RuntimeException e) {
            return state.describe() + "; but the device path failed its self-check: " + e.getMessage();
        }
    }

    @Override
    public Backend open(String device) {
        int ordinal;
        try {
            ordinal = device == null ? 0 : Integer.parseInt(device.strip());
        } catch (NumberFormatException e) {
            throw new Backends.Unavailable("GPU address '" + device + "' is not a CUDA device ordinal");
        }
        int count = CudaProbe.state().devices().size();
        if (ordinal < 0 || ordinal >= count) {
            throw new Backends.Unavailable(
                    "GPU address " + device + " was assigned, but this machine's driver sees " + count + " device(s)");
        }
        return new CudaBackend(CudaDevice.of(ordinal));
    }
}
