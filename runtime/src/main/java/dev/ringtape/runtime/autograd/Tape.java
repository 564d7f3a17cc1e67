package dev.ringtape.runtime.autograd;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;

/**
 * A define-by-run reverse-mode tape. Ops executed on this thread while a tape is open record themselves, with their
 * backward rule, if any input requires a gradient:
 *
 * <pre>{@code
 * try (Tape tape = Tape.record()) {
 *     Tensor loss = model.forward(x) ...;
 *     tape.backward(loss);
 * }
 * }</pre>
 *
 * <p>{@link #backward(Tensor)} walks the records in reverse, visiting only those whose output received a gradient
 * (pruned to what reaches the loss) and asking each rule only for the inputs that require one. Gradients of leaves
 * accumulate into {@link Tensor#grad()} with {@code +=}, so fan-out and repeated backward passes over micro-batches
 * sum correctly without any special case.
 */
public final class Tape implements AutoCloseable {
    private static final ThreadLocal<Tape> CURRENT = new ThreadLocal<>();

    private final Tape previous;
    private final ArrayList<Node> nodes = new ArrayList<>();
    private String layer = "";
    private boolean consumed;
    private boolean closed;

    private Tape(Tape previous) {
        this.previous = previous;
    }

    /** Opens a tape on this thread; close it (try-with-resources) to stop recording. */
    public static Tape record() {
        Tape tape = new Tape(CURRENT.get());
        CURRENT.set(tape);
        return tape;
    }

    /** The open tape of this thread, or null. */
    public static Tape current() {
        return CURRENT.get();
    }

    /**
     * Runs {@code body} with no tape open on this thread (like {@code torch.no_grad()}), restoring the tape after.
     */
    public static <T> T paused(java.util.function.Supplier<T> body) {
        Tape tape = CURRENT.get();
        CURRENT.remove();
        try {
            return body.get();
        } finally {
            if (tape != null) {
                CURRENT.set(tape);
            }
        }
    }

    /**
     * Records one op if a tape is open and some input requires a gradient; marks the output as requiring one then.
     * Called by ops right after their forward computation.
     */
    public static void recordOp(String op, Tensor output, Tensor[] inputs, Backward rule) {
        Tape tape = CURRENT.get();
        if (tape == null) {
            return;
        }
        boolean any = false;
        for (Tensor in : inputs) {
            any |= in.requiresGrad();
        }
        if (!any) {
            return;
        }
        output.requiresGrad(true);
        tape.nodes.add(new Node(op, tape.layer, output, inputs, rule));
    }

    /** Names the layer whose ops follow, for error messages and telemetry; returns the previous name. */
    public String enterLayer(String name) {
        String before = layer;
        layer = name;
        return before;
    }

    /** Restores the layer name returned by {@link #enterLayer}. */
    public void exitLayer(String before) {
        layer = before;
    }

    /** The layer whose ops are being recorded ("" outside any layer). */
    public String layer() {
        return layer;
    }

    /** The ops recorded so far, in order: for tests and diagnostics. */
    public List<String> ops() {
        List<String> out = new ArrayList<>(nodes.size());
        for (Node n : nodes) {
            out.add(n.op());
        }
        return out;
    }

    /** Backward from a scalar: the seed gradient is 1. */
    public void backward(Tensor loss) {
        if (loss.size() != 1) {
            throw new IllegalArgumentException("backward(loss) needs a scalar, got shape "
                    + Arrays.toString(loss.shape()) + "; pass a seed gradient for a non-scalar output");
        }
        Tensor seed = Tensor.zeros(loss.shape());
        seed.data()[0] = 1f;
        backward(loss, seed);
    }

    /** Backward from {@code root} with the given seed gradient (same shape). The tape can be walked once. */
    public void backward(Tensor root, Tensor seed) {
        if (consumed) {
            throw new IllegalStateException(
                    "backward was already run on this tape and its saved tensors were freed; record a new tape");
        }
        if (!root.requiresGrad()) {
            throw new IllegalArgumentException(
                    "the tensor passed to backward does not require grad: no parameter or input reaches it");
        }
        consumed = true;
        Grads grads = new Grads();
        if (root.isLeaf()) {
            root.gradBuffer().addInPlace(seed);
            return;
        }
        grads.pending.put(root, seed);
        for (int i = nodes.size() - 1; i >= 0; i--) {
            Node node = nodes.get(i);
            nodes.set(i, null);
            Tensor g = grads.pending.remove(node.output());
            if (g == null) {
                continue;
            }
            try {
                node.rule().apply(g, grads);
            } catch (SavedTensorModifiedException e) {
                throw e.in(node.op(), node.layer());
            }
        }
        nodes.clear();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        nodes.clear();
        if (CURRENT.get() != this) {
            throw new IllegalStateException("tapes must be closed in the reverse order they were opened");
        }
        if (previous == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(previous);
        }
    }

    /** The backward rule of one recorded op: given the gradient of its output, add into its inputs' gradients. */
    @FunctionalInterface
    public interface Backward {
        void apply(Tensor gradOutput, Grads grads);
    }

    private record Node(String op, String layer, Tensor output, Tensor[] inputs, Backward rule) {}

    /** Where a backward rule adds its input gradients. */
    public static final class Grads {
        private final IdentityHashMap<Tensor, Tensor> pending = new IdentityHashMap<>();

        private Grads() {}

        /** Whether {@code input} wants a gradient (skip the work otherwise). */
        public boolean needs(Tensor input) {
            return input.requiresGrad();
        }

        /**
         * The buffer to add {@code input}'s gradient into: the leaf's {@code grad}, or the pending gradient of an
         * intermediate tensor, allocated zero-filled on first use.
         */
        public Tensor of(Tensor input) {
            if (input.isLeaf()) {
                return input.gradBuffer();
            }
            Tensor g = pending.get(input);
            if (g == null) {
                g = Tensor.zeros(input.shape());
                pending.put(input, g);
            }
            return g;
        }
    }
}
