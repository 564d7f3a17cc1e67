package dev.ringtape.allreduce;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * The header every all-reduce frame starts with, followed by its payload (float32 values for a ring step, float64
 * values for a scalar vector), all in little-endian order:
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------+---------------+-------------------------------+
 *  |  magic 0x52   |     type      |          ring step            |  0
 *  +---------------+---------------+-------------------------------+
 *  |                         sender rank                           |  4
 *  +---------------------------------------------------------------+
 *  |                                                               |  8
 *  +                  job token (random per attempt)               +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                                                               | 16
 *  +            collective sequence number (0, 1, 2, ...)          +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |     element offset (ring step: into the buffer; scalars:      | 24
 *  |     the rank whose vector this is)                            |
 *  +---------------------------------------------------------------+
 *  |                        element count                          | 28
 *  +---------------------------------------------------------------+
 *  |                        payload ...                            | 32
 * </pre>
 *
 * <p>Type 1 is a reduce-scatter fragment (add into the buffer), 2 an all-gather fragment (copy), 3 a scalar vector,
 * 4 filler of a link probe (offset: the frame's index).
 * A frame with another token, or a sequence number already completed, is dropped and counted.
 */
final class Frame {
    static final int LENGTH = 32;
    static final byte MAGIC = 0x52;
    static final byte REDUCE_SCATTER = 1;
    static final byte ALL_GATHER = 2;
    static final byte SCALARS = 3;
    static final byte PROBE = 4;

    static final int TYPE = 1;
    static final int RING_STEP = 2;
    static final int SENDER = 4;
    static final int TOKEN = 8;
    static final int SEQUENCE = 16;
    static final int OFFSET = 24;
    static final int COUNT = 28;

    private Frame() {}

    static void write(
            MutableDirectBuffer b,
            int at,
            byte type,
            int ringStep,
            int sender,
            long token,
            long sequence,
            int offset,
            int count) {
        b.putByte(at, MAGIC);
        b.putByte(at + TYPE, type);
        b.putShort(at + RING_STEP, (short) ringStep, java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putInt(at + SENDER, sender, java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(at + TOKEN, token, java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(at + SEQUENCE, sequence, java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putInt(at + OFFSET, offset, java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putInt(at + COUNT, count, java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    static boolean valid(DirectBuffer b, int at, int length) {
        return length >= LENGTH && b.getByte(at) == MAGIC;
    }

    static byte type(DirectBuffer b, int at) {
        return b.getByte(at + TYPE);
    }

    static int ringStep(DirectBuffer b, int at) {
        return b.getShort(at + RING_STEP, java.nio.ByteOrder.LITTLE_ENDIAN) & 0xffff;
    }

    static int sender(DirectBuffer b, int at) {
        return b.getInt(at + SENDER, java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    static long token(DirectBuffer b, int at) {
        return b.getLong(at + TOKEN, java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    static long sequence(DirectBuffer b, int at) {
        return b.getLong(at + SEQUENCE, java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    static int offset(DirectBuffer b, int at) {
        return b.getInt(at + OFFSET, java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    static int count(DirectBuffer b, int at) {
        return b.getInt(at + COUNT, java.nio.ByteOrder.LITTLE_ENDIAN);
    }
}
