package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.random.RandomGenerator;

/**
 * Weight initializers, with PyTorch's {@code torch.nn.init} formulas and defaults: {@code kaiming_*} use
 * {@code nonlinearity="leaky_relu", a=0} (gain sqrt 2) and {@code mode="fan_in"}; {@code xavier_*} gain 1.
 */
public sealed interface Init {
    void fill(Tensor t, int fanIn, int fanOut, RandomGenerator rng);

    /** U(-b, b) with b = sqrt(6 / fan_in). */
    record KaimingUniform() implements Init {
        @Override
        public void fill(Tensor t, int fanIn, int fanOut, RandomGenerator rng) {
            uniform(t, Math.sqrt(6.0 / fanIn), rng);
        }
    }

    /** N(0, 2 / fan_in). */
    record KaimingNormal() implements Init {
        @Override
        public void fill(Tensor t, int fanIn, int fanOut, RandomGenerator rng) {
            normal(t, Math.sqrt(2.0 / fanIn), rng);
        }
    }

    /** U(-b, b) with b = sqrt(6 / (fan_in + fan_out)). */
    record XavierUniform() implements Init {
        @Override
        public void fill(Tensor t, int fanIn, int fanOut, RandomGenerator rng) {
            uniform(t, Math.sqrt(6.0 / (fanIn + fanOut)), rng);
        }
    }

    /** N(0, 2 / (fan_in + fan_out)). */
    record XavierNormal() implements Init {
        @Override
        public void fill(Tensor t, int fanIn, int fanOut, RandomGenerator rng) {
            normal(t, Math.sqrt(2.0 / (fanIn + fanOut)), rng);
        }
    }

    /** N(0, std^2). */
    record Normal(double std) implements Init {
        @Override
        public void fill(Tensor t, int fanIn, int fanOut, RandomGenerator rng) {
            normal(t, std, rng);
        }
    }

    /** U(-a, a). */
    record Uniform(double a) implements Init {
        @Override
        public void fill(Tensor t, int fanIn, int fanOut, RandomGenerator rng) {
            uniform(t, a, rng);
        }
    }

    /** A constant (zeros, or a bias value). */
    record Constant(float value) implements Init {
        @Override
        public void fill(Tensor t, int fanIn, int fanOut, RandomGenerator rng) {
            t.fill(value);
        }
    }

    private static void uniform(Tensor t, double bound, RandomGenerator rng) {
        float[] d = new float[t.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) ((rng.nextDouble() * 2.0 - 1.0) * bound);
        }
        t.write(d, 0);
    }

    private static void normal(Tensor t, double std, RandomGenerator rng) {
        float[] d = new float[t.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) (rng.nextGaussian() * std);
        }
        t.write(d, 0);
    }
}
