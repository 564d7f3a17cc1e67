package dev.ringtape.runtime.train;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.Map;

/**
 * Everything needed to resume a run exactly: the step and epoch reached, the fp32 master weights, the optimizer's
 * buffers by name, and the loss scaler's state.
 */
public record TrainingState(
        long step,
        int epoch,
        Map<String, Tensor> parameters,
        Map<String, Tensor> optimizerState,
        double lossScale,
        int growthTracker) {}
