package dev.ringtape.runtime.tensor;

import java.util.Arrays;
import java.util.function.IntFunction;

/**
 * A dense float32 tensor, row-major: a shape over {@code [offset, offset + size)} of a {@link Storage} the backend
 * owns, with the bookkeeping reverse-mode differentiation needs.
 *
 * <p>A tensor is either a <em>leaf</em> (a parameter, an input) whose gradient accumulates into {@link #grad()},
 * or the output of an op recorded on a {@link dev.ringtape.runtime.autograd.Tape}. Views made by {@link
 * #reshape(int...)} share storage and the version counter with their base, so an in-place write through either is
 * seen by the tape's saved-tensor checks. A leaf's gradient may be a view into a larger storage ({@link
 * #useGradient}): the trainer keeps every parameter gradient in the all-reduce arena that way.
 */
public final class Tensor {
    /** Where new tensors' storage comes from on this thread: the backend in use, host arrays by default. */
    private static final ThreadLocal<IntFunction<Storage>> ALLOCATOR = new ThreadLocal<>();

    private final int[] shape;
    private final int size;
    private final Storage storage;
    private final int offset;
    private final int[] version;
    private final boolean leaf;
    /** Storage from the current {@link BufferPool}, which {@link #recycle()} may hand back. */
    private final boolean pooled;

    private boolean recycled;
    private boolean requiresGrad;
    private Tensor grad;
    private String name;

    private Tensor(int[] shape, Storage storage, int offset, int[] version, boolean leaf, boolean pooled) {
        this.shape = shape;
        this.size = Shapes.size(shape);
        this.storage = storage;
        this.offset = offset;
        this.version = version;
        this.leaf = leaf;
        this.pooled = pooled;
    }

    /**
     * A new zero-filled leaf tensor (parameters, gradients, optimizer state), in the memory of the backend in use on
     * this thread ({@link #allocateWith}), host memory by default.
     */
    public static Tensor zeros(int... shape) {
        int[] s = shape.clone();
        return new Tensor(s, zeroed(Shapes.size(s)), 0, new int[1], true, false);
    }

    /** New zero-filled storage of {@code n} floats from this thread's allocator (host arrays by default). */
    private static Storage zeroed(int n) {
        IntFunction<Storage> a = ALLOCATOR.get();
        return a == null ? new HostStorage(new float[n]) : a.apply(n);
    }

    /**
     * Makes new tensors on this thread take zero-filled storage from {@code allocate} (a backend's) until the scope
     * closes; {@link #of} and {@link #scalar} stay host values (data read from files, constants).
     */
    public static BufferPool.Scope allocateWith(IntFunction<Storage> allocate) {
        IntFunction<Storage> before = ALLOCATOR.get();
        ALLOCATOR.set(allocate);
        return () -> {
            if (before == null) {
                ALLOCATOR.remove();
            } else {
                ALLOCATOR.set(before);
            }
        };
    }

    /** A host leaf tensor that takes ownership of {@code data}. */
    public static Tensor of(float[] data, int... shape) {
        int[] s = shape.clone();
        if (Shapes.size(s) != data.length) {
            throw new IllegalArgumentException(
                    "shape " + Arrays.toString(s) + " needs " + Shapes.size(s) + " values, got " + data.length);
        }
        return new Tensor(s, new HostStorage(data), 0, new int[1], true, false);
    }

    /** A scalar host leaf. */
    public static Tensor scalar(float value) {
        return of(new float[] {value});
    }

    /** A leaf over {@code storage[offset, offset + size)}, with a version counter of its own. */
    public static Tensor view(Storage storage, int offset, int... shape) {
        int[] s = shape.clone();
        if (offset < 0 || offset + Shapes.size(s) > storage.length()) {
            throw new IllegalArgumentException("a view of " + Arrays.toString(s) + " at " + offset
                    + " does not fit a storage of " + storage.length());
        }
        return new Tensor(s, storage, offset, new int[1], true, false);
    }

    /**
     * A zero-filled tensor produced by an op (not a leaf): used by ops for their outputs, and by the tape for
     * intermediate gradients. Inside a {@link BufferPool}'s scope its storage comes from the pool.
     */
    public static Tensor output(int... shape) {
        return output(true, shape);
    }

    /**
     * An op's output every element of which its kernel writes before anything reads it (a product with beta 0, an
     * activation, a copy): as {@link #output}, but storage reused from the pool keeps what it held instead of being
     * zero-filled first (a pass over memory saved per op). Never for a tensor a kernel accumulates into.
     */
    public static Tensor overwritten(int... shape) {
        return output(false, shape);
    }

