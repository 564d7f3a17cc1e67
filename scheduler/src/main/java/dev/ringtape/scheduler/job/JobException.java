package dev.ringtape.scheduler.job;

/** A job file that cannot be used; the message is one line naming the file, the line and the key. */
public final class JobException extends Exception {
    public JobException(String message) {
        super(message);
    }
}
