package dev.ringtape.allreduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

class BucketedAllReduceTest {

    @Test
    void shouldSumBucketsSubmittedWhileTheCallerKeepsComputing() throws Exception {
        int n = 300_007;
        int[][] buckets = {{250_007, 50_000}, {100_000, 150_007}, {0, 100_000}}; // last tensors first
        try (Rings rings = new Rings(3, Transport.IPC, 99L, 20_000)) {
            List<float[]> got = rings.onEveryRank((rank, ring) -> {
                float[] arena = RingAllReduceTest.input(rank, n, 0);
                try (BucketedAllReduce b = new BucketedAllReduce(ring)) {
                    double busy = 0;
                    for (int[] bucket : buckets) {
                        b.submit(arena, bucket[0], bucket[1], 3); // as backward finishes each bucket
                        for (int k = 0; k < 100_000; k++) {
                            busy += Math.sqrt(k); // the caller goes on working meanwhile
                        }
                    }
                    double[] flag = {rank == 2 ? 1 : 0};
                    b.submitScalars(flag, 3);
                    b.await();
                    assertEquals(1.0, flag[0]);
                    assertTrue(busy > 0);
                }
                return arena;
            });
            // bucket boundaries differ from whole-buffer chunks, so compare with a tolerance to the exact sum
            for (int i = 0; i < n; i += 997) {
                double want = 0;
                for (int r = 0; r < 3; r++) {
                    want += RingAllReduceTest.input(r, n, 0)[i];
                }
                for (float[] g : got) {
                    assertEquals(want, g[i], 1e-6);
                }
            }
            for (int i = 0; i < n; i++) {
                assertEquals(Float.floatToIntBits(got.get(0)[i]), Float.floatToIntBits(got.get(1)[i]), "ranks agree");
            }
        }
    }

    @Test
    void shouldRethrowAPeersFailureFromAwait() throws Exception {
        try (Rings rings = new Rings(2, Transport.IPC, 98L, 1_000)) {
            ExecutionException e = assertThrows(
                    ExecutionException.class,
                    () -> rings.onEveryRank((rank, ring) -> {
                        if (rank == 1) {
                            return null;
                        }
                        try (BucketedAllReduce b = new BucketedAllReduce(ring)) {
                            b.submit(new float[64], 0, 64, 8);
                            b.await();
                        }
                        return null;
                    }));
            assertTrue(e.getCause() instanceof AllReduceException, String.valueOf(e.getCause()));
            assertTrue(
                    e.getCause().getMessage().contains("step 8"), e.getCause().getMessage());
        }
    }

    @Test
    void shouldCountTheSummingDoneWhileTheCallerWorked() throws Exception {
        try (Rings rings = new Rings(2, Transport.IPC, 97L, 20_000)) {
            List<long[]> got = rings.onEveryRank((rank, ring) -> {
                float[] arena = new float[1 << 20];
                try (BucketedAllReduce b = new BucketedAllReduce(ring)) {
                    long before = b.busyNanos();
                    b.submit(arena, 0, arena.length, 1);
                    Thread.sleep(300); // "backward": long enough for the 4 MB sum to finish meanwhile
                    long hidden = b.busyNanos() - before;
                    long t0 = System.nanoTime();
                    b.await();
                    long exposed = System.nanoTime() - t0;
                    return new long[] {hidden, exposed, b.busyNanos() - before};
                }
            });
            for (long[] g : got) {
                assertTrue(g[0] > 0, "the sum ran while the caller slept");
                assertEquals(g[0], g[2], "nothing was left to sum after the sleep");
                assertTrue(g[1] < 50_000_000, "await had nothing to wait for: " + g[1] + " ns");
            }
        }
    }
}
