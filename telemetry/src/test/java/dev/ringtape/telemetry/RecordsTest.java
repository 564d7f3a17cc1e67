package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Telemetry's doubles, written and read by Jackson's fast writer and parser, come back as the same doubles. */
class RecordsTest {
    @Test
    void shouldReadBackEveryDoubleItWrote() throws Exception {
        double[] edges = {
            0.0,
            -0.0,
            1.0,
            0.1,
            0.1 + 0.2,
            2.0e-3,
            1.0e23,
            9.007199254740993e15,
            4.9e-324,
            Double.MIN_NORMAL,
            Double.MAX_VALUE,
            1.0 / 3,
            Math.PI,
            123456.789e-300,
            (float) 0.1,
            (double) Float.MAX_VALUE
        };
        SplittableRandom random = new SplittableRandom(28);
        for (int i = 0; i < 20_000; i++) {
            double v = i < edges.length ? edges[i] : Double.longBitsToDouble(random.nextLong());
            if (!Double.isFinite(v)) {
                continue;
            }
            ObjectNode o = Records.putNumber(Records.JSON.createObjectNode(), "v", v);
            String text = Records.JSON.writeValueAsString(o);
            double back = Records.JSON.readTree(text).get("v").doubleValue();
            assertEquals(Double.doubleToRawLongBits(v), Double.doubleToRawLongBits(back), text);
            assertEquals(
                    v, Double.parseDouble(text.substring(5, text.length() - 1)), "the JDK reads it alike: " + text);
        }
    }
}
