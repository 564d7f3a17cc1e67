package dev.ringtape.scheduler.driver;

import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.scheduler.worker.Worker;
import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What rank 0 hands back to the driver: the trained parameters (names, shapes, float32 values in PyTorch's
 * layouts), the input normalization, and the run's last evaluation.
 */
record TrainedModel(
        Map<String, int[]> shapes,
        Map<String, float[]> values,
        int[] inputShape,
        float[] shift,
        float[] divisor,
        double evalLoss,
        double evalAccuracy,
        int evalSamples,
        long steps)
        implements Serializable {

    static TrainedModel of(Worker.Outcome o) {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        Map<String, float[]> values = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> p : o.model().parameters().entrySet()) {
            Tensor t = p.getValue();
            shapes.put(p.getKey(), t.shape().clone());
            values.put(p.getKey(), t.toArray());
        }
        var eval = o.summary().eval();
        return new TrainedModel(
                shapes,
                values,
                o.model().inputShape().clone(),
                o.normalizer().shift(),
                o.normalizer().divisor(),
                eval == null ? Double.NaN : eval.loss(),
                eval == null ? Double.NaN : eval.accuracy(),
                eval == null ? 0 : eval.samples(),
                o.summary().steps());
    }
}
