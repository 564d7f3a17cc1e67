package dev.ringtape.runtime.backend;

/**
 * The elementwise activations, one row each and the one place that says what an activation is: its layer type in
 * the job file (with its parameter's key and default, or the value of {@code approximate} that picks it), what it
 * saves for backward, the bounds its output approaches (where it saturates) and whether its units can die (output
 * exactly zero for every input of a window, so no gradient reaches them). The layer sampler and the diagnosis rules
 * read these, never the names. The CUDA kernels switch on the ordinal: {@code ringtape_math.cuh}'s {@code ActKind}
 * lists the same names in the same order ({@code ActivationKernelsTest} checks it without nvcc), so a new row goes
 * at the end, with its kernel.
 *
 * <p>{@code param} is LeakyReLU's negative slope or ELU's alpha and is ignored by the others.
 */
public enum Activation {
    RELU("relu", null, Saves.MASK, null, 0, Float.NaN, Float.NaN, true),
    LEAKY_RELU("leaky_relu", null, Saves.MASK, "negative_slope", 0.01, Float.NaN, Float.NaN, false),
    SIGMOID("sigmoid", null, Saves.OUTPUT, null, 0, 0f, 1f, false),
    TANH("tanh", null, Saves.OUTPUT, null, 0, -1f, 1f, false),
    GELU_ERF("gelu", "none", Saves.DERIVATIVE, null, 0, Float.NaN, Float.NaN, false),
    GELU_TANH("gelu", "tanh", Saves.INPUT, null, 0, Float.NaN, Float.NaN, false),
    SILU("silu", null, Saves.INPUT, null, 0, Float.NaN, Float.NaN, false),
    ELU("elu", null, Saves.INPUT, "alpha", 1.0, Float.NaN, Float.NaN, false),
    SOFTPLUS("softplus", null, Saves.INPUT, null, 0, Float.NaN, Float.NaN, false);

    /**
     * What backward needs: a sign mask, the op's output, its input, or its derivative at the input, which the forward
     * computes beside the output where the two share their costly part (exact GELU's normal CDF: backward from the
     * input computed it a second time).
     */
    public enum Saves {
        MASK,
        OUTPUT,
        INPUT,
        DERIVATIVE
    }

    private final String type;
    private final String approximate;
    private final Saves saves;
    private final String param;
    private final double paramDefault;
    private final float lower;
    private final float upper;
    private final boolean dies;

    Activation(
            String type,
            String approximate,
            Saves saves,
            String param,
            double paramDefault,
            float lower,
            float upper,
            boolean dies) {
        this.type = type;
        this.approximate = approximate;
        this.saves = saves;
        this.param = param;
        this.paramDefault = paramDefault;
        this.lower = lower;
        this.upper = upper;
        this.dies = dies;
    }

    /** The layer type in the job file ({@code gelu} for both GELUs). */
    public String type() {
        return type;
    }

    /** The value of the layer's {@code approximate} key that picks this row, or null where the type has no such key. */
    public String approximate() {
        return approximate;
    }

    public Saves saves() {
        return saves;
    }

    /** The key of the layer's parameter in the job file ({@code negative_slope}, {@code alpha}), or null. */
    public String param() {
        return param;
    }

    public double paramDefault() {
        return paramDefault;
    }

    /** Whether the output has bounds it approaches and saturates at ({@link #lower}, {@link #upper}). */
    public boolean bounded() {
        return !Float.isNaN(lower);
    }

    public float lower() {
        return lower;
    }

    public float upper() {
        return upper;
    }

    /** Whether a unit can die: output exactly zero, and no gradient, for every input of a window (ReLU). */
    public boolean dies() {
        return dies;
    }
}
