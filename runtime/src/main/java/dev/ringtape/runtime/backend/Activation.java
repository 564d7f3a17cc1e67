package dev.ringtape.runtime.backend;

/**
 * The elementwise activations, with what each saves for backward.
 *
 * <p>{@code param} is LeakyReLU's negative slope or ELU's alpha and is ignored by the others.
 */
public enum Activation {
    RELU(Saves.MASK),
    LEAKY_RELU(Saves.MASK),
    SIGMOID(Saves.OUTPUT),
    TANH(Saves.OUTPUT),
    GELU_ERF(Saves.INPUT),
    GELU_TANH(Saves.INPUT),
    SILU(Saves.INPUT),
    ELU(Saves.INPUT),
    SOFTPLUS(Saves.INPUT);

    /** What backward needs: a sign mask, the op's output, or its input. */
    public enum Saves {
        MASK,
        OUTPUT,
        INPUT
    }

    private final Saves saves;

    Activation(Saves saves) {
        this.saves = saves;
    }

    public Saves saves() {
        return saves;
    }
}
