package dev.ringtape.allreduce;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

class RingAllReduceTest {

    static float[] input(int rank, int n, int round) {
        SplittableRandom r = new SplittableRandom(rank * 1_000_003L + round);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextDouble(-1, 1);
        }
        return v;
    }

    /**
     * The serial reference, in the ring's order: segment by segment ({@link RingAllReduce#SEGMENT_FLOATS}), chunk c of
     * a segment is summed starting at rank c and going round the ring.
     */
    static float[] reference(int world, int n, int round) {
        return reference(world, n, round, false);
    }

    /**
     * The reference with bfloat16 frames ({@code bf16}): each partial sum is rounded to bfloat16 before the next rank
     * adds its own float32 value, and the chunk's final sum is rounded once more before it goes round.
     */
    static float[] reference(int world, int n, int round, boolean bf16) {
        float[][] in = new float[world][];
        for (int r = 0; r < world; r++) {
            in[r] = input(r, n, round);
        }
        float[] out = new float[n];
        for (int base = 0; base < n; base += RingAllReduce.SEGMENT_FLOATS) {
            int len = Math.min(RingAllReduce.SEGMENT_FLOATS, n - base);
            for (int c = 0; c < world; c++) {
                int from = base + (int) ((long) len * c / world);
                int to = base + (int) ((long) len * (c + 1) / world);
                for (int i = from; i < to; i++) {
                    // reduce-scatter: rank c starts with its own value, then c+1 adds, ... ending at rank c-1
                    float s = in[c][i];
                    for (int k = 1; k < world; k++) {
                        s = in[(c + k) % world][i] + (bf16 ? Bf16.widen(Bf16.round(s)) : s);
                    }
                    out[i] = bf16 ? Bf16.widen(Bf16.round(s)) : s;
                }
            }
        }
        return out;
    }

    /** {@code v} with {@code padFloats} zeros on each side. */
    static float[] padded(float[] v, int padFloats) {
        float[] b = new float[v.length + 2 * padFloats];
        System.arraycopy(v, 0, b, padFloats, v.length);
        return b;
    }

    @ParameterizedTest(name = "{0} ranks over {1}")
    @CsvSource({"2, IPC", "3, IPC", "4, IPC", "2, UDP", "3, UDP", "4, UDP"})
    void shouldSumExactlyLikeTheSerialReferenceForUnevenSizesAndRepeatedSteps(int world, Transport transport)
            throws Exception {
        try (Rings rings = new Rings(world, transport, 0xC0FFEEL, 20_000)) {
            for (int n : new int[] {1, 7, 1_000_003, 2_500_007}) { // the last two span several segments
                for (int round = 0; round < 3; round++) {
                    int size = n;
                    int rd = round;
                    float[] want = reference(world, size, rd);
                    List<float[]> got = rings.onEveryRank((rank, ring) -> {
                        float[] b = padded(input(rank, size, rd), 5);
                        ring.allReduce(b, 5, size, rd);
                        assertEquals(0f, b[4], "the range before the slice is untouched");
                        assertEquals(0f, b[5 + size], "the range after the slice is untouched");
                        return java.util.Arrays.copyOfRange(b, 5, 5 + size);
                    });
                    for (int r = 0; r < world; r++) {
                        float[] g = got.get(r);
                        for (int i = 0; i < size; i++) {
                            if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(g[i])) {
                                throw new AssertionError("n=" + size + " round " + rd + " rank " + r + " element " + i
                                        + ": " + g[i] + " != " + want[i]);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void shouldSumScalarsInRankOrderOnEveryRank() throws Exception {
        try (Rings rings = new Rings(3, Transport.IPC, 7L, 20_000)) {
            List<double[]> got = rings.onEveryRank((rank, ring) -> {
                double[] v = {rank == 1 ? 1 : 0, 0.1 * (rank + 1), 64 * (rank + 1)};
                ring.sumScalars(v, 0);
                ring.allReduce(input(rank, 10, 0), 0, 10, 0); // scalar and buffer collectives interleave
                double[] again = {rank};
                ring.sumScalars(again, 1);
                return new double[] {v[0], v[1], v[2], again[0]};
            });
            for (double[] g : got) {
                assertEquals(1.0, g[0]);
                assertEquals(0.1 + 0.2 + 0.30000000000000004, g[1], 0.0);
                assertEquals(384.0, g[2]);
                assertEquals(3.0, g[3]);
            }
        }
    }

    @ParameterizedTest(name = "{0} ranks over {1}")
    @CsvSource({"2, IPC", "3, UDP", "4, IPC"})
    void shouldSendBfloat16AndEndWithTheSameBitsOnEveryRankAsTheRoundedSerialSum(int world, Transport transport)
            throws Exception {
        try (Rings rings = new Rings(world, transport, 5L, 20_000, Compression.BF16)) {
            int size = 1_000_003; // four segments, the last uneven
            float[] want = reference(world, size, 2, true);
            float[] exact = reference(world, size, 2, false);
            List<float[]> got = rings.onEveryRank((rank, ring) -> {
                float[] b = input(rank, size, 2);
                long sent = ring.sentBytes();
                ring.allReduce(b, 0, size, 2);
                // 2(N-1)/N of the values, two bytes each, and a 32-byte header a frame
                long values = 2L * (world - 1) * size / world;
                assertEquals(2 * values, ring.sentBytes() - sent, 32.0 * (values / ring.fragmentFloats() + 64));
                return b;
            });
            for (int r = 0; r < world; r++) {
                float[] g = got.get(r);
                for (int i = 0; i < size; i++) {
                    if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(g[i])) {
                        throw new AssertionError("rank " + r + " element " + i + ": " + g[i] + " != " + want[i]);
                    }
                    // each of the N - 1 roundings is off by at most half a bfloat16 ulp of a partial sum
                    assertEquals(exact[i], g[i], world * Math.ulp(Math.abs(exact[i]) + world) * 65536, "element " + i);
                }
            }
        }
    }

    @Test
    void shouldRoundToNearestEvenAndKeepNaNAndInfinity() {
        assertEquals(1.0f, Bf16.widen(Bf16.round(1.0f)));
        assertEquals(1.0078125f, Bf16.widen(Bf16.round(1.005f))); // the nearest of 1 and 1 + 2^-7
        assertEquals(1.0f, Bf16.widen(Bf16.round(Float.intBitsToFloat(0x3f808000)))); // a tie: to even (1.0)
        assertEquals(1.015625f, Bf16.widen(Bf16.round(Float.intBitsToFloat(0x3f818000)))); // a tie: to even
        assertTrue(Float.isNaN(Bf16.widen(Bf16.round(Float.intBitsToFloat(0x7f800001))))); // signalling NaN
        assertEquals(Float.POSITIVE_INFINITY, Bf16.widen(Bf16.round(Float.MAX_VALUE)));
        assertEquals(Float.NEGATIVE_INFINITY, Bf16.widen(Bf16.round(Float.NEGATIVE_INFINITY)));
        assertEquals(-0.0f, Bf16.widen(Bf16.round(-0.0f)));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void shouldMeasureEveryLinkAndAgreeOnTheRatesThenSumAsBefore(Transport transport) throws Exception {
        try (Rings rings = new Rings(3, transport, 8L, 20_000)) {
            List<double[]> got = rings.onEveryRank((rank, ring) -> {
                double[] rates = ring.probeLinks(1 << 20, 0);
                float[] b = input(rank, 70_000, 1);
                ring.allReduce(b, 0, b.length, 1); // the collectives after the probe line up
                float[] want = reference(3, 70_000, 1);
                for (int i = 0; i < want.length; i++) {
                    assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(b[i]), "element " + i);
                }
                return rates;
            });
            for (double[] rates : got) {
                assertEquals(3, rates.length);
                assertArrayEquals(got.get(0), rates, "every rank has every rank's rate");
                for (double v : rates) {
                    assertTrue(v > 1e6 && Double.isFinite(v), "a rate in bytes/s: " + v);
                }
            }
        }
    }

    @Test
    void shouldIgnoreAForgedFrameWithAnotherToken() throws Exception {
        try (Rings rings = new Rings(2, Transport.IPC, 42L, 20_000);
                Aeron forger =
                        Aeron.connect(new Aeron.Context().aeronDirectoryName(rings.driver.aeronDirectoryName()));
                ExclusivePublication pub = forger.addExclusivePublication("aeron:ipc?term-length=65536", 7001 + 1)) {
            UnsafeBuffer frame = new UnsafeBuffer(ByteBuffer.allocateDirect(Frame.LENGTH + 4));
            Frame.write(frame, 0, Frame.REDUCE_SCATTER, 0, 0, 41L, 0, 0, 1); // rank 0's frame to rank 1, wrong token
            frame.putFloat(Frame.LENGTH, 1e30f);
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (pub.offer(frame, 0, Frame.LENGTH + 4) < 0) {
                assertTrue(System.nanoTime() < deadline, "the forger could not publish");
                Thread.onSpinWait();
            }
            // the forger's image joins rank 1's subscription in its own time: reduce until its frame has been seen
            for (int round = 0; rings.ranks.get(1).droppedStrangerFrames() == 0; round++) {
                assertTrue(round < 2_000, "the forged frame never reached rank 1");
                long step = round;
                List<Float> got = rings.onEveryRank((rank, ring) -> {
                    float[] b = {rank + 1f, 10f};
                    ring.allReduce(b, 0, 2, step);
                    return b[0];
                });
                assertEquals(List.of(3f, 3f), got, "the forged 1e30 never enters a sum");
            }
            assertEquals(1, rings.ranks.get(1).droppedStrangerFrames());
            assertEquals(0, rings.ranks.get(0).droppedStrangerFrames());
        }
    }

    @Test
    void shouldFailWithinTheTimeoutWhenAPeerStopsTakingPart() throws Exception {
        try (Rings rings = new Rings(3, Transport.IPC, 5L, 1_500)) {
            long start = System.nanoTime();
            ExecutionException e = assertThrows(
                    ExecutionException.class,
                    () -> rings.onEveryRank((rank, ring) -> {
                        if (rank == 2) {
                            return null; // rank 2 never joins step 17
                        }
                        ring.allReduce(new float[1000], 0, 1000, 17);
                        return null;
                    }));
            double seconds = (System.nanoTime() - start) / 1e9;
            assertTrue(seconds < 10, "failed after " + seconds + " s");
            assertTrue(e.getCause() instanceof AllReduceException, String.valueOf(e.getCause()));
            String message = e.getCause().getMessage();
            assertTrue(message.contains("all-reduce of step 17"), message);
            assertTrue(message.contains("rank 2"), message);
        }
    }

    @Test
    void shouldRemoveTheDriverDirectoryAndStopItsKeeperOnClose() throws Exception {
        String dir;
        try (Rings rings = new Rings(2, Transport.UDP, 1L, 20_000)) {
            dir = rings.driver.aeronDirectoryName();
            assertTrue(Files.isDirectory(Path.of(dir)));
            assertFalse(rings.ranks.get(0).endpoint().endsWith(":0"), "the OS picked a port");
            assertTrue(driverKeeperRunning());
        }
        assertFalse(Files.exists(Path.of(dir)), "no leftovers under /dev/shm");
        assertFalse(driverKeeperRunning(), "the driver's keeper thread ends with the driver");
    }

    private static boolean driverKeeperRunning() {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.isAlive() && t.getName().equals("ringtape-aeron-driver"));
    }
}
