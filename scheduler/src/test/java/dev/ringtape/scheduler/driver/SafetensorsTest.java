package dev.ringtape.scheduler.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ringtape.runtime.nn.ForwardContext;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    private static final Path EXPORT = Path.of("src/test/resources/export");

    @TempDir
    Path tmp;

    @Test
    void shouldComputeWhatPyTorchComputesFromTheSameExport() throws Exception {
        // conv-digits-torch.json: PyTorch loaded the committed export by name (strict) and ran it on raw rows
        JsonNode fixture = new ObjectMapper()
                .readTree(EXPORT.resolve("conv-digits-torch.json").toFile());
        Path file = EXPORT.resolve(fixture.get("export").asText());
        Map<String, Safetensors.Entry> tensors = Safetensors.read(file);
        JsonNode spec = new ObjectMapper().readTree(Safetensors.metadata(file).get("model"));
        Sequential model = ModelBuilder.build(spec, 0);
        for (Map.Entry<String, Tensor> p : model.parameters().entrySet()) {
            Safetensors.Entry e = tensors.get(p.getKey());
            assertArrayEquals(p.getValue().shape(), e.shape(), p.getKey());
            System.arraycopy(e.values(), 0, p.getValue().data(), 0, e.values().length);
        }
        float[] x = floats(fixture.get("input").get("data"));
        float[] shift = tensors.get("normalize.shift").values();
        float[] scale = tensors.get("normalize.scale").values();
        for (int i = 0; i < x.length; i++) {
            x[i] = (x[i] - shift[i % shift.length]) / scale[i % scale.length];
        }
        int[] shape = ints(fixture.get("input").get("shape"));
        Tensor out = model.forward(Tensor.of(x, shape), ForwardContext.EVAL);
        float[] want = floats(fixture.get("output").get("data"));
        assertArrayEquals(ints(fixture.get("output").get("shape")), out.shape());
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], out.data()[i], 1e-4 + 1e-4 * Math.abs(want[i]), "logit " + i);
        }
    }

    @Test
    void shouldWriteTheLayoutTheFormatDefines() throws Exception {
        Map<String, Safetensors.Entry> tensors = new LinkedHashMap<>();
        tensors.put("layers.0.weight", new Safetensors.Entry(new int[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}));
        tensors.put("layers.0.bias", new Safetensors.Entry(new int[] {2}, new float[] {-1f, Float.MIN_VALUE}));
        Path f = tmp.resolve("out/m.safetensors");
        Safetensors.write(f, tensors, Map.of("model", "{}"));
        byte[] all = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8, "header padded to 8 bytes");
        assertEquals(8 + n + 4 * 8, all.length);
        JsonNode header =
                new ObjectMapper().readTree(new String(all, 8, (int) n, java.nio.charset.StandardCharsets.UTF_8));
        assertEquals("F32", header.get("layers.0.weight").get("dtype").asText());
        assertEquals("[0,24]", header.get("layers.0.weight").get("data_offsets").toString());
        assertEquals("[24,32]", header.get("layers.0.bias").get("data_offsets").toString());
        assertEquals("{}", header.get("__metadata__").get("model").asText());
        Map<String, Safetensors.Entry> back = Safetensors.read(f);
        assertArrayEquals(
                new float[] {-1f, Float.MIN_VALUE}, back.get("layers.0.bias").values());
        try (var files = Files.list(f.getParent())) {
            assertEquals(1, files.count(), "no temporary file left beside the export");
        }
    }

    @Test
    void shouldLeaveThePreviousExportWhenAWriteFails() throws Exception {
        Path f = tmp.resolve("m.safetensors");
        Safetensors.write(f, Map.of("a", new Safetensors.Entry(new int[] {1}, new float[] {1})), Map.of());
        byte[] before = Files.readAllBytes(f);
        try {
            Safetensors.write(f, Map.of("a", new Safetensors.Entry(new int[] {2}, new float[] {1})), Map.of());
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("shape"), expected.getMessage());
        }
        assertArrayEquals(before, Files.readAllBytes(f));
        try (var files = Files.list(tmp)) {
            assertFalse(files.anyMatch(p -> p.getFileName().toString().contains(".tmp")));
        }
    }

    private static float[] floats(JsonNode a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) a.get(i).asDouble();
        }
        return f;
    }

    private static int[] ints(JsonNode a) {
        int[] f = new int[a.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = a.get(i).asInt();
        }
        return f;
    }
}
