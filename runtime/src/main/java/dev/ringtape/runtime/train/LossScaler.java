package dev.ringtape.runtime.train;

/**
 * Dynamic loss scaling with {@code torch.cuda.amp.GradScaler}'s semantics and defaults: the loss is multiplied by
 * the scale before backward; a step whose gradients hold an Inf or NaN is skipped and the scale multiplied by
 * {@code backoffFactor}; after {@code growthInterval} consecutive good steps the scale is multiplied by {@code
 * growthFactor}. Disabled (fp32, bf16), the scale stays 1 and only the skip remains.
 */
public final class LossScaler {
    private final boolean enabled;
    private final double growthFactor;
    private final double backoffFactor;
    private final int growthInterval;
    private double scale;
    private int growthTracker;

    public LossScaler(boolean enabled, double init, double growthFactor, double backoffFactor, int growthInterval) {
        this.enabled = enabled;
        this.scale = enabled ? init : 1.0;
        this.growthFactor = growthFactor;
        this.backoffFactor = backoffFactor;
        this.growthInterval = growthInterval;
    }

    /** GradScaler's defaults: init 2^16, growth 2, backoff 0.5, interval 2000. */
    public static LossScaler defaults() {
        return new LossScaler(true, 65536.0, 2.0, 0.5, 2000);
    }

    public static LossScaler disabled() {
        return new LossScaler(false, 1, 2, 0.5, 2000);
    }

    public boolean enabled() {
        return enabled;
    }

    /** The current scale (float32, as GradScaler keeps it). */
    public float scale() {
        return (float) scale;
    }

    public int growthTracker() {
        return growthTracker;
    }

    /** Restores a snapshot's scale and growth tracker. */
    public void restore(double scale, int growthTracker) {
        this.scale = scale;
        this.growthTracker = growthTracker;
    }

    /** After a step: {@code foundInf} is the one all-reduced flag, so every rank updates alike. */
    public void update(boolean foundInf) {
        if (!enabled) {
            return;
        }
        if (foundInf) {
            scale = (float) (scale * backoffFactor);
            growthTracker = 0;
        } else if (++growthTracker == growthInterval) {
            scale = (float) (scale * growthFactor);
            growthTracker = 0;
        }
    }
}
