package dev.ringtape.runtime.tensor;

/**
 * The memory behind tensors, owned by a backend: host arrays for the CPU ({@link HostStorage}), device memory for
 * an accelerator. A {@link Tensor} is a shape over {@code [offset, offset + size)} of one storage, so several tensors
 * can be views of one storage (a reshape, or every parameter gradient in the all-reduce arena). The few operations
 * here are those every layer needs whatever the backend: filling, copying, and moving values to and from the host
 * (checkpoints, telemetry, the ring). Arithmetic is the backend's ({@link dev.ringtape.runtime.backend.Backend}).
 */
public interface Storage {
    /** The number of floats. */
    int length();

    /** Sets {@code [offset, offset + n)} to {@code value}. */
    void fill(int offset, int n, float value);

    /** Copies {@code [offset, offset + n)} to {@code dst[dstOffset, dstOffset + n)}, a storage of the same kind. */
    void copyTo(int offset, Storage dst, int dstOffset, int n);

    /** Copies {@code [offset, offset + n)} to the host array {@code dst} at {@code at}. */
    void read(int offset, float[] dst, int at, int n);

    /** Copies {@code src[at, at + n)} from the host into {@code [offset, offset + n)}. */
    void write(float[] src, int at, int offset, int n);
}
