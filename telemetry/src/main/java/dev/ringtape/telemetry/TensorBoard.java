package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.zip.CRC32C;

/**
 * The run as TensorBoard reads it: an event file ({@code events.out.tfevents.TIME.HOST}) in a directory, written as
 * the records come ({@code telemetry.tensorboard: DIR}) or from a finished log ({@code ringtape tensorboard LOG -o
 * DIR}).
 *
 * <p>The file is TFRecord-framed: per record the data's length (u64, little-endian), the masked CRC32C of those 8
 * bytes, the data, and the masked CRC32C of the data. Each record is a {@code tensorflow.Event} protobuf written by
 * hand (its few fields are below, with their numbers): the first carries {@code file_version "brain.Event:2"}, the
 * rest a {@code Summary}:
 *
 * <ul>
 *   <li>per step (rank 0's step record): {@code train/loss}, {@code train/lr}, {@code train/loss_scale}, {@code
 *       train/grad_norm}, {@code train/samples_per_s} (the step's samples over its phases' time);
 *   <li>per sampled step (rank 0's layer records): {@code grad_norm/PARAM}, {@code update_ratio/PARAM}, {@code
 *       dead_frac/LAYER} and {@code saturated_frac/LAYER};
 *   <li>at the end: {@code eval/loss} and {@code eval/accuracy};
 *   <li>each diagnosis as it opens or clears: a text summary ({@code diagnoses}, the text plugin's string tensor).
 * </ul>
 *
 * The telemetry keeps a layer's gradient norm and largest magnitude, not its values, so there are no histograms.
 */
public final class TensorBoard implements TelemetrySink {
    /** The event format TensorBoard's readers expect first. */
    static final String FILE_VERSION = "brain.Event:2";

    private final Path file;
    private final OutputStream out;
    private long lastFlush = System.nanoTime();

