package dev.ringtape.runtime.precision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PrecisionTest {

    @Test
    void shouldKeepTheFp16Extremes() {
        assertEquals(65504f, Precision.toFp16(65504f), "largest finite half");
        assertEquals(0x1p-14f, Precision.toFp16(0x1p-14f), "smallest normal half, 6.1e-5");
        assertEquals(0x1p-24f, Precision.toFp16(0x1p-24f), "smallest subnormal half, 6e-8");
        assertEquals(-65504f, Precision.toFp16(-65504f));
    }

    @Test
    void shouldOverflowToInfinityPastTheLargestHalf() {
        // 65520 is halfway between 65504 and the next step (65536 = Inf): ties to even go up to Inf
        assertEquals(65504f, Precision.toFp16(65519.99f));
        assertEquals(Float.POSITIVE_INFINITY, Precision.toFp16(65520f));
        assertEquals(Float.NEGATIVE_INFINITY, Precision.toFp16(-1e6f));
        assertEquals(Float.POSITIVE_INFINITY, Precision.toFp16(Float.POSITIVE_INFINITY));
        assertTrue(Float.isNaN(Precision.toFp16(Float.NaN)));
    }

    @Test
    void shouldRoundSubnormalsToNearestEvenAndFlushBelowHalfTheSmallest() {
        assertEquals(0f, Precision.toFp16(0x1p-26f), "a quarter of the smallest subnormal rounds to zero");
        assertEquals(0f, Precision.toFp16(0x1p-25f), "exactly half of the smallest subnormal ties to even (zero)");
        assertEquals(0x1p-24f, Precision.toFp16(0x1.0p-25f * 1.0001f), "just above half rounds up");
        assertEquals(2 * 0x1p-24f, Precision.toFp16(1.5f * 0x1p-24f), "1.5 ulp ties to even: 2");
        assertEquals(2 * 0x1p-24f, Precision.toFp16(2.5f * 0x1p-24f), "2.5 ulp ties to even: 2");
        assertEquals(0x1p-24f, Precision.toFp16(6e-8f), "6e-8 rounds to the smallest subnormal");
        assertEquals(0x1p-14f - 0x1p-24f, Precision.toFp16(0x1p-14f - 0x1p-24f), "largest subnormal is exact");
    }

    @Test
    void shouldRoundNormalsToNearestEven() {
        // halves have 10 fraction bits: between 1 and 2 the step is 2^-10
        assertEquals(1f, Precision.toFp16(1f + 0x1p-11f), "tie goes to the even neighbour 1.0");
        assertEquals(1f + 0x1p-9f, Precision.toFp16(1f + 3 * 0x1p-11f), "tie goes to the even neighbour");
        assertEquals(1f + 0x1p-10f, Precision.toFp16(1f + 0x1p-11f + 0x1p-20f), "above the tie rounds up");
        assertEquals(0.099975586f, Precision.toFp16(0.1f));
    }

    @Test
    void shouldRoundTripEveryHalf() {
        // every binary16 value converts back to itself (an exhaustive round trip)
        for (int bits = 0; bits < 0x10000; bits++) {
            float f = Precision.fp16BitsToFloat((short) bits);
            if (Float.isNaN(f)) {
                continue;
            }
            assertEquals(bits, Precision.floatToFp16Bits(f) & 0xffff, "round trip of 0x" + Integer.toHexString(bits));
        }
    }

    @Test
    void shouldRoundBf16ToNearestEvenWithTheFloatRange() {
        assertEquals(1f, Precision.toBf16(1f + 0x1p-8f), "bf16 has 7 fraction bits: tie to even");
        assertEquals(1f + 0x1p-7f, Precision.toBf16(1f + 0x1p-8f + 0x1p-20f));
        assertEquals(3.3895314e38f, Precision.toBf16(3.3895314e38f), "largest finite bf16");
        assertEquals(Float.POSITIVE_INFINITY, Precision.toBf16(Float.MAX_VALUE), "rounds past the largest bf16");
        assertEquals(1e-30f, Precision.toBf16(1e-30f), 1e-32f, "no underflow where fp16 flushes");
        assertTrue(Float.isNaN(Precision.toBf16(Float.intBitsToFloat(0x7f800001))), "NaN stays NaN");
    }

    @Test
    void shouldRoundExactlyAsTorchDoes() throws java.io.IOException {
        com.fasterxml.jackson.databind.JsonNode cases;
        try (var in = PrecisionTest.class.getResourceAsStream("/half_cases.json")) {
            // Python writes Inf as the bare word Infinity
            cases = com.fasterxml.jackson.databind.json.JsonMapper.builder()
                    .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
                    .build()
                    .readTree(in);
        }
        for (int i = 0; i < cases.get("input").size(); i++) {
            float x = (float) cases.get("input").get(i).asDouble();
            float fp16 = (float) cases.get("fp16").get(i).asDouble();
            float bf16 = (float) cases.get("bf16").get(i).asDouble();
            assertEquals(fp16, Precision.toFp16(x), "fp16 of " + x);
            assertEquals(bf16, Precision.toBf16(x), "bf16 of " + x);
        }
    }
}
