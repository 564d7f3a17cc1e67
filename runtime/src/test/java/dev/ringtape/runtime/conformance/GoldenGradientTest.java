package dev.ringtape.runtime.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every golden case (PyTorch float64 reference) is reproduced within its own tolerance. */
class GoldenGradientTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Stream<Path> cases() throws IOException, URISyntaxException {
        Path dir = Path.of(GoldenGradientTest.class.getResource("/conformance").toURI());
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> all =
                    files.filter(p -> p.toString().endsWith(".json")).sorted().toList();
            assertFalse(all.isEmpty(), "no golden cases found in " + dir);
            return all.stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void shouldReproduceTheReferenceGradients(Path file) throws IOException {
        JsonNode golden = JSON.readTree(file.toFile());
        ObjectNode got = GradientCase.run(file);
        assertFalse(got.has("error"), () -> "case failed to run: " + got.get("error"));
        assertEquals(golden.get("name").asText(), got.get("name").asText());
        JsonNode want = golden.get("expected");
        double rtol = golden.get("tolerance").get("rtol").asDouble();
        double atol = golden.get("tolerance").get("atol").asDouble();

        assertClose("output", want.get("output"), got.get("output"), rtol, atol);
        assertClose(
                "loss",
                JSON.createObjectNode()
                        .set("data", JSON.createArrayNode().add(want.get("loss").asDouble())),
                JSON.createObjectNode()
                        .set("data", JSON.createArrayNode().add(got.get("loss").asDouble())),
                rtol,
                atol);
        Iterator<String> names = want.get("grads").fieldNames();
        int count = 0;
        while (names.hasNext()) {
            String n = names.next();
            assertTrue(got.get("grads").has(n), "missing gradient " + n);
            assertClose("grads." + n, want.get("grads").get(n), got.get("grads").get(n), rtol, atol);
            count++;
        }
        assertEquals(count, got.get("grads").size(), "gradient count");
        assertEquals(want.has("input_grad"), got.has("input_grad"), "an input gradient exactly when the case has one");
        if (want.has("input_grad")) {
            assertClose("input_grad", want.get("input_grad"), got.get("input_grad"), rtol, atol);
        }
    }

    static void assertClose(String what, JsonNode want, JsonNode got, double rtol, double atol) {
        if (want.has("shape")) {
            assertEquals(want.get("shape"), got.get("shape"), what + " shape");
        }
        JsonNode w = want.get("data");
        JsonNode g = got.get("data");
        assertEquals(w.size(), g.size(), what + " size");
        for (int i = 0; i < w.size(); i++) {
            double a = g.get(i).asDouble();
            double b = w.get(i).asDouble();
            if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) {
                fail(what + "[" + i + "]: got " + a + ", want " + b + " (rtol " + rtol + ", atol " + atol + ")");
            }
        }
    }
}
