package dev.ringtape.runtime.autograd;

import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

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
 * sum correctly without any special case. Under a 16-bit {@link Autocast} every gradient passed on is rounded to
 * that format, and each leaf's gradient of one pass is rounded before it joins the fp32 accumulator.
 */
public final class Tape implements AutoCloseable {
    private static final ThreadLocal<Tape> CURRENT = new ThreadLocal<>();
    private static final ThreadLocal<String> LAYER = ThreadLocal.withInitial(() -> "");

    private final Tape previous;
    private final ArrayList<Node> nodes = new ArrayList<>();
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

    /** Runs {@code body} with no tape open on this thread (like {@code torch.no_grad()}), restoring the tape after. */
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
     * Called by every op right after its forward result is computed: rounds it to the autocast format (unless it is
     * a loss, kept in fp32) and, under a {@link NonFiniteProbe}, checks it.
     */
    public static Tensor forwardResult(String op, Tensor output, boolean keepFp32) {
        Precision p = Autocast.current();
        if (!keepFp32 && p != Precision.FP32) {
            Backends.current().round(p, output, null);
        }
        NonFiniteProbe probe = NonFiniteProbe.current();
        if (probe != null) {
            probe.check(op, LAYER.get(), "forward", output);
        }
        return output;
    }

    /**
     * Records one op if a tape is open and some input requires a gradient, marking the output as requiring one.
     * {@code saved} lists what the rule keeps alive (saved tensors, masks, index arrays), for {@link
     * ActivationMemory}. A tensor listed as itself, not through {@link Saved}, is the op's own (layer norm's
     * normalized input, the cross-entropy's probabilities): no other op reads it, and once the rule has run, backward
     * hands its storage back to the buffer pool (else every step would allocate it anew).
     */
    public static void recordOp(String op, Tensor output, Tensor[] inputs, Backward rule, Object... saved) {
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
        ActivationMemory.current().retain(saved);
        tape.nodes.add(new Node(op, LAYER.get(), output, inputs, rule, saved));
    }

    /**
     * Names the layer whose ops follow on this thread (taped or not), for error messages, non-finite origins and
     * telemetry; returns the previous name.
     */
    public static String enterLayer(String name) {
        String before = LAYER.get();
        LAYER.set(name);
        return before;
    }

    /** Restores the layer name returned by {@link #enterLayer}. */
    public static void exitLayer(String before) {
        LAYER.set(before);
    }

    /** The layer whose ops run now ("" outside any layer). */
    public static String layer() {
        return LAYER.get();
    }

    /** The ops recorded so far, in order: for tests and diagnostics. */
    public List<String> ops() {
        List<String> out = new ArrayList<>(nodes.size());
        for (Node n : nodes) {
            if (n != null) {
                out.add(n.op());
            }
        }
        return out;
    }

    /** Backward from a scalar: the seed gradient is 1. */
    public void backward(Tensor loss) {
        backward(loss, 1f);
    }

    /** Backward from a scalar with seed gradient {@code seed} (the loss scale, under mixed precision). */
    public void backward(Tensor loss, float seed) {
        backward(loss, seed, null);
    }

    /**
     * Backward from a scalar, telling {@code ready} about each leaf as soon as its gradient of this pass is complete
     * (after the last op that uses it has run backward), so the caller can send it off while backward goes on.
     */
    public void backward(Tensor loss, float seed, java.util.function.Consumer<Tensor> ready) {
        if (loss.size() != 1) {
            throw new IllegalArgumentException("backward(loss) needs a scalar, got shape "
                    + Arrays.toString(loss.shape()) + "; pass a seed gradient for a non-scalar output");
        }
        Tensor s = Tensor.zeros(loss.shape());
        s.set(seed);
        backward(loss, s, ready);
    }

    /** Backward from {@code root} with the given seed gradient (same shape). The tape can be walked once. */
    public void backward(Tensor root, Tensor seed) {
        backward(root, seed, null);
    }

