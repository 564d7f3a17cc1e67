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

    /** What one barrier task runs: its partition's elements (its rank) in, its results out. */
    @FunctionalInterface
    interface Task<R> extends Serializable {
        List<R> run() throws Exception;
    }

    /** Runs {@code tasks} barrier tasks of {@code task} and collects their results, in partition order. */
    static <R> List<R> run(SparkContext sc, int tasks, Task<R> task, Class<R> type) {
        List<Integer> ranks = java.util.stream.IntStream.range(0, tasks).boxed().toList();
        ClassTag<Integer> intTag = ClassTag$.MODULE$.apply(Integer.class);
        ClassTag<R> tag = ClassTag$.MODULE$.apply(type);
        RDD<Integer> rdd = sc.parallelize(CollectionConverters.asScala(ranks).toSeq(), tasks, intTag);
        RDD<R> out = rdd.barrier().mapPartitions(new Adapter<>(task), false, tag);
        Object collected = out.collect();
        @SuppressWarnings("unchecked")
        R[] results = (R[]) collected;
        return List.of(results);
    }

    private static final class Adapter<R>
            extends AbstractFunction1<scala.collection.Iterator<Integer>, scala.collection.Iterator<R>>
            implements Serializable {
        private final Task<R> task;

        Adapter(Task<R> task) {
            this.task = task;
        }

        @Override
        public scala.collection.Iterator<R> apply(scala.collection.Iterator<Integer> partition) {
            try {
                return CollectionConverters.asScala(task.run().iterator());
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
        }
    }
}
