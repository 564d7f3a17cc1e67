package dev.ringtape.checkpointing;

import com.esotericsoftware.kryo.kryo5.Kryo;
import com.esotericsoftware.kryo.kryo5.KryoException;
import com.esotericsoftware.kryo.kryo5.io.Input;
import com.esotericsoftware.kryo.kryo5.io.Output;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The snapshot file, version 1. Little-endian; every section's bytes carry their own CRC32C, and one CRC32C covers
 * the whole file before it, so a truncated file, a flipped bit or a file of something else is found and named
 * before anything in it is used:
 *
 * <pre>
 *   0        4        8               12
 *   +--------+--------+----------------+
 *   | "RTSN" | version| section count  |                      file header (12 bytes)
 *   +--------+--------+----------------+---------------+
 *   | section id (u32)| length L (u64) | CRC32C (u32)  |      section header (16 bytes), then L bytes:
 *   +-----------------+----------------+---------------+
 *   | payload: Kryo output (registration required)      |
 *   +---------------------------------------------------+
 *   | ... more sections ...                              |
 *   +--------------------+
 *   | file CRC32C (u32)  |                                    over every byte before it
 *   +--------------------+
 *
 *   section 1 META:       String jobHash, int worldSize, long step, int epoch, double lossScale, int growthTracker
 *   section 2 PARAMETERS: the fp32 master weights, a tensor table
 *   section 3 OPTIMIZER:  the optimizer's buffers and step counts, a tensor table
 *   section 4 SPEC:       String, the job's spec as JSON (JobId); optional: files written before it lack it, and
 *                         readers that do not know it pass over it
 *   tensor table:         int count, then per tensor: String name, int[] shape, float[] values
 * </pre>
 *
 * Payloads are written with Kryo with class registration required: a reader accepts only the class ids registered
 * here, and an unknown id is an error, never an instantiation.
 */
public final class SnapshotFormat {
    static final int MAGIC = 0x4E535452; // "RTSN" as little-endian bytes
    static final int VERSION = 1;
    static final int META = 1;
    static final int PARAMETERS = 2;
    static final int OPTIMIZER = 3;
    static final int SPEC = 4;
    private static final String[] NAMES = {"", "meta", "parameters", "optimizer", "spec"};

    private SnapshotFormat() {}

    private static Kryo kryo() {
        Kryo k = new Kryo();
        k.setRegistrationRequired(true);
        k.register(int[].class, 10);
        k.register(float[].class, 11);
        return k;
    }

    /** The bytes of {@code s} in this format. */
    public static byte[] encode(Snapshot s) {
        Kryo k = kryo();
        List<byte[]> sections = new ArrayList<>();
        try (Output meta = new Output(256, -1)) {
            meta.writeString(s.jobHash());
            meta.writeInt(s.worldSize());
            meta.writeLong(s.step());
            meta.writeInt(s.epoch());
            meta.writeDouble(s.lossScale());
            meta.writeInt(s.growthTracker());
            sections.add(meta.toBytes());
        }
        sections.add(table(k, s.parameters()));
        sections.add(table(k, s.optimizer()));
        if (s.jobSpec() != null) {
            try (Output spec = new Output(1024, -1)) {
                spec.writeString(s.jobSpec());
                sections.add(spec.toBytes());
            }
        }
        return frame(sections);
    }

    private static byte[] table(Kryo k, Map<String, Snapshot.Values> tensors) {
        try (Output out = new Output(1 << 16, -1)) {
            out.writeInt(tensors.size());
            for (Map.Entry<String, Snapshot.Values> e : tensors.entrySet()) {
                out.writeString(e.getKey());
                k.writeClassAndObject(out, e.getValue().shape());
                k.writeClassAndObject(out, e.getValue().data());
            }
            return out.toBytes();
        }
    }