    private void backward(Tensor root, Tensor seed, java.util.function.Consumer<Tensor> ready) {
        if (consumed) {
            throw new IllegalStateException(
                    "backward was already run on this tape and its saved tensors were freed; record a new tape");
        }
        if (!root.requiresGrad()) {
            throw new IllegalArgumentException(
                    "the tensor passed to backward does not require grad: no parameter or input reaches it");
        }
        consumed = true;
        Precision precision = Autocast.current();
        Grads grads = new Grads(precision);
        if (root.isLeaf()) {
            Backends.current().axpy(1f, seed, grads.of(root));
        } else {
            grads.pending.put(root, seed);
        }
        NonFiniteProbe probe = NonFiniteProbe.current();
        ActivationMemory memory = ActivationMemory.current();
        // the earliest op using each leaf: once backward has passed it, that leaf's gradient is complete
        IdentityHashMap<Tensor, Integer> firstUse = new IdentityHashMap<>();
        List<List<Tensor>> readyAt = null;
        if (ready != null) {
            readyAt = new ArrayList<>();
            for (int i = 0; i < nodes.size(); i++) {
                readyAt.add(null);
                for (Tensor in : nodes.get(i).inputs()) {
                    if (in.isLeaf() && in.requiresGrad() && firstUse.putIfAbsent(in, i) == null) {
                        if (readyAt.get(i) == null) {
                            readyAt.set(i, new ArrayList<>(2));
                        }
                        readyAt.get(i).add(in);
                    }
                }
            }
        }
        for (int i = nodes.size() - 1; i >= 0; i--) {
            Node node = nodes.get(i);
            nodes.set(i, null);
            Tensor g = grads.pending.remove(node.output());
            if (g != null) {
                if (node.output() != root) {
                    // the root is the fp32 loss (times the loss scale, which may exceed the 16-bit range)
                    UnderflowProbe.round(precision, g, node.layer());
                }
                try {
                    node.rule().apply(g, grads);
                } catch (SavedTensorModifiedException e) {
                    throw e.in(node.op(), node.layer());
                }
                if (probe != null) {
                    for (Tensor in : node.inputs()) {
                        if (in.requiresGrad()) {
                            probe.check(node.op(), node.layer(), "backward", grads.of(in));
                        }
                    }
                }
                if (g != seed) {
                    g.recycle(); // the output's gradient is used up
                }
            }
            memory.release(node.saved());
            for (Object o : node.saved()) {
                if (o instanceof Tensor scratch) {
                    scratch.recycle(); // the op's own (see recordOp): nothing reads it after its rule
                }
            }
            if (node.output() != root) {
                // every op that reads this output (and every save of it) came later and has run backward
                node.output().recycle();
            }
            if (readyAt != null && readyAt.get(i) != null) {
                for (Tensor leaf : readyAt.get(i)) {
                    grads.flushLeaf(leaf);
                    ready.accept(leaf);
                }
            }
        }
        nodes.clear();
        grads.flushLeaves();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        ActivationMemory memory = ActivationMemory.current();
        for (Node n : nodes) {
            if (n != null) {
                memory.release(n.saved());
            }
        }
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

    private record Node(String op, String layer, Tensor output, Tensor[] inputs, Backward rule, Object[] saved) {}

    /** Where a backward rule adds its input gradients. */
    public static final class Grads {
        private final IdentityHashMap<Tensor, Tensor> pending = new IdentityHashMap<>();
        private final Precision precision;
        private final IdentityHashMap<Tensor, Tensor> leafPass = new IdentityHashMap<>();

        private Grads(Precision precision) {
            this.precision = precision;
        }

        /** Whether {@code input} wants a gradient (skip the work otherwise). */
        public boolean needs(Tensor input) {
            return input.requiresGrad();
        }

        /**
         * The buffer to add {@code input}'s gradient into: the leaf's {@code grad} (under 16-bit autocast, this pass's
         * own buffer, rounded and added to {@code grad} at the end), or the pending gradient of an intermediate tensor,
         * allocated zero-filled on first use.
         */
        public Tensor of(Tensor input) {
            if (input.isLeaf()) {
                if (precision == Precision.FP32) {
                    return input.gradBuffer();
                }
                return leafPass.computeIfAbsent(input, t -> Tensor.output(t.shape()));
            }
            Tensor g = pending.get(input);
            if (g == null) {
                g = Tensor.output(input.shape());
                pending.put(input, g);
            }
            return g;
        }

        /**
         * A buffer for {@code input}'s gradient that the caller writes entirely (a product with beta 0, a copy, a
         * permutation), not zero-filled first; null when the gradient may already hold values (a leaf's, or one
         * another rule has added to): then add into {@link #of}.
         */
        public Tensor fresh(Tensor input) {
            if (input.isLeaf() || pending.containsKey(input)) {
                return null;
            }
            Tensor g = Tensor.overwritten(input.shape());
            pending.put(input, g);
            return g;
        }

        /**
         * Adds {@code gy} (of {@code input}'s size) to {@code input}'s gradient: when it is the first, {@code gy}
         * itself becomes that gradient if it can be handed over (the rule's own output gradient, which the tape then
         * does not recycle), else a copy; {@code gy} must not be read afterwards. Reshape's and add's backward.
         */
        public void pass(Tensor input, Tensor gy) {
            if (!input.isLeaf() && !pending.containsKey(input)) {
                Tensor adopted = gy.handOver(input.shape());
                if (adopted != null) {
                    pending.put(input, adopted);
                } else {
                    fresh(input).copyFrom(gy);
                }
                return;
            }
            Backends.current().axpy(1f, gy, of(input));
        }

        private void flushLeaves() {
            for (Map.Entry<Tensor, Tensor> e : leafPass.entrySet()) {
                UnderflowProbe.round(precision, e.getValue(), e.getKey().name());
                Backends.current().axpy(1f, e.getValue(), e.getKey().gradBuffer());
                e.getValue().recycle();
            }
            leafPass.clear();
        }

        /** Moves one leaf's gradient of this pass (rounded to 16 bits under autocast) into its fp32 {@code grad}. */
        private void flushLeaf(Tensor leaf) {
            Tensor pass = leafPass.remove(leaf);
            if (pass != null) {
                UnderflowProbe.round(precision, pass, leaf.name());
                Backends.current().axpy(1f, pass, leaf.gradBuffer());
                pass.recycle();
            }
        }
    }
}
