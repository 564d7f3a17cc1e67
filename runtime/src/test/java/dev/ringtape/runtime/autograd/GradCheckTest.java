package dev.ringtape.runtime.autograd;

import static dev.ringtape.runtime.TestTensors.randn;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The checker itself must catch wrong gradients, not just pass right ones. */
class GradCheckTest {

    /** {@code sum(x^3)} whose backward is off by {@code factor}. */
    private static Tensor cubeSum(Tensor x, double factor) {
        double acc = 0;
        for (float v : x.data()) {
            acc += (double) v * v * v;
        }
        Tensor y = Tensor.output();
        y.data()[0] = (float) acc;
        Tape.recordOp("cube_sum", y, new Tensor[] {x}, (gy, g) -> {
            float[] out = g.of(x).data();
            for (int i = 0; i < out.length; i++) {
                out[i] += (float) (gy.item() * 3 * x.data()[i] * x.data()[i] * factor);
            }
        });
        return y;
    }

    @Test
    void shouldPassACorrectGradient() {
        Tensor x = randn(1, 1f, 10).requiresGrad(true);
        GradCheck.Result r = GradCheck.defaults().check(() -> cubeSum(x, 1.0), List.of(x));
        assertTrue(r.ok(), r::toString);
    }

    @Test
    void shouldCatchAGradientOffByFivePercentWithFiniteDifferences() {
        Tensor x = randn(2, 1f, 10).requiresGrad(true);
        GradCheck.Result r = GradCheck.defaults().check(() -> cubeSum(x, 1.05), List.of(x));
        assertFalse(r.ok());
        assertTrue(r.failure().contains("finite differences"), r::toString);
    }

    @Test
    void shouldCatchAWrongGradientWithTheTaylorTestAlone() {
        Tensor x = randn(3, 1f, 10).requiresGrad(true);
        // tolerances so loose that finite differences pass anything: only the Taylor test can object
        GradCheck.Result r = GradCheck.defaults().tolerance(10, 10).check(() -> cubeSum(x, 1.3), List.of(x));
        assertFalse(r.ok());
        assertTrue(r.failure().contains("Taylor"), r::toString);
    }
}
