package dev.ringtape.telemetry;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Appends records to a JSON Lines file, one object a line, flushed per record so readers can follow it live. */
public final class JsonlFileSink implements TelemetrySink {
    private final Path path;
    private final BufferedWriter out;

    /** Opens {@code path} for appending, creating it and its folders. */
    public JsonlFileSink(Path path) throws IOException {
        this.path = path;
        Path parent = path.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        this.out = Files.newBufferedWriter(
                path, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    public Path path() {
        return path;
    }

    @Override
    public synchronized void emit(ObjectNode record) {
        try {
            out.write(Records.JSON.writeValueAsString(record));
            out.write('\n');
            out.flush();
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("telemetry record cannot be written as JSON", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write telemetry to " + path, e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close telemetry file " + path, e);
        }
    }
}
