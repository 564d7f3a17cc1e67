package dev.ringtape.runtime.tensor;

import java.util.Arrays;
import java.util.function.IntFunction;

/**
 * Storage reused from one step to the next: the op outputs and intermediate gradients of a step have the same sizes
 * every step, so once the tape is done with one (backward has passed every op that reads it) its array goes back
 * here and the next op of that size takes it, zero-filled, instead of a new one. The pool is the backend's
 * allocator: it makes new storage with the function it was given (host arrays by default). After the first step a training
 * step allocates (almost) nothing; without it each step allocated about 1 MB on the 784-256-256-10 MLP
 * (bench/RESULTS.md).
 *
 * <p>A pool belongs to one worker and is active on its thread only inside {@link #enter()}; outside any pool, new
 * outputs are plain new host arrays. Nothing outside the tape returns storage: see {@link
 * Tensor#recycle()}.
 */
public final class BufferPool {
    private static final ThreadLocal<BufferPool> CURRENT = new ThreadLocal<>();

    // free arrays per size; the sizes of one model are few, so a linear search beats hashing (and boxes nothing)
    private int[] sizes = new int[8];
    private Storage[][] free = new Storage[8][];
    private int[] count = new int[8];
    private int kinds;
    private long taken;
    private long reused;
    private final IntFunction<Storage> allocate;
    /** The arrays taken and not given back while a {@link #scratch} body runs; null outside one. */
    private java.util.Set<Storage> tracked;

    /** A pool of host arrays. */
    public BufferPool() {
        this(n -> new HostStorage(new float[n]));
    }

    /** A pool that makes new storage of {@code n} floats, zero-filled, with {@code allocate}. */
    public BufferPool(IntFunction<Storage> allocate) {
        this.allocate = allocate;
    }

    /** Makes this pool the current one on this thread until the scope closes. */
    public Scope enter() {
        BufferPool before = CURRENT.get();
        CURRENT.set(this);
        return () -> {
            if (before == null) {
                CURRENT.remove();
            } else {
                CURRENT.set(before);
            }
        };
    }

    /** The scope of {@link #enter()}. */
    @FunctionalInterface
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** The pool active on this thread, or null (outputs are then plain new arrays). */
    static BufferPool current() {
        return CURRENT.get();
    }

    /** Hands {@code storage} back to the current pool (no pool: left to the garbage collector). */
    static void give(Storage storage) {
        BufferPool p = CURRENT.get();
        if (p != null) {
            p.put(storage);
        }
    }

    /**
     * Runs {@code body}, a forward pass without a tape, and then hands back to the current pool every array it took
     * and did not give back, but its result's: nothing reads a no-tape pass's intermediates once it has returned
     * (no rule saved them), and without this they were garbage. Activation recompute's first pass over each segment
     * makes all of a segment's activations every step. Outside a pool, or inside another such body, just runs it.
     */
    public static Tensor scratch(java.util.function.Supplier<Tensor> body) {
        BufferPool p = CURRENT.get();
        if (p == null || p.tracked != null) {
            return body.get();
        }
        p.tracked = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        Tensor out;
        java.util.Set<Storage> taken;
        try {
            out = body.get();
        } finally {
            taken = p.tracked;
            p.tracked = null;
        }
        taken.remove(out.storage());
        for (Storage b : taken) {
            p.put(b);
        }
        return out;
    }

    /** Zero-filled storage of {@code n} floats, reused if one of that size came back. */
    Storage take(int n) {
        return take(n, true);
    }

    /** Storage of {@code n} floats, reused if one of that size came back: zero-filled if {@code zero}. */
    Storage take(int n, boolean zero) {
        taken++;
        int k = kind(n);
        Storage b;
        if (k < 0 || count[k] == 0) {
            b = allocate.apply(n);
        } else {
            reused++;
            b = free[k][--count[k]];
            free[k][count[k]] = null;
            if (zero) {
                b.fill(0, n, 0f);
            }
        }
        if (tracked != null) {
            tracked.add(b);
        }
        return b;
    }

    private void put(Storage b) {
        if (tracked != null) {
            tracked.remove(b);
        }
        int k = kind(b.length());
        if (k < 0) {
            if (kinds == sizes.length) {
                sizes = Arrays.copyOf(sizes, kinds * 2);
                free = Arrays.copyOf(free, kinds * 2);
                count = Arrays.copyOf(count, kinds * 2);
            }
            k = kinds++;
            sizes[k] = b.length();
            free[k] = new Storage[4];
        }
        if (count[k] == free[k].length) {
            free[k] = Arrays.copyOf(free[k], count[k] * 2);
        }
        free[k][count[k]++] = b;
    }

    private int kind(int n) {
        for (int k = 0; k < kinds; k++) {
            if (sizes[k] == n) {
                return k;
            }
        }
        return -1;
    }

    /** Arrays asked for, and how many of them came from the pool, since it was made: for tests and benchmarks. */
    public long[] takenAndReused() {
        return new long[] {taken, reused};
    }
}
