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
 * same number of bytes written with one FileChannel and fsync, and read back. {@code --cost JOB [--every 50]}: the
 * step-time cost of background snapshots, against training without them.
 */
final class SnapshotBench {
    private SnapshotBench() {}

    public static void main(String[] args) throws Exception {
        int mb = 100;
        int reps = 3;
        String costJob = null;
        int every = 50;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--mb" -> mb = Integer.parseInt(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--cost" -> costJob = args[++i];
                case "--every" -> every = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (costJob != null) {
            cost(Path.of(costJob), reps, every);
            return;
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
                Snapshot s = new Snapshot("bench", null, 1, rep, 1, 1, 0, params, opt);
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
            delete(dir);
        }
    }

    private static void delete(Path dir) throws java.io.IOException {
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /**
     * {@code --cost JOB}: the job's training (one worker, in this process, its data read once) with no snapshots
     * and with a snapshot every {@code every} steps written in the background, alternated {@code reps} times; the
     * wall time of each training, and the ratio.
     */
    private static void cost(Path jobFile, int reps, int every) throws Exception {
        dev.ringtape.scheduler.job.JobSpec job = dev.ringtape.scheduler.job.JobSpec.from(
                dev.ringtape.scheduler.job.JobFile.load(jobFile, java.util.List.of()));
        java.io.PrintStream quiet = new java.io.PrintStream(java.io.OutputStream.nullOutputStream());
        dev.ringtape.scheduler.worker.Worker.Data[] data = new dev.ringtape.scheduler.worker.Worker.Data[1];
        Path dir = Files.createTempDirectory(Path.of(System.getProperty("user.dir")), "snapshot-cost");
        try {
            java.util.List<Double> ratios = new java.util.ArrayList<>();
            for (int rep = -1; rep < reps; rep++) { // rep -1 warms the JIT up and reads the data
                double[] seconds = new double[2];
                long steps = 0;
                long bytes = 0;
                for (int mode = 0; mode < 2; mode++) {
                    SnapshotStore store = SnapshotStore.open(dir.resolve("ck").toString(), 3);
                    java.util.concurrent.atomic.AtomicLong written = new java.util.concurrent.atomic.AtomicLong();
                    dev.ringtape.telemetry.TelemetrySink sizes = new dev.ringtape.telemetry.TelemetrySink() {
                        @Override
                        public void emit(com.fasterxml.jackson.databind.node.ObjectNode r) {
                            written.addAndGet(r.path("bytes").asLong());
                        }

                        @Override
                        public void close() {}
                    };
                    long t0 = System.nanoTime();
                    try (dev.ringtape.checkpointing.SnapshotWriter writer = mode == 0
                            ? null
                            : new dev.ringtape.checkpointing.SnapshotWriter(
                                    store, job.id(), 1, every, sizes, job.name())) {
                        var outcome = dev.ringtape.scheduler.worker.Worker.run(
                                job,
                                shape -> {
                                    if (data[0] == null) {
                                        data[0] = dev.ringtape.scheduler.worker.Worker.data(job, null, shape);
                                    }
                                    return data[0];
                                },
                                dev.ringtape.runtime.train.GradientReducer.local(),
                                writer == null ? dev.ringtape.runtime.train.StateStore.NONE : writer,
                                dev.ringtape.telemetry.TelemetrySink.NONE,
                                quiet,
                                null,
                                null,
                                null);
                        steps = outcome.summary().steps();
                    }
                    seconds[mode] = (System.nanoTime() - t0) / 1e9;
                    bytes = Math.max(bytes, written.get());
                }
                if (rep >= 0) {
                    ratios.add(seconds[1] / seconds[0]);
                    System.out.printf(
                            "rep %d: %d steps: no snapshots %.2f s, a snapshot every %d steps (%d snapshots, %.1f MB"
                                    + " in all) %.2f s: %.3fx%n",
                            rep,
                            steps,
                            seconds[0],
                            every,
                            steps / every,
                            bytes / 1e6,
                            seconds[1],
                            seconds[1] / seconds[0]);
                }
            }
            java.util.Collections.sort(ratios);
            System.out.printf("median ratio %.3fx%n", ratios.get(ratios.size() / 2));
        } finally {
            delete(dir);
        }
    }
}
