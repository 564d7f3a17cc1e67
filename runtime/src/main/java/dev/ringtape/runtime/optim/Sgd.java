package dev.ringtape.runtime.optim;

import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;

/** {@code torch.optim.SGD}: momentum with dampening, Nesterov, L2 weight decay added to the gradient. */
public final class Sgd implements Optimizer {
    private final List<Tensor> params;
    private final Tensor[] buffers;
    private final Backend.SgdHyper hyper;
    private long steps;

    public Sgd(List<Tensor> params, double momentum, double dampening, double weightDecay, boolean nesterov) {
        if (nesterov && (momentum <= 0 || dampening != 0)) {
            throw new IllegalArgumentException("Nesterov momentum requires a momentum and zero dampening");
        }
        this.params = List.copyOf(params);
        this.buffers = new Tensor[params.size()];
        this.hyper = new Backend.SgdHyper(momentum, dampening, weightDecay, nesterov);
    }

    @Override
    public void step(double lr, double[][] stats) {
        boolean first = steps == 0;
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            if (p.grad() == null) {
                continue;
            }
            if (hyper.momentum() != 0 && buffers[i] == null) {
                buffers[i] = Tensor.zeros(p.shape());
            }
            Backends.current().sgdStep(p, p.grad(), buffers[i], first, lr, hyper, stats == null ? null : stats[i]);
            p.markModified();
        }
        steps++;
    }

    @Override
    public List<Tensor> parameters() {
        return params;
    }

    @Override
    public java.util.Map<String, Tensor> state() {
        java.util.Map<String, Tensor> out = new java.util.LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            if (buffers[i] != null) {
                out.put(params.get(i).name() + ".momentum_buffer", buffers[i]);
            }
        }
        out.put("steps", Tensor.scalar(steps));
        return out;
    }

    @Override
    public void load(java.util.Map<String, float[]> state) {
        for (int i = 0; i < params.size(); i++) {
            String name = params.get(i).name() + ".momentum_buffer";
            if (state.containsKey(name)) {
                buffers[i] = Tensor.zeros(params.get(i).shape());
                buffers[i].write(Optimizer.entry(state, name, buffers[i].size()), 0);
            } else {
                buffers[i] = null;
            }
        }
        steps = (long) Optimizer.entry(state, "steps", 1)[0];
    }

    @Override
    public long steps() {
        return steps;
    }
}