    private static Tensor output(boolean zero, int[] shape) {
        int[] s = shape.clone();
        BufferPool pool = BufferPool.current();
        int n = Shapes.size(s);
        Storage st = pool != null ? pool.take(n, zero) : zeroed(n);
        return new Tensor(s, st, 0, new int[1], false, pool != null);
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
            BufferPool.give(storage);
        }
    }

    /**
     * This tensor's storage under {@code newShape}, handed over: the result owns it (its {@link #recycle()} gives it
     * back to the pool) and this tensor may not be used any more. Null, and nothing changes, unless this tensor is
     * pooled and owns all of its storage. The tape adopts a gradient passed on unchanged this way instead of copying it.
     */
    public Tensor handOver(int... newShape) {
        live();
        int[] s = newShape.clone();
        if (Shapes.size(s) != size) {
            throw new IllegalArgumentException(
                    "cannot hand " + Arrays.toString(shape) + " over as " + Arrays.toString(s));
        }
        if (!pooled || offset != 0 || size != storage.length()) {
            return null;
        }
        recycled = true;
        return new Tensor(s, storage, 0, new int[1], false, true);
    }

    /** A view with another shape of the same storage; it is an op output, not a leaf. */
    public Tensor reshape(int... newShape) {
        int[] s = newShape.clone();
        if (Shapes.size(s) != size) {
            throw new IllegalArgumentException(
                    "cannot reshape " + Arrays.toString(shape) + " to " + Arrays.toString(s));
        }
        return new Tensor(s, storage, offset, version, false, false);
    }

    /** A leaf sharing this tensor's storage and version counter, cut off from the tape (requires no grad). */
    public Tensor detach() {
        return new Tensor(shape.clone(), storage, offset, version, true, false);
    }

    /** A detached deep copy in host memory (a leaf that does not require grad). */
    public Tensor copy() {
        return of(toArray(), shape);
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
        return size;
    }

    /** The storage this tensor is a view of. */
    public Storage storage() {
        live();
        return storage;
    }

    /** Where this tensor starts in its {@link #storage()}. */
    public int offset() {
        return offset;
    }

    /**
     * The host array of a tensor that spans its whole storage, which CPU kernels read and write directly; whoever
     * writes into a tensor that may have been saved for backward must call {@link #markModified()}. Kernels that
     * take views at an offset (the gradient kernels) use {@link #storage()} and {@link #offset()} instead; this
     * refuses such views, so a kernel that would index them from 0 fails instead of reading the wrong values.
     */
    public float[] data() {
        live();
        if (!(storage instanceof HostStorage h)) {
            throw new IllegalStateException(this + " lives in "
                    + storage.getClass().getSimpleName() + ", not in host memory; read it with toArray()");
        }
        float[] a = h.array();
        if (offset != 0 || size != a.length) {
            throw new IllegalStateException(this + " is a view at offset " + offset + " of " + a.length
                    + " floats; this kernel needs a tensor of its own storage");
        }
        return a;
    }

    /** The values, copied to a new host array. */
    public float[] toArray() {
        float[] out = new float[size];
        storage().read(offset, out, 0, size);
        return out;
    }

    /** Copies the values to the host array {@code dst} at {@code at}. */
    public void read(float[] dst, int at) {
        storage().read(offset, dst, at, size);
    }

    /** Copies {@code src[at, at + size)} in from the host and records the write. */
    public void write(float[] src, int at) {
        storage().write(src, at, offset, size);
        markModified();
    }

    public float item() {
        if (size != 1) {
            throw new IllegalStateException("item() needs a one-element tensor, got shape " + Arrays.toString(shape));
        }
        if (storage instanceof HostStorage h) {
            live();
            return h.array()[offset];
        }
        return toArray()[0];
    }

    /** Sets a one-element tensor (a loss an op computed) and records the write. */
    public void set(float value) {
        if (size != 1) {
            throw new IllegalStateException("set() needs a one-element tensor, got shape " + Arrays.toString(shape));
        }
        storage().fill(offset, 1, value);
        markModified();
    }

    private void live() {
        if (recycled) {
            throw new IllegalStateException(this + ": its storage went back to the buffer pool after backward");
        }
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

    /**
     * Makes {@code view} (same shape) this leaf's gradient from now on, carrying over what the old one held: backward
     * then accumulates straight into it (the trainer's all-reduce arena).
     */
    public void useGradient(Tensor view) {
        if (!Arrays.equals(view.shape, shape)) {
            throw new IllegalArgumentException(
                    "a gradient of " + Arrays.toString(view.shape) + " for " + Arrays.toString(shape));
        }
        if (grad != null) {
            grad.storage().copyTo(grad.offset, view.storage(), view.offset, size);
        } else {
            view.storage().fill(view.offset, size, 0f);
        }
        grad = view;
    }

    public void zeroGrad() {
        if (grad != null) {
            grad.fill(0f);
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
        if (src.size != size) {
            throw new IllegalArgumentException(
                    "copy of " + Arrays.toString(src.shape) + " into " + Arrays.toString(shape));
        }
        src.storage().copyTo(src.offset, storage(), offset, size);
        markModified();
    }

    public void fill(float value) {
        storage().fill(offset, size, value);
        markModified();
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + (name == null ? "" : " " + name);
    }
}
