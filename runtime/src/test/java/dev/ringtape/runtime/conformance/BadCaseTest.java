package dev.ringtape.runtime.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URISyntaxException;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A case that cannot run answers with one line naming the case and the problem, never an exception. */
class BadCaseTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource(
            delimiter = '|',
            value = {
                "unknown_layer_type  | model.layers.1.type: unknown layer type 'rleu' (did you mean 'relu'?)",
                "wrong_param_shape   | params.layers.0.weight: shape [6, 8] does not match the model's [8, 6]",
                "missing_param       | missing parameter layers.2.bias",
                "unexpected_param    | params.layers.1.weight: the model has no such parameter",
                "short_input_data    | input.data: has 23 values, shape [4, 6] needs 24",
                "target_out_of_range | target 0 is class 7, outside [0, 3)",
                "negative_size       | model.layers.0.out: must be at least 1, got -3",
                "unknown_loss        | unknown loss 'softmax_crossentropy' (did you mean 'softmax_cross_entropy'?)",
                "unknown_key         | model.layers.0.outt: unknown key (did you mean 'out'?)",
                "malformed_json      | malformed JSON at line",
            })
    void shouldReportTheProblemOnOneLine(String file, String expected) throws URISyntaxException {
        Path path = Path.of(
                BadCaseTest.class.getResource("/bad-cases/" + file + ".json").toURI());
        ObjectNode result = GradientCase.run(path);
        assertTrue(result.has("error"), () -> "expected an error, got " + result);
        String error = result.get("error").asText();
        assertEquals(file, result.get("name").asText());
        assertTrue(error.contains(expected.trim()), () -> "error was: " + error);
        assertFalse(error.contains("\n"), "one line");
        assertFalse(error.contains("Exception"), "no exception names: " + error);
        assertFalse(result.has("grads"));
    }
}
