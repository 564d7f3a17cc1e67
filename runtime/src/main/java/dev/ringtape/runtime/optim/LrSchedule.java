package dev.ringtape.runtime.optim;

import java.util.function.LongToDoubleFunction;

/** The learning rate at each optimizer step (0-based), from the base rate. */
public interface LrSchedule {
    double lr(long step);

    /**
     * The rate the schedule is built on ({@code optimizer.lr}; the peak of every schedule here): telemetry relates
     * update sizes to {@code lr(step) / base()}, so warm-up and decay are not mistaken for a learning rate too low.
     */
    double base();

    /** A schedule of base rate {@code base} whose rate at each step {@code rate} gives. */
    static LrSchedule of(double base, LongToDoubleFunction rate) {
        return new LrSchedule() {
            @Override
            public double lr(long step) {
                return rate.applyAsDouble(step);
            }

            @Override
            public double base() {
                return base;
            }
        };
    }

    static LrSchedule constant(double lr) {
        return constant(lr, 0);
    }

    /**
     * Hugging Face's {@code get_constant_schedule_with_warmup}: {@code lr * s / W} while {@code s < W}, then {@code
     * lr}.
     */
    static LrSchedule constant(double lr, long warmupSteps) {
        return of(lr, step -> step < warmupSteps ? lr * step / warmupSteps : lr);
    }

    /**
     * Hugging Face's {@code get_cosine_schedule_with_warmup}: the rate of step s (0-based) is {@code lr * s / W} while
     * {@code s < W} (so the first step's rate is 0), then {@code lr * (1 + cos(pi * (s - W) / (T - W))) / 2}, reaching
     * 0 at {@code T} and staying there.
     */
    static LrSchedule cosine(double lr, long warmupSteps, long totalSteps) {
        return of(lr, step -> {
            if (step < warmupSteps) {
                return lr * step / warmupSteps;
            }
            long span = Math.max(1, totalSteps - warmupSteps);
            double progress = Math.min(1.0, (double) (step - warmupSteps) / span);
            return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
        });
    }

    /** {@code lr * gamma^(step / stepSize)}, as {@code torch.optim.lr_scheduler.StepLR}. */
    static LrSchedule step(double lr, long stepSize, double gamma) {
        return of(lr, step -> lr * Math.pow(gamma, step / stepSize));
    }
}
