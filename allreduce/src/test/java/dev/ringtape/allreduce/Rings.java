package dev.ringtape.allreduce;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/** N ranks as threads of this JVM over one embedded media driver, rendezvous done in memory. */
final class Rings implements AutoCloseable {
    final EmbeddedDriver driver;
    final List<RingAllReduce> ranks = new ArrayList<>();
    final ExecutorService pool;

    Rings(int world, Transport transport, long token, long timeoutMs) throws Exception {
        this(world, transport, token, timeoutMs, Compression.NONE);
    }

    Rings(int world, Transport transport, long token, long timeoutMs, Compression compression) throws Exception {
        driver = MediaDrivers.launch(MediaDrivers.directoryFor("test"));
        pool = Executors.newFixedThreadPool(world);
        List<String> endpoints = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            AllReduceContext ctx = new AllReduceContext()
                    .transport(transport)
                    .compression(compression)
                    .driver(driver)
                    .timeoutNs(TimeUnit.MILLISECONDS.toNanos(timeoutMs));
            RingAllReduce ring = RingAllReduce.open(ctx, r, world);
            ranks.add(ring);
            endpoints.add(ring.endpoint());
        }
        List<Callable<Void>> connects = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            RingAllReduce ring = ranks.get(r);
            Rendezvous rv = new Rendezvous(r, world, token, endpoints);
            connects.add(() -> {
                ring.connect(rv);
                return null;
            });
        }
        for (Future<Void> f : pool.invokeAll(connects)) {
            f.get();
        }
    }

    /** Runs {@code body(rank)} on every rank at once; rethrows the first failure. */
    <T> List<T> onEveryRank(RankBody<T> body) throws Exception {
        List<Callable<T>> tasks = new ArrayList<>();
        for (int r = 0; r < ranks.size(); r++) {
            int rank = r;
            tasks.add(() -> body.run(rank, ranks.get(rank)));
        }
        List<T> out = new ArrayList<>();
        for (Future<T> f : pool.invokeAll(tasks, 120, TimeUnit.SECONDS)) {
            out.add(f.get());
        }
        return out;
    }

    interface RankBody<T> {
        T run(int rank, RingAllReduce ring) throws Exception;
    }

    @Override
    public void close() {
        pool.shutdownNow();
        for (RingAllReduce r : ranks) {
            r.close();
        }
        driver.close();
    }
}
