package dev.ringtape.scheduler.worker;

import dev.ringtape.allreduce.BucketedAllReduce;
import dev.ringtape.allreduce.RingAllReduce;
import dev.ringtape.runtime.train.GradientReducer;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The trainer's {@link GradientReducer} port on the Aeron ring: each bucket the trainer starts is copied into a
 * direct arena (one bulk copy) and summed by the ring's agent thread while backward goes on; {@link #finishSums()}
 * waits and copies the sums back. Scalar sums ride the same agent, so the ring is only ever driven by one thread.
 */
public final class AeronGradientReducer implements GradientReducer, AutoCloseable {
    private static final long FLOAT_ARRAY_BASE = UnsafeApi.arrayBaseOffset(float[].class);

    private final RingAllReduce ring;
    private final UnsafeBuffer arena;
    private final BucketedAllReduce buckets;
    private final List<int[]> started = new ArrayList<>();
    private float[] target;
    private long calls;

    /** A reducer for arenas of up to {@code floats} floats. */
    public AeronGradientReducer(RingAllReduce ring, int floats) {
        this.ring = ring;
        this.arena = new UnsafeBuffer(ByteBuffer.allocateDirect(4 * Math.max(floats, 1)));
        this.buckets = new BucketedAllReduce(ring, arena);
    }

    @Override
    public int rank() {
        return ring.rank();
    }

    @Override
    public int worldSize() {
        return ring.worldSize();
    }

    @Override
    public void sum(float[] values, int offset, int length) {
        startSum(values, offset, length);
        finishSums();
    }

    @Override
    public void startSum(float[] values, int offset, int length) {
        if (offset < 0 || 4L * (offset + (long) length) > arena.capacity()) {
            throw new IllegalArgumentException(
                    "the arena holds " + arena.capacity() / 4 + " floats, asked " + offset + "+" + length);
        }
        if (target != null && target != values) {
            throw new IllegalStateException("finishSums() before summing another arena");
        }
        target = values;
        UnsafeApi.copyMemory(
                values, FLOAT_ARRAY_BASE + 4L * offset, null, arena.addressOffset() + 4L * offset, 4L * length);
        buckets.submit(offset, length, calls);
        started.add(new int[] {offset, length});
    }

    @Override
    public void finishSums() {
        buckets.await();
        for (int[] r : started) {
            UnsafeApi.copyMemory(
                    null, arena.addressOffset() + 4L * r[0], target, FLOAT_ARRAY_BASE + 4L * r[0], 4L * r[1]);
        }
        started.clear();
        target = null;
        calls++;
    }

    @Override
    public void sumScalars(double[] values) {
        buckets.submitScalars(values, calls++);
        buckets.await();
    }

    @Override
    public void close() {
        buckets.close();
    }
}
