package dev.ringtape.runtime.train;

import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.tensor.HostStorage;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.List;

/**
 * The step's gradients on their way through the reducer. Among workers, every parameter's gradient is a view of one
 * float arena, in parameter order ({@link Tensor#useGradient}): backward accumulates straight into it and the ring
 * sums it in place, with no copies in or out. The arena is summed in buckets of whole parameters in reverse order
 * (DDP's), each handed to the reducer as soon as the last micro-batch's backward has finished all of its parameters;
 * starting a bucket also adds its local sum of squares, which tells whether any local gradient is non-finite. A
 * worker that is alone (world size 1) has nothing to sum, no arena, and no pass of its own over the gradients.
 * Gradients in device memory are copied into the (host) arena as their bucket starts and back once every sum is
 * done: the ring sums host memory.
 */
final class GradientBuckets {
    private final List<Tensor> params;
    private final GradientReducer reducer;
    private final Backend backend = Backends.current();
    /** Null when alone. */
    private final float[] arena;
    /** Whether the gradients are views of the arena (host memory) rather than copied in and out (device memory). */
    private final boolean views;

    private final int[] offsets;
    /** Buckets as ranges of parameter indices {@code [first, last]}, in the order backward finishes them. */
    private final int[][] buckets;

    private final int[] bucketOf;
    private final IdentityHashMap<Tensor, Integer> indexOf = new IdentityHashMap<>();
    private final int[] pending;
    private final boolean[] started;
    private double localSquares;

    GradientBuckets(List<Tensor> params, long bucketBytes, GradientReducer reducer) {
        this.params = params;
        this.reducer = reducer;
        this.offsets = new int[params.size() + 1];
        for (int i = 0; i < params.size(); i++) {
            offsets[i + 1] = offsets[i] + params.get(i).size();
        }
        this.arena = reducer.worldSize() == 1 ? null : new float[offsets[params.size()]];
        this.views = arena != null && params.get(0).gradBuffer().storage() instanceof HostStorage;
        if (views) {
            HostStorage storage = new HostStorage(arena);
            for (int i = 0; i < params.size(); i++) {
                Tensor p = params.get(i);
                p.useGradient(Tensor.view(storage, offsets[i], p.shape()));
            }
        }
        this.buckets = plan(params, bucketBytes);
        this.bucketOf = new int[params.size()];
        for (int b = 0; b < buckets.length; b++) {
            for (int i = buckets[b][0]; i <= buckets[b][1]; i++) {
                bucketOf[i] = b;
            }
        }
        for (int i = 0; i < params.size(); i++) {
            indexOf.put(params.get(i), i);
        }
        this.pending = new int[buckets.length];
        this.started = new boolean[buckets.length];
    }

    /**
     * Buckets of whole parameters in reverse order (DDP's): backward finishes the last layers first. A bucket closes
     * once it holds {@code bucketBytes}; a larger parameter is a bucket alone.
     */
    static int[][] plan(List<Tensor> params, long bucketBytes) {
        List<int[]> out = new java.util.ArrayList<>();
        int last = params.size() - 1;
        long bytes = 0;
        for (int i = params.size() - 1; i >= 0; i--) {
            bytes += 4L * params.get(i).size();
            if (bytes >= bucketBytes || i == 0) {
                out.add(new int[] {i, last});
                last = i - 1;
                bytes = 0;
            }
        }
        return out.toArray(int[][]::new);
    }

    int[][] buckets() {
        return buckets;
    }

    /** Before a step's backward passes: no bucket started, no squares summed. */
    void begin() {
        for (int b = 0; b < buckets.length; b++) {
            pending[b] = buckets[b][1] - buckets[b][0] + 1;
            started[b] = false;
        }
        localSquares = 0;
    }

    /** The tape's callback as the last backward finishes a leaf: a bucket whose leaves are all done starts. */
    void onGradientReady(Tensor leaf) {
        Integer i = indexOf.get(leaf);
        if (i != null && --pending[bucketOf[i]] == 0) {
            start(bucketOf[i]);
        }
    }

    /**
     * Starts the buckets backward did not (parameters the loss does not reach) and waits for every sum; then the
     * gradients hold the sums.
     */
    void finish() {
        for (int b = 0; b < buckets.length; b++) {
            if (!started[b]) {
                start(b);
            }
        }
        reducer.finishSums();
        if (arena != null && !views) {
            for (int i = 0; i < params.size(); i++) {
                params.get(i).gradBuffer().write(arena, offsets[i]);
            }
        }
    }

    /** Adds bucket {@code b}'s local sum of squares and starts its sum over the workers. */
    private void start(int b) {
        started[b] = true;
        if (arena == null) {
            return; // alone: the step's unscale walk measures the gradients, which are then this rank's own
        }
        for (int i = buckets[b][0]; i <= buckets[b][1]; i++) {
            Tensor g = params.get(i).gradBuffer();
            localSquares += backend.squares(g);
            if (!views) {
                g.read(arena, offsets[i]);
            }
        }
        int from = offsets[buckets[b][0]];
        reducer.startSum(arena, from, offsets[buckets[b][1] + 1] - from);
    }

    /**
     * This rank's own sum of squared gradients (not finite exactly when some local gradient is not), measured as
     * buckets start; 0 for a worker alone, whose own gradients the step's unscale walk measures.
     */
    double localSquares() {
        return localSquares;
    }

    /** The bytes summed over the workers each step. */
    long bytes() {
        return 4L * offsets[params.size()];
    }

    /** After the sums: the gradients were written in place. */
    void summed() {
        for (Tensor p : params) {
            p.gradBuffer().markModified();
        }
    }
}
