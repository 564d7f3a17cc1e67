package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.autograd.Saved;
import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.tensor.BufferPool;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Activation recompute (PyTorch's {@code torch.utils.checkpoint}): a segment of layers runs forward without
 * recording, keeping only its input; its backward replays the forward on a tape of its own, with the same
 * {@link ForwardContext} and so the same dropout masks, and backpropagates through that. The replay is
 * deterministic, so gradients are bitwise equal to those without recompute.
 */
final class Recompute {
    private Recompute() {}

    /**
     * Where {@code k} segments start, longest first. While backward replays segment {@code s} (the last first), the
     * inputs of segments {@code 0..s} are alive besides the replayed segment's own saves; equal segments make the
     * first replay, with every boundary alive, the peak. Letting segment {@code s} hold {@code P - s} parameterized
     * layers (each saves about one activation) balances the replays at {@code P = U / k + (k - 1) / 2} for {@code U}
     * such layers: a 33-linear MLP in 8 segments peaks at ~7.6 activations instead of ~10.5 (bench/RESULTS.md).
     * Layers without parameters go with the layer before them, so a boundary falls after an activation.
     */
    static int[] plan(List<Layer> layers, int k) {
        int n = layers.size();
        int units = 0;
        for (Layer l : layers) {
            units += l.parameters().isEmpty() ? 0 : 1;
        }
        k = Math.min(k, Math.max(1, units));
        double[] target = new double[k];
        double sum = 0;
        for (int s = 0; s < k; s++) {
            target[s] = Math.max(1, (double) units / k + (k - 1) / 2.0 - s);
            sum += target[s];
        }
        // cumulative unit counts at which each segment ends
        double[] end = new double[k];
        double acc = 0;
        for (int s = 0; s < k; s++) {
            acc += target[s] * units / sum;
            end[s] = acc;
        }
        List<Integer> starts = new ArrayList<>();
        starts.add(0);
        int segment = 0;
        int seen = 0;
        for (int i = 0; i < n; i++) {
            if (layers.get(i).parameters().isEmpty()) {
                continue; // stays with the layer before it
            }
            // this layer's midpoint in units decides its segment
            while (segment < k - 1 && seen + 0.5 > end[segment]) {
                segment++;
                if (i > starts.get(starts.size() - 1)) {
                    starts.add(i);
                }
            }
            seen++;
        }
        return starts.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * The forward of {@code layers} in {@code k} segments ({@link #plan}), as PyTorch's {@code checkpoint_sequential}
     * runs them: every segment but the last keeps only its input, the last is recorded as usual (its backward comes
     * first, so replaying it would only repeat its forward). A segment's trailing layers without parameters (the
     * activation after its last linear, a pooling) are recorded too, outside the replay: tanh's backward needs its
     * output, which is the next segment's input and so alive anyway, where a replay would make a second copy of it
     * while every other activation of the segment is alive; and the replay computes one activation less.
     */
    static Tensor forward(List<Layer> layers, int k, Tensor x, ForwardContext ctx) {
        int[] starts = plan(layers, k);
        Tensor h = x;
        for (int s = 0; s < starts.length; s++) {
            int end = s + 1 < starts.length ? starts[s + 1] : layers.size();
            int replayed = s + 1 < starts.length ? end : starts[s];
            while (replayed > starts[s] + 1
                    && layers.get(replayed - 1).parameters().isEmpty()) {
                replayed--;
            }
            if (replayed > starts[s]) {
                h = segment(layers.subList(starts[s], replayed), h, ctx);
            }
            h = Sequential.run(layers.subList(replayed, end), h, ctx);
        }
        return h;
    }

    private static Tensor segment(List<Layer> layers, Tensor x, ForwardContext ctx) {
        // no tape: the segment's intermediates go back to the pool as soon as it returns
        Tensor out = Tape.paused(() -> BufferPool.scratch(() -> Sequential.run(layers, x, ctx)));
        List<Tensor> inputs = new ArrayList<>();
        inputs.add(x);
        for (Layer l : layers) {
            inputs.addAll(l.parameters());
        }
        Saved sx = Saved.of(x);
        String name = layers.get(0).name()
                + (layers.size() > 1 ? ".." + layers.get(layers.size() - 1).name() : "");
        String before = Tape.enterLayer(name);
        try {
            Tape.recordOp(
                    "recompute",
                    out,
                    inputs.toArray(Tensor[]::new),
                    (gy, g) -> {
                        Tensor boundary = sx.get().detach().requiresGrad(g.needs(x));
                        if (g.needs(x)) {
                            // a pooled gradient (the replay adds into it), handed on to x below: no copy, no garbage
                            boundary.useGradient(Tensor.overwritten(x.shape())); // zero-filled by useGradient
                        }
                        try (Tape replay = Tape.record()) {
                            Tensor again = Sequential.run(layers, boundary, ctx);
                            replay.backward(again, gy);
                            again.recycle(); // the replay's root, which its backward leaves alone
                        }
                        if (g.needs(x)) {
                            g.pass(x, boundary.grad());
                        }
                    },
                    sx);
        } finally {
            Tape.exitLayer(before);
        }
        return out;
    }
}
