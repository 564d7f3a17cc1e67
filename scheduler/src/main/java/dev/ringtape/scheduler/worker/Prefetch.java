package dev.ringtape.scheduler.worker;

import dev.ringtape.runtime.data.DataException;
import dev.ringtape.scheduler.job.JobSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * In local mode the ranks run in the driver's JVM, and the SparkContext takes a second and more to start, mostly on
 * one thread: the driver starts reading the job's file sources then, on a thread of its own, and fitting their
 * normalizer; the first rank that asks for that job's data takes them (once: a rank normalizes its data in place;
 * other ranks, and a stage run again, read their own). Nothing changes on a cluster, where ranks run in other JVMs.
 */
public final class Prefetch {
    private static final Map<List<Object>, CompletableFuture<Worker.Read>> READS = new ConcurrentHashMap<>();

    private Prefetch() {}

    /** What the data of {@code job} is read from and how it is split: equal for the job the driver ships. */
    private static List<Object> key(JobSpec job) {
        return List.of(job.data(), job.seed());
    }

    /**
     * Starts reading the file sources of {@code job} (paths resolved) and fitting their normalizer on a daemon thread;
     * sharded sources are Spark's.
     */
    public static void start(JobSpec job, Path jobDir) {
        if (job.data().train().sharded()) {
            return;
        }
        CompletableFuture<Worker.Read> read = new CompletableFuture<>();
        READS.put(key(job), read);
        Thread t = new Thread(
                () -> {
                    try {
                        read.complete(Worker.read(job, jobDir));
                    } catch (DataException | RuntimeException e) {
                        read.completeExceptionally(e);
                    }
                },
                "ringtape-prefetch");
        t.setDaemon(true);
        t.start();
    }

    /** The data prefetched for {@code job}, waiting for the read to finish, or null when none was (or was taken). */
    static Worker.Read take(JobSpec job) throws DataException {
        CompletableFuture<Worker.Read> read = READS.remove(key(job));
        if (read == null) {
            return null;
        }
        try {
            return read.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof DataException d) {
                throw d;
            }
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    /** Drops whatever was prefetched and not taken (a run that ended before its ranks asked). */
    public static void clear() {
        READS.clear();
    }
}
