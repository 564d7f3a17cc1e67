package dev.ringtape.runtime.train;

import java.util.function.Supplier;

/**
 * The port to durable training state (checkpoints). The trainer offers the state after every optimizer step; the
 * store decides whether to write it (every N steps) and builds it only then.
 */
public interface StateStore {
    /** A store that keeps nothing. */
    StateStore NONE = (step, state) -> {};

    void afterStep(long step, Supplier<TrainingState> state);
}
