package dev.ringtape.bench;

import dev.ringtape.checkpointing.Snapshot;
import dev.ringtape.checkpointing.SnapshotFormat;
import dev.ringtape.checkpointing.SnapshotStore;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * {@code ringtape bench snapshot [--mb 100] [--reps 3]}: writes and reads a snapshot of about that many MB (weights
 * and two Adam buffers) through the snapshot store on the local disk, and, as the reference in the same run, the
 * same number of bytes written with one FileChannel and fsync, and read back.
 */
final class SnapshotBench {
    private SnapshotBench() {}

    public static void main(String[] args) throws Exception {
        int mb = 100;
        int reps = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--mb" -> mb = Integer.parseInt(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        int perTensor = mb * (1 << 20) / 4 / 3; // weights, exp_avg, exp_avg_sq
        Random r = new Random(1);
        float[] w = new float[perTensor];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        Map<String, Snapshot.Values> params = new LinkedHashMap<>();
        params.put("layers.0.weight", new Snapshot.Values(new int[] {perTensor}, w));
        Map<String, Snapshot.Values> opt = new LinkedHashMap<>();
        opt.put("layers.0.weight.exp_avg", new Snapshot.Values(new int[] {perTensor}, w.clone()));
        opt.put("layers.0.weight.exp_avg_sq", new Snapshot.Values(new int[] {perTensor}, w.clone()));
        opt.put("steps", new Snapshot.Values(new int[] {1}, new float[] {1}));
        Path dir = Files.createTempDirectory(Path.of(System.getProperty("user.dir")), "snapshot-bench");
        try {
            SnapshotStore store = SnapshotStore.open(dir.resolve("ck").toString(), 1);
            for (int rep = 0; rep < reps; rep++) {
                Snapshot s = new Snapshot("bench", 1, rep, 1, 1, 0, params, opt);
                long t0 = System.nanoTime();
                SnapshotStore.Written written = store.write(s);
                double writeS = (System.nanoTime() - t0) / 1e9;
                long t1 = System.nanoTime();
                Snapshot back = SnapshotStore.load(written.path());
                double readS = (System.nanoTime() - t1) / 1e9;
                if (back.parameters().get("layers.0.weight").data().length != perTensor) {
                    throw new IllegalStateException("read back a different snapshot");
                }
                byte[] bytes = SnapshotFormat.encode(s);
                Path raw = dir.resolve("raw.bin");
                long t2 = System.nanoTime();
                try (FileChannel ch = FileChannel.open(
                        raw,
                        StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING)) {
                    ByteBuffer b = ByteBuffer.wrap(bytes);
                    while (b.hasRemaining()) {
                        ch.write(b);
                    }
                    ch.force(true);
                }
                double rawWriteS = (System.nanoTime() - t2) / 1e9;
                long t3 = System.nanoTime();
                byte[] rawBack = Files.readAllBytes(raw);
                double rawReadS = (System.nanoTime() - t3) / 1e9;
                double size = written.bytes() / 1e6;
                System.out.printf(
                        "rep %d: %.1f MB snapshot: write %.0f MB/s (raw fsync'd write %.0f MB/s, %.2fx), read+verify"
                                + " %.0f MB/s (raw read %.0f MB/s, %.2fx)%n",
                        rep,
                        size,
                        size / writeS,
                        size / rawWriteS,
                        writeS / rawWriteS,
                        size / readS,
                        rawBack.length / 1e6 / rawReadS,
                        readS / rawReadS);
            }
        } finally {
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }
}
