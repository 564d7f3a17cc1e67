package dev.ringtape.gpukernels;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.Random;

/**
 * A few hundred values through the device's GEMM, activations, loss and optimizer, against the CPU backend, before
 * the device may train: a device path that never ran on this GPU (driver, image, cuBLAS) says so here, at selection,
 * where {@code backend: auto} can still fall back, instead of in the middle of a run.
 */
final class SelfCheck {
    private SelfCheck() {}

    /** Null when the device agrees with the CPU; otherwise what differed. */
    static String run(Backend gpu) {
        CpuBackend cpu = new CpuBackend();
        Random r = new Random(1);
        float[] x = random(r, 8 * 16);
        float[] w = random(r, 4 * 16);
        int[] classes = {0, 1, 2, 3, 0, 1, 2, 3};
        double[] losses = new double[2];
        float[][] results = new float[2][];
        Backend[] both = {cpu, gpu};
        for (int k = 0; k < 2; k++) {
            Backend be = both[k];
            Tensor xt = onto(be, x, 8, 16);
            Tensor wt = onto(be, w, 4, 16);
            Tensor y = onto(be, new float[32], 8, 4);
            be.gemm(false, true, 8, 4, 16, 1f, xt, wt, 0f, y);
            Tensor a = onto(be, new float[32], 8, 4);
            Mask mask = new Mask(32);
            be.activation(Activation.RELU, 0f, y, a, mask);
            Tensor probs = onto(be, new float[32], 8, 4);
            losses[k] = be.softmaxCrossEntropy(a, classes, probs, new float[8]);
            Tensor ga = onto(be, new float[32], 8, 4);
            be.softmaxCrossEntropyBackward(probs, classes, 1f / 8, null, ga);
            Tensor gy = onto(be, new float[32], 8, 4);
            be.activationBackward(Activation.RELU, 0f, null, mask, ga, gy);
            Tensor gw = onto(be, new float[64], 4, 16);
            be.gemm(true, false, 4, 16, 8, 1f, gy, xt, 0f, gw);
            Tensor m = onto(be, new float[64], 4, 16);
            Tensor v = onto(be, new float[64], 4, 16);
            be.adamStep(wt, gw, m, v, 1, 1e-2, new Backend.AdamHyper(0.9, 0.999, 1e-8, 0.0, false), null);
            results[k] = wt.toArray();
        }
        if (Math.abs(losses[0] - losses[1]) > 1e-5 * Math.max(1, Math.abs(losses[0]))) {
            return "cross-entropy " + losses[1] + " where the CPU gives " + losses[0];
        }
        for (int i = 0; i < results[0].length; i++) {
            if (!(Math.abs(results[0][i] - results[1][i]) <= 1e-5f * Math.max(1f, Math.abs(results[0][i])))) {
                return "weight " + i + " after one Adam step is " + results[1][i] + " where the CPU gives "
                        + results[0][i];
            }
        }
        return null;
    }

    private static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    /** A tensor in {@code be}'s memory holding {@code values}. */
    static Tensor onto(Backend be, float[] values, int... shape) {
        Tensor t = Tensor.view(be.allocate(values.length), 0, shape);
        t.write(values, 0);
        return t;
    }
}
