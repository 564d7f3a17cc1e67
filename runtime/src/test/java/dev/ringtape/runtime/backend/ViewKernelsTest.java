package dev.ringtape.runtime.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.HostStorage;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * The kernels that write parameter gradients, into a view at an offset of a larger storage (the all-reduce arena)
 * against the same kernel into a tensor of its own: bit for bit, and nothing outside the view touched (the arena
 * around it is NaN, which any stray read or write would show).
 */
class ViewKernelsTest {
    private final CpuBackend be = new CpuBackend();
    private final Random r = new Random(5);

    private Tensor random(int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) r.nextGaussian();
        }
        return t;
    }

    /** Runs {@code kernel} on a tensor of its own and on a view at offset 7 of a NaN arena, both starting at start. */
    private void sameInView(Tensor start, Consumer<Tensor> kernel) {
        Tensor own = start.copy();
        kernel.accept(own);
        float[] arena = new float[start.size() + 12];
        Arrays.fill(arena, Float.NaN);
        Tensor view = Tensor.view(new HostStorage(arena), 7, start.shape());
        view.copyFrom(start);
        kernel.accept(view);
        assertArrayEquals(own.data(), view.toArray());
        for (int i = 0; i < arena.length; i++) {
            if (i < 7 || i >= 7 + start.size()) {
                assertTrue(Float.isNaN(arena[i]), "arena[" + i + "] outside the view was written");
            }
        }
    }

    @Test
    void shouldWriteGradientsIntoViewsAsIntoTensorsOfTheirOwn() {
        Tensor a = random(5, 3);
        Tensor gy = random(5, 4);
        // a linear layer's weight and bias gradients
        sameInView(random(4, 3), g -> be.gemm(true, false, 4, 3, 5, 1f, gy, a, 1f, g));
        sameInView(random(4), g -> be.sumRowsInto(gy, g));
        sameInView(random(4, 3), g -> be.gemm(true, false, 4, 3, 5, 0.5f, gy, a, 0f, g.reshape(12)));
        // the view as an operand too (a gradient read back by another kernel)
        sameInView(random(5, 4), x -> {
            Tensor c = Tensor.zeros(5, 3);
            be.gemm(false, true, 5, 3, 4, 1f, x, random(3, 4), 0f, c);
            be.axpy(1f, c, Tensor.zeros(5, 3));
        });
        Tensor src = random(4, 3);
        sameInView(random(4, 3), g -> be.axpy(1f, src, g));
        sameInView(random(4, 3), g -> be.axpy(-0.25f, src, g));
        Tensor xhat = random(5, 4);
        sameInView(random(4), g -> be.layerNormBackward(gy, xhat, new float[5], random(4), null, g, null));
        sameInView(random(4), g -> be.layerNormBackward(gy, xhat, new float[5], random(4), null, null, g));
        Tensor gyImage = random(2, 3, 2, 2);
        sameInView(random(3), g -> be.convOutputBackward(gyImage, Tensor.zeros(3, 8), g));
        sameInView(random(4, 3), g -> be.scale(g, 0.125f, new float[1], new int[1], 0));
        sameInView(random(4, 3), g -> be.round(Precision.FP16, g, new long[2]));
        sameInView(random(4, 3), g -> be.round(Precision.BF16, g, null));
    }

    @Test
    void shouldReduceOverTheViewOnly() {
        Tensor t = random(6);
        float[] arena = new float[20];
        Arrays.fill(arena, Float.NaN);
        Tensor view = Tensor.view(new HostStorage(arena), 3, 6);
        view.copyFrom(t);
        assertEquals(be.squares(t), be.squares(view));
        assertEquals(0, be.countNonFinite(view));
        assertEquals(14, be.countNonFinite(Tensor.of(arena, 20)));
    }

    @Test
    void shouldRefuseToHandAViewToAKernelThatIndexesFromZero() {
        Tensor view = Tensor.view(new HostStorage(new float[10]), 2, 4);
        IllegalStateException e = assertThrows(IllegalStateException.class, view::data);
        assertTrue(e.getMessage().contains("offset 2"), e.getMessage());
        // a view of the whole storage is the storage
        assertEquals(10, Tensor.view(new HostStorage(new float[10]), 0, 10).data().length);
    }

    /**
     * The ring sums one bucket of the arena on its own thread while backward writes the next bucket's gradients: a
     * GEMM into a view must not write back any other part of the arena (JavaCPP hands a heap buffer to native code as
     * a copy of its whole array and copies all of it back, which put stale values over sums finished meanwhile).
     */
    @Test
    void shouldLeaveTheRestOfTheArenaAloneWhileAnotherThreadWritesIt() throws Exception {
        int m = 384;
        float[] arena = new float[16 + m * m];
        Tensor view = Tensor.view(new HostStorage(arena), 16, m, m);
        Tensor a = random(m, m);
        Tensor b = random(m, m);
        for (int k = 1; k <= 5; k++) {
            float written = k;
            Thread ring = new Thread(() -> {
                try {
                    Thread.sleep(2); // while the GEMM below runs (tens of ms)
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                arena[3] = written; // another bucket's sum lands
            });
            ring.start();
            be.gemm(false, false, m, m, m, 1f, a, b, 1f, view);
            ring.join();
            assertEquals(
                    written, arena[3], "a GEMM into a view wrote back the value it had read before (round " + k + ")");
        }
    }
}
