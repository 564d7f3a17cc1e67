package dev.ringtape.allreduce;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a gradient arena into buckets in reverse order of its tensors (DDP's order): backward produces the last
 * layers' gradients first, so their bucket can travel while the first layers are still being computed. A bucket
 * holds whole tensors and closes once it reaches {@code bucketBytes} (a tensor larger than that is a bucket alone).
 */
public final class Buckets {
    private Buckets() {}

    /** A range of the arena, in floats. */
    public record Bucket(int offset, int length) {}

    /**
     * The buckets for tensors of {@code sizes} (floats, in arena order), in the order backward makes them ready:
     * the bucket holding the last tensor first.
     */
    public static List<Bucket> plan(int[] sizes, long bucketBytes) {
        if (bucketBytes < 4) {
            throw new IllegalArgumentException("bucketBytes must hold at least one float, got " + bucketBytes);
        }
        int[] starts = new int[sizes.length + 1];
        for (int i = 0; i < sizes.length; i++) {
            starts[i + 1] = starts[i] + sizes[i];
        }
        List<Bucket> out = new ArrayList<>();
        int end = starts[sizes.length];
        long bytes = 0;
        for (int i = sizes.length - 1; i >= 0; i--) {
            bytes += 4L * sizes[i];
            if (bytes >= bucketBytes || i == 0) {
                out.add(new Bucket(starts[i], end - starts[i]));
                end = starts[i];
                bytes = 0;
            }
        }
        return out;
    }
}
