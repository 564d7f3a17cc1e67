package dev.ringtape.runtime.nn;

/**
 * What a forward pass needs beyond its input: whether it is training (dropout on) and the seed from which every
 * random choice of this pass is derived. Replaying a pass with an equal context replays its dropout masks.
 */
public record ForwardContext(boolean training, long seed) {
    public static final ForwardContext EVAL = new ForwardContext(false, 0L);

    public static ForwardContext training(long seed) {
        return new ForwardContext(true, seed);
    }

    /** A seed for the named layer, independent across layers. */
    public long seedFor(String layerName) {
        long h = seed * 0x9E3779B97F4A7C15L + layerName.hashCode();
        h = (h ^ (h >>> 33)) * 0xFF51AFD7ED558CCDL;
        return h ^ (h >>> 29);
    }
}
