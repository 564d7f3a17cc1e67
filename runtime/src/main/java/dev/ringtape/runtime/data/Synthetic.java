package dev.ringtape.runtime.data;

import java.util.SplittableRandom;

/** Seeded synthetic data: the same seed gives the same samples on every worker and run. */
public final class Synthetic {
    private Synthetic() {}

    /**
     * Gaussian inputs labelled by a random teacher network ({@code features -> 32 tanh -> classes}, argmax): a
     * learnable problem of any width.
     */
    public static Dataset teacher(int samples, int features, int classes, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int hidden = 32;
        double[] w1 = new double[hidden * features];
        double[] w2 = new double[classes * hidden];
        for (int i = 0; i < w1.length; i++) {
            w1[i] = r.nextGaussian() / Math.sqrt(features);
        }
        for (int i = 0; i < w2.length; i++) {
            w2[i] = r.nextGaussian() / Math.sqrt(hidden);
        }
        float[] x = new float[samples * features];
        float[] y = new float[samples];
        double[] h = new double[hidden];
        for (int s = 0; s < samples; s++) {
            for (int f = 0; f < features; f++) {
                x[s * features + f] = (float) r.nextGaussian();
            }
            for (int j = 0; j < hidden; j++) {
                double acc = 0;
                for (int f = 0; f < features; f++) {
                    acc += w1[j * features + f] * x[s * features + f];
                }
                h[j] = Math.tanh(2 * acc);
            }
            int best = 0;
            double bestValue = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                double acc = 0;
                for (int j = 0; j < hidden; j++) {
                    acc += w2[c * hidden + j] * h[j];
                }
                if (acc > bestValue) {
                    bestValue = acc;
                    best = c;
                }
            }
            y[s] = best;
        }
        return new Dataset(x, y, new int[] {features});
    }

    /** Interleaved 2-D spirals, one arm per class, with a little noise. */
    public static Dataset spirals(int samples, int classes, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[samples * 2];
        float[] y = new float[samples];
        for (int s = 0; s < samples; s++) {
            int c = s % classes;
            double t = r.nextDouble();
            double angle = t * 4 * Math.PI + 2 * Math.PI * c / classes;
            double radius = 0.1 + t;
            x[2 * s] = (float) (radius * Math.cos(angle) + r.nextGaussian() * 0.02);
            x[2 * s + 1] = (float) (radius * Math.sin(angle) + r.nextGaussian() * 0.02);
            y[s] = c;
        }
        return new Dataset(x, y, new int[] {2});
    }
    /**
     * Sequence reversal for next-token prediction: each sample is {@code k} random tokens in {@code [1, vocab)}, a 0
     * separator, then the same tokens reversed ({@code 2k + 1} tokens, input the first {@code 2k}, labels the last
     * {@code 2k}). The second half is determined by the first, so a model that attends learns it exactly; the first
     * half stays at chance.
     */
    public static Dataset reversal(int samples, int context, int vocab, long seed) {
        if (context < 2 || context % 2 != 0 || vocab < 2) {
            throw new IllegalArgumentException(
                    "reversal needs an even context >= 2 and a vocabulary >= 2, got " + context + " and " + vocab);
        }
        SplittableRandom r = new SplittableRandom(seed);
        int k = context / 2;
        int[] seq = new int[context + 1];
        float[] x = new float[samples * context];
        float[] y = new float[samples * context];
        for (int s = 0; s < samples; s++) {
            for (int i = 0; i < k; i++) {
                seq[i] = 1 + r.nextInt(vocab - 1);
                seq[context - i] = seq[i];
            }
            seq[k] = 0;
            for (int t = 0; t < context; t++) {
                x[s * context + t] = seq[t];
                y[s * context + t] = seq[t + 1];
            }
        }
        return new Dataset(x, y, new int[] {context}, new int[] {context});
    }
}
