package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TensorBoard event file, read back without the writer's code: TFRecord framing and its masked CRC32Cs checked
 * here, each record parsed by protobuf-java as unknown fields by number (tensorflow's event.proto and summary.proto:
 * Event.wall_time 1, step 2, file_version 3, summary 5; Summary.value 1; Value.tag 1, simple_value 2, tensor 8,
 * metadata 9; TensorProto.dtype 1, string_val 8; SummaryMetadata.plugin_data 1, PluginData.plugin_name 1), and the
 * values compared with the JSON records they came from.
 */
class TensorBoardTest {
    @TempDir
    Path tmp;

    /** One event: its step, wall time, file_version (or null), and its summary's values by tag. */
    record Event(long step, double wallTime, String fileVersion, Map<String, Object> values) {}

    static List<Event> read(Path file) throws Exception {
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        List<Event> out = new ArrayList<>();
        while (b.hasRemaining()) {
            int at = b.position();
            long len = b.getLong();
            assertEquals(mask(crc(all, at, 8)), b.getInt(), "the length's masked CRC32C at byte " + at);
            byte[] data = new byte[(int) len];
            b.get(data);
            assertEquals(mask(crc(data, 0, data.length)), b.getInt(), "the data's masked CRC32C at byte " + at);
            UnknownFieldSet e = UnknownFieldSet.parseFrom(data);
            double wall = Double.longBitsToDouble(e.getField(1).getFixed64List().get(0));
            long step = e.hasField(2) ? e.getField(2).getVarintList().get(0) : 0;
            String version = e.hasField(3)
                    ? e.getField(3).getLengthDelimitedList().get(0).toStringUtf8()
                    : null;
            Map<String, Object> values = new LinkedHashMap<>();
            if (e.hasField(5)) {
                UnknownFieldSet summary = UnknownFieldSet.parseFrom(
                        e.getField(5).getLengthDelimitedList().get(0));
                for (ByteString v : summary.getField(1).getLengthDelimitedList()) {
                    UnknownFieldSet value = UnknownFieldSet.parseFrom(v);
                    String tag =
                            value.getField(1).getLengthDelimitedList().get(0).toStringUtf8();
                    if (value.hasField(2)) {
                        values.put(
                                tag,
                                Float.intBitsToFloat(
                                        value.getField(2).getFixed32List().get(0)));
                    } else {
                        UnknownFieldSet tensor = UnknownFieldSet.parseFrom(
                                value.getField(8).getLengthDelimitedList().get(0));
                        assertEquals(7L, tensor.getField(1).getVarintList().get(0), "DT_STRING");
                        UnknownFieldSet plugin = UnknownFieldSet.parseFrom(UnknownFieldSet.parseFrom(value.getField(9)
                                        .getLengthDelimitedList()
                                        .get(0))
                                .getField(1)
                                .getLengthDelimitedList()
                                .get(0));
                        assertEquals(
                                "text",
                                plugin.getField(1)
                                        .getLengthDelimitedList()
                                        .get(0)
                                        .toStringUtf8());
                        values.put(
                                tag,
                                tensor.getField(8)
                                        .getLengthDelimitedList()
                                        .get(0)
                                        .toStringUtf8());
                    }
                }
            }
            out.add(new Event(step, wall, version, values));
        }
        return out;
    }

