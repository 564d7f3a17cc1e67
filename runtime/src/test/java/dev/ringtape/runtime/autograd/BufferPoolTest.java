package dev.ringtape.runtime.autograd;

import static dev.ringtape.runtime.TestTensors.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.ops.Ops;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.BufferPool;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The tape hands op outputs and intermediate gradients back to the pool once backward is past them: the next pass
 * takes every array from the pool, and its gradients are bit for bit those of a pass with fresh arrays.
 */
class BufferPoolTest {
    private static final Tensor X = randn(1, 1f, 16, 12);
    private static final Tensor PROBE = randn(2, 1f, 16, 5);

    /** One forward and backward of a small MLP (with a fan-out and a reshape); the weights' gradients. */
    @SuppressWarnings("try")
    private static List<float[]> pass(List<Tensor> params, Precision precision) {
        params.forEach(Tensor::zeroGrad);
        try (Autocast cast = Autocast.enable(precision);
                Tape tape = Tape.record()) {
            Tensor h = Ops.activation(Activation.RELU, 0f, Ops.linear(X, params.get(0), params.get(1)));
            Tensor t = Ops.activation(Activation.TANH, 0f, h);
            Tensor y = Ops.linear(Ops.add(Ops.reshape(t, 16, 20), h), params.get(2), null);
            tape.backward(Ops.weightedSum(y, PROBE));
        }
        List<float[]> out = new ArrayList<>();
        params.forEach(p -> out.add(p.grad().data().clone()));
        return out;
    }

    private static List<Tensor> params() {
        return List.of(
                randn(3, 0.3f, 20, 12).requiresGrad(true),
                randn(4, 0.3f, 20).requiresGrad(true),
                randn(5, 0.3f, 5, 20).requiresGrad(true));
    }

    @Test
    @SuppressWarnings("try")
    void shouldServeTheSecondPassFromThePoolWithTheSameGradients() {
        for (Precision precision : new Precision[] {Precision.FP32, Precision.FP16}) {
            List<Tensor> params = params();
            List<float[]> fresh = pass(params, precision);
            BufferPool pool = new BufferPool();
            List<float[]> first;
            List<float[]> second;
            long[] afterFirst;
            try (BufferPool.Scope s = pool.enter()) {
                first = pass(params, precision);
                afterFirst = pool.takenAndReused();
                second = pass(params, precision);
            }
            long[] all = pool.takenAndReused();
            long taken = all[0] - afterFirst[0];
            assertTrue(taken > 0);
            assertEquals(
                    taken - 1,
                    all[1] - afterFirst[1],
                    precision + ": every array of the second pass is reused but the loss's, which the caller keeps");
            for (List<float[]> got : List.of(first, second)) {
                for (int p = 0; p < fresh.size(); p++) {
                    for (int i = 0; i < fresh.get(p).length; i++) {
                        assertEquals(
                                Float.floatToRawIntBits(fresh.get(p)[i]),
                                Float.floatToRawIntBits(got.get(p)[i]),
                                precision + ", parameter " + p + "[" + i + "]");
                    }
                }
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void shouldRefuseToReadAnOutputWhoseStorageWentBack() {
        Tensor w = randn(3, 0.3f, 20, 12).requiresGrad(true);
        try (BufferPool.Scope s = new BufferPool().enter();
                Tape tape = Tape.record()) {
            Tensor hidden = Ops.activation(Activation.TANH, 0f, Ops.linear(X, w, null));
            tape.backward(Ops.weightedSum(hidden, randn(6, 1f, 16, 20)));
            IllegalStateException e = assertThrows(IllegalStateException.class, hidden::data);
            assertTrue(e.getMessage().contains("went back to the buffer pool"), e.getMessage());
        }
        // outside a pool, outputs are plain arrays that stay readable
        try (Tape tape = Tape.record()) {
            Tensor hidden = Ops.activation(Activation.TANH, 0f, Ops.linear(X, w, null));
            tape.backward(Ops.weightedSum(hidden, randn(6, 1f, 16, 20)));
            assertEquals(16 * 20, hidden.data().length);
        }
    }
    /**
     * A no-tape pass in {@link BufferPool#scratch}: what it took goes back when it returns, once each (a buffer given
     * back inside is not given twice), but its result's, which stays live.
     */
    @Test
    @SuppressWarnings("try")
    void shouldGiveBackAScratchPassesBuffersButItsResult() {
        BufferPool pool = new BufferPool();
        try (BufferPool.Scope scope = pool.enter()) {
            List<Object> inside = new ArrayList<>();
            Tensor out = BufferPool.scratch(() -> {
                Tensor a = Tensor.output(4);
                Tensor b = Tensor.output(4);
                Tensor c = Tensor.output(2, 2);
                Object bs = b.storage();
                b.recycle(); // back inside the body
                Tensor d = Tensor.output(4); // takes b's array again
                inside.add(a.storage());
                inside.add(d.storage());
                assertTrue(d.storage() == bs);
                return c.reshape(4); // a view: its storage is the one kept
            });
            out.fill(7f);
            List<Object> next = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                next.add(Tensor.output(4).storage());
            }
            assertTrue(next.get(0) != next.get(1), "a and d's arrays, each once");
            assertTrue(inside.contains(next.get(0)) && inside.contains(next.get(1)));
            assertTrue(next.stream().noneMatch(st -> st == out.storage()), "the result's array stays out's");
            assertTrue(!inside.contains(next.get(2)), "then a new array");
            assertEquals(7f, out.data()[3]);
        }
    }
}
