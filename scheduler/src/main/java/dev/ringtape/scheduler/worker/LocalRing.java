package dev.ringtape.scheduler.worker;

import dev.ringtape.allreduce.AllReduceContext;
import dev.ringtape.allreduce.EmbeddedDriver;
import dev.ringtape.allreduce.MediaDrivers;
import dev.ringtape.allreduce.Rendezvous;
import dev.ringtape.allreduce.RingAllReduce;
import dev.ringtape.allreduce.Transport;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The ring of an embedded run: N workers as threads of this JVM, each with its own Aeron client, over one embedded
 * media driver (IPC) or one driver each (UDP on loopback). Closing it releases every client and driver directory.
 */
public final class LocalRing implements AutoCloseable {
    private final List<EmbeddedDriver> drivers = new ArrayList<>();
    private final List<RingAllReduce> rings = new ArrayList<>();

    public LocalRing(int world, Transport transport, long timeoutNs) {
        try {
            long token = new SecureRandom().nextLong();
            List<String> endpoints = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                if (transport == Transport.UDP || r == 0) {
                    drivers.add(MediaDrivers.launch(MediaDrivers.directoryFor("train" + r)));
                }
                AllReduceContext ctx = new AllReduceContext()
                        .transport(transport)
                        .driver(drivers.get(drivers.size() - 1))
                        .timeoutNs(timeoutNs);
                RingAllReduce ring = RingAllReduce.open(ctx, r, world);
                rings.add(ring);
                endpoints.add(ring.endpoint());
            }
            ExecutorService pool = Executors.newFixedThreadPool(world);
            try {
                List<Future<?>> connects = new ArrayList<>();
                for (int r = 0; r < world; r++) {
                    RingAllReduce ring = rings.get(r);
                    Rendezvous rv = new Rendezvous(r, world, token, endpoints);
                    connects.add(pool.submit(() -> ring.connect(rv)));
                }
                for (Future<?> f : connects) {
                    f.get(timeoutNs + TimeUnit.SECONDS.toNanos(5), TimeUnit.NANOSECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
        } catch (Exception e) {
            close();
            throw e instanceof RuntimeException re ? re : new IllegalStateException("cannot form the ring: " + e, e);
        }
    }

    public RingAllReduce rank(int r) {
        return rings.get(r);
    }

    @Override
    public void close() {
        rings.forEach(RingAllReduce::close);
        drivers.forEach(EmbeddedDriver::close);
    }
}
