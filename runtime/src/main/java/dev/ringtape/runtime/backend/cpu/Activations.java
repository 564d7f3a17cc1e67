package dev.ringtape.runtime.backend.cpu;

import dev.ringtape.runtime.backend.Activation;
import dev.ringtape.runtime.tensor.Mask;
import java.util.EnumMap;
import java.util.Map;

/**
 * The elementwise activations as a rule table (micrograd's model): each activation's forward and its backward side
 * by side, in a class of its own, so that each loop is compiled on its own. Backward accumulates ({@code +=}) into
 * the gradient from what the forward saved ({@link Activation#saves()}: the sign mask, the output, the input, or the
 * derivative the forward computed). One dispatch per op, none per element.
 */
final class Activations {
    private Activations() {}

    private static final double SQRT_2_OVER_PI = 0.7978845608028654;
    private static final double GELU_TANH_C = 0.044715;
    private static final float SOFTPLUS_THRESHOLD = 20f;

    /** One activation: {@code y = act(x)} and {@code gx += act'(.) * gy}. */
    abstract static class Rule {
        abstract void forward(float[] x, float[] y, Mask mask, float param);

        /** The forward, and act'(x) into {@code derivative} (when not null) for a rule that saves its derivative. */
        void forward(float[] x, float[] y, Mask mask, float param, float[] derivative) {
            forward(x, y, mask, param);
        }

        abstract void backward(float[] saved, Mask mask, float[] gy, float[] gx, float param);
    }

    private static final Map<Activation, Rule> RULES = new EnumMap<>(Activation.class);

    static {
        RULES.put(Activation.RELU, new Relu());
        RULES.put(Activation.LEAKY_RELU, new LeakyRelu());
        RULES.put(Activation.SIGMOID, new Sigmoid());
        RULES.put(Activation.TANH, new Tanh());
        RULES.put(Activation.GELU_ERF, new GeluErf());
        RULES.put(Activation.GELU_TANH, new GeluTanh());
        RULES.put(Activation.SILU, new Silu());
        RULES.put(Activation.ELU, new Elu());
        RULES.put(Activation.SOFTPLUS, new Softplus());
    }

    static Rule of(Activation act) {
        return RULES.get(act);
    }

    /** ReLU, with a bit mask of x > 0 for backward. */
    private static final class Relu extends Rule {
        @Override
        void forward(float[] x, float[] y, Mask mask, float param) {
            // without a branch on the sign anywhere: signs are random, and a branch that mispredicts half the
            // time made this loop 5x slower on fresh data (bench/RESULTS.md). Math.max gives +0 for -0 and keeps
            // NaN, as torch.relu does; the mask bit is v > 0, from the bits: (bits - 1), unsigned, below +Inf's
            int n = x.length;
            for (int i = 0; i < n; i++) {
                y[i] = Math.max(x[i], 0f);
            }
            long[] words = mask.words();
            for (int w = 0; w < words.length; w++) {
                int base = w << 6;
                int end = Math.min(base + 64, n);
                long bits = 0;
                for (int i = base; i < end; i++) {
                    long u = (Float.floatToRawIntBits(x[i]) - 1) & 0xffffffffL;
                    bits |= ((u - 0x7f800000L) >>> 63) << (i - base);
                }
                words[w] = bits;
            }
        }

        @Override
        void backward(float[] saved, Mask mask, float[] gy, float[] gx, float param) {
            // a select, not a product, so a NaN gradient into a dead unit stays out (as PyTorch's
            // threshold_backward): the gradient's bits and'ed with all ones or all zeros, no branch
            int n = gy.length;
            long[] words = mask.words();
            for (int w = 0; w < words.length; w++) {
                int base = w << 6;
                int end = Math.min(base + 64, n);
                long bits = words[w];
                for (int i = base; i < end; i++) {
                    int keep = -(int) ((bits >>> (i - base)) & 1L);
                    gx[i] += Float.intBitsToFloat(Float.floatToRawIntBits(gy[i]) & keep);
                }
            }
        }
    }

    /** LeakyReLU with slope {@code param}, as torch: {@code x > 0 ? x : x * slope}. */
    private static final class LeakyRelu extends Rule {
        @Override
        void forward(float[] x, float[] y, Mask mask, float slope) {
            int n = x.length;
            long[] words = mask.words();
            for (int w = 0; w < words.length; w++) {
                int base = w << 6;
                int end = Math.min(base + 64, n);
                long bits = 0;
                for (int i = base; i < end; i++) {
                    float v = x[i];
                    boolean pos = v > 0f;
                    y[i] = pos ? v : v * slope;
                    bits |= (pos ? 1L : 0L) << (i - base);
                }
                words[w] = bits;
            }
        }

        @Override
        void backward(float[] saved, Mask mask, float[] gy, float[] gx, float slope) {
            int n = gy.length;
            long[] words = mask.words();
            for (int w = 0; w < words.length; w++) {
                int base = w << 6;
                int end = Math.min(base + 64, n);
                long bits = words[w];
                for (int i = base; i < end; i++) {
                    float gi = gy[i];
                    gx[i] += ((bits >>> (i - base)) & 1L) != 0 ? gi : gi * slope;
                }
            }
        }
    }

