package dev.ringtape.runtime.ops;

import static dev.ringtape.runtime.TestTensors.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ringtape.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The value of softmax cross-entropy, its z-loss and the rows' mean log Z (what the step records carry as {@code
 * log_z}) against the same sums taken in double from the logits. OpsGradCheckTest checks the gradients.
 */
class SoftmaxCrossEntropyValueTest {

    @Test
    void shouldEqualLogSumExpInDoubleWithZLossAndMeanLogZ() {
        int rows = 37;
        int c = 11; // each row's loops have a tail past their last group of four or eight
        int[] classes = new int[rows];
        for (int r = 0; r < rows; r++) {
            classes[r] = (r * 7) % c;
        }
        Tensor logits = randn(5, 3f, rows, c);
        float[] x = logits.toArray();
        double ce = 0;
        double sumLogZ = 0;
        double sumLogZ2 = 0;
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < c; j++) {
                max = Math.max(max, x[r * c + j]);
            }
            double s = 0;
            for (int j = 0; j < c; j++) {
                s += Math.exp(x[r * c + j] - max);
            }
            double logZ = max + Math.log(s);
            ce += logZ - x[r * c + classes[r]];
            sumLogZ += logZ;
            sumLogZ2 += logZ * logZ;
        }
        double zLoss = 0.05;
        double[] meanLogZ = new double[1];
        float loss = Ops.softmaxCrossEntropy(logits, classes, zLoss, meanLogZ).item();
        double expected = ce / rows + zLoss * sumLogZ2 / rows;
        assertEquals(expected, loss, 1e-6 * Math.abs(expected), "loss with z-loss");
        assertEquals(sumLogZ / rows, meanLogZ[0], 1e-6 * Math.abs(sumLogZ / rows), "mean log Z");
        assertEquals(ce / rows, Ops.softmaxCrossEntropy(logits, classes).item(), 1e-6 * ce / rows, "loss alone");
    }
}
