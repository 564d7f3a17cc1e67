package dev.ringtape.scheduler.driver;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The ranks' ring endpoints, gathered by the driver and handed to every rank: what Spark's {@code
 * BarrierTaskContext.allGather} would do, without its wait loop, which sleeps a whole second before it looks at the
 * answer again (Spark 4.2's {@code runBarrier}): that second was a third of the digits job's start-up. One exchange
 * per stage attempt, on the driver's host; a rank sends one line {@code rank<TAB>endpoint} and reads back every
 * rank's endpoint, tab-separated in rank order, once all have sent theirs.
 */
final class EndpointExchange implements AutoCloseable {
    private final ServerSocket server;
    private final String[] endpoints;
    private final List<Socket> waiting = java.util.Collections.synchronizedList(new ArrayList<>());
    private final Thread acceptor;
    private int received;

    EndpointExchange(String host, int world) throws IOException {
        this.server = new ServerSocket();
        server.bind(new InetSocketAddress(host, 0));
        this.endpoints = new String[world];
        this.acceptor = new Thread(this::accept, "ringtape-endpoint-exchange");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** Where ranks connect: {@code host:port}. */
    String address() {
        return server.getInetAddress().getHostAddress() + ":" + server.getLocalPort();
    }

    private void accept() {
        try {
            while (received < endpoints.length) {
                Socket s = server.accept();
                try {
                    s.setSoTimeout(60_000);
                    String line = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8))
                            .readLine();
                    String[] parts = line == null ? new String[0] : line.split("\t", 2);
                    int rank = parts.length == 2 ? Integer.parseInt(parts[0]) : -1;
                    if (rank < 0 || rank >= endpoints.length || endpoints[rank] != null) {
                        s.close(); // not a rank of this attempt, or one that already reported
                        continue;
                    }
                    endpoints[rank] = parts[1];
                    waiting.add(s);
                    received++;
                } catch (IOException | NumberFormatException e) {
                    s.close(); // a stray connection: the ranks' own go on
                }
            }
            byte[] reply = (String.join("\t", endpoints) + "\n").getBytes(StandardCharsets.UTF_8);
            synchronized (waiting) {
                for (Socket s : waiting) {
                    try (OutputStream out = s.getOutputStream()) {
                        out.write(reply);
                    }
                }
            }
        } catch (IOException e) {
            // closed with the attempt: the ranks still waiting time out, and the stage fails
        }
    }

    /**
     * Sends {@code endpoint} as rank {@code rank}'s to the exchange at {@code address} and returns every rank's, in
     * rank order; alone, just its own. Waits at most {@code timeoutMs} for the other ranks, and gives up early when
     * {@code killed} says the task was killed (Spark interrupts a failed barrier stage's other tasks).
     */
    static String[] exchange(
            String address, int rank, int world, String endpoint, long timeoutMs, BooleanSupplier killed)
            throws IOException {
        if (world == 1) {
            return new String[] {endpoint};
        }
        int colon = address.lastIndexOf(':');
        try (Socket s = new Socket()) {
            s.connect(
                    new InetSocketAddress(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1))),
                    (int) Math.min(timeoutMs, Integer.MAX_VALUE));
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
    public void close() throws IOException {
        server.close();
        synchronized (waiting) {
            for (Socket s : waiting) {
                s.close();
            }
        }
    }
}
