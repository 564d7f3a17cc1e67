package dev.ringtape.allreduce;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.OneToOneConcurrentArrayQueue;

/**
 * All-reduce of an arena range by range (the trainer's gradient buckets) on a ring driven by its own agent thread,
 * so the caller can hand over a bucket as soon as backward has finished it and go on computing: {@link #submit}
 * returns at once, {@link #await} waits for everything submitted. The caller must not touch a submitted range until
 * {@link #await} returns (it may write other ranges meanwhile). Every rank must submit the same ranges in the same
 * order (each is a collective). A failure stops the agent and is rethrown by the next {@code await}, naming the rank
 * and step.
 */
public final class BucketedAllReduce implements AutoCloseable {
    private final RingAllReduce ring;
    private final OneToOneConcurrentArrayQueue<Runnable> work = new OneToOneConcurrentArrayQueue<>(1024);
    private final AtomicLong submitted = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicReference<RuntimeException> failure = new AtomicReference<>();
    /** The agent's time in finished sums, and the start of the one running (0: none). */
    private volatile long busyNanos;

    private volatile long runningSince;
    private final AgentRunner runner;

    public BucketedAllReduce(RingAllReduce ring) {
        this.ring = ring;
        this.runner = new AgentRunner(
                new BackoffIdleStrategy(100, 10, 1_000, 100_000),
                e -> failure.compareAndSet(
                        null, e instanceof RuntimeException r ? r : new AllReduceException(e.toString())),
                null,
                new Poller());
        AgentRunner.startOnThread(runner);
    }

    /** Queues the sum of floats {@code [offset, offset + length)} of {@code arena} for step {@code step}; returns at once. */
    public void submit(float[] arena, int offset, int length, long step) {
        enqueue(() -> ring.allReduce(arena, offset, length, step));
    }

    /** Queues a scalar sum; {@code values} holds the sums once {@link #await()} returns. */
    public void submitScalars(double[] values, long step) {
        enqueue(() -> ring.sumScalars(values, step));
    }

    /**
     * The time the agent has spent summing since it started (including waits for the peers inside a sum), up to now:
     * read before and after a stretch of the caller's own work, it tells how much of the summing that work hid.
     */
    public long busyNanos() {
        long since = runningSince;
        return busyNanos + (since == 0 ? 0 : Math.max(0, System.nanoTime() - since));
    }

    /** Waits until everything submitted is done; rethrows the agent's failure. */
    public void await() {
        BackoffIdleStrategy idle = new BackoffIdleStrategy(100, 10, 1_000, 100_000);
        while (completed.get() < submitted.get()) {
            throwIfFailed();
            idle.idle();
        }
        throwIfFailed();
    }

    private void enqueue(Runnable r) {
        throwIfFailed();
        submitted.incrementAndGet();
        while (!work.offer(r)) {
            throwIfFailed();
            Thread.onSpinWait();
        }
    }

    private void throwIfFailed() {
        RuntimeException e = failure.get();
        if (e != null) {
            throw e instanceof AllReduceException a ? new AllReduceException(a.getMessage()) : e;
        }
    }

    @Override
    public void close() {
        runner.close();
    }

    private final class Poller implements Agent {
        @Override
        public int doWork() {
            if (failure.get() != null) {
                return 0;
            }
            Runnable r = work.poll();
            if (r == null) {
                return 0;
            }
            long t0 = System.nanoTime();
            runningSince = t0;
            try {
                r.run();
            } catch (RuntimeException e) {
                failure.compareAndSet(null, e);
                return 0;
            } finally {
                busyNanos += System.nanoTime() - t0;
                runningSince = 0;
            }
            completed.incrementAndGet();
            return 1;
        }

        @Override
        public String roleName() {
            return "ringtape-allreduce-rank-" + ring.rank();
        }
    }
}
