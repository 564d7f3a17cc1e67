package dev.ringtape.bench;

import dev.ringtape.allreduce.AllReduceContext;
import dev.ringtape.allreduce.EmbeddedDriver;
import dev.ringtape.allreduce.MediaDrivers;
import dev.ringtape.allreduce.Rendezvous;
import dev.ringtape.allreduce.RingAllReduce;
import dev.ringtape.allreduce.Transport;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * {@code ringtape bench allreduce --ranks N [--mb S] --transport ipc|udp [--window BYTES] [--json]}: the ring's algbw and busbw per
 * size (busbw = algbw x 2(N-1)/N, as nccl-tests defines it), next to the same sum by Spark's {@code treeAggregate}
 * over N partitions (what MLlib-style trainers use) and a plain loopback TCP copy (the transport's ceiling). Ranks
 * are threads of this JVM, each with its own Aeron client; IPC ranks share one media driver, UDP ranks have one
 * each.
 */
final class AllReduceBench {
    private AllReduceBench() {}

    public static void main(String[] args) throws Exception {
        int ranks = 2;
        List<Long> sizes = new ArrayList<>();
        Transport transport = Transport.IPC;
        boolean json = false;
        boolean spark = true;
        int window = new AllReduceContext().receiverWindow();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--ranks" -> ranks = Integer.parseInt(args[++i]);
                case "--mb" -> sizes.add((long) (Double.parseDouble(args[++i]) * (1 << 20)));
                case "--transport" -> transport = Transport.of(args[++i], true);
                case "--json" -> json = true;
                case "--no-spark" -> spark = false;
                case "--window" -> window = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (sizes.isEmpty()) {
            for (long s = 64 << 10; s <= 256L << 20; s *= 4) {
                sizes.add(s);
            }
        }
        List<EmbeddedDriver> drivers = new ArrayList<>();
        List<RingAllReduce> rings = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(ranks);
        JavaSparkContext sc = null;
        try {
            List<String> endpoints = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                if (transport == Transport.UDP || r == 0) {
                    drivers.add(MediaDrivers.launch(MediaDrivers.directoryFor("bench" + r)));
                }
                EmbeddedDriver d = drivers.get(drivers.size() - 1);
                RingAllReduce ring = RingAllReduce.open(
                        new AllReduceContext()
                                .transport(transport)
                                .receiverWindow(window)
                                .driver(d),
                        r,
                        ranks);
                rings.add(ring);
                endpoints.add(ring.endpoint());
            }
            List<Callable<Void>> connect = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                RingAllReduce ring = rings.get(r);
                Rendezvous rv = new Rendezvous(r, ranks, 12345L, endpoints);
                connect.add(() -> {
                    ring.connect(rv);
                    return null;
                });
            }
            for (Future<Void> f : pool.invokeAll(connect)) {
                f.get();
            }
            if (spark) {
                sc = new JavaSparkContext(new SparkConf()
                        .setMaster("local[" + ranks + "]")
                        .setAppName("ringtape-bench-allreduce")
                        .set("spark.ui.enabled", "false")
                        .set("spark.driver.maxResultSize", "0"));
            }
            if (!json) {
                System.out.printf(
                        "all-reduce, %d ranks, %s, %d cores, %d floats a frame; average of a loop of 10-1000 per size after 5 warm-up runs%n",
                        ranks,
                        transport.name().toLowerCase(java.util.Locale.ROOT),
                        Runtime.getRuntime().availableProcessors(),
                        rings.get(0).fragmentFloats());
                System.out.printf(
                        "%10s %12s %12s %16s %12s %12s%n",
                        "size", "algbw GB/s", "busbw GB/s", "treeAggr GB/s", "TCP GB/s", "ring/tree");
            }
            // 500 all-reduces of 1 MiB first, so the JIT has compiled the ring before the first figure
            ring(rings, pool, 1 << 18, 500);
            for (long bytes : sizes) {
                int floats = (int) (bytes / 4);
                double ringSeconds = ring(rings, pool, floats, reps(bytes));
                double alg = bytes / ringSeconds / 1e9;
                double bus = alg * 2 * (ranks - 1) / ranks;
                double tree = sc == null ? Double.NaN : bytes / treeAggregate(sc, ranks, floats) / 1e9;
                double tcp = bytes / tcpCopy(bytes) / 1e9;
                if (json) {
                    System.out.printf(
                            "{\"size_bytes\": %d, \"ranks\": %d, \"transport\": \"%s\", \"algbw_gbs\": %.4f,"
                                    + " \"busbw_gbs\": %.4f, \"tree_aggregate_gbs\": %s, \"tcp_gbs\": %.4f}%n",
                            bytes,
                            ranks,
                            transport.name().toLowerCase(java.util.Locale.ROOT),
                            alg,
                            bus,
                            Double.isNaN(tree) ? "null" : String.format("%.4f", tree),
                            tcp);
                } else {
                    System.out.printf(
                            "%10s %12.3f %12.3f %16.3f %12.3f %11.1fx%n",
                            human(bytes), alg, bus, tree, tcp, alg / tree);
                }
            }
        } finally {
            if (sc != null) {
                sc.stop();
            }
            pool.shutdownNow();
            rings.forEach(RingAllReduce::close);
            drivers.forEach(EmbeddedDriver::close);
        }
    }

    static String human(long bytes) {
        return bytes >= 1 << 20 ? (bytes >> 20) + " MiB" : (bytes >> 10) + " KiB";
    }

    /**
     * Seconds per all-reduce of {@code floats}, as nccl-tests measure it: every rank runs 5 warm-up all-reduces (the
     * first touches of the arrays and logs), then times a loop of them; the slowest rank's average. The ranks run
     * the loop back to back, so the figure is the ring's, not the wake-up of threads between runs.
     */
    static double ring(List<RingAllReduce> rings, ExecutorService pool, int floats, int reps) throws Exception {
        int n = rings.size();
        List<Callable<Long>> tasks = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            RingAllReduce ring = rings.get(r);
            float[] b = new float[floats];
            tasks.add(() -> {
                for (int i = 0; i < 5; i++) {
                    ring.allReduce(b, 0, floats, i);
                }
                long t0 = System.nanoTime();
                for (int i = 0; i < reps; i++) {
                    ring.allReduce(b, 0, floats, i);
                }
                return System.nanoTime() - t0;
            });
        }
        long slowest = 0;
        for (Future<Long> f : pool.invokeAll(tasks)) {
            slowest = Math.max(slowest, f.get());
        }
        return slowest / 1e9 / reps;
    }

    /** Loop length for one size: about 2 GiB moved per rank, 10 to 1,000 all-reduces. */
    static int reps(long bytes) {
        return (int) Math.max(10, Math.min(1_000, (2L << 30) / bytes));
    }

    /** Best seconds of summing one float[] per partition with {@code treeAggregate} (the data cached first). */
    static double treeAggregate(JavaSparkContext sc, int partitions, int floats) {
        return java.util.Arrays.stream(SparkSum.treeAggregateTimes(sc, partitions, floats, floats > (16 << 20) ? 2 : 5))
                .min()
                .getAsDouble();
    }

    /** Best seconds to copy {@code bytes} through a loopback TCP connection. */
    static double tcpCopy(long bytes) throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            double best = Double.MAX_VALUE;
            for (int rep = 0; rep < 3; rep++) {
                Thread writer = new Thread(() -> {
                    try (SocketChannel out = SocketChannel.open(server.getLocalAddress())) {
                        ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
                        long left = bytes;
                        while (left > 0) {
                            chunk.clear().limit((int) Math.min(chunk.capacity(), left));
                            left -= out.write(chunk);
                        }
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                writer.start();
                long t0 = System.nanoTime();
                try (SocketChannel in = server.accept()) {
                    ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
                    long got = 0;
                    while (got < bytes) {
                        chunk.clear();
                        int n = in.read(chunk);
                        if (n < 0) {
                            break;
                        }
                        got += n;
                    }
                }
                best = Math.min(best, (System.nanoTime() - t0) / 1e9);
                writer.join();
            }
            return best;
        }
    }
}
