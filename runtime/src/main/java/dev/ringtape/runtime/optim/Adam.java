package dev.ringtape.runtime.optim;

import dev.ringtape.runtime.backend.Backend;
import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;

/**
 * {@code torch.optim.Adam} (weight decay as L2 on the gradient) and, with {@code decoupled}, {@code
 * torch.optim.AdamW} (weight decay applied to the weights, {@code p *= 1 - lr * wd}), bias-corrected.
 */
public final class Adam implements Optimizer {
    private final List<Tensor> params;
    private final Tensor[] m;
    private final Tensor[] v;
    private final Backend.AdamHyper hyper;
    private final long[] paramSteps;
    private long steps;

    public Adam(List<Tensor> params, double beta1, double beta2, double eps, double weightDecay, boolean decoupled) {
        this.params = List.copyOf(params);
        this.m = new Tensor[params.size()];
        this.v = new Tensor[params.size()];
        this.paramSteps = new long[params.size()];
        for (int i = 0; i < params.size(); i++) {
            m[i] = Tensor.zeros(params.get(i).shape());
            v[i] = Tensor.zeros(params.get(i).shape());
        }
        this.hyper = new Backend.AdamHyper(beta1, beta2, eps, weightDecay, decoupled);
    }

    /** Adam with PyTorch's defaults (betas 0.9, 0.999; eps 1e-8; no weight decay). */
    public static Adam adam(List<Tensor> params) {
        return new Adam(params, 0.9, 0.999, 1e-8, 0, false);
    }

    /** AdamW with PyTorch's defaults (betas 0.9, 0.999; eps 1e-8; weight decay 0.01). */
    public static Adam adamW(List<Tensor> params) {
        return new Adam(params, 0.9, 0.999, 1e-8, 0.01, true);
    }

    @Override
    public void step(double lr, double[][] stats) {
        steps++;
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            if (p.grad() == null) {
                continue;
            }
            // like PyTorch, each parameter counts its own steps (a parameter without a gradient is not stepped)
            long t = ++paramSteps[i];
            Backends.current().adamStep(p, p.grad(), m[i], v[i], t, lr, hyper, stats == null ? null : stats[i]);
            p.markModified();
        }
    }

    @Override
    public List<Tensor> parameters() {
        return params;
    }

    @Override
    public java.util.Map<String, Tensor> state() {
        java.util.Map<String, Tensor> out = new java.util.LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            out.put(params.get(i).name() + ".exp_avg", m[i]);
            out.put(params.get(i).name() + ".exp_avg_sq", v[i]);
            Tensor step = Tensor.scalar(paramSteps[i]);
            out.put(params.get(i).name() + ".step", step);
        }
        out.put("steps", Tensor.scalar(steps));
        return out;
    }

    @Override
    public void load(java.util.Map<String, float[]> state) {
        for (int i = 0; i < params.size(); i++) {
            String name = params.get(i).name();
            m[i].write(Optimizer.entry(state, name + ".exp_avg", m[i].size()), 0);
            v[i].write(Optimizer.entry(state, name + ".exp_avg_sq", v[i].size()), 0);
            paramSteps[i] = (long) Optimizer.entry(state, name + ".step", 1)[0];
        }
        steps = (long) Optimizer.entry(state, "steps", 1)[0];
    }

    @Override
    public long steps() {
        return steps;
    }
}
