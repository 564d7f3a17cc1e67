package dev.ringtape.runtime.tensor;

import java.util.Arrays;

/** Small helpers for shapes given as {@code int[]}. */
public final class Shapes {
    private Shapes() {}

    /** The number of elements; throws on a negative or overflowing shape. */
    public static int size(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n *= d;
            if (n > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than 2^31 elements");
            }
        }
        return (int) n;
    }

    /** The shape with {@code batch} prepended. */
    public static int[] batched(int batch, int[] sampleShape) {
        int[] s = new int[sampleShape.length + 1];
        s[0] = batch;
        System.arraycopy(sampleShape, 0, s, 1, sampleShape.length);
        return s;
    }

    /** The shape without its first (batch) axis. */
    public static int[] sample(int[] shape) {
        return Arrays.copyOfRange(shape, 1, shape.length);
    }

    /**
     * How many positions a window of {@code kernel} takes over {@code size} values padded by {@code padding} on each
     * side, {@code stride} apart: a convolution's or pooling's output size along one axis (PyTorch's formula).
     */
    public static int windows(int size, int kernel, int stride, int padding) {
        return (size + 2 * padding - kernel) / stride + 1;
    }

    /** The coordinates of element {@code flat} of a row-major tensor of {@code shape}. */
    public static int[] index(int[] shape, int flat) {
        int[] at = new int[shape.length];
        for (int a = shape.length - 1; a >= 0; a--) {
            at[a] = shape[a] == 0 ? 0 : flat % shape[a];
            flat = shape[a] == 0 ? 0 : flat / shape[a];
        }
        return at;
    }

    public static String str(int[] shape) {
        return Arrays.toString(shape);
    }
}
