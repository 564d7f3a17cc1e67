package dev.ringtape.runtime.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SquaresTest {
    @Test
    void shouldMatchADoubleSumToFloatPrecision() {
        float[] a = new float[100_003];
        double want = 0;
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) Math.sin(i) * (i % 13);
            want += (double) a[i] * a[i];
        }
        assertEquals(want, Squares.of(a, 0, a.length), want * 1e-5);
        assertEquals(9.0 + 16.0, Squares.of(new float[] {1, 3, 4, 2}, 1, 3));
    }

    @Test
    void shouldStayFiniteForHugeFiniteValuesAndNotForNaN() {
        float[] big = {3e19f, -2e19f, 1f, 0f, 0f, 0f, 0f, 0f, 0f};
        double sum = Squares.of(big, 0, big.length);
        assertTrue(Double.isFinite(sum), "float squares overflow, the double fallback does not");
        assertEquals(9e38 + 4e38, sum, 1e33);
        float[] bad = {1f, Float.NaN, 2f, 0f, 0f, 0f, 0f, 0f, 0f};
        assertTrue(Double.isNaN(Squares.of(bad, 0, bad.length)));
    }

    @Test
    void shouldSumSquaredDifferencesAgainstAnOffsetArray() {
        float[] after = {0, 0, 3, 5, 7, 9, 11};
        float[] before = {1, 4, 4, 8, 8};
        // after[2..7) - before[0..5) = 2, 1, 3, 1, 3
        assertEquals(4 + 1 + 9 + 1 + 9, Squares.ofDifference(after, 2, 7, before, 0));
    }
}
