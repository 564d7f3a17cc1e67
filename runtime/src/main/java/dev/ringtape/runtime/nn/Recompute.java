package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.autograd.Saved;
import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.backend.Backends;
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

    static Tensor segment(List<Layer> layers, Tensor x, ForwardContext ctx) {
        Tensor out = Tape.paused(() -> Sequential.run(layers, x, ctx));
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
                        try (Tape replay = Tape.record()) {
                            Tensor again = Sequential.run(layers, boundary, ctx);
                            replay.backward(again, gy);
                        }
                        if (g.needs(x)) {
                            Backends.current().axpy(1f, boundary.grad(), g.of(x));
                        }
                    },
                    sx);
        } finally {
            Tape.exitLayer(before);
        }
        return out;
    }
}
