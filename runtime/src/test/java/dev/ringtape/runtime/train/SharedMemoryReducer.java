package dev.ringtape.runtime.train;

import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Workers as threads of one JVM, summing through shared memory: each rank reduces its 1/N slice of the arena over
 * all ranks, in rank order (so results are the same run to run), then every rank copies the whole sum. A rank that
 * fails or stalls breaks the barrier, and the others fail within the timeout instead of hanging.
 */
public final class SharedMemoryReducer {
    private final int world;
    private final CyclicBarrier barrier;
    private final long timeoutMs;
    private final float[][] arenas;
    private final double[][] scalars;
    private float[] result = new float[0];

    public SharedMemoryReducer(int world, long timeoutMs) {
        this.world = world;
        this.barrier = new CyclicBarrier(world);
        this.timeoutMs = timeoutMs;
        this.arenas = new float[world][];
        this.scalars = new double[world][];
    }

    /**
     * The reducer of rank {@code rank} summing each bucket on a thread of its own, as the Aeron ring does, while the
     * caller goes on with backward; {@link GradientReducer#finishSums()} waits. Close the returned executor after.
     */
    public GradientReducer rankOnAnotherThread(int rank, java.util.concurrent.ExecutorService thread) {
        GradientReducer sync = rank(rank);
        java.util.List<java.util.concurrent.Future<?>> pending = new java.util.ArrayList<>();
        return new GradientReducer() {
            @Override
            public int rank() {
                return rank;
            }

            @Override
            public int worldSize() {
                return world;
            }

            @Override
            public void sum(float[] arena, int offset, int length) {
                startSum(arena, offset, length);
                finishSums();
            }

            @Override
            public void startSum(float[] arena, int offset, int length) {
                pending.add(thread.submit(() -> sync.sum(arena, offset, length)));
            }

            @Override
            public void finishSums() {
                try {
                    for (java.util.concurrent.Future<?> f : pending) {
                        f.get(timeoutMs, TimeUnit.MILLISECONDS);
                    }
                } catch (Exception e) {
                    throw new IllegalStateException("a bucket's sum failed", e);
                } finally {
                    pending.clear();
                }
            }

            @Override
            public void sumScalars(double[] values) {
                finishSums();
                sync.sumScalars(values);
            }
        };
    }

    /** The reducer of rank {@code rank}. */
    public GradientReducer rank(int rank) {
        if (rank < 0 || rank >= world) {
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + world + ")");
        }
        return new GradientReducer() {
            @Override
            public int rank() {
                return rank;
            }

            @Override
            public int worldSize() {
                return world;
            }

            @Override
            public void sum(float[] arena, int offset, int length) {
                arenas[rank] = arena;
                if (rank == 0 && result.length < length) {
                    result = new float[length];
                }
                await(rank);
                int from = (int) ((long) length * rank / world);
                int to = (int) ((long) length * (rank + 1) / world);
                for (int i = from; i < to; i++) {
                    float s = arenas[0][offset + i];
                    for (int r = 1; r < world; r++) {
                        s += arenas[r][offset + i];
                    }
                    result[i] = s;
                }
                await(rank);
                System.arraycopy(result, 0, arena, offset, length);
                await(rank);
            }

            @Override
            public void sumScalars(double[] values) {
                scalars[rank] = values.clone();
                await(rank);
                for (int i = 0; i < values.length; i++) {
                    double s = scalars[0][i];
                    for (int r = 1; r < world; r++) {
                        s += scalars[r][i];
                    }
                    values[i] = s;
                }
                await(rank);
            }
        };
    }

    private void await(int rank) {
        try {
            barrier.await(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new IllegalStateException(
                    "rank " + rank + ": a peer did not reach the all-reduce within " + timeoutMs + " ms");
        } catch (BrokenBarrierException e) {
            throw new IllegalStateException("rank " + rank + ": a peer failed during the all-reduce");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("rank " + rank + ": interrupted in the all-reduce");
        }
    }
}
