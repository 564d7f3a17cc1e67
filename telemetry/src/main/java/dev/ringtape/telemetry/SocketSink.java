package dev.ringtape.telemetry;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A rank's telemetry channel to the driver: one TCP connection to the driver's {@link TelemetryServer}, JSON Lines
 * (the {@link TelemetryServer} frames: a hello naming the rank, then records, console lines and at most one error).
 * Each record is tagged with the rank and flushed as it is emitted, so the driver's log follows the run live.
 */
public final class SocketSink implements TelemetrySink {
    private final int rank;
    private final Socket socket;
    private final BufferedWriter out;
    private final String endpoint;

    /** Connects to {@code host:port} (within {@code timeoutMs}) and says which rank this is. */
    public SocketSink(String endpoint, int rank, int timeoutMs) {
        this.rank = rank;
        this.endpoint = endpoint;
        int colon = endpoint.lastIndexOf(':');
        try {
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.connect(
                    new InetSocketAddress(
                            endpoint.substring(0, colon), Integer.parseInt(endpoint.substring(colon + 1))),
                    timeoutMs);
            out = new BufferedWriter(new OutputStreamWriter(socket.getOutputStream(), StandardCharsets.UTF_8), 1 << 16);
        } catch (IOException e) {
            throw new UncheckedIOException(
                    "rank " + rank + ": cannot reach the driver's telemetry endpoint " + endpoint + ": "
                            + e.getMessage(),
                    e);
        }
        ObjectNode hello = Records.JSON.createObjectNode();
        hello.put(TelemetryServer.HELLO, rank);
        write(hello);
    }

    @Override
    public void emit(ObjectNode record) {
        if (!record.has("rank")) {
            record.put("rank", rank);
        }
        write(record);
    }

    /** Sends {@code message} as this rank's error: the driver reports it in place of Spark's stack trace. */
    public void error(String message) {
        error(message, null);
    }

    /** Sends {@code message} as this rank's error, with the stack trace the driver files for it. */
    public void error(String message, Throwable cause) {
        ObjectNode o = Records.JSON.createObjectNode();
        o.put(TelemetryServer.ERROR, message);
        if (cause != null) {
            java.io.StringWriter trace = new java.io.StringWriter();
            cause.printStackTrace(new java.io.PrintWriter(trace));
            o.put(TelemetryServer.TRACE, trace.toString());
        }
        write(o);
    }

    /** A stream whose lines the driver prints on its console. */
    public PrintStream console() {
        return new PrintStream(
                new OutputStream() {
                    private final StringBuilder line = new StringBuilder();
                    private final java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();

                    @Override
                    public synchronized void write(int b) {
                        if (b == '\n') {
                            line.append(bytes.toString(StandardCharsets.UTF_8));
                            bytes.reset();
                            ObjectNode o = Records.JSON.createObjectNode();
                            o.put(TelemetryServer.CONSOLE, line.toString());
                            line.setLength(0);
                            SocketSink.this.write(o);
                        } else {
                            bytes.write(b);
                        }
                    }
                },
                true,
                StandardCharsets.UTF_8);
    }

    private synchronized void write(ObjectNode o) {
        try {
            out.write(Records.JSON.writeValueAsString(o));
            out.write('\n');
            out.flush();
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("telemetry record cannot be written as JSON", e);
        } catch (IOException e) {
            throw new UncheckedIOException(
                    "rank " + rank + ": lost the telemetry connection to the driver at " + endpoint, e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            out.flush();
            socket.close();
        } catch (IOException e) {
            // the driver is gone; nothing more can reach it
        }
    }
}
