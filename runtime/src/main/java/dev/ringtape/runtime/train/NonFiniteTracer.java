package dev.ringtape.runtime.train;

import dev.ringtape.runtime.autograd.Autocast;
import dev.ringtape.runtime.autograd.NonFiniteProbe;
import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.nn.ForwardContext;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;

/**
 * Names where a step's non-finite gradients came from. The step itself runs without per-op checks (they cost a pass
 * over every op's output); when a step turns out non-finite, this re-runs the rank's micro-batches, with the same
 * dropout seeds, under a {@link NonFiniteProbe}, and reports the first op that produced a NaN or an Inf: its phase
 * (forward or backward), op and layer, or the all-reduce, or the accumulation of finite micro-batches.
 */
public final class NonFiniteTracer {
    /** Where a non-finite value came from: the first op (or the all-reduce) that produced it. */
    public record NonFinite(
            long step, int rank, int microBatch, String phase, String op, String layer, boolean beforeAllreduce) {
        /** One line for people. */
        public String describe() {
            String where = String.format("step %d, rank %d", step, rank);
            return switch (phase) {
                case "allreduce" -> "non-finite gradients at " + where + " appeared in the all-reduce; this rank's own"
                        + " were finite";
                case "accumulate" -> "non-finite gradients at " + where + ": every micro-batch was finite, their sum"
                        + " overflowed";
                default -> String.format(
                        "first non-finite value at %s, micro-batch %d: the %s of %s in %s, before the all-reduce",
                        where, microBatch, phase, op, layer.isEmpty() ? "the loss" : layer);
            };
        }
    }

    private final Sequential model;
    private final Precision precision;
    private final long seed;
    private final int rank;

    NonFiniteTracer(Sequential model, Precision precision, long seed, int rank) {
        this.model = model;
        this.precision = precision;
        this.seed = seed;
        this.rank = rank;
    }

    /** The seed of micro-batch {@code m} of {@code step} on {@code rank}: dropout masks derive from it. */
    static long microSeed(long seed, long step, int rank, int m) {
        long h = seed * 0x9E3779B97F4A7C15L + step;
        h = h * 0xBF58476D1CE4E5B9L + rank;
        return h * 0x94D049BB133111EBL + m;
    }

    /** The non-finite values appeared only in the sum over ranks: this rank's own gradients were finite. */
    NonFinite inAllreduce(long step) {
        return new NonFinite(step, rank, -1, "allreduce", "sum", "", false);
    }

    /**
     * Re-runs this rank's micro-batches of {@code step} with per-op checks (backward with the step's loss scale);
     * the first op that produced a non-finite value. The gradients it leaves are zero.
     */
    @SuppressWarnings("try") // the Autocast scope is entered for its effect on the ops inside
    NonFinite find(long step, List<Tensor[]> microBatches, float scale) {
        int k = microBatches.size();
        try {
            for (int m = 0; m < k; m++) {
                model.zeroGrad();
                Tensor[] xy = microBatches.get(m);
                try (NonFiniteProbe probe = NonFiniteProbe.open();
                        Autocast cast = Autocast.enable(precision);
                        Tape tape = Tape.record()) {
                    Tensor loss = model.objective(
                            model.forward(xy[0], ForwardContext.training(microSeed(seed, step, rank, m))), xy[1]);
                    if (probe.origin() == null && loss.requiresGrad()) {
                        tape.backward(loss, scale / k);
                    }
                    NonFiniteProbe.Origin o = probe.origin();
                    if (o != null) {
                        return new NonFinite(step, rank, m, o.phase(), o.op(), o.layer(), true);
                    }
                }
            }
            // the sum of finite micro-batch gradients overflowed
            return new NonFinite(step, rank, k - 1, "accumulate", "add", "", true);
        } finally {
            model.zeroGrad();
        }
    }
}
