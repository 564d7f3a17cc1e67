package dev.ringtape.scheduler.driver;

import java.io.Serializable;
import java.util.List;
import org.apache.spark.SparkContext;
import org.apache.spark.rdd.RDD;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

/** The one place Scala's API is spoken: runs a Java function as the tasks of one barrier stage. */
final class Barrier {
    private Barrier() {}

    /** The stage failed (a task failed, an executor was lost, too few slots): Spark's exception as the cause. */
    static final class StageFailed extends RuntimeException {
        StageFailed(Exception cause) {
            super(cause.getMessage(), cause);
        }
    }

    /** What one barrier task runs: its partition's elements in, its results out. */
    @FunctionalInterface
    interface Task<T, R> extends Serializable {
        List<R> run(java.util.Iterator<T> partition) throws Exception;
    }

    /** {@code n} partitions holding their index: the input of a stage whose tasks read their own data. */
    static RDD<Integer> ranks(SparkContext sc, int n) {
        List<Integer> ranks = java.util.stream.IntStream.range(0, n).boxed().toList();
        return sc.parallelize(CollectionConverters.asScala(ranks).toSeq(), n, ClassTag$.MODULE$.apply(Integer.class));
    }

    /** Runs one barrier task of {@code task} per partition of {@code input}; their results, in partition order. */
    static <T, R> List<R> run(RDD<T> input, Task<T, R> task, Class<R> type) {
        ClassTag<R> tag = ClassTag$.MODULE$.apply(type);
        RDD<R> out = input.barrier().mapPartitions(new Adapter<>(task), false, tag);
        Object collected;
        try {
            collected = out.collect();
        } catch (Exception e) { // Scala throws SparkException, a checked exception to Java, undeclared
            throw e instanceof RuntimeException re ? re : new StageFailed(e);
        }
        @SuppressWarnings("unchecked")
        R[] results = (R[]) collected;
        return List.of(results);
    }

    private static final class Adapter<T, R>
            extends AbstractFunction1<scala.collection.Iterator<T>, scala.collection.Iterator<R>>
            implements Serializable {
        private final Task<T, R> task;

        Adapter(Task<T, R> task) {
            this.task = task;
        }

        @Override
        public scala.collection.Iterator<R> apply(scala.collection.Iterator<T> partition) {
            try {
                return CollectionConverters.asScala(
                        task.run(CollectionConverters.asJava(partition)).iterator());
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
        }
    }
}
