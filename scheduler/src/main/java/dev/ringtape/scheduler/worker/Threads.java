package dev.ringtape.scheduler.worker;

/**
 * How many compute (GEMM) threads a worker runs: the job's {@code threads: N}, or with {@code threads: auto} the
 * cores its task owns. On a cluster that is {@code spark.task.cpus} (capped by this executor's cores over the ranks
 * it runs). In local mode the driver shares the JVM and its cores (telemetry merging, Spark, the JIT compiler): one
 * core is left to it and the rest split over the ranks. The count is one setting per JVM, so every rank in a JVM
 * gets the same; it changes no result, only how fast a large product runs (the CPU backend's GemmBlocks).
 *
 * <p>Measured (bench/RESULTS.md), Fashion-MNIST MLP on 2 cores, one worker: one BLAS thread trained in 4.2 s where
 * OpenBLAS's own default (one per core) took 6.3 s: its second thread spun between GEMMs on the core the driver
 * needs.
 *
 * @param count the threads
 * @param why one line saying where the number came from, for the {@code run} record and {@code doctor}
 * @param oversubscribed whether the ranks of this JVM would run more threads than it has cores
 */
public record Threads(int count, String why, boolean oversubscribed) {
    /**
     * @param requested the job's {@code threads} (0: auto)
     * @param taskCpus {@code spark.task.cpus} of this task
     * @param ranksHere the ranks of this job running in this JVM
     * @param cores the cores this JVM may use
     * @param driverHere whether the driver runs in this JVM (local mode)
     */
    public static Threads choose(int requested, int taskCpus, int ranksHere, int cores, boolean driverHere) {
        int n;
        String why;
        if (requested > 0) {
            n = requested;
            why = "threads: " + requested + " in the job";
        } else if (driverHere) {
            n = Math.max(1, (cores - 1) / ranksHere);
            why = "auto: local mode, " + cores + " core(s), one left to the driver, " + ranksHere + " worker(s)";
        } else {
            n = Math.max(1, Math.min(taskCpus, cores / ranksHere));
            why = "auto: spark.task.cpus=" + taskCpus + ", " + cores + " core(s) for " + ranksHere
                    + " worker(s) in this executor";
        }
        return new Threads(n, why, (long) n * ranksHere > cores);
    }

    /** The warning for an oversubscribed JVM, or null. */
    public String warning() {
        return oversubscribed
                ? "warning: " + count + " compute thread(s) per worker (" + why + ") run more threads than this JVM"
                        + " has cores; each step will wait on the others: lower threads, or give the task more"
                        + " cores (spark.task.cpus)"
                : null;
    }
}
