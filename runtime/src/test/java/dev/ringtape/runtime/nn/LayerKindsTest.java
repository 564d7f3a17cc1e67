package dev.ringtape.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** The layer types come from one place each: the layers' kinds, and the activations' rows of {@link Activation}. */
class LayerKindsTest {
    private static Sequential build(String layers) throws Exception {
        JsonNode model = new ObjectMapper()
                .readTree("{\"input\": [4], \"layers\": " + layers + ", \"loss\": {\"type\": \"mse\"}}");
        return ModelBuilder.build(model, 1);
    }

    private static Layers.Act act(String layer) throws Exception {
        return (Layers.Act) build("[" + layer + "]").layers().get(0);
    }

    @Test
    void shouldOfferEveryActivationRowAsALayerTypeWithItsParameterAndVariant() throws Exception {
        for (Activation a : Activation.values()) {
            assertTrue(ModelBuilder.KINDS.containsKey(a.type()), a + " is a layer type");
        }
        assertEquals(Activation.RELU, act("{\"type\": \"relu\"}").activation());
        assertEquals(
                0.2f, act("{\"type\": \"leaky_relu\", \"negative_slope\": 0.2}").param());
        assertEquals(0.01f, act("{\"type\": \"leaky_relu\"}").param(), "its default");
        assertEquals(1.0f, act("{\"type\": \"elu\"}").param());
        assertEquals(Activation.GELU_ERF, act("{\"type\": \"gelu\"}").activation());
        assertEquals(
                Activation.GELU_TANH,
                act("{\"type\": \"gelu\", \"approximate\": \"tanh\"}").activation());
        assertEquals(
                "gelu", act("{\"type\": \"gelu\", \"approximate\": \"tanh\"}").type());
    }

    @Test
    void shouldNameTheLayerAndKeyOfWhatItCannotTake() {
        SpecException bad = assertThrows(
                SpecException.class,
                () -> build(
                        "[{\"type\": \"linear\", \"out\": 3}, {\"type\": \"gelu\", " + "\"approximate\": \"fast\"}]"));
        assertEquals("model.layers.1.approximate", bad.path());
        assertTrue(bad.getMessage().contains("expected 'none' or 'tanh', got 'fast'"), bad.getMessage());
        SpecException key =
                assertThrows(SpecException.class, () -> build("[{\"type\": \"relu\", \"negative_slope\": 0.1}]"));
        assertEquals("model.layers.0.negative_slope", key.path());
        SpecException type = assertThrows(SpecException.class, () -> build("[{\"type\": \"lienar\", \"out\": 2}]"));
        assertTrue(type.getMessage().contains("did you mean 'linear'"), type.getMessage());
    }

    @Test
    void shouldSayWhatEachActivationCanSufferFromInItsRow() {
        assertTrue(Activation.RELU.dies());
        assertTrue(!Activation.LEAKY_RELU.dies() && !Activation.LEAKY_RELU.bounded());
        assertEquals(0f, Activation.SIGMOID.lower());
        assertEquals(1f, Activation.SIGMOID.upper());
        assertEquals(-1f, Activation.TANH.lower());
        assertTrue(!Activation.GELU_ERF.bounded() && !Activation.GELU_ERF.dies());
    }

    private static SpecException badSequence(String layers, String loss) {
        return assertThrows(
                SpecException.class,
                () -> ModelBuilder.build(
                        new ObjectMapper()
                                .readTree("{\"input\": [6], \"layers\": " + layers + ", \"loss\": " + loss + "}"),
                        1));
    }

    @Test
    void shouldNameTheSequenceLayerThatCannotTakeItsInput() {
        String ce = "{\"type\": \"softmax_cross_entropy\"}";
        String embed = "{\"type\": \"embedding\", \"vocab\": 5, \"dim\": 6}";
        SpecException heads = badSequence("[" + embed + ", {\"type\": \"attention\", \"heads\": 4}]", ce);
        assertEquals("model.layers.1.heads", heads.path());
        assertTrue(heads.getMessage().contains("width 6 does not split into 4 heads"), heads.getMessage());
        SpecException positions = badSequence("[" + embed + ", {\"type\": \"positional\", \"max_len\": 4}]", ce);
        assertEquals("model.layers.1.max_len", positions.path());
        assertTrue(positions.getMessage().contains("6 positions, more than max_len 4"), positions.getMessage());
        SpecException flat = badSequence("[{\"type\": \"attention\", \"heads\": 2}]", ce);
        assertTrue(flat.getMessage().contains("needs [positions, width] per sample, got [6]"), flat.getMessage());
        SpecException z = badSequence("[" + embed + "]", "{\"type\": \"mse\", \"z_loss\": 0.1}");
        assertEquals("model.loss.z_loss", z.path());
    }

    @Test
    void shouldNameATokenIdOutsideTheVocabulary() throws Exception {
        Sequential m = ModelBuilder.build(
                new ObjectMapper()
                        .readTree("{\"input\": [3], \"layers\": [{\"type\": \"embedding\", \"vocab\": 5,"
                                + " \"dim\": 2}], \"loss\": {\"type\": \"mse\"}}"),
                1);
        Tensor ids = Tensor.of(new float[] {0, 4, 1, 2, 7, 3}, 2, 3);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> m.forward(ids, ForwardContext.EVAL));
        assertTrue(e.getMessage().contains("value 7.0 at [1, 1] is not an id in [0, 5)"), e.getMessage());
    }
}
