package dev.ringtape.gpukernels;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;

/**
 * One GPU as the backend uses it: its primary context (made current on each thread that computes), the kernels
 * loaded from the jar (the image {@link KernelImage} prefers, else the next), and a cuBLAS handle. Shared by every
 * rank of this JVM on that device.
 */
final class CudaDevice {
    private static final Map<Integer, CudaDevice> OPEN = new ConcurrentHashMap<>();
    static final int THREADS = 256;
    private static final int MAX_BLOCKS = 4096;

    final int ordinal;
    final CUcontext context = new CUcontext();
    final cublasHandle blas = new cublasHandle();
    private final CUmodule module = new CUmodule();
    private final Map<String, CUfunction> functions = new ConcurrentHashMap<>();
    /** The image the kernels were loaded from, for logs. */
    final String image;

    private CudaDevice(int ordinal) {
        this.ordinal = ordinal;
        JCudaDriver.setExceptionsEnabled(true);
        JCublas2.setExceptionsEnabled(true);
        JCudaDriver.cuInit(0);
        CUdevice dev = new CUdevice();
        JCudaDriver.cuDeviceGet(dev, ordinal);
        JCudaDriver.cuDevicePrimaryCtxRetain(context, dev);
        JCudaDriver.cuCtxSetCurrent(context);
        int[] major = new int[1];
        int[] minor = new int[1];
        JCudaDriver.cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
        JCudaDriver.cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
        List<String> tried = new ArrayList<>();
        String loaded = null;
        for (String name : KernelImage.candidates(major[0], minor[0])) {
            try {
                JCudaDriver.cuModuleLoadData(module, KernelImage.load(name));
                loaded = name;
                break;
            } catch (CudaException | IOException e) {
                tried.add(name + ": " + e.getMessage());
            }
        }
        if (loaded == null) {
            throw new IllegalStateException("no kernel image loads on device " + ordinal + " (sm_" + major[0] + minor[0]
                    + ")" + (tried.isEmpty() ? ": Ringtape's kernels need sm_80 or newer" : ": " + tried));
        }
        this.image = loaded;
        JCublas2.cublasCreate(blas);
    }

    /** The device with this ordinal, opened on first use. */
    static CudaDevice of(int ordinal) {
        return OPEN.computeIfAbsent(ordinal, CudaDevice::new);
    }

    /** Makes this device's context current on the calling thread. */
    void bind() {
        JCudaDriver.cuCtxSetCurrent(context);
    }

    private CUfunction function(String name) {
        return functions.computeIfAbsent(name, n -> {
            CUfunction f = new CUfunction();
            JCudaDriver.cuModuleGetFunction(f, module, n);
            return f;
        });
    }

    /**
     * Launches {@code kernel} over {@code n} elements (grid-stride: at most {@value #MAX_BLOCKS} blocks of {@value
     * #THREADS}); {@code args} are the kernel's parameters, each a {@link Pointer} to its value.
     */
    void launch(String kernel, long n, Pointer... args) {
        launchBlocks(kernel, blocks(n), args);
    }

    static int blocks(long n) {
        return (int) Math.max(1, Math.min(MAX_BLOCKS, (n + THREADS - 1) / THREADS));
    }

    void launchBlocks(String kernel, int blocks, Pointer... args) {
        bind();
        JCudaDriver.cuLaunchKernel(function(kernel), blocks, 1, 1, THREADS, 1, 1, 0, null, Pointer.to(args), null);
    }

    /** Waits for every launch on this device (before the host reads what they wrote, which the copies also do). */
    void sync() {
        bind();
        JCudaDriver.cuCtxSynchronize();
    }
}
