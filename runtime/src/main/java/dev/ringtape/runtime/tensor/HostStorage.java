package dev.ringtape.runtime.tensor;

import java.util.Arrays;

/** Storage in a Java array: the CPU backend's. */
public final class HostStorage implements Storage {
    private final float[] array;

    public HostStorage(float[] array) {
        this.array = array;
    }

    /** The backing array, which CPU kernels index directly (offset by the tensor's {@link Tensor#offset()}). */
    public float[] array() {
        return array;
    }

    @Override
    public int length() {
        return array.length;
    }

    @Override
    public void fill(int offset, int n, float value) {
        Arrays.fill(array, offset, offset + n, value);
    }

    @Override
    public void copyTo(int offset, Storage dst, int dstOffset, int n) {
        if (!(dst instanceof HostStorage h)) {
            throw new IllegalArgumentException("copy from host storage into "
                    + dst.getClass().getSimpleName() + ": move values between backends with read/write");
        }
        System.arraycopy(array, offset, h.array, dstOffset, n);
    }

    @Override
    public void read(int offset, float[] dst, int at, int n) {
        System.arraycopy(array, offset, dst, at, n);
    }

    @Override
    public void write(float[] src, int at, int offset, int n) {
        System.arraycopy(src, at, array, offset, n);
    }
}
