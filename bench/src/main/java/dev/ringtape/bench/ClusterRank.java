package dev.ringtape.bench;

import dev.ringtape.allreduce.AllReduceContext;
import dev.ringtape.allreduce.EmbeddedDriver;
import dev.ringtape.allreduce.MediaDrivers;
import dev.ringtape.allreduce.Rendezvous;
import dev.ringtape.allreduce.RingAllReduce;
import dev.ringtape.allreduce.Transport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One rank of {@code bench cluster}, in its own JVM on an emulated host: {@code ClusterRank RANK WORLD HOST DIR MB
 * REPS}. The ranks meet through files in DIR (each writes its UDP endpoint, then waits for the others'), run one
 * all-reduce of MB MiB to warm up, then REPS timed ones, each after a scalar all-reduce that lines the ranks up.
 * Prints one line per timed all-reduce: {@code seconds S}. The ring's settings are the job defaults, overridden by
 * the system properties {@code ringtape.mtu}, {@code ringtape.window} (bytes) and {@code ringtape.term}.
 */
public final class ClusterRank {
    private ClusterRank() {}

    public static void main(String[] args) throws Exception {
        int rank = Integer.parseInt(args[0]);
        int world = Integer.parseInt(args[1]);
        String host = args[2];
        Path dir = Path.of(args[3]);
        int floats = (int) (Double.parseDouble(args[4]) * (1 << 20) / 4);
        int reps = Integer.parseInt(args[5]);
        AllReduceContext ctx = new AllReduceContext()
                .transport(Transport.UDP)
                .host(host)
                .timeoutNs(TimeUnit.SECONDS.toNanos(Long.getLong("ringtape.timeout", 600)));
        Integer mtu = Integer.getInteger("ringtape.mtu");
        Integer window = Integer.getInteger("ringtape.window");
        Integer term = Integer.getInteger("ringtape.term");
        if (mtu != null) {
            ctx.mtu(mtu);
        }
        if (window != null) {
            ctx.receiverWindow(window);
        }
        if (term != null) {
            ctx.termLength(term);
        }
        try (EmbeddedDriver driver = MediaDrivers.launch(MediaDrivers.directoryFor("cluster" + rank));
                RingAllReduce ring = RingAllReduce.open(ctx.driver(driver), rank, world)) {
            write(dir.resolve("endpoint-" + rank), ring.endpoint());
            List<String> endpoints = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                endpoints.add(waitFor(dir.resolve("endpoint-" + r)));
            }
            ring.connect(new Rendezvous(rank, world, 20_261_206L, endpoints));
            float[] data = new float[floats];
            double[] line = new double[1];
            for (int rep = -1; rep < reps; rep++) {
                Arrays.fill(data, rank + 1);
                ring.sumScalars(line, rep);
                long t0 = System.nanoTime();
                ring.allReduce(data, 0, floats, rep);
                long ns = System.nanoTime() - t0;
                float want = world * (world + 1) / 2f;
                if (data[0] != want || data[floats - 1] != want) {
                    throw new IllegalStateException("wrong sum " + data[0] + ", expected " + want);
                }
                if (rep >= 0) {
                    System.out.println("seconds " + ns / 1e9);
                }
            }
            StringBuilder lost = new StringBuilder();
            driver.counters("nak|retransmit|loss|under run|over run|short send|invalid")
                    .forEach((label, value) -> lost.append(value == 0 ? "" : label + "=" + value + "; "));
            System.out.println("counters " + lost);
        }
    }

    static void write(Path file, String value) throws java.io.IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, value);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
    }

    static String waitFor(Path file) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(file)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no " + file + " within 120 s");
            }
            Thread.sleep(10);
        }
        return Files.readString(file).strip();
    }
}