    /** Frames {@code sections} (ids 1, 2, ... in order) with the header, section checksums and the file checksum. */
    static byte[] frame(List<byte[]> sections) {
        int total = 12 + 4;
        for (byte[] s : sections) {
            total += 16 + s.length;
        }
        ByteBuffer b = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC).putInt(VERSION).putInt(sections.size());
        for (int i = 0; i < sections.size(); i++) {
            byte[] s = sections.get(i);
            b.putInt(i + 1).putLong(s.length).putInt(crc(s, 0, s.length)).put(s);
        }
        b.putInt(crc(b.array(), 0, b.position()));
        return b.array();
    }

    /** Reads a snapshot from {@code bytes}; {@code name} (the file) goes into every error. */
    public static Snapshot decode(byte[] bytes, String name) throws CheckpointException {
        if (bytes.length < 16) {
            throw new CheckpointException(name + ": truncated (" + bytes.length + " bytes is less than a header)");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int magic = b.getInt();
        if (magic != MAGIC) {
            throw new CheckpointException(name + ": not a Ringtape snapshot (magic "
                    + new String(bytes, 0, 4, StandardCharsets.ISO_8859_1).replaceAll("[^ -~]", "?") + ")");
        }
        int version = b.getInt();
        if (version != VERSION) {
            throw new CheckpointException(name + ": format version " + version + ", this Ringtape reads version "
                    + VERSION + (version > VERSION ? " (written by a newer Ringtape)" : ""));
        }
        int count = b.getInt();
        Map<Integer, byte[]> sections = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            if (b.remaining() < 16 + 4) {
                throw new CheckpointException(name + ": truncated in the header of section " + (i + 1));
            }
            int id = b.getInt();
            long length = b.getLong();
            int crc = b.getInt();
            if (length < 0 || length > b.remaining() - 4) {
                throw new CheckpointException(name + ": truncated in section " + sectionName(id) + " (it says " + length
                        + " bytes, " + Math.max(0, b.remaining() - 4) + " are left)");
            }
            byte[] payload = new byte[(int) length];
            b.get(payload);
            if (crc(payload, 0, payload.length) != crc) {
                throw new CheckpointException(name + ": section " + sectionName(id) + " is corrupt (CRC32C mismatch)");
            }
            sections.put(id, payload);
        }
        if (b.remaining() != 4) {
            throw new CheckpointException(name + ": " + (b.remaining() < 4 ? "truncated before" : "extra bytes after")
                    + " the file checksum");
        }
        int fileCrc = b.getInt();
        if (crc(bytes, 0, bytes.length - 4) != fileCrc) {
            throw new CheckpointException(name + ": the file is corrupt (file CRC32C mismatch)");
        }
        for (int id : new int[] {META, PARAMETERS, OPTIMIZER}) {
            if (!sections.containsKey(id)) {
                throw new CheckpointException(name + ": section " + sectionName(id) + " is missing");
            }
        }
        Kryo k = kryo();
        try {
            Input meta = new Input(sections.get(META));
            String job = meta.readString();
            int world = meta.readInt();
            long step = meta.readLong();
            int epoch = meta.readInt();
            double scale = meta.readDouble();
            int growth = meta.readInt();
            String spec = sections.containsKey(SPEC) ? new Input(sections.get(SPEC)).readString() : null;
            return new Snapshot(
                    job,
                    spec,
                    world,
                    step,
                    epoch,
                    scale,
                    growth,
                    table(k, sections.get(PARAMETERS), name, "parameters"),
                    table(k, sections.get(OPTIMIZER), name, "optimizer"));
        } catch (KryoException e) {
            throw new CheckpointException(
                    name + ": cannot read: "
                            + e.getMessage().lines().findFirst().orElse(""),
                    e);
        }
    }

    private static Map<String, Snapshot.Values> table(Kryo k, byte[] bytes, String name, String section)
            throws CheckpointException {
        Input in = new Input(bytes);
        int n = in.readInt();
        Map<String, Snapshot.Values> out = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            String tensor = in.readString();
            Object shape = k.readClassAndObject(in);
            Object data = k.readClassAndObject(in);
            if (!(shape instanceof int[] sh) || !(data instanceof float[] values)) {
                throw new CheckpointException(
                        name + ": section " + section + ", tensor " + tensor + ": expected a shape and float values");
            }
            long size = 1;
            for (int d : sh) {
                size *= d;
            }
            if (size != values.length) {
                throw new CheckpointException(name + ": section " + section + ", tensor " + tensor + ": shape "
                        + java.util.Arrays.toString(sh) + " does not hold " + values.length + " values");
            }
            out.put(tensor, new Snapshot.Values(sh, values));
        }
        return out;
    }

    private static String sectionName(int id) {
        return id > 0 && id < NAMES.length ? NAMES[id] : "#" + id;
    }

    static int crc(byte[] b, int from, int length) {
        CRC32C c = new CRC32C();
        c.update(b, from, length);
        return (int) c.getValue();
    }
}
