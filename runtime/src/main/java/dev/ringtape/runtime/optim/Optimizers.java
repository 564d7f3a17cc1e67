package dev.ringtape.runtime.optim;

import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.nn.SpecNode;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;
import java.util.Set;

/** Builds the optimizer and learning-rate schedule of a job's {@code train:} section. */
public final class Optimizers {
    private Optimizers() {}

    /** The optimizer described by {@code spec} ({@code train.optimizer}); returns it with its base lr. */
    public static Configured create(SpecNode spec, List<Tensor> params) throws SpecException {
        String type = spec.string("type", "adamw");
        switch (type) {
            case "sgd" -> {
                spec.allowOnly(Set.of("type", "lr", "momentum", "dampening", "weight_decay", "nesterov"));
                double lr = spec.number("lr", 0, 1e6, 1e-2);
                double momentum = spec.number("momentum", 0, 1, 0);
                double dampening = spec.number("dampening", 0, 1, 0);
                boolean nesterov = spec.bool("nesterov", false);
                if (nesterov && (momentum == 0 || dampening != 0)) {
                    throw new SpecException(spec.path() + ".nesterov", "needs a momentum and zero dampening");
                }
                return new Configured(
                        new Sgd(params, momentum, dampening, spec.number("weight_decay", 0, 1e6, 0), nesterov), lr);
            }
            case "adam", "adamw" -> {
                spec.allowOnly(Set.of("type", "lr", "betas", "eps", "weight_decay"));
                boolean decoupled = type.equals("adamw");
                double lr = spec.number("lr", 0, 1e6, 1e-3);
                double[] betas = {0.9, 0.999};
                if (spec.has("betas")) {
                    var b = spec.raw().get("betas");
                    if (!b.isArray()
                            || b.size() != 2
                            || !b.get(0).isNumber()
                            || !b.get(1).isNumber()
                            || b.get(0).asDouble() < 0
                            || b.get(0).asDouble() >= 1
                            || b.get(1).asDouble() < 0
                            || b.get(1).asDouble() >= 1) {
                        throw new SpecException(
                                spec.path() + ".betas", "expected two numbers in [0, 1), e.g. [0.9, 0.999]");
                    }
                    betas = new double[] {b.get(0).asDouble(), b.get(1).asDouble()};
                }
                double eps = spec.number("eps", 0, 1, 1e-8);
                double wd = spec.number("weight_decay", 0, 1e6, decoupled ? 0.01 : 0);
                return new Configured(new Adam(params, betas[0], betas[1], eps, wd, decoupled), lr);
            }
            default -> {
                String near = SpecException.closest(type, List.of("sgd", "adam", "adamw"));
                throw new SpecException(
                        spec.path() + ".type",
                        "unknown optimizer '" + type + "'" + (near == null ? "" : " (did you mean '" + near + "'?)")
                                + "; expected sgd, adam or adamw");
            }
        }
    }

    /** The schedule of {@code train.lr_schedule} for a run of {@code totalSteps}. */
    public static LrSchedule schedule(SpecNode spec, double lr, long totalSteps) throws SpecException {
        if (spec == null) {
            return LrSchedule.constant(lr);
        }
        String type = spec.string("type", "constant");
        return switch (type) {
            case "constant" -> {
                spec.allowOnly(Set.of("type", "warmup_steps"));
                yield LrSchedule.constant(lr, spec.integer("warmup_steps", 0, 0));
            }
            case "cosine" -> {
                spec.allowOnly(Set.of("type", "warmup_steps"));
                yield LrSchedule.cosine(lr, spec.integer("warmup_steps", 0, 0), totalSteps);
            }
            case "step" -> {
                spec.allowOnly(Set.of("type", "step_size", "gamma"));
                yield LrSchedule.step(lr, spec.integer("step_size", 1), spec.number("gamma", 0, 1, 0.1));
            }
            default -> throw new SpecException(
                    spec.path() + ".type", "unknown schedule '" + type + "'; expected constant, step or cosine");
        };
    }

    /** An optimizer and the base learning rate its schedule starts from. */
    public record Configured(Optimizer optimizer, double lr) {}
}
