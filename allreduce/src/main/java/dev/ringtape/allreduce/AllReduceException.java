package dev.ringtape.allreduce;

/** A collective that cannot complete: a peer died, stalled or broke the protocol. The message names who and when. */
public final class AllReduceException extends RuntimeException {
    public AllReduceException(String message) {
        super(message);
    }
}
