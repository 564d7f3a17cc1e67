package dev.ringtape.runtime.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.data.Synthetic;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The tracer on its own: which micro-batch, phase, op and layer first went non-finite. */
class NonFiniteTracerTest {
    private static List<Tensor[]> twoMicroBatches(Dataset d) {
        int[] all = new int[64];
        for (int i = 0; i < 64; i++) {
            all[i] = i;
        }
        return List.of(d.batch(all, 0, 32), d.batch(all, 32, 32));
    }

    private static void assertZeroGradients(Sequential m) {
        m.parameters().forEach((k, p) -> {
            if (p.grad() != null) {
                for (float v : p.grad().data()) {
                    assertEquals(0f, v, k + ": the tracer leaves no gradient behind");
                }
            }
        });
    }

    @Test
    void shouldNameTheForwardOpOfTheMicroBatchThatCarriesTheNaN() throws Exception {
        Dataset d = Synthetic.teacher(64, 16, 5, 9);
        d.features()[16 * 40 + 3] = Float.NaN; // sample 40: the second micro-batch
        Sequential m = StepLoopTest.model(StepLoopTest.MLP, 7);
        NonFiniteTracer.NonFinite n = new NonFiniteTracer(m, Precision.FP32, 1, 3).find(5, twoMicroBatches(d), 1f);
        assertEquals(new NonFiniteTracer.NonFinite(5, 3, 1, "forward", "linear", "layers.0", true), n);
        assertZeroGradients(m);
    }

    @Test
    void shouldNameTheBackwardOpWhereAFiniteLossOverflowsUnderItsScale() throws Exception {
        Dataset d = Synthetic.teacher(64, 16, 5, 9);
        for (int i = 0; i < 16; i++) {
            d.features()[i] *= 1e4f; // sample 0: large but finite activations after the ReLU
            d.features()[16 + i] = d.features()[i]; // sample 1: the same input with another label, so that the
        } // near one-hot softmax is wrong for at least one of them
        d.labels()[1] = (d.labels()[0] + 1) % 5;
        Sequential m = StepLoopTest.model(
                """
                {"input": [16], "layers": [{"type": "linear", "out": 8}, {"type": "relu"},
                  {"type": "linear", "out": 5}], "loss": {"type": "softmax_cross_entropy"}}""",
                7);
        // the loss is finite and so is its gradient times 2^120, but the last linear's weight gradient overflows
        NonFiniteTracer.NonFinite n = new NonFiniteTracer(m, Precision.FP32, 1, 0)
                .find(2, List.<Tensor[]>of(d.batch(new int[] {0, 1}, 0, 2)), 0x1p120f);
        assertEquals("backward", n.phase(), n.describe());
        assertEquals("layers.2", n.layer(), n.describe());
        assertEquals(0, n.microBatch());
        assertZeroGradients(m);
    }

    @Test
    void shouldBlameTheSumWhenEveryMicroBatchWasFinite() throws Exception {
        Dataset d = Synthetic.teacher(64, 16, 5, 9);
        Sequential m = StepLoopTest.model(StepLoopTest.MLP, 7);
        // per micro-batch of 32 the loss gradient is divided by 32: finite at 2^127 (each op checked); only the
        // accumulation of two would leave the range, and that is what the tracer concludes
        NonFiniteTracer.NonFinite n =
                new NonFiniteTracer(m, Precision.FP32, 1, 0).find(2, twoMicroBatches(d), 0x1p127f);
        assertEquals("accumulate", n.phase(), n.describe());
        assertEquals(1, n.microBatch());
    }

    @Test
    void shouldTellAnAllreduceOriginFromALocalOne() {
        NonFiniteTracer.NonFinite n = new NonFiniteTracer(null, Precision.FP32, 1, 2).inAllreduce(9);
        assertTrue(n.describe().contains("appeared in the all-reduce"), n.describe());
        assertEquals(false, n.beforeAllreduce());
    }

    @Test
    void shouldGiveEveryRankStepAndMicroBatchItsOwnDropoutSeed() {
        java.util.Set<Long> seeds = new java.util.HashSet<>();
        for (int rank = 0; rank < 4; rank++) {
            for (long step = 0; step < 50; step++) {
                for (int m = 0; m < 4; m++) {
                    seeds.add(NonFiniteTracer.microSeed(7, step, rank, m));
                }
            }
        }
        assertEquals(4 * 50 * 4, seeds.size());
    }
}
