package dev.ringtape.runtime.ops;

import static dev.ringtape.runtime.TestTensors.awayFromZero;
import static dev.ringtape.runtime.TestTensors.distinct;
import static dev.ringtape.runtime.TestTensors.randn;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.autograd.GradCheck;
import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every op's backward rule agrees with centred finite differences and passes the Taylor test. */
class OpsGradCheckTest {

    /** Checks {@code op} through a fixed random projection of its output to a scalar. */
    private static void check(Function<List<Tensor>, Tensor> op, Tensor... inputs) {
        for (Tensor t : inputs) {
            t.requiresGrad(true);
        }
        List<Tensor> in = List.of(inputs);
        Tensor probe = op.apply(in);
        Tensor weights = randn(99, 1f, probe.shape());
        GradCheck.Result r = GradCheck.defaults().check(() -> Ops.weightedSum(op.apply(in), weights), in);
        assertTrue(r.ok(), r::toString);
    }

    @Test
    void shouldDifferentiateLinear() {
        check(
                in -> Ops.linear(in.get(0), in.get(1), in.get(2)),
                randn(1, 1f, 5, 4),
                randn(2, 0.5f, 3, 4),
                randn(3, 1f, 3));
    }

    @Test
    void shouldDifferentiateLinearOverTheLastAxisOfA3dInput() {
        check(in -> Ops.linear(in.get(0), in.get(1), null), randn(1, 1f, 2, 3, 4), randn(2, 0.5f, 5, 4));
    }

    @Test
    void shouldDifferentiateAddWithFanOut() {
        // x feeds both operands: its gradient must be the sum of both contributions.
        check(in -> Ops.add(in.get(0), Ops.activation(Activation.TANH, 0f, in.get(0))), randn(4, 1f, 3, 5));
    }

    @ParameterizedTest
    @EnumSource(Activation.class)
    void shouldDifferentiateEveryActivation(Activation act) {
        float param = act == Activation.LEAKY_RELU ? 0.1f : act == Activation.ELU ? 1.3f : 0f;
        check(in -> Ops.activation(act, param, in.get(0)), awayFromZero(5, 0.05f, 4, 6));
    }

    @Test
    void shouldDifferentiateSoftplusAboveItsLinearThreshold() {
        Tensor x = awayFromZero(6, 0.05f, 3, 4);
        for (int i = 0; i < x.size(); i += 2) {
            x.data()[i] += 25f;
        }
        check(in -> Ops.activation(Activation.SOFTPLUS, 0f, in.get(0)), x);
    }

    @Test
    void shouldDifferentiateLayerNorm() {
        check(
                in -> Ops.layerNorm(in.get(0), in.get(1), in.get(2), 1e-5f),
                randn(7, 1f, 4, 6),
                randn(8, 1f, 6),
                randn(9, 1f, 6));
    }

    @Test
    void shouldDifferentiateLayerNormAfterALargeOffset() {
        Tensor x = randn(10, 1f, 3, 8);
        for (int i = 0; i < x.size(); i++) {
            x.data()[i] += 300f;
        }
        check(in -> Ops.layerNorm(in.get(0), in.get(1), in.get(2), 1e-5f), x, randn(11, 1f, 8), randn(12, 1f, 8));
    }

    @Test
    void shouldDifferentiateDropoutWithItsMaskFixedBySeed() {
        check(in -> Ops.dropout(in.get(0), 0.3f, 1234L), randn(13, 1f, 5, 7));
    }

    @Test
    void shouldDifferentiateReshape() {
        check(in -> Ops.activation(Activation.TANH, 0f, Ops.reshape(in.get(0), 6, 4)), randn(14, 1f, 2, 3, 4));
    }

    @Test
    void shouldDifferentiateConv2dWithStrideAndPadding() {
        check(
                in -> Ops.conv2d(in.get(0), in.get(1), in.get(2), 2, 1),
                randn(15, 1f, 2, 3, 7, 6),
                randn(16, 0.5f, 4, 3, 3, 3),
                randn(17, 1f, 4));
    }

    @Test
    void shouldDifferentiateConv2dWithoutBias() {
        check(
                in -> Ops.conv2d(in.get(0), in.get(1), null, 1, 0),
                randn(18, 1f, 1, 2, 5, 5),
                randn(19, 0.5f, 3, 2, 2, 2));
    }

    @Test
    void shouldDifferentiateMaxPoolAwayFromTies() {
        check(in -> Ops.maxPool2d(in.get(0), 2, 2), distinct(20, 0.05f, 2, 2, 6, 6));
        check(in -> Ops.maxPool2d(in.get(0), 3, 1), distinct(21, 0.05f, 1, 2, 5, 5));
    }

    @Test
    void shouldDifferentiateSoftmaxCrossEntropy() {
        int[] classes = {2, 0, 4, 1};
        Tensor logits = randn(22, 2f, 4, 5).requiresGrad(true);
        GradCheck.Result r =
                GradCheck.defaults().check(() -> Ops.softmaxCrossEntropy(logits, classes), List.of(logits));
        assertTrue(r.ok(), r::toString);
    }

