package dev.ringtape.runtime.data;

/**
 * Which samples each worker and micro-batch sees. Every epoch has one seeded permutation, the same on every worker;
 * optimizer step s takes the global batch {@code perm[s*G, (s+1)*G)}; worker r of N takes the r-th of N equal
 * slices of it, and micro-batch m the m-th of k equal slices of that. So N workers with k micro-batches see exactly
 * the samples one worker sees with one batch of G. An incomplete last global batch is dropped (PyTorch's {@code
 * drop_last}); a different one each epoch, since the permutation changes.
 *
 * <p>A {@link #sharded} plan is for data that each worker holds only a part of (a Spark partition): each worker
 * shuffles its own shard every epoch and takes its slice of each global batch ({@code G / N} samples) from it.
 */
public final class BatchPlan {
    private final int samples;
    private final int globalBatch;
    private final int workers;
    private final int microBatches;
    private final long seed;
    private final int shardOf;
    private final int stepSamples;

    public BatchPlan(int samples, int globalBatch, int workers, int microBatches, long seed) {
        this(samples, samples, globalBatch, workers, microBatches, seed, -1);
    }

    /**
     * The plan of worker {@code rank} over its own shard of {@code samples} samples; steps per epoch follow the
     * smallest shard ({@code smallestShard} samples), so every worker takes the same number of steps.
     */
    public static BatchPlan sharded(
            int samples, int smallestShard, int globalBatch, int workers, int microBatches, long seed, int rank) {
        return new BatchPlan(samples, smallestShard, globalBatch, workers, microBatches, seed, rank);
    }

    private BatchPlan(
            int samples, int stepSamples, int globalBatch, int workers, int microBatches, long seed, int shardOf) {
        if (globalBatch % (workers * microBatches) != 0) {
            throw new IllegalArgumentException("global batch " + globalBatch + " does not split evenly over " + workers
                    + " workers x " + microBatches + " micro-batches");
        }
        int perBatch = shardOf < 0 ? globalBatch : globalBatch / workers;
        if (stepSamples < perBatch) {
            throw new IllegalArgumentException(
                    shardOf < 0
                            ? "the training data has " + samples + " samples, fewer than one global batch of "
                                    + globalBatch
                            : "the smallest shard of the training data has " + stepSamples + " samples, fewer than a"
                                    + " worker's " + perBatch + " of each global batch of " + globalBatch);
        }
        this.samples = samples;
        this.globalBatch = globalBatch;
        this.workers = workers;
        this.microBatches = microBatches;
        this.seed = seed;
        this.shardOf = shardOf;
        this.stepSamples = stepSamples;
    }

    public int stepsPerEpoch() {
        return stepSamples / (shardOf < 0 ? globalBatch : globalBatch / workers);
    }

    public int microBatches() {
        return microBatches;
    }

    public int microBatchSize() {
        return globalBatch / (workers * microBatches);
    }

    /** The permutation of epoch {@code epoch} (1-based). */
    public int[] order(int epoch) {
        long s = seed * 1_000_003L + epoch;
        return Dataset.permutation(samples, shardOf < 0 ? s : s * 31 + shardOf + 1);
    }

    /** The offset into {@code order(epoch)} of the given step-in-epoch, rank and micro-batch. */
    public int offset(int stepInEpoch, int rank, int micro) {
        if (shardOf >= 0) {
            return stepInEpoch * (globalBatch / workers) + micro * microBatchSize();
        }
        return stepInEpoch * globalBatch + rank * (globalBatch / workers) + micro * microBatchSize();
    }
}
