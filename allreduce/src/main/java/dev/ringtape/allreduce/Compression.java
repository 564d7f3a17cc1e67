package dev.ringtape.allreduce;

/**
 * What a ring frame carries of a buffer's values ({@code allreduce.compress}): float32 as they are, or bfloat16,
 * half the bytes, with the sums kept in float32 on every rank (PyTorch DDP's {@code bf16_compress_hook}).
 */
public enum Compression {
    NONE,
    BF16;

    /** {@code none} or {@code bf16}. */
    public static Compression of(String name) {
        return switch (name) {
            case "none" -> NONE;
            case "bf16" -> BF16;
            default -> throw new IllegalArgumentException("compress '" + name + "': expected none or bf16");
        };
    }
}
