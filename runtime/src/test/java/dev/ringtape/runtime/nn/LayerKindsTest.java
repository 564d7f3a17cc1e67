package dev.ringtape.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ringtape.runtime.backend.Activation;
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
}
