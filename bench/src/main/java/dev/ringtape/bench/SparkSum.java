package dev.ringtape.bench;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * Spark's own way to sum one array per partition, the reference of the all-reduce benchmarks. A class of its own,
 * using nothing of Ringtape's, because its lambdas run on executors that load it from bench/target/classes alone.
 */
final class SparkSum {
    private SparkSum() {}

    /** Seconds of each of {@code reps} sums of one float[] per partition with {@code treeAggregate}, cached first. */
    static double[] treeAggregateTimes(JavaSparkContext sc, int partitions, int floats, int reps) {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            ids.add(i);
        }
        JavaRDD<float[]> data = sc.parallelize(ids, partitions)
                .map(i -> {
                    float[] v = new float[floats];
                    java.util.Arrays.fill(v, 1f);
                    return v;
                })
                .cache();
        data.count();
        double[] times = new double[reps];
        for (int rep = 0; rep < reps; rep++) {
            long t0 = System.nanoTime();
            float[] sum = data.treeAggregate(
                    new float[floats],
                    (acc, v) -> {
                        for (int i = 0; i < acc.length; i++) {
                            acc[i] += v[i];
                        }
                        return acc;
                    },
                    (a, b) -> {
                        for (int i = 0; i < a.length; i++) {
                            a[i] += b[i];
                        }
                        return a;
                    },
                    2);
            times[rep] = (System.nanoTime() - t0) / 1e9;
            if (sum[0] != partitions) {
                throw new IllegalStateException("treeAggregate summed to " + sum[0]);
            }
        }
        data.unpersist(true);
        return times;
    }
}