    /** Sigmoid; backward from its output. */
    private static final class Sigmoid extends Rule {
        @Override
        void forward(float[] x, float[] y, Mask mask, float param) {
            for (int i = 0; i < x.length; i++) {
                y[i] = (float) sigmoid(x[i]);
            }
        }

        @Override
        void backward(float[] y, Mask mask, float[] gy, float[] gx, float param) {
            for (int i = 0; i < gy.length; i++) {
                gx[i] += gy[i] * y[i] * (1f - y[i]);
            }
        }
    }

    /** tanh; backward from its output. */
    private static final class Tanh extends Rule {
        @Override
        void forward(float[] x, float[] y, Mask mask, float param) {
            Loops.get().tanh(x, y);
        }

        @Override
        void backward(float[] y, Mask mask, float[] gy, float[] gx, float param) {
            for (int i = 0; i < gy.length; i++) {
                gx[i] += gy[i] * (1f - y[i] * y[i]);
            }
        }
    }

    /**
     * GELU with the exact normal CDF; its derivative Phi(x) + x phi(x) is computed by the forward from the same Phi,
     * and backward is a product: the normal CDF is most of the cost, and backward from the input computed it again.
     */
    private static final class GeluErf extends Rule {
        @Override
        void forward(float[] x, float[] y, Mask mask, float param) {
            Loops.get().geluErf(x, y, null);
        }

        @Override
        void forward(float[] x, float[] y, Mask mask, float param, float[] derivative) {
            Loops.get().geluErf(x, y, derivative);
        }

        @Override
        void backward(float[] derivative, Mask mask, float[] gy, float[] gx, float param) {
            Loops.get().addProducts(gy, derivative, 0, gx, gx.length);
        }
    }

    /** GELU's tanh approximation; backward from its input. */
    private static final class GeluTanh extends Rule {
        @Override
        void forward(float[] x, float[] y, Mask mask, float param) {
            for (int i = 0; i < x.length; i++) {
                double v = x[i];
                double t = Loops.tanh(SQRT_2_OVER_PI * (v + GELU_TANH_C * v * v * v));
                y[i] = (float) (0.5 * v * (1.0 + t));
            }
        }

        @Override
        void backward(float[] x, Mask mask, float[] gy, float[] gx, float param) {
            for (int i = 0; i < gy.length; i++) {
                double v = x[i];
                double t = Loops.tanh(SQRT_2_OVER_PI * (v + GELU_TANH_C * v * v * v));
                double d =
                        0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * v * v);
                gx[i] += (float) (gy[i] * d);
            }
        }
    }

    /** SiLU, x * sigmoid(x); backward from its input. */
    private static final class Silu extends Rule {
        @Override
        void forward(float[] x, float[] y, Mask mask, float param) {
            for (int i = 0; i < x.length; i++) {
                double v = x[i];
                y[i] = (float) (v * sigmoid(v));
            }
        }

        @Override
        void backward(float[] x, Mask mask, float[] gy, float[] gx, float param) {
            for (int i = 0; i < gy.length; i++) {
                double v = x[i];
                double s = sigmoid(v);
                gx[i] += (float) (gy[i] * s * (1.0 + v * (1.0 - s)));
            }
        }
    }

    /** ELU with alpha {@code param}; backward from its input. */
    private static final class Elu extends Rule {
        @Override
        void forward(float[] x, float[] y, Mask mask, float alpha) {
            for (int i = 0; i < x.length; i++) {
                float v = x[i];
                y[i] = v > 0f ? v : (float) (alpha * Math.expm1(v));
            }
        }

        @Override
        void backward(float[] x, Mask mask, float[] gy, float[] gx, float alpha) {
            for (int i = 0; i < gy.length; i++) {
                float v = x[i];
                gx[i] += v > 0f ? gy[i] : (float) (gy[i] * alpha * Math.exp(v));
            }
        }
    }

    /** Softplus (torch's threshold 20: the identity above it); backward from its input. */
    private static final class Softplus extends Rule {
        @Override
        void forward(float[] x, float[] y, Mask mask, float param) {
            for (int i = 0; i < x.length; i++) {
                float v = x[i];
                y[i] = v > SOFTPLUS_THRESHOLD ? v : (float) Math.log1p(Math.exp(v));
            }
        }

        @Override
        void backward(float[] x, Mask mask, float[] gy, float[] gx, float param) {
            for (int i = 0; i < gy.length; i++) {
                float v = x[i];
                gx[i] += v > SOFTPLUS_THRESHOLD ? gy[i] : (float) (gy[i] * sigmoid(v));
            }
        }
    }

    static double sigmoid(double v) {
        if (v >= 0) {
            return 1.0 / (1.0 + Math.exp(-v));
        }
        double e = Math.exp(v);
        return e / (1.0 + e);
    }
}
