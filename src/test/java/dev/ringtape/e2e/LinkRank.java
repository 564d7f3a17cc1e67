package dev.ringtape.e2e;

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
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One rank of {@link ShapedLinkTest}, on an emulated host: {@code LinkRank RANK WORLD HOST DIR MIB ROUNDS}. Meets
 * the other ranks through files in DIR, sums MIB MiB of float32 ROUNDS times over Aeron UDP with the job's default
 * settings (checking every sum), then prints what its media driver counted: {@code retransmitted BYTES naks N}.
 */
public final class LinkRank {
    private LinkRank() {}

    public static void main(String[] args) throws Exception {
        int rank = Integer.parseInt(args[0]);
        int world = Integer.parseInt(args[1]);
        Path dir = Path.of(args[3]);
        int floats = Integer.parseInt(args[4]) << 18;
        int rounds = Integer.parseInt(args[5]);
        AllReduceContext ctx =
                new AllReduceContext().transport(Transport.UDP).host(args[2]).timeoutNs(TimeUnit.SECONDS.toNanos(60));
        try (EmbeddedDriver driver = MediaDrivers.launch(MediaDrivers.directoryFor("link" + rank));
                RingAllReduce ring = RingAllReduce.open(ctx.driver(driver), rank, world)) {
            Path mine = dir.resolve("endpoint-" + rank);
            Files.writeString(dir.resolve("tmp-" + rank), ring.endpoint());
            Files.move(dir.resolve("tmp-" + rank), mine, StandardCopyOption.ATOMIC_MOVE);
            List<String> endpoints = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                Path f = dir.resolve("endpoint-" + r);
                for (int i = 0; i < 6000 && !Files.exists(f); i++) {
                    Thread.sleep(10);
                }
                endpoints.add(Files.readString(f).strip());
            }
            ring.connect(new Rendezvous(rank, world, 24L, endpoints));
            float[] data = new float[floats];
            for (int round = 0; round < rounds; round++) {
                for (int i = 0; i < floats; i++) {
                    data[i] = (rank + 1) * (i % 1000);
                }
                long t0 = System.nanoTime();
                ring.allReduce(data, 0, floats, round);
                System.out.printf("round %d: %.3f s%n", round, (System.nanoTime() - t0) / 1e9);
                float sum = world * (world + 1) / 2f;
                for (int i = 0; i < floats; i++) {
                    if (data[i] != sum * (i % 1000)) {
                        System.out.println("WRONG at " + i + ": " + data[i]);
                        System.exit(4);
                    }
                }
            }
            java.util.Map<String, Long> counted = driver.counters("^(Retransmitted bytes|NAKs sent)$");
            System.out.println("retransmitted " + counted.getOrDefault("Retransmitted bytes", 0L) + " naks "
                    + counted.getOrDefault("NAKs sent", 0L));
        }
    }
}
