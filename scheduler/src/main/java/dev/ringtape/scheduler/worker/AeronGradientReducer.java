package dev.ringtape.scheduler.worker;

import dev.ringtape.allreduce.BucketedAllReduce;
import dev.ringtape.allreduce.Buckets;
import dev.ringtape.allreduce.RingAllReduce;
import dev.ringtape.runtime.train.GradientReducer;
import java.nio.ByteBuffer;
import java.util.List;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The trainer's {@link GradientReducer} port on the Aeron ring: the packed gradients are copied into a direct arena
 * (one bulk copy each way), summed bucket by bucket ({@code allreduce.bucket_mb}, last layers first) by the ring's
 * agent thread, and copied back. Scalar sums ride the same agent, so the ring is only ever driven by one thread.
 */
public final class AeronGradientReducer implements GradientReducer, AutoCloseable {
    private static final long FLOAT_ARRAY_BASE = UnsafeApi.arrayBaseOffset(float[].class);

    private final RingAllReduce ring;
    private final UnsafeBuffer arena;
    private final BucketedAllReduce buckets;
    private long calls;

    /** A reducer for gradients packed from tensors of {@code sizes} floats, in buckets of {@code bucketBytes}. */
    public AeronGradientReducer(RingAllReduce ring, int[] sizes, long bucketBytes) {
        this.ring = ring;
        long total = 0;
        for (int s : sizes) {
            total += s;
        }
        this.arena = new UnsafeBuffer(ByteBuffer.allocateDirect((int) (4 * Math.max(total, 1))));
        List<Buckets.Bucket> plan = Buckets.plan(sizes.length == 0 ? new int[] {0} : sizes, bucketBytes);
        this.buckets = new BucketedAllReduce(ring, arena, plan);
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
        if (offset != 0 || length * 4L > arena.capacity()) {
            throw new IllegalArgumentException(
                    "the arena holds " + arena.capacity() / 4 + " floats from 0, asked " + offset + "+" + length);
        }
        long bytes = 4L * length;
        UnsafeApi.copyMemory(values, FLOAT_ARRAY_BASE + 4L * offset, null, arena.addressOffset(), bytes);
        buckets.allReduce(calls++);
        UnsafeApi.copyMemory(null, arena.addressOffset(), values, FLOAT_ARRAY_BASE + 4L * offset, bytes);
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
