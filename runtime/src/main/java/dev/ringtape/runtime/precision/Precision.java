package dev.ringtape.runtime.precision;

/**
 * The number format activations and gradients are held in ({@code train.precision}). Java 17 has no half type, so
 * 16-bit values are kept in float32 after rounding them to the nearest representable 16-bit value (ties to even,
 * with subnormals, overflow to infinity): every result is exactly what a 16-bit store would have kept.
 */
public enum Precision {
    FP32,
    FP16,
    BF16;

    public static Precision of(String name) {
        return valueOf(name.toUpperCase(java.util.Locale.ROOT));
    }

    /** {@code v} rounded to this format. */
    public float round(float v) {
        return switch (this) {
            case FP32 -> v;
            case FP16 -> toFp16(v);
            case BF16 -> toBf16(v);
        };
    }

    /** Rounds {@code data[from, to)} in place. */
    public void round(float[] data, int from, int to) {
        switch (this) {
            case FP32 -> {}
            case FP16 -> {
                for (int i = from; i < to; i++) {
                    data[i] = toFp16(data[i]);
                }
            }
            case BF16 -> {
                for (int i = from; i < to; i++) {
                    data[i] = toBf16(data[i]);
                }
            }
        }
    }

    /** The IEEE binary16 value nearest to {@code v} (ties to even), as a float. */
    public static float toFp16(float v) {
        return fp16BitsToFloat(floatToFp16Bits(v));
    }

    /** The bfloat16 value nearest to {@code v} (ties to even), as a float. */
    public static float toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if ((bits & 0x7f800000) == 0x7f800000) {
            // Inf stays Inf; NaN stays NaN (quiet it so truncation cannot turn it into Inf)
            return (bits & 0x007fffff) != 0 ? Float.intBitsToFloat(bits | 0x00400000) : v;
        }
        int lsb = (bits >>> 16) & 1;
        int rounded = bits + 0x7fff + lsb;
        return Float.intBitsToFloat(rounded & 0xffff0000);
    }

    /** IEEE binary16 bits of the value nearest to {@code v}, ties to even, with subnormals and overflow to Inf. */
    public static short floatToFp16Bits(float v) {
        int f = Float.floatToRawIntBits(v);
        int sign = (f >>> 16) & 0x8000;
        int exp = (f >>> 23) & 0xff;
        int mant = f & 0x007fffff;
        if (exp == 0xff) {
            return (short) (sign | 0x7c00 | (mant != 0 ? 0x0200 | (mant >>> 13) : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) {
            // subnormal half (or zero): the value is mant' * 2^-24 with the implicit bit restored
            if (e < -10) {
                return (short) sign;
            }
            int m = mant | 0x00800000;
            int shift = 14 - e;
            int half = m >>> shift;
            int rest = m & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rest > mid || (rest == mid && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mant >>> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) {
            half++; // may carry into the exponent, up to Inf: that is the correct rounding
        }
        return (short) (sign | half);
    }

    /** The float value of IEEE binary16 bits. */
    public static float fp16BitsToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            float m = mant * 0x1p-24f;
            return sign != 0 ? -m : m;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }
}
