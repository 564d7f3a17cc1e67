package dev.ringtape.telemetry;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A TCP service of the driver that believes only connections holding the attempt's {@link JobKey}. One thread runs
 * every handshake at once on a selector, with a deadline each ({@link #HANDSHAKE_MS}) and fixed buffers, so no
 * connection can hold another up: a silent one, a half-sent answer, a megabyte of junk or a burst of a thousand
 * connects cost a file descriptor and 100 bytes each until their deadline, at most {@link #MAX_PENDING} at a time
 * (beyond that the oldest is dropped; a rank that is dropped connects again). A connection that proves the key is
 * handed, as a blocking socket, to the service's {@link Handler} on a thread of its own; one that does not is closed
 * without a word, and the first is reported on the console as a warning naming the service and the peer, later ones
 * counted and reported when the service closes.
 */
public final class AuthServer implements AutoCloseable {
    /** How long a connection has to prove the key. */
    static final int HANDSHAKE_MS = 5_000;
    /** The most connections in the handshake at once. */
    static final int MAX_PENDING = 256;

    /** What a service does with a connection that proved the key (on a thread of its own). */
    @FunctionalInterface
    public interface Handler {
        void serve(Socket socket) throws IOException;
    }

    private final String service;
    private final JobKey key;
    private final Handler handler;
    private final PrintStream console;
    private final ServerSocketChannel server;
    private final Selector selector;
    private final Thread thread;
    /** Connections in the handshake, oldest first. */
    private final Map<SocketChannel, Pending> pending = new LinkedHashMap<>();

    private final List<Socket> served = new ArrayList<>();
    /** Connections that proved the key and sent the driver's proof, to hand over once their keys are cancelled. */
    private final List<SocketChannel> proven = new ArrayList<>();

    private final String endpoint;
    private int refused;
    private volatile boolean closed;

    /** One connection's handshake: what is left to send, what has come, and by when. */
    private static final class Pending {
        final byte[] serviceNonce = JobKey.nonce();
        final ByteBuffer out;
        final ByteBuffer in = ByteBuffer.allocate(JobKey.NONCE + JobKey.TAG);
        final long deadline = System.nanoTime() + HANDSHAKE_MS * 1_000_000L;
        boolean proved;

        Pending() {
            out = ByteBuffer.allocate(JobKey.MAGIC.length + JobKey.NONCE);
            out.put(JobKey.MAGIC).put(serviceNonce).flip();
        }
    }

    /**
     * Listens on {@code host} (an ephemeral port) as {@code service} (named in warnings and signed into the
     * handshake); warnings go to {@code console}.
     */
    public AuthServer(String host, String service, JobKey key, Handler handler, PrintStream console)
            throws IOException {
        this.service = service;
        this.key = key;
        this.handler = handler;
        this.console = console;
        this.server = ServerSocketChannel.open();
        this.selector = Selector.open();
        try {
            server.bind(new InetSocketAddress(InetAddress.getByName(host), 0), MAX_PENDING);
            server.configureBlocking(false);
            server.register(selector, SelectionKey.OP_ACCEPT);
        } catch (IOException e) {
            server.close();
            selector.close();
            throw e;
        }
        InetSocketAddress at = (InetSocketAddress) server.getLocalAddress();
        this.endpoint = at.getAddress().getHostAddress() + ":" + at.getPort();
        this.thread = new Thread(this::run, "ringtape-" + service);
        thread.setDaemon(true);
        thread.start();
    }

    /** {@code host:port} where the ranks connect. */
    public String endpoint() {
        return endpoint;
    }

    /** How many connections were closed for not proving the key, so far. */
    public synchronized int refused() {
        return refused;
    }

    private void run() {
        try {
            while (!closed) {
                selector.select(nextTimeoutMs());
                Iterator<SelectionKey> ready = selector.selectedKeys().iterator();
                while (ready.hasNext()) {
                    SelectionKey k = ready.next();
                    ready.remove();
                    if (!k.isValid()) {
                        continue;
                    }
                    if (k.isAcceptable()) {
                        accept();
                    } else {
                        step(k);
                    }
                }
                expire();
                if (!proven.isEmpty()) {
                    selector.selectNow(); // deregisters their cancelled keys, so they can block again
                    for (SocketChannel c : proven) {
                        handOver(c);
                    }
                    proven.clear();
                }
            }
        } catch (ClosedSelectorException e) {
            // closed
        } catch (IOException e) {
            if (!closed) {
                console.println("ringtape: warning: the driver's " + service + " stopped: " + e.getMessage());
            }
        }
    }

    private long nextTimeoutMs() {
        if (pending.isEmpty()) {
            return 1_000;
        }
        long first = pending.values().iterator().next().deadline; // the oldest has the earliest deadline
        return Math.max(1, Math.min(1_000, (first - System.nanoTime()) / 1_000_000 + 1));
    }

    private void accept() throws IOException {
        SocketChannel c;
        while ((c = server.accept()) != null) {
            if (pending.size() >= MAX_PENDING) {
                SocketChannel oldest = pending.keySet().iterator().next();
                refuse(oldest, "dropped unproven while " + MAX_PENDING + " others were connecting");
            }
            c.configureBlocking(false);
            c.register(selector, SelectionKey.OP_WRITE);
            pending.put(c, new Pending());
        }
    }

    /** Moves a connection's handshake on as far as its socket allows. */
    private void step(SelectionKey k) {
        SocketChannel c = (SocketChannel) k.channel();
        Pending p = pending.get(c);
        if (p == null) {
            return;
        }
        try {
            if (k.isWritable()) {
                c.write(p.out);
                if (p.out.hasRemaining()) {
                    return;
                }
                if (p.proved) {
                    pending.remove(c);
                    k.cancel();
                    proven.add(c);
                    return;
                }
                k.interestOps(SelectionKey.OP_READ);
            }
            if (k.isValid() && k.isReadable()) {
                if (c.read(p.in) < 0) {
                    refuse(c, "closed the connection without proving it holds the job's key");
                    return;
                }
                if (p.in.hasRemaining()) {
                    return;
                }
                byte[] rankNonce = new byte[JobKey.NONCE];
                byte[] tag = new byte[JobKey.TAG];
                p.in.flip();
                p.in.get(rankNonce).get(tag);
                if (!JobKey.same(tag, key.tag(true, service, p.serviceNonce, rankNonce))) {
                    refuse(c, "did not prove it holds the job's key");
                    return;
                }
                p.proved = true;
                p.out.clear();
                p.out.put(key.tag(false, service, p.serviceNonce, rankNonce)).flip();
                k.interestOps(SelectionKey.OP_WRITE);
            }
        } catch (IOException e) {
            refuse(c, "failed in the handshake (" + e.getMessage() + ")");
        }
    }

    private void handOver(SocketChannel c) {
        try {
            c.configureBlocking(true);
        } catch (IOException e) {
            try {
                c.close(); // a rank that went away right after its proof: its task fails on its own
            } catch (IOException again) {
                // gone already
            }
            return;
        }
        Socket s = c.socket();
        synchronized (this) {
            if (closed) {
                try {
                    c.close();
                } catch (IOException e) {
                    // gone already
                }
                return;
            }
            served.add(s);
        }
        Thread t = new Thread(
                () -> {
                    try {
                        handler.serve(s);
                    } catch (IOException e) {
                        // a rank that died mid-frame: what it sent before was taken
                    } finally {
                        try {
                            s.close();
                        } catch (IOException e) {
                            // gone already
                        }
                    }
                },
                "ringtape-" + service + "-peer");
        t.setDaemon(true);
        t.start();
    }

    private void expire() {
        long now = System.nanoTime();
        Iterator<Map.Entry<SocketChannel, Pending>> it = pending.entrySet().iterator();
        List<SocketChannel> late = new ArrayList<>();
        while (it.hasNext()) {
            Map.Entry<SocketChannel, Pending> e = it.next();
            if (e.getValue().deadline - now > 0) {
                break; // oldest first: the rest are younger
            }
            late.add(e.getKey());
        }
        for (SocketChannel c : late) {
            refuse(c, "did not prove it holds the job's key within " + HANDSHAKE_MS / 1000 + " s");
        }
    }

    private void refuse(SocketChannel c, String why) {
        pending.remove(c);
        SocketAddress peer = null;
        try {
            peer = c.getRemoteAddress();
        } catch (IOException e) {
            // gone already
        }
        boolean first;
        synchronized (this) { // counted before the peer can see the connection close
            first = refused == 0 && !closed;
            refused++;
        }
        if (first) {
            console.println("ringtape: warning: the driver's " + service + " refused a connection from "
                    + (peer == null ? "an unknown peer" : describe(peer)) + ": it " + why
                    + "; later ones are counted");
        }
        try {
            c.close();
        } catch (IOException e) {
            // gone already
        }
    }

    private static String describe(SocketAddress a) {
        return a instanceof InetSocketAddress i ? i.getAddress().getHostAddress() + ":" + i.getPort() : a.toString();
    }

    /** Stops listening, drops every connection, and reports how many more were refused after the first. */
    @Override
    public void close() {
        int later;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            later = refused - 1;
            for (Socket s : served) {
                try {
                    s.close();
                } catch (IOException e) {
                    // gone already
                }
            }
        }
        selector.wakeup();
        try {
            thread.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            for (SelectionKey k : selector.keys()) {
                k.channel().close();
            }
            selector.close();
            server.close();
        } catch (IOException e) {
            // nothing more to release
        }
        if (later > 0) {
            console.println("ringtape: warning: the driver's " + service + " refused " + later
                    + " more connection(s) that did not prove the job's key");
        }
    }
}
