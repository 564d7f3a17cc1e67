package dev.ringtape.scheduler.driver;

import dev.ringtape.runtime.data.DataException;
import dev.ringtape.runtime.data.Normalizer;
import dev.ringtape.scheduler.job.DataFormat;
import dev.ringtape.scheduler.job.JobSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.storage.StorageLevel;

/**
 * Sources Spark reads on the driver (parquet, libsvm) as {@code workers} partitions of rows {@code [label,
 * features...]}: the held-out split is Spark's seeded {@code randomSplit}, the normalization statistics are
 * gathered over the training partitions and merged (so they are those of the whole training data), and the
 * smallest partition's size is counted, since every rank must take the same number of steps.
 */
final class ShardedData implements AutoCloseable {
    final JavaRDD<float[]> train;
    final JavaRDD<float[]> eval;
    final Normalizer.Stats stats;
    final int smallestTrainShard;
    final long trainRows;

    private ShardedData(
            JavaRDD<float[]> train, JavaRDD<float[]> eval, Normalizer.Stats stats, int smallestTrainShard, long rows) {
        this.train = train;
        this.eval = eval;
        this.stats = stats;
        this.smallestTrainShard = smallestTrainShard;
        this.trainRows = rows;
    }

    static ShardedData read(SparkSession spark, JobSpec job, int features) throws DataException {
        JobSpec.Data data = job.data();
        Dataset<Row> all = frame(spark, data.train(), features, "data.train");
        Dataset<Row> trainFrame = all;
        Dataset<Row> evalFrame = null;
        if (data.eval() != null) {
            evalFrame = frame(spark, data.eval(), features, "data.eval");
        } else if (data.evalSplit() > 0) {
            Dataset<Row>[] parts = all.randomSplit(new double[] {1 - data.evalSplit(), data.evalSplit()}, job.seed());
            trainFrame = parts[0];
            evalFrame = parts[1];
        }
        int workers = job.workers();
        JavaRDD<float[]> train = rows(trainFrame, features, data.train().path())
                .repartition(workers)
                .persist(StorageLevel.MEMORY_AND_DISK());
        JavaRDD<float[]> eval = evalFrame == null
                ? train.mapPartitions(it -> new ArrayList<float[]>().iterator())
                : rows(evalFrame, features, data.train().path())
                        .repartition(workers)
                        .persist(StorageLevel.MEMORY_AND_DISK());
        List<Long> sizes;
        Normalizer.Stats stats;
        try {
            sizes = train.mapPartitions(it -> {
                        long n = 0;
                        for (; it.hasNext(); it.next()) {
                            n++;
                        }
                        return List.of(n).iterator();
                    })
                    .collect();
            stats = train.aggregate(
                    new Normalizer.Stats(features),
                    (s, row) -> {
                        s.add(row, 1);
                        return s;
                    },
                    Normalizer.Stats::merge);
        } catch (RuntimeException e) {
            throw new DataException(data.train().path() + ": " + firstLine(e));
        }
        long smallest = sizes.stream().mapToLong(Long::longValue).min().orElse(0);
        return new ShardedData(
                train,
                eval,
                stats,
                (int) smallest,
                sizes.stream().mapToLong(Long::longValue).sum());
    }

    /** The source as a frame of two columns: a numeric label and the features (a vector or a numeric array). */
    private static Dataset<Row> frame(SparkSession spark, JobSpec.Source s, int features, String key)
            throws DataException {
        Dataset<Row> df;
        try {
            df = s.kind() == DataFormat.LIBSVM
                    ? spark.read()
                            .format("libsvm")
                            .option("numFeatures", features)
                            .load(s.path())
                    : spark.read().parquet(s.path());
        } catch (RuntimeException e) {
            throw new DataException(s.path() + ": " + firstLine(e));
        }
        String label = s.kind() == DataFormat.LIBSVM ? "label" : s.label();
        String feats = s.options().path("features").asText("features");
        List<String> columns = Arrays.asList(df.columns());
        for (String c : List.of(label, feats)) {
            if (!columns.contains(c)) {
                throw new DataException(
                        s.path() + ": no column '" + c + "' (" + key + "." + (c.equals(label) ? "label" : "features")
                                + "); its columns are " + String.join(", ", columns));
            }
        }
        StructField lf = df.schema().apply(label);
        StructField ff = df.schema().apply(feats);
        if (!(lf.dataType() instanceof NumericType)) {
            throw new DataException(s.path() + ": label column '" + label + "' is "
                    + lf.dataType().simpleString() + ", not a number");
        }
        DataType t = ff.dataType();
        boolean array = t instanceof ArrayType a && a.elementType() instanceof NumericType;
        boolean vector = t.typeName().equals("vector");
        if (!array && !vector) {
            throw new DataException(s.path() + ": features column '" + feats + "' is " + t.simpleString()
                    + "; expected array<float>, array<double> or a Spark ML vector");
        }
        return df.select(label, feats);
    }

    private static JavaRDD<float[]> rows(Dataset<Row> df, int features, String path) {
        return df.javaRDD().map(row -> {
            float[] r = new float[features + 1];
            r[0] = ((Number) row.get(0)).floatValue();
            Object f = row.get(1);
            if (f instanceof Vector v) {
                if (v.size() != features) {
                    throw new IllegalArgumentException(
                            path + ": a row has " + v.size() + " features but model.input has " + features);
                }
                for (int j = 0; j < features; j++) {
                    r[j + 1] = (float) v.apply(j);
                }
            } else {
                List<Object> list = row.getList(1);
                if (list.size() != features) {
                    throw new IllegalArgumentException(
                            path + ": a row has " + list.size() + " features but model.input has " + features);
                }
                for (int j = 0; j < features; j++) {
                    Object o = list.get(j);
                    r[j + 1] = o == null ? Float.NaN : ((Number) o).floatValue();
                }
            }
            return r;
        });
    }

    /** Each rank's shard, its training and held-out rows side by side, as the barrier stage's input. */
    @SuppressWarnings("unchecked")
    org.apache.spark.rdd.RDD<Object> zipped() {
        Normalizer.Stats s = stats;
        int smallest = smallestTrainShard;
        int features = s.features();
        JavaRDD<Shard> shards = train.zipPartitions(
                eval, (a, b) -> List.of(new Shard(Shard.rows(a, features), Shard.rows(b, features), s, smallest))
                        .iterator());
        return (org.apache.spark.rdd.RDD<Object>) (org.apache.spark.rdd.RDD<?>) shards.rdd();
    }

    static String firstLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = String.valueOf(root.getMessage());
        return m.lines().findFirst().orElse(m).replaceFirst("^\\[[A-Z_.]+] ", "");
    }

    @Override
    public void close() {
        train.unpersist(false);
        eval.unpersist(false);
    }
}
