package dev.ringtape.runtime.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ringtape.runtime.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * SGD, Adam and AdamW follow torch.optim's float32 trajectories bit for bit (fixtures made by
 * src/test/fixtures/make_optimizer_cases.py with PyTorch 1.13).
 */
class OptimizerTest {

    static Stream<JsonNode> cases() throws IOException {
        try (InputStream in = OptimizerTest.class.getResourceAsStream("/optimizer_cases.json")) {
            List<JsonNode> all = new ArrayList<>();
            new ObjectMapper().readTree(in).forEach(all::add);
            assertFalse(all.isEmpty());
            return all.stream();
        }
    }

    private static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) array.get(i).asDouble();
        }
        return out;
    }

    private static Optimizer build(JsonNode c, Tensor p) {
        JsonNode o = c.get("options");
        return switch (c.get("type").asText()) {
            case "sgd" -> new Sgd(
                    List.of(p),
                    o.path("momentum").asDouble(0),
                    o.path("dampening").asDouble(0),
                    o.path("weight_decay").asDouble(0),
                    o.path("nesterov").asBoolean(false));
            case "adam", "adamw" -> {
                boolean decoupled = c.get("type").asText().equals("adamw");
                JsonNode betas = o.path("betas");
                yield new Adam(
                        List.of(p),
                        betas.isArray() ? betas.get(0).asDouble() : 0.9,
                        betas.isArray() ? betas.get(1).asDouble() : 0.999,
                        o.path("eps").asDouble(1e-8),
                        o.path("weight_decay").asDouble(decoupled ? 0.01 : 0),
                        decoupled);
            }
            default -> throw new IllegalArgumentException(c.get("type").asText());
        };
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void shouldFollowTorchOptimTrajectory(JsonNode c) {
        Tensor p = Tensor.of(floats(c.get("init")), c.get("init").size()).requiresGrad(true);
        Optimizer opt = build(c, p);
        for (int step = 0; step < c.get("grads").size(); step++) {
            p.gradBuffer().copyFrom(Tensor.of(floats(c.get("grads").get(step)), p.size()));
            opt.step(c.get("lr").get(step).asDouble());
            float[] want = floats(c.get("expected").get(step));
            for (int i = 0; i < want.length; i++) {
                // float32 arithmetic in PyTorch's order and roundings: equal bits
                assertEquals(
                        Float.floatToIntBits(want[i]),
                        Float.floatToIntBits(p.data()[i]),
                        c.get("name").asText() + " step " + (step + 1) + " element " + i);
            }
        }
    }

    @Test
    void shouldApplyHandComputedAdamWFirstStep() {
        // t=1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2, update = lr * g / (|g| + eps) = lr * sign(g)
        Tensor p = Tensor.of(new float[] {1f, -2f}, 2).requiresGrad(true);
        p.gradBuffer().copyFrom(Tensor.of(new float[] {0.5f, -3f}, 2));
        Adam.adamW(List.of(p)).step(0.1);
        // decay first: p * (1 - 0.1 * 0.01), then -0.1 * sign(g)
        assertEquals(1f * 0.999f - 0.1f, p.data()[0], 1e-6f);
        assertEquals(-2f * 0.999f + 0.1f, p.data()[1], 1e-6f);
    }

    @Test
    void shouldApplyHandComputedSgdMomentum() {
        Tensor p = Tensor.of(new float[] {1f}, 1).requiresGrad(true);
        Sgd sgd = new Sgd(List.of(p), 0.9, 0, 0, false);
        p.gradBuffer().copyFrom(Tensor.of(new float[] {1f}, 1));
        sgd.step(0.1); // buf = 1, p = 1 - 0.1 = 0.9
        sgd.step(0.1); // buf = 0.9 + 1 = 1.9, p = 0.9 - 0.19 = 0.71
        assertEquals(0.71f, p.data()[0], 1e-6f);
    }
}
