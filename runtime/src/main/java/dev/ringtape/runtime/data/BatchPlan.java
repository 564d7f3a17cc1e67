package dev.ringtape.runtime.data;

/**
 * Which samples each worker and micro-batch sees. Every epoch has one seeded permutation, the same on every worker;
 * optimizer step s takes the global batch {@code perm[s*G, (s+1)*G)}; worker r of N takes the r-th of N equal
 * slices of it, and micro-batch m the m-th of k equal slices of that. So N workers with k micro-batches see exactly
 * the samples one worker sees with one batch of G. An incomplete last global batch is dropped (PyTorch's {@code
 * drop_last}); a different one each epoch, since the permutation changes.
 */
public final class BatchPlan {
    private final int samples;
    private final int globalBatch;
    private final int workers;
    private final int microBatches;
    private final long seed;

    public BatchPlan(int samples, int globalBatch, int workers, int microBatches, long seed) {
        if (globalBatch % (workers * microBatches) != 0) {
            throw new IllegalArgumentException("global batch " + globalBatch + " does not split evenly over " + workers
                    + " workers x " + microBatches + " micro-batches");
        }
        if (samples < globalBatch) {
            throw new IllegalArgumentException(
                    "the training data has " + samples + " samples, fewer than one global batch of " + globalBatch);
        }
        this.samples = samples;
        this.globalBatch = globalBatch;
        this.workers = workers;
        this.microBatches = microBatches;
        this.seed = seed;
    }

    public int stepsPerEpoch() {
        return samples / globalBatch;
    }

    public int microBatches() {
        return microBatches;
    }

    public int microBatchSize() {
        return globalBatch / (workers * microBatches);
    }

    /** The permutation of epoch {@code epoch} (1-based). */
    public int[] order(int epoch) {
        return Dataset.permutation(samples, seed * 1_000_003L + epoch);
    }

    /** The offset into {@code order(epoch)} of the given step-in-epoch, rank and micro-batch. */
    public int offset(int stepInEpoch, int rank, int micro) {
        return stepInEpoch * globalBatch + rank * (globalBatch / workers) + micro * microBatchSize();
    }
}
