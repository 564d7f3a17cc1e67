package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The driver's end of the ranks' telemetry: a TCP server each rank's {@link SocketSink} connects to. Records go to a
 * {@link RankMerger} that writes the one log of the run; console lines are printed as they come; a rank's error
 * message is kept for the driver to report.
 *
 * <p>Why TCP rather than an Aeron stream: the driver may be a JVM Ringtape does not start (spark-submit's, or a
 * cluster-mode driver) and need not run a media driver or hold Aeron's buffers; records are small (a few KB a step),
 * ordered and must not be lost, which a TCP stream gives with back-pressure for free; and it crosses hosts wherever
 * the Spark driver itself is reachable.
 *
 * <p>Frames, one JSON object a line: {@code {"hello": RANK}} first, then telemetry records (objects with
 * {@code type}), {@code {"console": TEXT}} and {@code {"error": TEXT, "trace": STACK}}. Only a connection that proved
 * it holds the attempt's {@link JobKey} gets to send any ({@link AuthServer}).
 */
public final class TelemetryServer implements AutoCloseable {
    static final String HELLO = "hello";
    static final String CONSOLE = "console";
    static final String ERROR = "error";
    static final String TRACE = "trace";

    /** The service's name in the handshake and in warnings. */
    public static final String SERVICE = "telemetry server";

    private final AuthServer server;
    private final RankMerger merger;
    private final PrintStream console;
    private final CountDownLatch finished;
    private volatile boolean closed;
    private volatile String firstError;
    private volatile String firstTrace;

    /**
     * Listens on {@code host} (an ephemeral port) for {@code world} ranks holding {@code key}; warnings about
     * connections that do not hold it go to {@code console}.
     */
    public TelemetryServer(String host, int world, JobKey key, RankMerger merger, PrintStream console)
            throws IOException {
        this.merger = merger;
        this.console = console;
        this.finished = new CountDownLatch(world);
        this.server = new AuthServer(host, SERVICE, key, this::read, console);
    }

    /** {@code host:port} for the ranks' {@link SocketSink}. */
    public String endpoint() {
        return server.endpoint();
    }

    /** The first error a rank reported, or null. */
    public String firstError() {
        return firstError;
    }

    /** The stack trace of {@link #firstError()}, or null. */
    public String firstTrace() {
        return firstTrace;
    }

    /** Waits until every rank closed its connection (or the timeout passes), then writes what is still buffered. */
    public void finish(long timeoutMs) throws InterruptedException {
        finished.await(timeoutMs, TimeUnit.MILLISECONDS);
        merger.flush();
    }

    private void read(Socket s) {
        int rank = -1;
        try (BufferedReader in =
                new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                JsonNode frame = Records.JSON.readTree(line);
                if (frame.has(Schema.TYPE)) {
                    // a record (one may carry an "error" of its own, as a failed checkpoint's does)
                    if (rank >= 0 && !closed && frame instanceof ObjectNode record) {
                        merger.accept(rank, record); // none after close: a rank of a failed attempt may linger
                    }
                } else if (frame.has(HELLO)) {
                    rank = frame.get(HELLO).asInt();
                } else if (frame.has(CONSOLE)) {
                    console.println(frame.get(CONSOLE).asText());
                } else if (frame.has(ERROR)) {
                    synchronized (this) {
                        if (firstError == null) {
                            firstError = frame.get(ERROR).asText();
                            firstTrace =
                                    frame.hasNonNull(TRACE) ? frame.get(TRACE).asText() : null;
                        }
                    }
                }
            }
        } catch (IOException e) {
            // a rank that died mid-line: what it sent before is kept
        } finally {
            if (rank >= 0) {
                merger.rankDone(rank);
            }
            finished.countDown();
        }
    }

    /** Stops listening and drops the ranks' connections: nothing a lingering rank sends reaches the log after. */
    @Override
    public void close() {
        closed = true;
        server.close();
        merger.flush();
    }
}
