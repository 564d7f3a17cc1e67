package dev.ringtape.runtime.data;

/** Data that cannot be read; the message names the file and, for a bad row, the line. */
public final class DataException extends Exception {
    public DataException(String message) {
        super(message);
    }
}
