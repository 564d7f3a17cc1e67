package dev.ringtape.allreduce;

import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.agrona.concurrent.AgentInvoker;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.SleepingIdleStrategy;

/**
 * An Aeron media driver in this JVM whose duty cycle runs on whichever thread has time for it: a ring of this JVM
 * that waits for its peers runs it ({@link AllReduceContext#driver}), and a keeper thread runs it once a
 * millisecond the rest of the time (between collectives, and for rings of other processes on this driver).
 *
 * <p>Why: on a 2-core machine two ranks and a driver thread are three busy threads on two cores, and the driver
 * (which for IPC moves the publishers' limits and zeroes the terms readers have passed, for UDP also reads and
 * writes the sockets) waited for a core while a rank idled for it. Run by the waiting ranks, 64 MiB all-reduces of
 * two ranks went from 2.27 to 2.63 GB/s over IPC and from 1.16 to 1.38 over UDP (medians of alternated runs,
 * bench/RESULTS.md). A keeper that naps 100 us instead of 1 ms took back half of the IPC gain.
 *
 * <p>Aeron's invoker is not thread-safe; a lock lets one thread at a time run the cycle, and a thread that finds it
 * taken goes on without waiting.
 */
public final class EmbeddedDriver implements AutoCloseable {
    private final MediaDriver driver;
    private final AgentInvoker invoker;
    private final ReentrantLock lock = new ReentrantLock();
    private final Thread keeper;
    private volatile boolean closed;

    EmbeddedDriver(MediaDriver.Context ctx) {
        this.driver = MediaDriver.launch(ctx.threadingMode(ThreadingMode.INVOKER));
        this.invoker = driver.sharedAgentInvoker();
        this.keeper = new Thread(this::keep, "ringtape-aeron-driver");
        keeper.setDaemon(true);
        keeper.start();
    }

    /** The driver's directory, which Aeron clients (of this JVM or another) connect to. */
    public String aeronDirectoryName() {
        return driver.aeronDirectoryName();
    }

    /** Runs one duty cycle unless another thread is running one; returns the work done (0: none, or busy). */
    public int doWork() {
        if (!lock.tryLock()) {
            return 0;
        }
        try {
            return closed ? 0 : invoker.invoke();
        } finally {
            lock.unlock();
        }
    }

    private void keep() {
        IdleStrategy idle = new SleepingIdleStrategy(TimeUnit.MILLISECONDS.toNanos(1));
        while (!closed) {
            idle.idle(doWork());
        }
    }

    /**
     * The driver's counters whose label matches {@code labels} (a regular expression, case-insensitive), label to
     * value, those of one name summed: Aeron's count of NAKs, retransmits, loss and flow-control events, for what a
     * link did to the ring.
     */
    public java.util.Map<String, Long> counters(String labels) {
        java.util.regex.Pattern p = java.util.regex.Pattern.compile(labels, java.util.regex.Pattern.CASE_INSENSITIVE);
        java.util.Map<String, Long> out = new java.util.TreeMap<>();
        try (io.aeron.Aeron aeron =
                io.aeron.Aeron.connect(new io.aeron.Aeron.Context().aeronDirectoryName(aeronDirectoryName()))) {
            aeron.countersReader().forEach((value, id, label) -> {
                String name = label.replaceAll(" \\(.*|: .*", "");
                if (p.matcher(name).find()) {
                    out.merge(name, value, Long::sum);
                }
            });
        }
        return out;
    }

    /** Stops the keeper and the driver and removes the driver's directory. */
    @Override
    public void close() {
        closed = true;
        try {
            keeper.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        lock.lock();
        try {
            driver.close();
        } finally {
            lock.unlock();
        }
    }
}