    private static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }

    private static int mask(int crc) {
        return Integer.rotateRight(crc, 15) + 0xa282ead8;
    }

    @Test
    void shouldWriteEventsTensorBoardReadsWithTheLogsValues() throws Exception {
        List<ObjectNode> log = new ArrayList<>();
        for (int step = 0; step < 3; step++) {
            ObjectNode s = Records.of(Schema.Type.STEP, "j", step);
            s.put(Schema.RANK, 0);
            s.put(Schema.LOSS, 2.5 - step * 0.1);
            s.put(Schema.LR, 1e-3);
            s.put(Schema.LOSS_SCALE, 1.0);
            s.put(Schema.GRAD_NORM, 0.75 + step);
            s.put(Schema.SAMPLES, 64);
            s.putObject(Schema.PHASE_MS).put(Schema.FORWARD, 1.0).put(Schema.BACKWARD, 1.0);
            log.add(s);
            ObjectNode other = s.deepCopy();
            other.put(Schema.RANK, 1);
            other.put(Schema.LOSS, 99.0); // another rank's record: not rank 0's, not written
            log.add(other);
        }
        ObjectNode w = Records.of(Schema.Type.LAYER, "j", 0);
        w.put(Schema.RANK, 0);
        w.put(Schema.LAYER, "layers.0");
        w.put(Schema.PARAM, "layers.0.weight");
        w.put(Schema.GRAD_NORM, 0.125);
        w.put(Schema.UPDATE_RATIO, 3e-3);
        log.add(w);
        ObjectNode a = Records.of(Schema.Type.LAYER, "j", 0);
        a.put(Schema.RANK, 0);
        a.put(Schema.LAYER, "layers.1");
        a.put(Schema.ACTIVATION, "relu");
        a.put(Schema.DEAD_FRAC, 0.25);
        a.put(Schema.SATURATED_FRAC, 0.0);
        log.add(a);
        ObjectNode d = Records.of(Schema.Type.DIAGNOSIS, "j", 2);
        d.put(Schema.CODE, "DEAD_RELU");
        d.put(Schema.SEVERITY, "warn");
        d.put(Schema.LAYER, "layers.1");
        d.put(Schema.STATE, Schema.OPEN);
        d.putObject(Schema.EVIDENCE).put("dead_frac", 0.5);
        d.put(Schema.HINT, "try a lower rate");
        log.add(d);
        ObjectNode end = Records.of(Schema.Type.END, "j", 3);
        end.putObject(Schema.EVAL).put(Schema.LOSS, 0.5).put(Schema.ACCURACY, 0.875);
        log.add(end);
        Path jsonl = tmp.resolve("t.jsonl");
        Files.write(jsonl, log.stream().map(ObjectNode::toString).toList());

        Path live;
        try (TensorBoard tb = new TensorBoard(tmp.resolve("live"))) {
            log.forEach(r -> tb.emit(r.deepCopy()));
            live = tb.file();
        }
        Path converted = TensorBoard.convert(jsonl, tmp.resolve("converted"));
        assertTrue(converted.getFileName().toString().startsWith("events.out.tfevents."), converted.toString());
        for (Path file : List.of(live, converted)) {
            List<Event> events = read(file);
            assertEquals("brain.Event:2", events.get(0).fileVersion(), "the version first");
            Map<String, List<Object>> byTag = new LinkedHashMap<>();
            Map<String, List<Long>> steps = new LinkedHashMap<>();
            for (Event e : events.subList(1, events.size())) {
                e.values().forEach((tag, v) -> {
                    byTag.computeIfAbsent(tag, k -> new ArrayList<>()).add(v);
                    steps.computeIfAbsent(tag, k -> new ArrayList<>()).add(e.step());
                });
                assertTrue(e.wallTime() > 1.7e9, "wall time in seconds since the epoch: " + e.wallTime());
            }
            assertEquals(List.of(2.5f, 2.4f, (float) (2.5 - 0.2)), byTag.get("train/loss"), "rank 0's losses only");
            assertEquals(List.of(0L, 1L, 2L), steps.get("train/loss"));
            assertEquals(List.of(0.75f, 1.75f, 2.75f), byTag.get("train/grad_norm"));
            assertEquals(List.of(1e-3f, 1e-3f, 1e-3f), byTag.get("train/lr"));
            assertEquals(32_000f, (float) byTag.get("train/samples_per_s").get(0), "64 samples in 2 ms");
            assertEquals(List.of(0.125f), byTag.get("grad_norm/layers.0.weight"));
            assertEquals(List.of(3e-3f), byTag.get("update_ratio/layers.0.weight"));
            assertEquals(List.of(0.25f), byTag.get("dead_frac/layers.1"));
            assertEquals(List.of(0.875f), byTag.get("eval/accuracy"));
            assertEquals(List.of(3L), steps.get("eval/loss"));
            String text = (String) byTag.get("diagnoses").get(0);
            assertEquals(List.of(2L), steps.get("diagnoses"));
            assertTrue(
                    text.startsWith("step 2: warn DEAD_RELU in layers.1: Evidence: dead frac 0.500")
                            && text.endsWith("try a lower rate"),
                    text);
        }
        assertTrue(
                new String(Files.readAllBytes(live), StandardCharsets.ISO_8859_1).contains("brain.Event:2"),
                "plain bytes");
    }
}
