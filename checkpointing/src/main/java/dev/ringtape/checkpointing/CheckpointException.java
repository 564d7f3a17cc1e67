package dev.ringtape.checkpointing;

/** A snapshot that cannot be written or read, with what is wrong and where (file, section). */
public final class CheckpointException extends Exception {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