    /** Creates {@code dir} if needed and a new event file in it. */
    public TensorBoard(Path dir) throws IOException {
        Files.createDirectories(dir);
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "localhost";
        }
        Path f = dir.resolve("events.out.tfevents." + Instant.now().getEpochSecond() + "." + host);
        for (int i = 1; Files.exists(f); i++) { // a second run in the same second
            f = dir.resolve("events.out.tfevents." + Instant.now().getEpochSecond() + "." + host + "." + i);
        }
        this.file = f;
        this.out = new BufferedOutputStream(Files.newOutputStream(f), 1 << 16);
        write(event(System.currentTimeMillis() / 1000.0, 0, new Proto().string(3, FILE_VERSION)));
    }

    /** The event file. */
    public Path file() {
        return file;
    }

    /** Writes a finished log's records to a new event file in {@code dir}; that file. */
    public static Path convert(Path log, Path dir) throws IOException {
        // the log first: a log that cannot be read leaves no empty event file behind
        try (BufferedReader r = Files.newBufferedReader(log, StandardCharsets.UTF_8);
                TensorBoard tb = new TensorBoard(dir)) {
            String line;
            while ((line = r.readLine()) != null) {
                if (!line.isBlank()) {
                    JsonNode n = Records.JSON.readTree(line);
                    if (n instanceof ObjectNode o) {
                        tb.emit(o);
                    }
                }
            }
            return tb.file;
        }
    }

    @Override
    public synchronized void emit(ObjectNode r) {
        if (r.path(Schema.RANK).asInt(0) != 0 && !r.path(Schema.TYPE).asText().equals(Schema.Type.DIAGNOSIS)) {
            return; // every rank's step and layer records say the same of the model; rank 0's speak for it
        }
        long step = r.path(Schema.STEP).asLong();
        double wall = wallTime(r);
        Proto summary = new Proto();
        switch (r.path(Schema.TYPE).asText()) {
            case Schema.Type.STEP -> {
                scalar(summary, "train/loss", r.path(Schema.LOSS));
                scalar(summary, "train/lr", r.path(Schema.LR));
                scalar(summary, "train/loss_scale", r.path(Schema.LOSS_SCALE));
                scalar(summary, "train/grad_norm", r.path(Schema.GRAD_NORM));
                scalar(summary, "train/log_z", r.path(Schema.LOG_Z));
                double rate = Records.samplesPerSecond(r);
                if (!Double.isNaN(rate)) {
                    scalar(summary, "train/samples_per_s", rate);
                }
            }
            case Schema.Type.LAYER -> {
                if (r.has(Schema.PARAM)) {
                    String p = r.path(Schema.PARAM).asText();
                    scalar(summary, "grad_norm/" + p, r.path(Schema.GRAD_NORM));
                    scalar(summary, "update_ratio/" + p, r.path(Schema.UPDATE_RATIO));
                } else if (r.has(Schema.HEAD)) {
                    String l = r.path(Schema.LAYER).asText() + "/head"
                            + r.path(Schema.HEAD).asInt();
                    scalar(summary, "attention_entropy/" + l, r.path(Schema.ATTENTION_ENTROPY));
                    scalar(summary, "attention_max_logit/" + l, r.path(Schema.ATTENTION_MAX_LOGIT));
                } else {
                    String l = r.path(Schema.LAYER).asText();
                    scalar(summary, "dead_frac/" + l, r.path(Schema.DEAD_FRAC));
                    scalar(summary, "saturated_frac/" + l, r.path(Schema.SATURATED_FRAC));
                }
            }
            case Schema.Type.END -> {
                scalar(summary, "eval/loss", r.path(Schema.EVAL).path(Schema.LOSS));
                scalar(summary, "eval/accuracy", r.path(Schema.EVAL).path(Schema.ACCURACY));
                scalar(summary, "eval/bits_per_byte", r.path(Schema.EVAL).path(Schema.BITS_PER_BYTE));
            }
            case Schema.Type.DIAGNOSIS -> text(summary, "diagnoses", diagnosis(r));
            default -> {
                return;
            }
        }
        if (summary.size() > 0) {
            write(event(wall, step, new Proto().message(5, summary)));
        }
        if (r.path(Schema.TYPE).asText().equals(Schema.Type.END) || System.nanoTime() - lastFlush > 1_000_000_000L) {
            flush(); // TensorBoard follows a growing file: what is written shows within a second
        }
    }

    private static String diagnosis(JsonNode r) {
        String layer = r.path(Schema.LAYER).asText();
        return "step " + r.path(Schema.STEP).asLong() + ": "
                + (r.path(Schema.STATE).asText().equals(Schema.OPEN) ? "" : "cleared ")
                + r.path(Schema.SEVERITY).asText() + " " + r.path(Schema.CODE).asText()
                + (layer.isEmpty() ? "" : " in " + layer)
                + (r.path(Schema.STATE).asText().equals(Schema.OPEN)
                        ? ": " + Report.evidenceInWords(r.path(Schema.EVIDENCE)) + " "
                                + r.path(Schema.HINT).asText()
                        : "");
    }

    private static double wallTime(JsonNode r) {
        try {
            Instant t = Instant.parse(r.path(Schema.TS).asText());
            return t.getEpochSecond() + t.getNano() / 1e9;
        } catch (RuntimeException e) {
            return System.currentTimeMillis() / 1000.0;
        }
    }

    /** A {@code Summary.Value} with {@code simple_value}, when {@code v} is a number. */
    private static void scalar(Proto summary, String tag, JsonNode v) {
        if (v.isNumber()) {
            scalar(summary, tag, v.asDouble());
        }
    }

    private static void scalar(Proto summary, String tag, double v) {
        summary.message(1, new Proto().string(1, tag).float32(2, (float) v));
    }

    /** A {@code Summary.Value} the text plugin shows: a scalar string tensor, with the plugin named in its metadata. */
    private static void text(Proto summary, String tag, String text) {
        Proto tensor = new Proto()
                .varint(1, 7) // dtype: DT_STRING
                .message(2, new Proto()) // tensor_shape: a scalar
                .bytes(8, text.getBytes(StandardCharsets.UTF_8)); // string_val
        Proto metadata = new Proto().message(1, new Proto().string(1, "text")); // plugin_data.plugin_name
        summary.message(1, new Proto().string(1, tag).message(8, tensor).message(9, metadata));
    }

    /** An {@code Event}: wall_time (1), step (2), and {@code what} (file_version 3, or summary 5). */
    private static byte[] event(double wallTime, long step, Proto what) {
        return new Proto().float64(1, wallTime).varint(2, step).append(what).bytes();
    }

    private void write(byte[] data) {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(data.length);
        ByteBuffer head = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        head.put(len.array()).putInt(masked(len.array(), 0, 8));
        try {
            out.write(head.array());
            out.write(data);
            out.write(ByteBuffer.allocate(4)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putInt(masked(data, 0, data.length))
                    .array());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** TFRecord's masked CRC32C: rotated right by 15 bits, plus a constant. */
    static int masked(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        int crc = (int) c.getValue();
        return ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
    }

    private synchronized void flush() {
        try {
            out.flush();
            lastFlush = System.nanoTime();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** A protobuf message being written: fields in the order given, in the wire format. */
    static final class Proto {
        private final ByteArrayOutputStream b = new ByteArrayOutputStream();

        int size() {
            return b.size();
        }

        byte[] bytes() {
            return b.toByteArray();
        }

        Proto varint(int field, long v) {
            tag(field, 0);
            raw(v);
            return this;
        }

        Proto float64(int field, double v) {
            tag(field, 1);
            long bits = Double.doubleToRawLongBits(v);
            for (int i = 0; i < 8; i++) {
                b.write((int) (bits >>> (8 * i)));
            }
            return this;
        }

        Proto float32(int field, float v) {
            tag(field, 5);
            int bits = Float.floatToRawIntBits(v);
            for (int i = 0; i < 4; i++) {
                b.write(bits >>> (8 * i));
            }
            return this;
        }

        Proto bytes(int field, byte[] v) {
            tag(field, 2);
            raw(v.length);
            b.writeBytes(v);
            return this;
        }

        Proto string(int field, String v) {
            return bytes(field, v.getBytes(StandardCharsets.UTF_8));
        }

        Proto message(int field, Proto m) {
            return bytes(field, m.bytes());
        }

        /** Appends another message's fields (the same message, written in two parts). */
        Proto append(Proto m) {
            b.writeBytes(m.bytes());
            return this;
        }

        private void tag(int field, int wire) {
            raw(((long) field << 3) | wire);
        }

        private void raw(long v) {
            while ((v & ~0x7FL) != 0) {
                b.write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            b.write((int) v);
        }
    }
}
