package dev.ringtape.gpukernels;

import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.BackendProvider;

/**
 * The {@code cuda} backend as {@link java.util.ServiceLoader} finds it. It can run where {@link CudaProbe} finds a
 * driver and a device and this build has the device path: the kernels are built into the jar and their arithmetic is
 * tested on the host, but the backend that runs a training step on the device (tensors in device memory, cuBLAS,
 * launches of these kernels) is not part of this build yet, so on a machine with a GPU this says so instead of
 * failing in the middle of a step. {@code backend: auto} then trains on the CPU and says why in one line.
 */
public final class CudaProvider implements BackendProvider {
    /** Whether this build has the device training path (see the class comment). */
    static final boolean DEVICE_PATH = false;

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
        if (!DEVICE_PATH) {
            return state.describe() + "; but this build's CUDA backend has no device training path yet (its kernels"
                    + " are built and host-tested only)";
        }
        return null;
    }

    @Override
    public Backend open(String device) {
        throw new IllegalStateException("cuda cannot run here: " + unavailableReason());
    }
}
