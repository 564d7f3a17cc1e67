package dev.ringtape.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Where recompute segments start: longest first, each after an activation, every layer in exactly one. */
class RecomputePlanTest {
    private static List<Layer> mlp(int linears) throws Exception {
        StringBuilder layers = new StringBuilder();
        for (int i = 0; i < linears - 1; i++) {
            layers.append("{\"type\": \"linear\", \"out\": 8}, {\"type\": \"relu\"},");
        }
        String json = "{\"input\": [8], \"layers\": [" + layers + "{\"type\": \"linear\", \"out\": 2}],"
                + " \"loss\": {\"type\": \"softmax_cross_entropy\"}}";
        return ModelBuilder.build(new ObjectMapper().readTree(json), 1).layers();
    }

    @Test
    void shouldMakeEarlierSegmentsLongerAndStartEachAtALayerWithParameters() throws Exception {
        List<Layer> layers = mlp(33);
        int[] starts = Recompute.plan(layers, 8);
        assertEquals(8, starts.length);
        assertEquals(0, starts[0]);
        int previous = Integer.MAX_VALUE;
        for (int s = 0; s < starts.length; s++) {
            int end = s + 1 < starts.length ? starts[s + 1] : layers.size();
            assertTrue(end > starts[s], "segment " + s + " is not empty");
            assertTrue(!layers.get(starts[s]).parameters().isEmpty(), "segment " + s + " starts at a linear");
            int linears = (int) layers.subList(starts[s], end).stream()
                    .filter(l -> !l.parameters().isEmpty())
                    .count();
            assertTrue(
                    linears <= previous, "segment " + s + " has " + linears + " linears, the one before " + previous);
            previous = linears;
        }
        // P = 33 / 8 + 7 / 2 = 7.6: 8, 7, 6, 5, 4, 2, 1, 0-1 linears, scaled to sum to 33
        int[] lengths = new int[starts.length];
        for (int s = 0; s < starts.length; s++) {
            int end = s + 1 < starts.length ? starts[s + 1] : layers.size();
            lengths[s] = (int) layers.subList(starts[s], end).stream()
                    .filter(l -> !l.parameters().isEmpty())
                    .count();
        }
        assertEquals(33, java.util.Arrays.stream(lengths).sum());
        assertTrue(lengths[0] >= lengths[7] + 5, java.util.Arrays.toString(lengths));
    }

    @Test
    void shouldNotAskForMoreSegmentsThanLayersWithParameters() throws Exception {
        // three linears: at most three segments, whatever was asked (here two: [linear relu linear relu], [linear])
        assertArrayEquals(new int[] {0, 4}, Recompute.plan(mlp(3), 8));
        assertArrayEquals(new int[] {0}, Recompute.plan(mlp(3), 1));
    }
}
