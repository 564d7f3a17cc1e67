package dev.ringtape.runtime.autograd;

import static dev.ringtape.runtime.TestTensors.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.ops.Ops;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

class TapeTest {

    @Test
    void shouldRecordNothingOutsideATapeOrWithoutGradRequirements() {
        Tensor x = randn(1, 1f, 2, 3);
        Tensor y = Ops.activation(Activation.RELU, 0f, x);
        assertFalse(y.requiresGrad());
        try (Tape tape = Tape.record()) {
            Ops.activation(Activation.TANH, 0f, x);
            assertEquals(List.of(), tape.ops(), "no input requires grad, so nothing is recorded");
        }
    }

    @Test
    void shouldAccumulateGradientsAcrossBackwardPasses() {
        Tensor w = randn(2, 1f, 3, 4).requiresGrad(true);
        Tensor x = randn(3, 1f, 5, 4);
        Tensor probe = randn(4, 1f, 5, 3);
        for (int pass = 0; pass < 2; pass++) {
            try (Tape tape = Tape.record()) {
                tape.backward(Ops.weightedSum(Ops.linear(x, w, null), probe));
            }
        }
        float[] twice = w.grad().data().clone();
        w.zeroGrad();
        try (Tape tape = Tape.record()) {
            tape.backward(Ops.weightedSum(Ops.linear(x, w, null), probe));
        }
        for (int i = 0; i < twice.length; i++) {
            assertEquals(2 * w.grad().data()[i], twice[i], 1e-5f);
        }
    }

    /**
     * Inside a buffer pool, a gradient passed on unchanged (reshape, add) becomes the input's gradient itself, and a
     * second consumer of the same tensor then adds into it: h feeds two reshapes, two permutes and a product, so its
     * gradient is adopted once, added to, and written fresh where a product comes first. The weights' gradients match
     * the same graph without a pool, where every gradient is a zero-filled buffer added into.
     */
    @Test
    @SuppressWarnings("try") // the pool's scope is entered for its effect on the ops inside
    void shouldAdoptPassedGradientsAndStillSumAFanOut() {
        Tensor w = randn(5, 1f, 6, 4).requiresGrad(true);
        Tensor x = randn(6, 1f, 3, 4);
        Tensor probe = randn(7, 1f, 2, 3, 3);
        Tensor probeT = randn(8, 1f, 6, 3);
        float[][] grads = new float[2][];
        for (int pooled = 0; pooled < 2; pooled++) {
            w.zeroGrad();
            dev.ringtape.runtime.tensor.BufferPool pool = new dev.ringtape.runtime.tensor.BufferPool();
            try (dev.ringtape.runtime.tensor.BufferPool.Scope scope = pooled == 1 ? pool.enter() : () -> {}) {
                for (int step = 0; step < 2; step++) { // the second step takes the first's buffers from the pool
                    w.zeroGrad();
                    try (Tape tape = Tape.record()) {
                        Tensor h = Ops.linear(x, w, null); // [3, 6]
                        Tensor a = Ops.add(Ops.reshape(h, 2, 3, 3), Ops.reshape(h, 2, 3, 3));
                        Tensor b = Ops.add(a, Ops.permute(Ops.reshape(h, 2, 3, 3), 0, 2, 1));
                        Tensor c = Ops.permute(h, 1, 0); // [6, 3]
                        Tensor loss = Ops.add(Ops.weightedSum(b, probe), Ops.weightedSum(Ops.add(c, c), probeT));
                        tape.backward(loss);
                    }
                }
            }
            grads[pooled] = w.grad().data().clone();
        }
        assertArrayEquals(grads[0], grads[1], "with the pool (adopted gradients) as without");
        float[] dh = new float[18];
        float[] p = probe.data();
        float[] pt = probeT.data();
        for (int i = 0; i < 18; i++) {
            // d/dh of 2 * reshape(h) . probe + permute(reshape(h)) . probe + 2 * h^T . probeT
            int blk = i / 9;
            int r = (i % 9) / 3;
            int col = i % 3;
            dh[i] = 2 * p[i] + p[blk * 9 + col * 3 + r] + 2 * pt[(i % 6) * 3 + i / 6];
        }
        float[] want = new float[24];
        for (int o = 0; o < 6; o++) {
            for (int k = 0; k < 4; k++) {
                for (int n = 0; n < 3; n++) {
                    want[o * 4 + k] += dh[n * 6 + o] * x.data()[n * 4 + k];
                }
            }
        }
        assertArrayEquals(want, grads[1], 1e-4f);
    }

