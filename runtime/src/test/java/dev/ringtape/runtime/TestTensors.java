package dev.ringtape.runtime;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.SplittableRandom;

/** Seeded tensors for tests. */
public final class TestTensors {
    private TestTensors() {}

    /** Standard normal values, scaled. */
    public static Tensor randn(long seed, float scale, int... shape) {
        Tensor t = Tensor.zeros(shape);
        SplittableRandom r = new SplittableRandom(seed);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) (r.nextGaussian() * scale);
        }
        return t;
    }

    /** Normal values pushed at least {@code gap} away from zero: for ops with a kink at 0. */
    public static Tensor awayFromZero(long seed, float gap, int... shape) {
        Tensor t = randn(seed, 1f, shape);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] += Math.copySign(gap, d[i]);
        }
        return t;
    }

    /** A permutation of well-separated values: no ties, so max-pool is differentiable at every point. */
    public static Tensor distinct(long seed, float spacing, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] d = t.data();
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < d.length; i++) {
            d[i] = (i - d.length / 2f) * spacing;
        }
        for (int i = d.length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            float tmp = d[i];
            d[i] = d[j];
            d[j] = tmp;
        }
        return t;
    }
}
