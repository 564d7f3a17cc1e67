package dev.ringtape.scheduler.driver;

import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.data.Normalizer;
import java.util.Iterator;

/**
 * One rank's part of a sharded source (parquet, libsvm): its training and held-out rows, the normalization
 * statistics of the whole training data (gathered on the driver), and the smallest training shard's size, which
 * sets every rank's steps per epoch.
 */
record Shard(Dataset train, Dataset eval, Normalizer.Stats stats, int smallestTrainShard) {

    /** Rows as Spark hands them: {@code [label, feature 0, feature 1, ...]}. */
    static Dataset rows(Iterator<float[]> rows, int features) {
        float[] x = new float[1024 * features];
        float[] y = new float[1024];
        int n = 0;
        while (rows.hasNext()) {
            float[] r = rows.next();
            if (n == y.length) {
                y = java.util.Arrays.copyOf(y, 2 * n);
                x = java.util.Arrays.copyOf(x, 2 * n * features);
            }
            y[n] = r[0];
            System.arraycopy(r, 1, x, n * features, features);
            n++;
        }
        return new Dataset(
                java.util.Arrays.copyOf(x, n * features), java.util.Arrays.copyOf(y, n), new int[] {features});
    }
}
