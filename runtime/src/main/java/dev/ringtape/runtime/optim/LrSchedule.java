package dev.ringtape.runtime.optim;

/** The learning rate at each optimizer step (0-based), from the base rate. */
@FunctionalInterface
public interface LrSchedule {
    double lr(long step);

    static LrSchedule constant(double lr) {
        return step -> lr;
    }

    /** Linear warm-up from 0 over {@code warmupSteps}, then half a cosine from lr down to 0 at {@code totalSteps}. */
    static LrSchedule cosine(double lr, long warmupSteps, long totalSteps) {
        return step -> {
            if (step < warmupSteps) {
                return lr * (step + 1) / warmupSteps;
            }
            long span = Math.max(1, totalSteps - warmupSteps);
            double progress = Math.min(1.0, (double) (step - warmupSteps) / span);
            return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
        };
    }

    /** {@code lr * gamma^(step / stepSize)}, as {@code torch.optim.lr_scheduler.StepLR}. */
    static LrSchedule step(double lr, long stepSize, double gamma) {
        return step -> lr * Math.pow(gamma, step / stepSize);
    }
}
