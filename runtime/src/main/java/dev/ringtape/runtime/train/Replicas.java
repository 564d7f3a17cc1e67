package dev.ringtape.runtime.train;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;

/**
 * Keeps data-parallel replicas identical: every rank starts from rank 0's parameters, and a cheap periodic check
 * (two scalar collectives) stops the job with a clear error if their parameters ever drift apart, which would
 * otherwise train N different models silently. Both are collectives: every rank calls them at the same steps.
 */
final class Replicas {
    private Replicas() {}

    /** Replaces every rank's parameters by rank 0's: one sum over the ring, the other ranks contributing zeros. */
    static void broadcastFromRankZero(List<Tensor> params, GradientReducer reducer) {
        if (reducer.worldSize() == 1) {
            return;
        }
        int total = params.stream().mapToInt(Tensor::size).sum();
        float[] arena = new float[total];
        int at = 0;
        for (Tensor p : params) {
            if (reducer.rank() == 0) {
                p.read(arena, at);
            }
            at += p.size();
        }
        reducer.sum(arena, 0, total);
        at = 0;
        for (Tensor p : params) {
            p.write(arena, at);
            at += p.size();
        }
    }

    /**
     * Throws on every rank alike when some rank's parameters differ from the others' (bit for bit, by a 31-bit
     * hash: sums of up to 2^21 such hashes are exact in a double).
     */
    static void checkInSync(List<Tensor> params, GradientReducer reducer, long step) {
        if (reducer.worldSize() == 1) {
            return;
        }
        int h = 1;
        for (Tensor p : params) {
            float[] d = p.toArray(); // every few hundred steps
            for (int i = 0; i < d.length; i++) {
                h = 31 * h + Float.floatToRawIntBits(d[i]);
            }
        }
        double own = h & 0x7fffffff;
        double[] sum = {own};
        reducer.sumScalars(sum);
        double[] differs = {sum[0] == own * reducer.worldSize() ? 0 : 1};
        reducer.sumScalars(differs);
        if (differs[0] > 0) {
            throw new IllegalStateException("the ranks' parameters drifted apart by step " + step + " ("
                    + (int) differs[0] + " of " + reducer.worldSize()
                    + " ranks hold different values); data-parallel replicas must stay identical");
        }
    }
}
