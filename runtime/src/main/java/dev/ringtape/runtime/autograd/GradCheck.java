package dev.ringtape.runtime.autograd;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * Checks a taped function's gradients two ways: centred finite differences element by element (relative error), and
 * a Taylor test along one random direction, where the remainder {@code |f(x + h d) - f(x) - h <g, d>|} must shrink
 * like {@code h^2} (by about 4x when h halves; a wrong gradient leaves an O(h) remainder, 2x).
 *
 * <p>The runtime computes in float32, so the step is large by float64 standards (default 1e-2) and tolerances are
 * set accordingly; keep inputs away from kinks (ReLU at 0, max-pool ties) by more than the step.
 */
public final class GradCheck {
    private final double eps;
    private final double rtol;
    private final double atol;
    private final int maxElements;
    private final long seed;
    private final double taylorStep;

    private GradCheck(double eps, double rtol, double atol, int maxElements, long seed, double taylorStep) {
        this.eps = eps;
        this.rtol = rtol;
        this.atol = atol;
        this.maxElements = maxElements;
        this.seed = seed;
        this.taylorStep = taylorStep;
    }

    /** Step 1e-2, pass when {@code |analytic - numeric| <= 1e-3 + 1e-2 * |numeric|}, at most 400 elements a tensor. */
    public static GradCheck defaults() {
        return new GradCheck(1e-2, 1e-2, 1e-3, 400, 42L, 0.2);
    }

    public GradCheck eps(double value) {
        return new GradCheck(value, rtol, atol, maxElements, seed, taylorStep);
    }

    public GradCheck tolerance(double relative, double absolute) {
        return new GradCheck(eps, relative, absolute, maxElements, seed, taylorStep);
    }

    public GradCheck maxElements(int value) {
        return new GradCheck(eps, rtol, atol, value, seed, taylorStep);
    }

    /**
     * The largest Taylor step (default 0.2; it halves four times). Piecewise-linear models (ReLU, max-pool) want a
     * small one, so the random direction rarely crosses a kink.
     */
    public GradCheck taylorStep(double value) {
        return new GradCheck(eps, rtol, atol, maxElements, seed, value);
    }

    /** The outcome: the worst element and the Taylor remainders. */
    public record Result(
            boolean ok,
            double worstError,
            String worst,
            int checked,
            double[] taylorSteps,
            double[] taylorRemainders,
            String failure) {
        @Override
        public String toString() {
            return (ok ? "ok" : "FAILED: " + failure) + " (" + checked + " elements, worst " + worst + ")";
        }
    }

    /**
     * Checks the gradients of the scalar {@code loss} with respect to {@code inputs} (leaves that require grad). The
     * supplier is called once on a tape and many times without one; it must be deterministic.
     */
    public Result check(Supplier<Tensor> loss, List<Tensor> inputs) {
        for (Tensor in : inputs) {
            if (!in.isLeaf() || !in.requiresGrad()) {
                throw new IllegalArgumentException("gradcheck inputs must be leaves that require grad: " + in);
            }
            in.zeroGrad();
        }
        double f0;
        try (Tape tape = Tape.record()) {
            Tensor l = loss.get();
            f0 = l.item();
            tape.backward(l);
        }
        List<float[]> analytic = new ArrayList<>();
        for (Tensor in : inputs) {
            analytic.add(in.grad() == null ? new float[in.size()] : in.grad().toArray());
        }

        SplittableRandom rng = new SplittableRandom(seed);
        double worstError = 0;
        String worst = "none";
        String failure = null;
        int checked = 0;
        for (int t = 0; t < inputs.size(); t++) {
            Tensor in = inputs.get(t);
            float[] x = in.data();
            int n = x.length;
            int count = Math.min(n, maxElements);
            for (int c = 0; c < count; c++) {
                int i = count == n ? c : rng.nextInt(n);
                float saved = x[i];
                x[i] = (float) (saved + eps);
                in.markModified();
                double plus = evaluate(loss);
                x[i] = (float) (saved - eps);
                in.markModified();
                double minus = evaluate(loss);
                x[i] = saved;
                in.markModified();
                double step = ((double) (float) (saved + eps) - (float) (saved - eps));
                double numeric = (plus - minus) / step;
                double a = analytic.get(t)[i];
                double err = Math.abs(a - numeric);
                double allowed = atol + rtol * Math.abs(numeric);
                String where = name(in, t) + "[" + i + "] analytic " + a + " numeric " + numeric;
                if (err / allowed > worstError) {
                    worstError = err / allowed;
                    worst = where;
                }
                if (err > allowed && failure == null) {
                    failure = "finite differences disagree at " + where;
                }
                checked++;
            }
        }

        // Taylor test along a random unit direction over all inputs.
        List<float[]> dir = new ArrayList<>();
        double norm = 0;
        for (Tensor in : inputs) {
            float[] d = new float[in.size()];
            for (int i = 0; i < d.length; i++) {
                d[i] = (float) rng.nextGaussian();
                norm += (double) d[i] * d[i];
            }
            dir.add(d);
        }
        norm = Math.sqrt(norm);
        double slope = 0;
        for (int t = 0; t < inputs.size(); t++) {
            float[] d = dir.get(t);
            for (int i = 0; i < d.length; i++) {
                d[i] = (float) (d[i] / norm);
                slope += (double) analytic.get(t)[i] * d[i];
            }
        }
        int levels = 5;
        double[] hs = new double[levels];
        double[] rs = new double[levels];
        double[] firstOrder = new double[levels];
        for (int k = 0; k < levels; k++) {
            double h = taylorStep / (1 << k);
            double fh = evaluateShifted(loss, inputs, dir, h);
            hs[k] = h;
            rs[k] = Math.abs(fh - f0 - h * slope);
            firstOrder[k] = Math.abs(fh - f0);
        }
        // Below this the remainder is float32 rounding, not curvature.
        double noise = 64 * Math.ulp((float) Math.max(Math.abs(f0), 1e-30)) + 1e-7;
        if (failure == null) {
            for (int k = 0; k + 1 < levels; k++) {
                if (rs[k + 1] <= noise || rs[k] <= 4 * noise) {
                    continue;
                }
                double ratio = rs[k] / rs[k + 1];
                if (ratio < 3.0 && rs[k] > 0.05 * firstOrder[k]) {
                    failure = "Taylor remainder shrinks " + String.format("%.2f", ratio)
                            + "x when h halves (from h=" + hs[k] + "), not about 4x: the gradient is off along a"
                            + " random direction";
                    break;
                }
            }
        }
        return new Result(failure == null, worstError, worst, checked, hs, rs, failure);
    }

    private static String name(Tensor t, int index) {
        return t.name() == null ? "input" + index : t.name();
    }

    private static double evaluate(Supplier<Tensor> loss) {
        return Tape.paused(loss).item();
    }

    private static double evaluateShifted(Supplier<Tensor> loss, List<Tensor> inputs, List<float[]> dir, double h) {
        List<float[]> backup = new ArrayList<>();
        for (int t = 0; t < inputs.size(); t++) {
            float[] x = inputs.get(t).data();
            backup.add(x.clone());
            float[] d = dir.get(t);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (x[i] + h * d[i]);
            }
            inputs.get(t).markModified();
        }
        try {
            return evaluate(loss);
        } finally {
            for (int t = 0; t < inputs.size(); t++) {
                System.arraycopy(backup.get(t), 0, inputs.get(t).data(), 0, backup.get(t).length);
                inputs.get(t).markModified();
            }
        }
    }
}
