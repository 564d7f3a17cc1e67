package dev.ringtape.allreduce;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One rank in its own JVM, for the process tests: {@code rank world ipc|udp dir token size rounds timeoutMs}. The
 * rendezvous goes through files in {@code dir}. For IPC, rank 0 runs the media driver the others connect to; for
 * UDP every rank runs its own. Prints {@code round R ok} after each checked round, {@code FAILED: ...} and exits 3
 * on an all-reduce error.
 */
public final class RingProcessMain {
    private RingProcessMain() {}

    public static void main(String[] args) throws Exception {
        int rank = Integer.parseInt(args[0]);
        int world = Integer.parseInt(args[1]);
        Transport transport = Transport.valueOf(args[2].toUpperCase(java.util.Locale.ROOT));
        Path dir = Path.of(args[3]);
        long token = Long.parseLong(args[4]);
        int size = Integer.parseInt(args[5]);
        int rounds = Integer.parseInt(args[6]);
        long timeoutMs = Long.parseLong(args[7]);
        String driverDir =
                dir.resolve("driver-" + (transport == Transport.IPC ? 0 : rank)).toString();
        EmbeddedDriver driver = null;
        if (transport == Transport.UDP || rank == 0) {
            driver = MediaDrivers.launch(MediaDrivers.directoryFor("proc" + rank));
            driverDir = driver.aeronDirectoryName();
            if (rank == 0) {
                write(dir.resolve("driver"), driverDir);
            }
        }
        if (transport == Transport.IPC && rank != 0) {
            driverDir = waitFor(dir.resolve("driver"), timeoutMs);
        }
        AllReduceContext ctx = new AllReduceContext()
                .transport(transport)
                .termLength(16 << 20)
                .timeoutNs(TimeUnit.MILLISECONDS.toNanos(timeoutMs));
        // the rank that hosts a driver helps run it; IPC ranks of other processes only connect to it
        if (driver != null) {
            ctx.driver(driver);
        } else {
            ctx.aeronDirectory(driverDir);
        }
        try (RingAllReduce ring = RingAllReduce.open(ctx, rank, world)) {
            write(dir.resolve("endpoint-" + rank), ring.endpoint());
            List<String> endpoints = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                endpoints.add(waitFor(dir.resolve("endpoint-" + r), timeoutMs));
            }
            ring.connect(new Rendezvous(rank, world, token, endpoints));
            for (int round = 0; round < rounds; round++) {
                float[] b = RingAllReduceTest.input(rank, size, round);
                ring.allReduce(b, 0, size, round);
                float[] want = RingAllReduceTest.reference(world, size, round);
                for (int i = 0; i < size; i++) {
                    if (Float.floatToIntBits(b[i]) != Float.floatToIntBits(want[i])) {
                        System.out.println("WRONG at round " + round + " element " + i);
                        System.exit(4);
                    }
                }
                System.out.println("round " + round + " ok");
            }
            System.out.println("done");
        } catch (AllReduceException e) {
            System.out.println("FAILED: " + e.getMessage());
            System.out.flush();
            if (driver != null) {
                driver.close();
            }
            System.exit(3);
        }
        if (driver != null) {
            // rank 0 hosts the IPC driver: let the others finish before taking it away
            Thread.sleep(transport == Transport.IPC ? 500 : 0);
            driver.close();
        }
    }

    static void write(Path file, String value) throws java.io.IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, value);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
    }

    static String waitFor(Path file, long timeoutMs) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(timeoutMs, 30_000));
        while (!Files.exists(file)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no " + file + " in time");
            }
            Thread.sleep(10);
        }
        return Files.readString(file).strip();
    }
}
