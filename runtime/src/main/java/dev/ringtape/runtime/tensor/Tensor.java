package dev.ringtape.runtime.tensor;

import java.util.Arrays;

/**
 * A dense float32 tensor, row-major, with the bookkeeping reverse-mode differentiation needs.
 *
 * <p>A tensor is either a <em>leaf</em> (a parameter, an input) whose gradient accumulates into {@link #grad()},
 * or the output of an op recorded on a {@link dev.ringtape.runtime.autograd.Tape}. Views made by {@link
 * #reshape(int...)} share storage and the version counter with their base, so an in-place write through either is
 * seen by the tape's saved-tensor checks.
 */
public final class Tensor {
    private final int[] shape;
    private final float[] data;
    private final int[] version;
    private final boolean leaf;
    /** Storage from the current {@link BufferPool}, which {@link #recycle()} may hand back. */
    private final boolean pooled;

    private boolean recycled;
    private boolean requiresGrad;
    private Tensor grad;
    private String name;

    private Tensor(int[] shape, float[] data, int[] version, boolean leaf) {
        this(shape, data, version, leaf, false);
    }

    private Tensor(int[] shape, float[] data, int[] version, boolean leaf, boolean pooled) {
        this.shape = shape;
        this.data = data;
        this.version = version;
        this.leaf = leaf;
        this.pooled = pooled;
    }

    /** A new zero-filled leaf tensor. */
    public static Tensor zeros(int... shape) {
        int[] s = shape.clone();
        return new Tensor(s, new float[Shapes.size(s)], new int[1], true);
    }

    /** A leaf tensor that takes ownership of {@code data}. */
    public static Tensor of(float[] data, int... shape) {
        int[] s = shape.clone();
        if (Shapes.size(s) != data.length) {
            throw new IllegalArgumentException(
                    "shape " + Arrays.toString(s) + " needs " + Shapes.size(s) + " values, got " + data.length);
        }
        return new Tensor(s, data, new int[1], true);
    }

    /** A scalar leaf. */
    public static Tensor scalar(float value) {
        return new Tensor(new int[0], new float[] {value}, new int[1], true);
    }

    /**
     * A zero-filled tensor produced by an op (not a leaf): used by ops for their outputs, and by the tape for
     * intermediate gradients. Inside a {@link BufferPool}'s scope its storage comes from the pool.
     */
    public static Tensor output(int... shape) {
        int[] s = shape.clone();
        BufferPool pool = BufferPool.current();
        int n = Shapes.size(s);
        return new Tensor(s, pool == null ? new float[n] : pool.take(n), new int[1], false, pool != null);
    }

    /**
     * Hands this tensor's storage back to the current {@link BufferPool} for the next tensor of its size, when it
     * came from one; the tape calls it once backward has passed every op that reads the tensor. The tensor must not
     * be read again: its {@link #data()} fails from now on. Views and tensors not made by {@link #output} are left
     * alone.
     */
    public void recycle() {
        if (pooled && !recycled) {
            recycled = true;
            BufferPool.give(data);
        }
    }

    /** A view with another shape of the same storage; it is an op output, not a leaf. */
    public Tensor reshape(int... newShape) {
        int[] s = newShape.clone();
        if (Shapes.size(s) != data.length) {
            throw new IllegalArgumentException(
                    "cannot reshape " + Arrays.toString(shape) + " to " + Arrays.toString(s));
        }
        return new Tensor(s, data, version, false);
    }

    /** A leaf sharing this tensor's storage and version counter, cut off from the tape (requires no grad). */
    public Tensor detach() {
        return new Tensor(shape.clone(), data, version, true);
    }

    /** A detached deep copy (a leaf that does not require grad). */
    public Tensor copy() {
        return new Tensor(shape.clone(), data.clone(), new int[1], true);
    }

    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int axis) {
        return shape[axis < 0 ? shape.length + axis : axis];
    }

    public int size() {
        return data.length;
    }

    /**
     * The backing storage. Kernels read and write it directly; whoever writes into a tensor that may have been saved
     * for backward must call {@link #markModified()}.
     */
    public float[] data() {
        if (recycled) {
            throw new IllegalStateException(this + ": its storage went back to the buffer pool after backward");
        }
        return data;
    }

    public float item() {
        if (data.length != 1) {
            throw new IllegalStateException("item() needs a one-element tensor, got shape " + Arrays.toString(shape));
        }
        return data()[0];
    }

    /** The number of in-place writes so far; the tape compares it with the value seen when the tensor was saved. */
    public int version() {
        return version[0];
    }

    /** Records an in-place write, invalidating any earlier save of this storage for backward. */
    public void markModified() {
        version[0]++;
    }

    public boolean isLeaf() {
        return leaf;
    }

    public boolean requiresGrad() {
        return requiresGrad;
    }

    public Tensor requiresGrad(boolean value) {
        this.requiresGrad = value;
        return this;
    }

    /** The accumulated gradient of a leaf, or null before the first backward pass that reached it. */
    public Tensor grad() {
        return grad;
    }

    /** The gradient buffer of this leaf, allocated zero-filled on first use. */
    public Tensor gradBuffer() {
        if (grad == null) {
            grad = zeros(shape);
        }
        return grad;
    }

    public void zeroGrad() {
        if (grad != null) {
            Arrays.fill(grad.data, 0f);
        }
    }

    public String name() {
        return name;
    }

    public Tensor named(String value) {
        this.name = value;
        return this;
    }

    /** Copies {@code src} into this tensor (same size) and records the write. */
    public void copyFrom(Tensor src) {
        if (src.data.length != data.length) {
            throw new IllegalArgumentException(
                    "copy of " + Arrays.toString(src.shape) + " into " + Arrays.toString(shape));
        }
        System.arraycopy(src.data, 0, data, 0, data.length);
        markModified();
    }

    /** Adds {@code src} elementwise into this tensor and records the write. */
    public void addInPlace(Tensor src) {
        if (src.data.length != data.length) {
            throw new IllegalArgumentException(
                    "add of " + Arrays.toString(src.shape) + " into " + Arrays.toString(shape));
        }
        float[] s = src.data;
        for (int i = 0; i < data.length; i++) {
            data[i] += s[i];
        }
        markModified();
    }

    public void fill(float value) {
        Arrays.fill(data, value);
        markModified();
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + (name == null ? "" : " " + name);
    }
}
