package dev.ringtape.runtime.backend.cpu;

import dev.ringtape.runtime.tensor.Tensor;

/** The loss kernels of the CPU backend: each loss's value and, beside it, its gradient ({@code +=}). */
final class Losses {
    private Losses() {}

    static double softmaxCrossEntropy(Tensor logits, int[] classes, Tensor probs, float[] logZ) {
        float[] z = logits.data();
        float[] p = probs.data();
        int n = classes.length;
        int c = z.length / n;
        double total = 0;
        Loops loops = Loops.get();
        double[] tmp = new double[c];
        for (int r = 0; r < n; r++) {
            int base = r * c;
            float max = loops.rowMax(z, base, c);
            double logSum = Math.log(loops.expSum4(z, base, c, max, tmp));
            logZ[r] = (float) (logSum + max);
            loops.expShifted2(z, base, p, base, c, max, logSum);
            // -log softmax(z)[y] = logsumexp(z) - z[y], in log space so logits near 1e3 stay finite
            total += logSum + max - z[base + classes[r]];
        }
        return total / n;
    }

    static void softmaxCrossEntropyBackward(Tensor probs, int[] classes, float scale, float[] rowScale, Tensor gx) {
        float[] p = probs.data();
        float[] o = gx.data();
        int n = classes.length;
        int c = p.length / n;
        Loops loops = Loops.get();
        for (int r = 0; r < n; r++) {
            int base = r * c;
            loops.axpy(rowScale == null ? scale : scale + rowScale[r], p, base, o, base, c);
            o[base + classes[r]] -= scale;
        }
    }

    static double bceWithLogits(Tensor logits, Tensor target) {
        float[] x = logits.data();
        float[] t = target.data();
        double total = 0;
        for (int i = 0; i < x.length; i++) {
            double v = x[i];
            total += Math.max(v, 0.0) - v * t[i] + Math.log1p(Math.exp(-Math.abs(v)));
        }
        return total / x.length;
    }

    static void bceWithLogitsBackward(Tensor logits, Tensor target, float scale, Tensor gx) {
        float[] x = logits.data();
        float[] t = target.data();
        float[] o = gx.data();
        for (int i = 0; i < x.length; i++) {
            o[i] += (float) (scale * (Activations.sigmoid(x[i]) - t[i]));
        }
    }

    static double mse(Tensor y, Tensor target) {
        float[] a = y.data();
        float[] t = target.data();
        double total = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - t[i];
            total += d * d;
        }
        return total / a.length;
    }

    static void mseBackward(Tensor y, Tensor target, float scale, Tensor gx) {
        float[] a = y.data();
        float[] t = target.data();
        float[] o = gx.data();
        for (int i = 0; i < a.length; i++) {
            o[i] += scale * 2f * (a[i] - t[i]);
        }
    }
}
