package dev.ringtape.runtime.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The branch-free ReLU kernels against the rule written plainly: y = x where x > 0, NaN stays NaN, everything else
 * +0; backward passes the gradient exactly where x > 0 and adds +0 elsewhere (a NaN gradient into a dead unit stays
 * out), over the values where bit tricks go wrong: signed zeros, subnormals, infinities, NaNs, across word edges.
 */
class ReluKernelTest {
    private static final float[] EDGES = {
        -0f,
        0f,
        Float.NaN,
        Float.intBitsToFloat(0xffc00001),
        Float.POSITIVE_INFINITY,
        Float.NEGATIVE_INFINITY,
        Float.MIN_VALUE,
        -Float.MIN_VALUE,
        Float.MIN_NORMAL,
        -Float.MIN_NORMAL,
        Float.MAX_VALUE,
        -Float.MAX_VALUE,
        1f,
        -1f
    };

    @Test
    void shouldMatchThePlainRuleBitForBitOnEdgeValues() {
        CpuBackend be = new CpuBackend();
        Random r = new Random(3);
        int n = 64 * 3 + 17; // whole words and a tail
        float[] x = new float[n];
        float[] g = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = r.nextInt(3) == 0 ? EDGES[r.nextInt(EDGES.length)] : (float) r.nextGaussian();
            g[i] = r.nextInt(5) == 0 ? Float.NaN : (float) r.nextGaussian();
        }
        Tensor y = Tensor.zeros(n);
        Mask mask = new Mask(n);
        be.activation(Activation.RELU, 0f, Tensor.of(x.clone(), n), y, mask);
        float[] start = new float[n];
        for (int i = 0; i < n; i++) {
            start[i] = i % 7 == 0 ? -0f : (float) r.nextGaussian();
        }
        Tensor gx = Tensor.of(start.clone(), n);
        be.activationBackward(Activation.RELU, 0f, null, mask, Tensor.of(g.clone(), n), gx);
        for (int i = 0; i < n; i++) {
            float v = x[i];
            float want = v > 0f ? v : (Float.isNaN(v) ? v : 0f);
            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(y.data()[i]), "relu(" + v + ")");
            float grad = start[i] + (v > 0f ? g[i] : 0f);
            assertEquals(
                    Float.floatToRawIntBits(grad),
                    Float.floatToRawIntBits(gx.data()[i]),
                    "gradient at x = " + v + ", g = " + g[i]);
        }
    }
}
