package dev.ringtape.scheduler.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ringtape.runtime.nn.ForwardContext;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.runtime.train.GradientReducer;
import dev.ringtape.runtime.train.StateStore;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.telemetry.TelemetrySink;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train.init_from} against PyTorch (fixtures/make_init_from_fixture.py): a GPT's state_dict saved as
 * safetensors starts the same model here, which computes PyTorch's logits; a file that does not fit is named tensor
 * by tensor.
 */
class InitFromTest {
    private static final Path DIR = Path.of("src/test/resources/init-from");
    private static final Path FILE = DIR.resolve("gpt-tiny.safetensors");

    @TempDir
    Path tmp;

    private static Sequential model(String... overrides) throws Exception {
        JobSpec job = JobSpec.from(JobFile.load(DIR.resolve("gpt-tiny.yaml"), List.of(overrides)));
        return ModelBuilder.build(job.model(), job.seed());
    }

    private static Tensor tensor(JsonNode n) {
        float[] v = new float[n.get("data").size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) n.get("data").get(i).asDouble();
        }
        int[] shape = new int[n.get("shape").size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = n.get("shape").get(i).asInt();
        }
        return Tensor.of(v, shape);
    }

    @Test
    void shouldStartFromPyTorchsWeightsAndComputeItsLogits() throws Exception {
        JsonNode torch =
                new ObjectMapper().readTree(DIR.resolve("gpt-tiny-torch.json").toFile());
        Sequential m = model();
        InitFrom.load(m, FILE.toString());
        Tensor logits = m.forward(tensor(torch.get("tokens")), ForwardContext.EVAL);
        float[] want = tensor(torch.get("logits")).data();
        float[] got = logits.toArray();
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5 + 1e-4 * Math.abs(want[i]), "logit " + i);
        }
        double loss = m.loss().apply(logits, tensor(torch.get("target"))).item();
        assertEquals(torch.get("loss").asDouble(), loss, 1e-5);
        List<String> names = new java.util.ArrayList<>();
        torch.get("names").forEach(n -> names.add(n.asText()));
        assertEquals(names, List.copyOf(m.parameters().keySet()), "PyTorch's state_dict names are the model's");
    }

    @Test
    void shouldNameEveryMissingExtraAndMisShapedTensor() throws Exception {
        SpecException wider = assertThrows(
                SpecException.class,
                () -> InitFrom.load(
                        model("model.layers.3.layers.1.out=40", "model.layers.3.layers.3.out=16"), FILE.toString()));
        assertEquals("train.init_from", wider.path());
        assertTrue(
                wider.getMessage().contains("layers.3.layers.1.weight is [32, 16] in the file, [40, 16] in the model"),
                wider.getMessage());
        SpecException noNorm = assertThrows(
                SpecException.class,
                () -> InitFrom.load(model("model.layers.2.layers.1.qk_layernorm=false"), FILE.toString()));
        assertTrue(
                noNorm.getMessage().contains("not in the model: layers.2.layers.1.q_norm.weight,"),
                noNorm.getMessage());
        SpecException moreHeads = assertThrows(
                SpecException.class, () -> InitFrom.load(model("model.layers.2.layers.1.heads=4"), FILE.toString()));
        assertTrue(
                moreHeads.getMessage().contains("layers.2.layers.1.q_norm.weight is [8] in the file, [4] in the model"),
                moreHeads.getMessage());
        Path junk = tmp.resolve("junk.safetensors");
        Files.writeString(junk, "this is not a tensor file");
        SpecException bad = assertThrows(SpecException.class, () -> InitFrom.load(model(), junk.toString()));
        assertTrue(bad.getMessage().endsWith("junk.safetensors: not a safetensors file"), bad.getMessage());
        SpecException none = assertThrows(
                SpecException.class,
                () -> InitFrom.load(model(), tmp.resolve("nope.safetensors").toString()));
        assertTrue(none.getMessage().endsWith("nope.safetensors: no such file"), none.getMessage());
    }

    @Test
    void shouldTrainFromTheFileSoThatARateOfZeroLeavesItsWeightsBitForBit() throws Exception {
        JobSpec job = JobSpec.from(JobFile.load(DIR.resolve("gpt-tiny.yaml"), List.of()));
        Worker.Outcome o = Worker.run(
                job,
                DIR.toAbsolutePath(),
                GradientReducer.local(),
                StateStore.NONE,
                TelemetrySink.NONE,
                new PrintStream(OutputStream.nullOutputStream()));
        Sequential fromFile = model();
        InitFrom.load(fromFile, FILE.toString());
        for (Map.Entry<String, Tensor> p : fromFile.parameters().entrySet()) {
            assertArrayEquals(
                    p.getValue().toArray(),
                    o.model().parameters().get(p.getKey()).toArray(),
                    p.getKey());
        }
    }
}
