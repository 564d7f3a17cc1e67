package dev.ringtape.scheduler.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.tensor.Tensor;
import java.io.DataInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code train.init_from}: a safetensors file of float32 tensors (a PyTorch {@code state_dict} saved with the
 * export's names and layouts, or a Ringtape export) as the model's initial weights. Every parameter must be there
 * with its shape, and nothing else but the export's {@code normalize.*} entries: a missing, extra or mis-shaped
 * tensor is an error that names each one.
 */
public final class InitFrom {
    /** What a Ringtape export adds besides the parameters: the input normalization. */
    private static final String NORMALIZE = "normalize.";

    private InitFrom() {}

    /** A tensor of the file: its shape, and where its little-endian float32 values lie in the file. */
    record Stored(int[] shape, long begin, long end) {}

    /** The header of {@code path} (a local path or a Hadoop URI): the tensors by name, in the file's order. */
    static Map<String, Stored> header(String path) throws SpecException {
        try (DataInputStream in = new DataInputStream(DataSources.FILES.open(path))) {
            return parse(path, in);
        } catch (NoSuchFileException | FileNotFoundException e) {
            throw new SpecException("train.init_from", path + ": no such file");
        } catch (IOException e) {
            throw new SpecException("train.init_from", path + ": cannot read: " + e.getMessage());
        }
    }

    /** Checks the tensors of {@code path} against the parameters of {@code model}, reading its header only. */
    public static void verify(Sequential model, String path) throws SpecException {
        check(model, path, header(path));
    }

    /** Checks {@code path} against the parameters of {@code model} and copies its values into them. */
    public static void load(Sequential model, String path) throws SpecException {
        try (DataInputStream in = new DataInputStream(DataSources.FILES.open(path))) {
            Map<String, Stored> header = parse(path, in);
            check(model, path, header);
            // the values follow the header in offset order; read them in one pass
            List<Map.Entry<String, Stored>> byOffset = new ArrayList<>(header.entrySet());
            byOffset.sort(
                    (a, b) -> Long.compare(a.getValue().begin(), b.getValue().begin()));
            long at = 0;
            for (Map.Entry<String, Stored> e : byOffset) {
                Stored s = e.getValue();
                in.skipNBytes(s.begin() - at);
                byte[] bytes = in.readNBytes((int) (s.end() - s.begin()));
                if (bytes.length != s.end() - s.begin()) {
                    throw new SpecException("train.init_from", path + ": the file ends inside " + e.getKey());
                }
                at = s.end();
                Tensor p = model.parameters().get(e.getKey());
                if (p == null) {
                    continue; // the export's normalization
                }
                float[] v = new float[p.size()];
                ByteBuffer.wrap(bytes)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .asFloatBuffer()
                        .get(v);
                p.copyFrom(Tensor.of(v, p.shape()));
            }
        } catch (NoSuchFileException | FileNotFoundException e) {
            throw new SpecException("train.init_from", path + ": no such file");
        } catch (IOException e) {
            throw new SpecException("train.init_from", path + ": cannot read: " + e.getMessage());
        }
    }

    /** Every missing, extra and mis-shaped tensor of {@code header} against {@code model}, in one message. */
    static void check(Sequential model, String path, Map<String, Stored> header) throws SpecException {
        List<String> problems = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, Tensor> p : model.parameters().entrySet()) {
            Stored s = header.get(p.getKey());
            if (s == null) {
                missing.add(p.getKey() + " " + Shapes.str(p.getValue().shape()));
            } else if (!Arrays.equals(s.shape(), p.getValue().shape())) {
                problems.add(p.getKey() + " is " + Shapes.str(s.shape()) + " in the file, "
                        + Shapes.str(p.getValue().shape()) + " in the model");
            }
        }
        List<String> extra = header.keySet().stream()
                .filter(k -> !model.parameters().containsKey(k) && !k.startsWith(NORMALIZE))
                .toList();
        if (!missing.isEmpty()) {
            problems.add(0, "missing " + String.join(", ", missing));
        }
        if (!extra.isEmpty()) {
            problems.add("not in the model: " + String.join(", ", extra));
        }
        if (!problems.isEmpty()) {
            throw new SpecException(
                    "train.init_from",
                    path + " does not fit the model: " + String.join("; ", problems)
                            + " (names and layouts as the export's: layers.<i>.weight, [out, in])");
        }
    }

    private static Map<String, Stored> parse(String path, DataInputStream in) throws IOException, SpecException {
        byte[] len = in.readNBytes(8);
        long n = len.length < 8
                ? -1
                : ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (n < 2 || n > 100_000_000) {
            throw new SpecException("train.init_from", path + ": not a safetensors file");
        }
        JsonNode header;
        try {
            header = new ObjectMapper().readTree(new String(in.readNBytes((int) n), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new SpecException("train.init_from", path + ": not a safetensors file (its header is not JSON)");
        }
        Map<String, Stored> out = new LinkedHashMap<>();
        for (var it = header.properties().iterator(); it.hasNext(); ) {
            var f = it.next();
            if (f.getKey().equals("__metadata__")) {
                continue;
            }
            String dtype = f.getValue().path("dtype").asText();
            if (!dtype.equals("F32")) {
                throw new SpecException(
                        "train.init_from",
                        path + ": " + f.getKey() + " is " + dtype + "; save float32 tensors (tensor.float())");
            }
            JsonNode shapeNode = f.getValue().path("shape");
            int[] shape = new int[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asInt();
            }
            long begin = f.getValue().path("data_offsets").path(0).asLong(-1);
            long end = f.getValue().path("data_offsets").path(1).asLong(-1);
            if (begin < 0 || end - begin != 4L * Shapes.size(shape)) {
                throw new SpecException(
                        "train.init_from", path + ": " + f.getKey() + "'s data_offsets do not fit its shape");
            }
            out.put(f.getKey(), new Stored(shape, begin, end));
        }
        return out;
    }
}
