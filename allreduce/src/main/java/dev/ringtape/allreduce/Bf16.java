package dev.ringtape.allreduce;

import org.agrona.UnsafeApi;

/**
 * bfloat16, the upper half of a float32, as gradient compression sends it ({@code allreduce.compress: bf16}, after
 * PyTorch DDP's {@code bf16_compress_hook}): rounded to nearest, ties to even; a NaN stays a (quiet) NaN, a float
 * past bfloat16's largest finite value rounds to infinity, as PyTorch's conversion does.
 */
final class Bf16 {
    private Bf16() {}

    /** The bfloat16 nearest {@code f} (ties to even), as its 16 bits. */
    static short round(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x0040); // NaN: keep the sign and make it quiet
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    static float widen(short h) {
        return Float.intBitsToFloat(h << 16);
    }

    /** Writes {@code src[from, from + count)} as bfloat16 at {@code base + offset}; rounds the source too if asked. */
    static void pack(float[] src, int from, int count, Object base, long offset, boolean roundSource) {
        for (int i = 0; i < count; i++) {
            short h = round(src[from + i]);
            UnsafeApi.putShort(base, offset + 2L * i, h);
            if (roundSource) {
                src[from + i] = widen(h);
            }
        }
    }

    /** Reads {@code count} bfloat16 values at {@code base + offset} into {@code dst[at, at + count)} as float32. */
    static void unpack(Object base, long offset, float[] dst, int at, int count) {
        for (int i = 0; i < count; i++) {
            dst[at + i] = widen(UnsafeApi.getShort(base, offset + 2L * i));
        }
    }
}