    @Test
    void shouldDifferentiateSoftmaxCrossEntropyOnSaturatedLogits() {
        int[] classes = {1, 0, 2};
        Tensor logits = randn(23, 1f, 3, 3);
        for (int i = 0; i < logits.size(); i++) {
            logits.data()[i] += i % 3 == 0 ? 30f : 0f;
        }
        logits.requiresGrad(true);
        GradCheck.Result r =
                GradCheck.defaults().check(() -> Ops.softmaxCrossEntropy(logits, classes), List.of(logits));
        assertTrue(r.ok(), r::toString);
    }

    @Test
    void shouldDifferentiateBceWithLogits() {
        Tensor target = Tensor.of(new float[] {1, 0, 0, 1, 1, 0}, 2, 3);
        Tensor logits = randn(24, 3f, 2, 3).requiresGrad(true);
        GradCheck.Result r = GradCheck.defaults().check(() -> Ops.bceWithLogits(logits, target), List.of(logits));
        assertTrue(r.ok(), r::toString);
    }

    @Test
    void shouldDifferentiateMse() {
        Tensor target = randn(25, 1f, 3, 4);
        Tensor y = randn(26, 1f, 3, 4).requiresGrad(true);
        GradCheck.Result r = GradCheck.defaults().check(() -> Ops.mse(y, target), List.of(y));
        assertTrue(r.ok(), r::toString);
    }

    @Test
    void shouldDifferentiateBatchedProductsInEveryTransposition() {
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                Tensor a = ta ? randn(30, 1f, 2, 3, 4, 5) : randn(30, 1f, 2, 3, 5, 4);
                Tensor b = tb ? randn(31, 1f, 2, 3, 6, 4) : randn(31, 1f, 2, 3, 4, 6);
                check(in -> Ops.bmm(in.get(0), ta, in.get(1), tb, 0.7f), a, b);
            }
        }
    }

    @Test
    void shouldDifferentiateSoftmaxWithAndWithoutTheCausalMask() {
        check(in -> Ops.softmax(in.get(0), false), randn(32, 2f, 2, 3, 5));
        check(in -> Ops.softmax(in.get(0), true), randn(33, 2f, 2, 4, 4));
    }

    @Test
    void shouldDifferentiatePermuteAndSelect() {
        check(in -> Ops.permute(in.get(0), 2, 0, 3, 1, 4), randn(34, 1f, 2, 3, 3, 2, 4));
        check(in -> Ops.add(Ops.select(in.get(0), 2), Ops.select(in.get(0), 0)), randn(35, 1f, 3, 2, 5));
    }

    @Test
    void shouldDifferentiateEmbeddingWithRepeatedIds() {
        Tensor ids = Tensor.of(new float[] {3, 0, 3, 1, 4, 3}, 2, 3);
        check(in -> Ops.embedding(ids, in.get(0)), randn(36, 1f, 5, 4));
    }

    @Test
    void shouldDifferentiatePositionsShorterThanTheirTable() {
        check(in -> Ops.addPositional(in.get(0), in.get(1)), randn(37, 1f, 2, 3, 4), randn(38, 1f, 5, 4));
    }

    @Test
    void shouldDifferentiateTheZLossOverSequenceLogits() {
        int[] classes = {2, 0, 4, 1, 3, 3};
        Tensor logits = randn(39, 3f, 6, 5);
        for (int i = 0; i < logits.size(); i++) {
            logits.data()[i] += 4f; // log Z far from 0, where the z-loss pulls
        }
        logits.requiresGrad(true);
        GradCheck.Result r =
                GradCheck.defaults().check(() -> Ops.softmaxCrossEntropy(logits, classes, 0.05), List.of(logits));
        assertTrue(r.ok(), r::toString);
    }

    @Test
    @SuppressWarnings("try") // the Autocast scope is entered for its effect on the ops inside
    void shouldKeepAttentionWeightsInFloat32UnderA16BitAutocast() throws Exception {
        Tensor scores = randn(40, 2f, 2, 3, 6, 6);
        for (dev.ringtape.runtime.precision.Precision p : new dev.ringtape.runtime.precision.Precision[] {
            dev.ringtape.runtime.precision.Precision.FP16, dev.ringtape.runtime.precision.Precision.BF16
        }) {
            try (var cast = dev.ringtape.runtime.autograd.Autocast.enable(p)) {
                float[] w = Ops.softmax(scores, true).toArray();
                float[] bmm = Ops.bmm(scores, false, scores, false, 1f).toArray();
                int unrounded = 0;
                for (float v : w) {
                    unrounded += p.round(v) != v ? 1 : 0;
                }
                assertTrue(unrounded > w.length / 4, p + ": the weights keep float32 precision (" + unrounded + ")");
                for (float v : bmm) {
                    assertTrue(p.round(v) == v, p + ": a product's output is rounded, as every op's");
                }
            }
        }
    }
}
