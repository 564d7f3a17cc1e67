package dev.ringtape.runtime.train;

import dev.ringtape.runtime.tensor.Loops;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.List;

/**
 * The step's gradients on their way through the reducer: every parameter's gradient has a range of one float arena,
 * in parameter order, and the arena is summed in buckets of whole parameters in reverse order (DDP's), each handed
 * to the reducer as soon as the last micro-batch's backward has finished all of its parameters; packing a bucket
 * also adds its local sum of squares, which tells whether any local gradient is non-finite. A worker that is alone
 * (world size 1) has nothing to sum: its gradients stay where backward put them, with no arena and no copies in
 * and out (2 MB a step on the 784-256-256-10 MLP).
 */
final class GradientBuckets {
    private final List<Tensor> params;
    private final GradientReducer reducer;
    private final Loops loops = Loops.get();
    /** Null when alone. */
    private final float[] arena;

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

    /** Starts the buckets backward did not (parameters the loss does not reach) and waits for every sum. */
    void finish() {
        for (int b = 0; b < buckets.length; b++) {
            if (!started[b]) {
                start(b);
            }
        }
        reducer.finishSums();
    }

    /** Packs bucket {@code b}'s gradients into the arena (adding to the local sum of squares) and starts its sum. */
    private void start(int b) {
        started[b] = true;
        double sq = 0;
        for (int i = buckets[b][0]; i <= buckets[b][1]; i++) {
            if (arena == null) {
                Tensor g = params.get(i).gradBuffer();
                sq += loops.squares(g.data(), 0, g.size());
                continue;
            }
            Tensor g = params.get(i).grad();
            if (g == null) {
                java.util.Arrays.fill(arena, offsets[i], offsets[i + 1], 0f);
                continue;
            }
            System.arraycopy(g.data(), 0, arena, offsets[i], g.size());
            sq += loops.squares(arena, offsets[i], offsets[i + 1]);
        }
        localSquares += sq;
        if (arena != null) {
            int from = offsets[buckets[b][0]];
            reducer.startSum(arena, from, offsets[buckets[b][1] + 1] - from);
        }
    }

    /** This rank's own sum of squared gradients (not finite exactly when some local gradient is not). */
    double localSquares() {
        return localSquares;
    }

    /**
     * The summed gradients of parameter {@code i}: {@code array(i)[from(i), to(i))} (the arena's range, or when alone
     * the parameter's own gradient).
     */
    float[] array(int i) {
        return arena == null ? params.get(i).gradBuffer().data() : arena;
    }

    int from(int i) {
        return arena == null ? 0 : offsets[i];
    }

    int to(int i) {
        return arena == null ? params.get(i).size() : offsets[i + 1];
    }

    /** Whether the summed gradients are the parameters' own (alone: nothing was copied out). */
    boolean inPlace() {
        return arena == null;
    }

    /** The bytes summed over the workers each step. */
    long bytes() {
        return 4L * offsets[params.size()];
    }

    /** Copies the summed gradients back into the parameters' gradient tensors (nothing to do when alone). */
    void unpack() {
        if (arena == null) {
            for (Tensor p : params) {
                p.gradBuffer().markModified();
            }
            return;
        }
        for (int i = 0; i < params.size(); i++) {
            Tensor g = params.get(i).gradBuffer();
            System.arraycopy(arena, offsets[i], g.data(), 0, g.size());
            g.markModified();
        }
    }
}
