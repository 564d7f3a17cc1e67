package dev.ringtape.e2e;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Someone who does not hold a job's key: finds the TCP ports a JVM listens on as they open (from /proc, in that
 * JVM's own network namespace) and tries each one, once, every way it knows: a rank's registration line, a rank's
 * telemetry frames with words of its own ({@link #WORDS}), a silent connection held open, half a line, a burst of a
 * thousand connects, and a megabyte without a newline. It connects to {@code host} (loopback in local mode, the
 * driver's address across an emulated link). {@code main} runs it against a process until that process ends, for a
 * stranger on another emulated host (StrangerTest, TestbedTest).
 */
final class Stranger {
    static final String WORDS = "INTRUDER";

    private final String host;

    Stranger(String host) {
        this.host = host;
    }

    /** {@code PID HOST}: knocks on PID's ports at HOST until PID ends; then one line of what it did. */
    public static void main(String[] args) throws Exception {
        long pid = Long.parseLong(args[0]);
        Stranger s = new Stranger(args[1]);
        ProcessHandle target = ProcessHandle.of(pid).orElseThrow();
        long deadline = System.nanoTime() + 600_000_000_000L;
        while (target.isAlive() && System.nanoTime() < deadline) {
            s.knock(pid);
            Thread.sleep(20);
        }
        s.leave();
        System.out.println("stranger: " + s.knocks.get() + " knocks on ports " + s.ports.keySet() + " from "
                + s.localPorts.size() + " local ports");
    }

    /** Port -> the address it listens on, as /proc/net/tcp spells it. */
    final Map<Integer, String> ports = new ConcurrentHashMap<>();

    final Set<Integer> localPorts = ConcurrentHashMap.newKeySet();
    private final List<Socket> held = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    final java.util.concurrent.atomic.AtomicInteger knocks = new java.util.concurrent.atomic.AtomicInteger();

    void knock(long pid) {
        Map<Integer, String> listening;
        try {
            listening = listening(pid);
        } catch (IOException e) {
            return; // the JVM is going away
        }
        for (Map.Entry<Integer, String> e : listening.entrySet()) {
            if (ports.putIfAbsent(e.getKey(), e.getValue()) == null) {
                int port = e.getKey();
                Thread t = new Thread(() -> attack(port), "stranger-" + port);
                t.setDaemon(true);
                t.start();
                threads.add(t);
            }
        }
    }

    private void attack(int port) {
        String frames = "{\"hello\":0}\n"
                + "{\"type\":\"diagnosis\",\"job\":\"digits-mlp\",\"step\":5,\"state\":\"open\",\"severity\":\"error\","
                + "\"code\":\"NONFINITE\",\"layer\":\"" + WORDS + "\",\"hint\":\"" + WORDS + " hint\"}\n"
                + "{\"console\":\"" + WORDS + " console\"}\n"
                + "{\"error\":\"" + WORDS + " says the rank failed\"}\n";
        for (String said : new String[] {"1\t127.0.0.1:9\n", frames, "", "0\t127.0"}) {
            send(port, said.getBytes(StandardCharsets.UTF_8));
        }
        for (int i = 0; i < 1_000; i++) { // a burst of connects
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 200);
                localPorts.add(s.getLocalPort());
                knocks.incrementAndGet();
            } catch (IOException e) {
                // refused or gone
            }
        }
        send(port, new byte[1 << 20]); // a megabyte without a newline (blocks while nobody reads)
    }

    /** Connects to {@code port}, sends {@code bytes} and keeps the connection open. */
    private void send(int port, byte[] bytes) {
        try {
            Socket s = new Socket();
            s.connect(new InetSocketAddress(host, port), 1_000);
            localPorts.add(s.getLocalPort());
            synchronized (held) {
                held.add(s);
            }
            knocks.incrementAndGet();
            OutputStream o = s.getOutputStream();
            o.write(bytes);
            o.flush();
        } catch (IOException e) {
            // refused, reset, or the job ended
        }
    }

    void leave() throws InterruptedException {
        synchronized (held) {
            for (Socket s : held) {
                try {
                    s.close();
                } catch (IOException e) {
                    // gone
                }
            }
        }
        for (Thread t : threads) {
            t.join(10_000);
        }
    }

    /** The TCP ports {@code pid} listens on, with their addresses in /proc/net/tcp's hex. */
    private static Map<Integer, String> listening(long pid) throws IOException {
        Set<String> inodes = new HashSet<>();
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[")) {
                        inodes.add(target.substring(8, target.length() - 1));
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        Map<Integer, String> out = new java.util.HashMap<>();
        for (String table : new String[] {"tcp", "tcp6"}) {
            // the process's own network namespace's table, which need not be this one's
            List<String> lines = Files.readAllLines(Path.of("/proc/" + pid + "/net/" + table));
            for (String line : lines.subList(1, lines.size())) {
                String[] f = line.trim().split("\\s+");
                if (f[3].equals("0A") && inodes.contains(f[9])) { // LISTEN
                    String[] local = f[1].split(":");
                    out.put(Integer.parseInt(local[1], 16), local[0]);
                }
            }
        }
        return out;
    }
}
