package dev.ringtape.checkpointing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.esotericsoftware.kryo.kryo5.io.Output;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SnapshotFormatTest {
    @TempDir
    Path tmp;

    /** The spec of a job named {@code job}: its learning rate differs by job. */
    static String spec(String job) {
        return "{\"seed\":42,\"model\":{\"layers\":[{\"type\":\"linear\",\"out\":16}]},"
                + "\"train\":{\"optimizer\":{\"type\":\"adam\",\"lr\":" + (job.equals("job-b") ? "0.003" : "0.001")
                + "}}}";
    }

    static Snapshot snapshot(long step, String job) {
        Random r = new Random(step);
        Map<String, Snapshot.Values> params = new LinkedHashMap<>();
        Map<String, Snapshot.Values> opt = new LinkedHashMap<>();
        for (String name : List.of("layers.0.weight", "layers.0.bias")) {
            int[] shape = name.endsWith("weight") ? new int[] {16, 8} : new int[] {16};
            int n = shape.length == 2 ? 128 : 16;
            float[] w = new float[n];
            float[] m = new float[n];
            for (int i = 0; i < n; i++) {
                w[i] = (float) r.nextGaussian();
                m[i] = i == 3 ? Float.MIN_VALUE : i == 4 ? -0.0f : (float) r.nextGaussian() * 1e-3f;
            }
            params.put(name, new Snapshot.Values(shape, w));
            opt.put(name + ".exp_avg", new Snapshot.Values(shape, m));
        }
        opt.put("step", new Snapshot.Values(new int[] {1}, new float[] {step}));
        return new Snapshot(job, spec(job), 2, step, 3, 32768.0, 17, params, opt);
    }

    static void assertSame(Snapshot a, Snapshot b) {
        assertEquals(a.jobHash(), b.jobHash());
        assertEquals(a.jobSpec(), b.jobSpec());
        assertEquals(a.worldSize(), b.worldSize());
        assertEquals(a.step(), b.step());
        assertEquals(a.epoch(), b.epoch());
        assertEquals(a.lossScale(), b.lossScale());
        assertEquals(a.growthTracker(), b.growthTracker());
        for (var pair : List.of(List.of(a.parameters(), b.parameters()), List.of(a.optimizer(), b.optimizer()))) {
            assertEquals(pair.get(0).keySet(), pair.get(1).keySet());
            for (String k : pair.get(0).keySet()) {
                assertArrayEquals(pair.get(0).get(k).shape(), pair.get(1).get(k).shape(), k);
                float[] x = pair.get(0).get(k).data();
                float[] y = pair.get(1).get(k).data();
                assertEquals(x.length, y.length, k);
                for (int i = 0; i < x.length; i++) {
                    assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(y[i]), k + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void shouldReadBackBitForBit() throws Exception {
        Snapshot s = snapshot(200, "job-a");
        assertSame(s, SnapshotFormat.decode(SnapshotFormat.encode(s), "s"));
    }

    @Test
    void shouldNameATruncatedFile() {
        byte[] b = SnapshotFormat.encode(snapshot(1, "j"));
        for (int cut : new int[] {3, 12, 30, b.length / 2, b.length - 1}) {
            CheckpointException e = assertThrows(
                    CheckpointException.class, () -> SnapshotFormat.decode(java.util.Arrays.copyOf(b, cut), "f"));
            assertTrue(e.getMessage().startsWith("f: truncated"), cut + ": " + e.getMessage());
        }
    }

    @Test
    void shouldFindOneFlippedBitInEverySection() throws Exception {
        byte[] good = SnapshotFormat.encode(snapshot(1, "j"));
        ByteBuffer b = ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN);
        int at = 12;
        for (String section : List.of("meta", "parameters", "optimizer")) {
            long length = b.getLong(at + 4);
            byte[] bad = good.clone();
            bad[at + 16 + (int) length / 2] ^= 0x10;
            CheckpointException e = assertThrows(CheckpointException.class, () -> SnapshotFormat.decode(bad, "f"));
            assertEquals("f: section " + section + " is corrupt (CRC32C mismatch)", e.getMessage());
            at += 16 + (int) length;
        }
        byte[] trailer = good.clone();
        trailer[good.length - 2] ^= 1;
        assertEquals(
                "f: the file is corrupt (file CRC32C mismatch)",
                assertThrows(CheckpointException.class, () -> SnapshotFormat.decode(trailer, "f"))
                        .getMessage());
    }

    @Test
    void shouldRefuseAWrongMagicAndAFutureVersion() {
        byte[] good = SnapshotFormat.encode(snapshot(1, "j"));
        byte[] magic = good.clone();
        magic[0] = 'P';
        magic[1] = 'K';
        assertEquals(
                "f: not a Ringtape snapshot (magic PKSN)",
                assertThrows(CheckpointException.class, () -> SnapshotFormat.decode(magic, "f"))
                        .getMessage());
        byte[] future = good.clone();
        future[4] = 2;
        assertEquals(
                "f: format version 2, this Ringtape reads version 1 (written by a newer Ringtape)",
                assertThrows(CheckpointException.class, () -> SnapshotFormat.decode(future, "f"))
                        .getMessage());
    }

    @Test
    void shouldRefuseAnUnregisteredClassIdRatherThanInstantiateIt() throws Exception {
        // well-formed sections with valid checksums, but a tensor table naming Kryo class id 99
        byte[] meta;
        try (Output o = new Output(64, -1)) {
            o.writeString("j");
            o.writeInt(1);
            o.writeLong(0);
            o.writeInt(1);
            o.writeDouble(1);
            o.writeInt(0);
            meta = o.toBytes();
        }
        byte[] table;
        try (Output o = new Output(64, -1)) {
            o.writeInt(1);
            o.writeString("w");
            o.writeVarInt(99 + 2, true); // Kryo writes registered class ids shifted by 2
            table = o.toBytes();
        }
        byte[] empty;
        try (Output o = new Output(8, -1)) {
            o.writeInt(0);
            empty = o.toBytes();
        }
        List<byte[]> sections = new ArrayList<>(List.of(meta, table, empty));
        CheckpointException e = assertThrows(
                CheckpointException.class, () -> SnapshotFormat.decode(SnapshotFormat.frame(sections), "f"));
        assertTrue(e.getMessage().startsWith("f: cannot read: Encountered unregistered class ID: 99"), e.getMessage());
    }

    @Test
    void shouldKeepTheNewestAndFallBackPastACorruptOne() throws Exception {
        SnapshotStore store = SnapshotStore.open(tmp.resolve("ck").toString(), 2);
        for (long step : new long[] {100, 200, 300}) {
            SnapshotStore.Written w = store.write(snapshot(step, "job-a"));
            assertTrue(w.bytes() > 1000, "bytes " + w.bytes());
        }
        try (var files = Files.list(tmp.resolve("ck"))) {
            assertEquals(
                    List.of("snapshot-000000000200.rtsnap", "snapshot-000000000300.rtsnap"),
                    files.map(p -> p.getFileName().toString()).sorted().toList(),
                    "keep: 2, and no temporary or checksum side file");
        }
        Path newest = tmp.resolve("ck/snapshot-000000000300.rtsnap");
        byte[] b = Files.readAllBytes(newest);
        Files.write(newest, java.util.Arrays.copyOf(b, b.length - 100));
        List<String> skipped = new ArrayList<>();
        Snapshot s =
                store.newest(new JobId("job-a", spec("job-a")), skipped::add).snapshot();
        assertEquals(200, s.step(), "the one before the truncated one");
        assertEquals(1, skipped.size());
        assertTrue(
                skipped.get(0).startsWith("skipping file:")
                        && skipped.get(0).contains("000000000300.rtsnap: truncated"),
                skipped.get(0));
        assertSame(snapshot(200, "job-a"), s);
        CheckpointException other =
                assertThrows(CheckpointException.class, () -> store.newest(new JobId("job-b", spec("job-b")), x -> {}));
        assertTrue(
                other.getMessage()
                        .contains("000000000200.rtsnap is a snapshot of another job: train.optimizer.lr 0.001 -> 0.003"
                                + " (spec hash job-a, this job's is job-b); use another checkpoint.dir, or --fresh"),
                other.getMessage());
        assertNull(SnapshotStore.open(tmp.resolve("empty").toString(), 3)
                .newest(new JobId("job-a", spec("job-a")), x -> {}));
    }

    @Test
    void shouldNameEveryChangedKeyAndReadASnapshotWithoutItsSpec() throws Exception {
        assertEquals(
                "model.layers.0.out 16 -> 32; model.layers.1 (none) -> {\"type\":\"relu\"}; seed 42 -> 7",
                JobId.changes(
                        "{\"seed\":42,\"model\":{\"layers\":[{\"out\":16}]}}",
                        "{\"seed\":7,\"model\":{\"layers\":[{\"out\":32},{\"type\":\"relu\"}]}}"));
        Snapshot old = snapshot(5, "job-a");
        Snapshot noSpec = new Snapshot(
                old.jobHash(),
                null,
                old.worldSize(),
                old.step(),
                old.epoch(),
                old.lossScale(),
                old.growthTracker(),
                old.parameters(),
                old.optimizer());
        Snapshot back = SnapshotFormat.decode(SnapshotFormat.encode(noSpec), "old");
        assertNull(back.jobSpec(), "a file without the spec section reads as before");
        SnapshotStore store = SnapshotStore.open(tmp.resolve("old").toString(), 3);
        store.write(noSpec);
        CheckpointException e =
                assertThrows(CheckpointException.class, () -> store.newest(new JobId("job-b", spec("job-b")), x -> {}));
        assertTrue(e.getMessage().contains("it was written before snapshots kept their job's spec"), e.getMessage());
    }

    @Test
    void shouldFailBeforeTrainingOnAnUnwritableDirectory() throws Exception {
        Path file = Files.writeString(tmp.resolve("a-file"), "");
        CheckpointException e = assertThrows(
                CheckpointException.class,
                () -> SnapshotStore.open(file.resolve("ck").toString(), 3));
        assertTrue(
                e.getMessage().startsWith("checkpoint.dir: cannot write snapshots to " + file.resolve("ck")),
                e.getMessage());
    }
}
