package dev.ringtape.scheduler.driver;

import dev.ringtape.telemetry.AuthServer;
import dev.ringtape.telemetry.JobKey;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.function.BooleanSupplier;

/**
 * The ranks' ring endpoints, gathered by the driver and handed to every rank: what Spark's {@code
 * BarrierTaskContext.allGather} would do, without its wait loop, which sleeps a whole second before it looks at the
 * answer again (Spark 4.2's {@code runBarrier}): that second was a third of the digits job's start-up. One exchange
 * per stage attempt, on the driver's host; a rank proves it holds the attempt's {@link JobKey} ({@link AuthServer}),
 * sends one line {@code rank<TAB>endpoint} and reads back every rank's endpoint, tab-separated in rank order, once
 * all have sent theirs.
 */
final class EndpointExchange implements AutoCloseable {
    /** The service's name in the handshake and in warnings. */
    static final String SERVICE = "ring endpoint exchange";
    /** The longest line a rank may send: a rank number and a host:port. */
    private static final int MAX_LINE = 1024;

    private final AuthServer server;
    private final String[] endpoints;
    private final CountDownLatch all = new CountDownLatch(1);
    private int received;
    private volatile boolean closed;

    EndpointExchange(String host, int world, JobKey key, PrintStream console) throws IOException {
        this.endpoints = new String[world];
        this.server = new AuthServer(host, SERVICE, key, this::serve, console);
    }

    /** Where ranks connect: {@code host:port}. */
    String address() {
        return server.endpoint();
    }

    /** One rank's connection (it proved the key): its line in, every rank's endpoints out once all are in. */
    private void serve(Socket s) throws IOException {
        s.setSoTimeout(60_000);
        String line = readLine(s.getInputStream());
        String[] parts = line == null ? new String[0] : line.split("\t", 2);
        synchronized (this) {
            int rank;
            try {
                rank = parts.length == 2 ? Integer.parseInt(parts[0]) : -1;
            } catch (NumberFormatException e) {
                rank = -1;
            }
            if (rank < 0 || rank >= endpoints.length || endpoints[rank] != null) {
                return; // not a rank of this attempt, or one that already reported: the connection is closed
            }
            endpoints[rank] = parts[1];
            if (++received == endpoints.length) {
                all.countDown();
            }
        }
        try {
            all.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        if (!closed) {
            OutputStream out = s.getOutputStream();
            out.write((String.join("\t", endpoints) + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    /** A line of at most {@link #MAX_LINE} bytes, or null at the end of the stream or past that length. */
    private static String readLine(InputStream in) throws IOException {
        byte[] buf = new byte[MAX_LINE];
        int n = 0;
        int b;
        while ((b = in.read()) >= 0) {
            if (b == '\n') {
                return new String(buf, 0, n, StandardCharsets.UTF_8);
            }
            if (n == MAX_LINE) {
                return null;
            }
            buf[n++] = (byte) b;
        }
        return null;
    }

    /**
     * Sends {@code endpoint} as rank {@code rank}'s to the exchange at {@code address} and returns every rank's, in
     * rank order; alone, just its own. Proves {@code key} first. Waits at most {@code timeoutMs} for the other ranks,
     * and gives up early when {@code killed} says the task was killed (Spark interrupts a failed barrier stage's
     * other tasks).
     */
    static String[] exchange(
            String address, int rank, int world, String endpoint, JobKey key, long timeoutMs, BooleanSupplier killed)
            throws IOException {
        if (world == 1) {
            return new String[] {endpoint};
        }
        try (Socket s = key.connect(address, SERVICE, (int) Math.min(timeoutMs, Integer.MAX_VALUE))) {
            s.getOutputStream().write((rank + "\t" + endpoint + "\n").getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            s.setSoTimeout(200);
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            long deadline = System.nanoTime() + timeoutMs * 1_000_000;
            while (true) {
                try {
                    String line = in.readLine();
                    if (line == null) {
                        throw new IOException("the driver closed the exchange of ring endpoints");
                    }
                    String[] all = line.split("\t", -1);
                    if (all.length != world) {
                        throw new IOException(
                                "the driver sent " + all.length + " ring endpoints for " + world + " ranks");
                    }
                    return all;
                } catch (SocketTimeoutException e) {
                    if (killed.getAsBoolean()) {
                        throw new IOException("the task was killed while waiting for the other ranks' endpoints");
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IOException("rank " + rank + ": the other ranks did not report their ring endpoints"
                                + " within " + timeoutMs / 1000.0 + " s (allreduce.timeout_s)");
                    }
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        all.countDown(); // a rank still waiting gets its connection closed, not an answer
        server.close();
    }
}
