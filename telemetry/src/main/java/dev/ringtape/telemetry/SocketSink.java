package dev.ringtape.telemetry;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * A rank's telemetry channel to the driver: one TCP connection to the driver's {@link TelemetryServer}, JSON Lines
 * (the {@link TelemetryServer} frames: a hello naming the rank, then records, console lines and at most one error).
 * Each record is tagged with the rank and queued for a sender thread, which writes the frames in the order they
 * came and flushes whenever it has caught up, so the training thread spends no time on JSON or on the socket
 * (0.06-0.11 ms a step before, bench/RESULTS.md). The sender looks at the queue every {@link #PERIOD_MS} ms rather
 * than being woken for each record: a wake-up per record (a futex call, and a monitor the two threads shared) cost
 * the training thread 0.07-0.11 ms a step. So the driver's log follows the run within that period. An error is sent
 * before {@link #error} returns; {@link #close} sends everything still queued.
 */
public final class SocketSink implements TelemetrySink {
    private static final ObjectNode END = Records.JSON.createObjectNode();
    /** How often the sender looks at the queue when it has caught up. */
    static final int PERIOD_MS = 20;

    private final int rank;
    private final Socket socket;
    private final BufferedWriter out;
    private final String endpoint;
    private final BlockingQueue<ObjectNode> queue = new ArrayBlockingQueue<>(4096);
    private final Thread sender;
    private volatile IOException lost;
    /** Frames queued, by their producers (in order: {@link #enqueue} holds the lock). */
    private long queued;
    /** Frames on the socket, by the sender. */
    private volatile long sent;
    /** Set while a producer waits for the sender (a full queue, an error, the end): it is woken at once. */
    private volatile boolean urgent;

    /**
     * Connects to {@code host:port}, proves {@code key} (both within {@code timeoutMs}) and says which rank this is.
     */
    public SocketSink(String endpoint, int rank, JobKey key, int timeoutMs) {
        this.rank = rank;
        this.endpoint = endpoint;
        try {
            socket = key.connect(endpoint, TelemetryServer.SERVICE, timeoutMs);
            out = new BufferedWriter(new OutputStreamWriter(socket.getOutputStream(), StandardCharsets.UTF_8), 1 << 16);
        } catch (IOException e) {
            throw new UncheckedIOException(
                    "rank " + rank + ": cannot reach the driver's telemetry endpoint " + endpoint + ": "
                            + e.getMessage(),
                    e);
        }
        ObjectNode hello = Records.JSON.createObjectNode();
        hello.put(TelemetryServer.HELLO, rank);
        sender = new Thread(this::send, "ringtape-telemetry-rank" + rank);
        sender.setDaemon(true);
        sender.start();
        enqueue(hello);
    }

    @Override
    public void emit(ObjectNode record) {
        if (!record.has("rank")) {
            record.put("rank", rank);
        }
        enqueue(record);
    }

    /** Sends {@code message} as this rank's error: the driver reports it in place of Spark's stack trace. */
    public void error(String message) {
        error(message, null);
    }

    /**
     * Sends {@code message} as this rank's error, with the stack trace the driver files for it; returns once it is
     * on the socket (the task fails right after).
     */
    public void error(String message, Throwable cause) {
        ObjectNode o = Records.JSON.createObjectNode();
        o.put(TelemetryServer.ERROR, message);
        if (cause != null) {
            java.io.StringWriter trace = new java.io.StringWriter();
            cause.printStackTrace(new java.io.PrintWriter(trace));
            o.put(TelemetryServer.TRACE, trace.toString());
        }
        awaitSent(enqueue(o));
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
                            enqueue(o);
                        } else {
                            bytes.write(b);
                        }
                    }
                },
                true,
                StandardCharsets.UTF_8);
    }

    /** Queues {@code o} (waiting while the queue is full); its sequence number. */
    private synchronized long enqueue(ObjectNode o) {
        while (!queue.offer(o)) {
            checkConnected();
            if (!wakeSenderAndWait()) {
                throw new IllegalStateException("rank " + rank + ": interrupted while sending telemetry");
            }
        }
        checkConnected();
        return ++queued;
    }

    /** Wakes the sender now (it has work a producer waits for) and gives it a millisecond; false if interrupted. */
    private boolean wakeSenderAndWait() {
        urgent = true;
        LockSupport.unpark(sender);
        try {
            Thread.sleep(1);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private void checkConnected() {
        if (lost != null) {
            throw new UncheckedIOException(
                    "rank " + rank + ": lost the telemetry connection to the driver at " + endpoint, lost);
        }
    }

    /** The sender: writes frames in order, flushing whenever it has caught up; then sleeps a period. */
    private void send() {
        try {
            while (true) {
                ObjectNode o = queue.poll();
                if (o == null) {
                    out.flush();
                    if (!urgent) {
                        LockSupport.parkNanos(this, PERIOD_MS * 1_000_000L);
                    }
                    urgent = false;
                    continue;
                }
                if (o == END) {
                    out.flush();
                    sent++;
                    return;
                }
                out.write(Records.JSON.writeValueAsString(o));
                out.write('\n');
                if (queue.isEmpty()) {
                    out.flush();
                }
                sent++;
            }
        } catch (JsonProcessingException e) {
            lost = new IOException("a telemetry record cannot be written as JSON: " + e.getMessage(), e);
        } catch (IOException e) {
            lost = e;
        } catch (RuntimeException e) {
            lost = new IOException("the telemetry sender failed: " + e, e); // producers must not wait on it
        }
    }

    /** Waits until frame {@code seq} and those before it are on the socket (or the connection is lost). */
    private void awaitSent(long seq) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (sent < seq && lost == null && sender.isAlive() && System.nanoTime() < deadline) {
            if (!wakeSenderAndWait()) {
                return;
            }
        }
    }

    @Override
    public void close() {
        if (sender.isAlive()) {
            try {
                awaitSent(enqueue(END));
            } catch (RuntimeException e) {
                // the driver is gone; nothing more can reach it
            }
        }
        try {
            socket.close();
        } catch (IOException e) {
            // the driver is gone; nothing more can reach it
        }
    }
}
