package dev.ringtape.scheduler.driver;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * Writes float32 tensors as a safetensors file, atomically (a temporary file beside the target, fsync, rename):
 *
 * <pre>
 *  0                   8                     8 + N
 *  +-------------------+---------------------+---------------------------------------------+
 *  | N: header length  | header: UTF-8 JSON, | tensor bytes, little-endian float32, in the |
 *  | (u64, little-end.)| space-padded to 8   | header's order, each at its data_offsets    |
 *  +-------------------+---------------------+---------------------------------------------+
 *  header: {"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
 *           "__metadata__": {"KEY": "string value", ...}}
 * </pre>
 */
public final class Safetensors {
    private Safetensors() {}

    /** A tensor to write: its shape and row-major values. */
    public record Entry(int[] shape, float[] values) {}

    public static void write(Path target, Map<String, Entry> tensors, Map<String, String> metadata) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        long offset = 0;
        for (Map.Entry<String, Entry> t : tensors.entrySet()) {
            ObjectNode h = header.putObject(t.getKey());
            h.put("dtype", "F32");
            var shape = h.putArray("shape");
            long n = 1;
            for (int d : t.getValue().shape()) {
                shape.add(d);
                n *= d;
            }
            if (n != t.getValue().values().length) {
                throw new IllegalArgumentException(t.getKey() + ": shape does not match its "
                        + t.getValue().values().length + " values");
            }
            var offsets = h.putArray("data_offsets");
            offsets.add(offset);
            offsets.add(offset + 4 * n);
            offset += 4 * n;
        }
        ObjectNode meta = header.putObject("__metadata__");
        metadata.forEach(meta::put);
        byte[] text = json.writeValueAsBytes(header);
        int padded = (text.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(text);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();

        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve(
                "." + target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            try (FileChannel ch = FileChannel.open(
                    tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                while (head.hasRemaining()) {
                    ch.write(head);
                }
                OutputStream out = java.nio.channels.Channels.newOutputStream(ch);
                ByteBuffer chunk = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
                for (Entry e : tensors.values()) {
                    for (float v : e.values()) {
                        if (!chunk.hasRemaining()) {
                            out.write(chunk.array(), 0, chunk.position());
                            chunk.clear();
                        }
                        chunk.putFloat(v);
                    }
                }
                out.write(chunk.array(), 0, chunk.position());
                out.flush();
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            } catch (IOException e) {
                // some file systems cannot sync a directory; the rename is done
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Reads a file {@link #write} wrote (or any safetensors file of F32 tensors): names to shapes and values. */
    public static Map<String, Entry> read(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        long n = b.getLong();
        if (n < 2 || n > all.length - 8) {
            throw new IOException(file + ": not a safetensors file (header length " + n + ")");
        }
        var header = new ObjectMapper().readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        Map<String, Entry> out = new java.util.LinkedHashMap<>();
        for (var it = header.properties().iterator(); it.hasNext(); ) {
            var f = it.next();
            if (f.getKey().equals("__metadata__")) {
                continue;
            }
            if (!f.getValue().path("dtype").asText().equals("F32")) {
                throw new IOException(
                        file + ": " + f.getKey() + " is " + f.getValue().path("dtype") + ", not F32");
            }
            int[] shape = new int[f.getValue().path("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = f.getValue().path("shape").get(i).asInt();
            }
            long begin = f.getValue().path("data_offsets").get(0).asLong();
            long end = f.getValue().path("data_offsets").get(1).asLong();
            float[] v = new float[(int) ((end - begin) / 4)];
            ByteBuffer data = ByteBuffer.wrap(all, (int) (8 + n + begin), (int) (end - begin))
                    .order(ByteOrder.LITTLE_ENDIAN);
            data.asFloatBuffer().get(v);
            out.put(f.getKey(), new Entry(shape, v));
        }
        return out;
    }

    /** The {@code __metadata__} of a safetensors file. */
    public static Map<String, String> metadata(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong();
        var meta = new ObjectMapper()
                .readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8))
                .path("__metadata__");
        Map<String, String> out = new java.util.LinkedHashMap<>();
        meta.properties().forEach(e -> out.put(e.getKey(), e.getValue().asText()));
        return out;
    }
}
