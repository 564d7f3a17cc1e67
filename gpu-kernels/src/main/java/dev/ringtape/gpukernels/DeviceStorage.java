package dev.ringtape.gpukernels;

import dev.ringtape.runtime.tensor.HostStorage;
import dev.ringtape.runtime.tensor.Storage;
import java.lang.ref.Cleaner;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * Floats in a GPU's memory. Freed when the storage is no longer reachable (a {@link Cleaner} makes the device's
 * context current on its own thread and frees the memory); tensors of one step come from the trainer's buffer pool,
 * so after the first step almost nothing is allocated or freed.
 */
final class DeviceStorage implements Storage {
    private static final Cleaner CLEANER = Cleaner.create();

    final CudaDevice device;
    final CUdeviceptr ptr;
    private final int length;

    DeviceStorage(CudaDevice device, int length) {
        this.device = device;
        this.length = length;
        this.ptr = new CUdeviceptr();
        device.bind();
        JCudaDriver.cuMemAlloc(ptr, Math.max(1, (long) length * Sizeof.FLOAT));
        JCudaDriver.cuMemsetD32(ptr, 0, length);
        CUdeviceptr p = ptr;
        CUcontext ctx = device.context;
        CLEANER.register(this, () -> {
            JCudaDriver.cuCtxSetCurrent(ctx);
            JCudaDriver.cuMemFree(p);
        });
    }

    /** The device address of element {@code offset}. */
    CUdeviceptr at(int offset) {
        return ptr.withByteOffset((long) offset * Sizeof.FLOAT);
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public void fill(int offset, int n, float value) {
        device.bind();
        JCudaDriver.cuMemsetD32(at(offset), Float.floatToRawIntBits(value), n);
    }

    @Override
    public void copyTo(int offset, Storage dst, int dstOffset, int n) {
        device.bind();
        if (dst instanceof DeviceStorage d) {
            JCudaDriver.cuMemcpyDtoD(d.at(dstOffset), at(offset), (long) n * Sizeof.FLOAT);
        } else if (dst instanceof HostStorage h) {
            read(offset, h.array(), dstOffset, n);
        } else {
            throw new IllegalArgumentException(
                    "copy from device memory into " + dst.getClass().getSimpleName());
        }
    }

    @Override
    public void read(int offset, float[] dst, int at, int n) {
        device.bind();
        JCudaDriver.cuMemcpyDtoH(
                Pointer.to(dst).withByteOffset((long) at * Sizeof.FLOAT), at(offset), (long) n * Sizeof.FLOAT);
    }

    @Override
    public void write(float[] src, int at, int offset, int n) {
        device.bind();
        JCudaDriver.cuMemcpyHtoD(
                at(offset), Pointer.to(src).withByteOffset((long) at * Sizeof.FLOAT), (long) n * Sizeof.FLOAT);
    }
}