    @Test
    void shouldSumGradientsWhereATensorFansOut() {
        Tensor x = Tensor.of(new float[] {1f, -2f, 3f}, 1, 3).requiresGrad(true);
        Tensor ones = Tensor.of(new float[] {1f, 1f, 1f}, 1, 3);
        try (Tape tape = Tape.record()) {
            // y = x + x + x: dy/dx = 3 for every element
            tape.backward(Ops.weightedSum(Ops.add(Ops.add(x, x), x), ones));
        }
        assertArrayEquals(new float[] {3f, 3f, 3f}, x.grad().data());
    }

    @Test
    void shouldNotComputeGradientsForInputsThatDoNotNeedThem() {
        Tensor x = randn(5, 1f, 4, 3);
        Tensor w = randn(6, 1f, 2, 3).requiresGrad(true);
        Tensor unused = randn(7, 1f, 2, 3).requiresGrad(true);
        try (Tape tape = Tape.record()) {
            Tensor y = Ops.linear(x, w, null);
            Ops.linear(x, unused, null); // recorded, but does not reach the loss
            tape.backward(Ops.weightedSum(y, randn(8, 1f, 4, 2)));
        }
        assertNull(x.grad(), "x does not require grad");
        assertNull(unused.grad(), "a branch that does not reach the loss is pruned");
        assertTrue(w.grad() != null);
    }

    @Test
    void shouldFailLoudlyWhenASavedTensorIsModifiedInPlace() {
        Tensor w = randn(9, 1f, 3, 4).requiresGrad(true);
        Tensor x = randn(10, 1f, 2, 4).named("x");
        try (Tape tape = Tape.record()) {
            String before = Tape.enterLayer("layers.0");
            Tensor y = Ops.linear(x, w, null);
            Tape.exitLayer(before);
            Tensor loss = Ops.weightedSum(y, randn(11, 1f, 2, 3));
            x.fill(0f); // linear saved x to compute dL/dW
            SavedTensorModifiedException e =
                    assertThrows(SavedTensorModifiedException.class, () -> tape.backward(loss));
            assertTrue(e.getMessage().contains("linear in layers.0"), e.getMessage());
            assertTrue(e.getMessage().contains("x"), e.getMessage());
        }
    }

    @Test
    void shouldRefuseASecondBackwardOverFreedSavedTensors() {
        Tensor w = randn(12, 1f, 3).requiresGrad(true);
        try (Tape tape = Tape.record()) {
            Tensor loss = Ops.weightedSum(Ops.activation(Activation.SIGMOID, 0f, w), randn(13, 1f, 3));
            tape.backward(loss);
            assertThrows(IllegalStateException.class, () -> tape.backward(loss));
        }
    }

    @Test
    void shouldRestoreTheOuterTapeWhenPaused() {
        try (Tape tape = Tape.record()) {
            Tensor inner = Tape.paused(() -> {
                assertNull(Tape.current());
                return Tensor.scalar(1f);
            });
            assertEquals(1f, inner.item());
            assertEquals(tape, Tape.current());
        }
        assertNull(Tape.current());
    }

    @Test
    void shouldSaveOnlyABitMaskForRelu() {
        // ReLU's backward must not depend on its input staying untouched: it kept a mask, not x.
        Tensor x = Tensor.of(new float[] {-1f, 2f, -3f, 4f}, 1, 4).requiresGrad(false);
        Tensor leaf = x.copy().requiresGrad(true);
        try (Tape tape = Tape.record()) {
            Tensor y = Ops.activation(Activation.RELU, 0f, leaf);
            Tensor loss = Ops.weightedSum(y, Tensor.of(new float[] {1f, 1f, 1f, 1f}, 1, 4));
            leaf.fill(7f);
            tape.backward(loss);
        }
        assertArrayEquals(new float[] {0f, 1f, 0f, 1f}, leaf.grad().data());
    }
}
