package dev.ringtape.checkpointing;

import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.runtime.train.Trainer;
import dev.ringtape.runtime.train.TrainingState;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The whole training state at a step boundary, as plain values copied out of the live tensors (so a step that runs
 * while the snapshot is being written cannot change it): the job it belongs to (a hash of its spec, and the spec as
 * JSON: {@link JobId}; null in snapshots written before it was kept) and the world
 * size, the step and epoch reached, the fp32 master weights and the optimizer's buffers by name, and the loss
 * scaler. The learning-rate schedule, the data cursor (the epoch's seeded permutation and the position in it) and
 * the dropout seeds are functions of the job's seed and the step, so step and epoch restore them.
 */
public record Snapshot(
        String jobHash,
        String jobSpec,
        int worldSize,
        long step,
        int epoch,
        double lossScale,
        int growthTracker,
        Map<String, Values> parameters,
        Map<String, Values> optimizer) {

    /** A tensor's shape and row-major values. */
    public record Values(int[] shape, float[] data) {
        static Values of(Tensor t) {
            return new Values(t.shape().clone(), t.toArray());
        }
    }

    /** Copies {@code state} (its tensors' values now, not references to them). */
    public static Snapshot of(JobId job, int worldSize, TrainingState state) {
        return new Snapshot(
                job.hash(),
                job.spec(),
                worldSize,
                state.step(),
                state.epoch(),
                state.lossScale(),
                state.growthTracker(),
                copy(state.parameters()),
                copy(state.optimizerState()));
    }

    /** Where a run restored from this snapshot goes on: the step after this one, from these values. */
    public Trainer.Resume resume() {
        Map<String, float[]> p = new LinkedHashMap<>();
        parameters.forEach((k, v) -> p.put(k, v.data()));
        Map<String, float[]> o = new LinkedHashMap<>();
        optimizer.forEach((k, v) -> o.put(k, v.data()));
        return new Trainer.Resume(step + 1, p, o, lossScale, growthTracker);
    }

    private static Map<String, Values> copy(Map<String, Tensor> tensors) {
        Map<String, Values> out = new LinkedHashMap<>();
        tensors.forEach((k, v) -> out.put(k, Values.of(v)));
        return out;
    }
}
