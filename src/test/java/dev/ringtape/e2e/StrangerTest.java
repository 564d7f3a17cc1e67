package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A two-worker job in local mode while a stranger, who does not hold the job's key, knocks on every TCP port the
 * job's JVM listens on (issue 30): a rank's registration line, a rank's telemetry frames with words of its own, a
 * silent connection held open, half a line, a megabyte without a newline, and a burst of a thousand connects. The
 * job ends with the undisturbed run's weights, bit for bit, in about the undisturbed time; nothing the stranger said
 * reaches the log, the console or the report; the console names the stranger's address; and every port the job
 * listens on is on loopback, Spark's UI included.
 */
class StrangerTest {
    private static final String WORDS = "INTRUDER";

    @TempDir
    Path tmp;

    @Test
    void shouldTrainTheUndisturbedModelWhileAStrangerKnocksOnEveryPort() throws Exception {
        long t0 = System.nanoTime();
        Launcher.Outcome quiet = Launcher.run(300, args(tmp.resolve("quiet")));
        double quietS = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, quiet.exit(), quiet.stderr());

        Path dir = tmp.resolve("knocked");
        List<String> cmd = new ArrayList<>();
        cmd.add(Launcher.root().resolve("deploy/bin/ringtape").toString());
        cmd.addAll(List.of(args(dir)));
        Path out = tmp.resolve("out.txt");
        Path err = tmp.resolve("err.txt");
        long t1 = System.nanoTime();
        Process p = new ProcessBuilder(cmd)
                .directory(Launcher.root().toFile())
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        Stranger stranger = new Stranger();
        try {
            ProcessHandle jvm = null;
            while (p.isAlive() && !p.waitFor(20, TimeUnit.MILLISECONDS)) {
                if (jvm == null) {
                    jvm = p.descendants()
                            .filter(h -> h.info().command().orElse("").endsWith("java"))
                            .findFirst()
                            .orElse(null);
                }
                if (jvm != null) {
                    stranger.knock(jvm.pid());
                }
                assertTrue(System.nanoTime() - t1 < 300_000_000_000L, "the knocked run did not end in 300 s");
            }
        } finally {
            stranger.leave();
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        double knockedS = (System.nanoTime() - t1) / 1e9;
        String stdout = Files.readString(out, StandardCharsets.UTF_8);
        String stderr = Files.readString(err, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), stdout + stderr);

        assertTrue(
                stranger.ports.size() >= 3,
                "Spark's RPC and UI, the telemetry server, the exchange: " + stranger.ports);
        for (Map.Entry<Integer, String> port : stranger.ports.entrySet()) {
            assertTrue(
                    port.getValue().equals("0100007F") || port.getValue().equals("0000000000000000FFFF00000100007F"),
                    "port " + port.getKey() + " listens on " + port.getValue() + ", not on loopback");
        }
        assertTrue(stranger.knocks.get() > 1_000, "the stranger got through to the job's ports: " + stranger.knocks);

        assertEquals(
                Launcher.tensorBits(tmp.resolve("quiet").resolve("m.safetensors")),
                Launcher.tensorBits(dir.resolve("m.safetensors")),
                "the knocked run's weights are the undisturbed run's");
        assertTrue(knockedS < quietS * 1.5 + 10, "knocked " + knockedS + " s against " + quietS + " s undisturbed");

        String log = Files.readString(dir.resolve("t.jsonl"), StandardCharsets.UTF_8);
        Launcher.Outcome report = Launcher.run(
                120,
                "report",
                dir.resolve("t.jsonl").toString(),
                "-o",
                dir.resolve("r.html").toString());
        assertEquals(0, report.exit(), report.stderr());
        String html = Files.readString(dir.resolve("r.html"), StandardCharsets.UTF_8);
        for (String[] where : new String[][] {{"stdout", stdout}, {"stderr", stderr}, {"log", log}, {"report", html}}) {
            assertFalse(where[1].contains(WORDS), "the stranger's words in the " + where[0] + ": " + where[1]);
        }
        assertFalse(stderr.contains("\tat "), "no stack trace on the console: " + stderr);
        Matcher named = Pattern.compile("warning: the driver's (telemetry server|ring endpoint exchange) refused a"
                        + " connection from 127\\.0\\.0\\.1:(\\d+)")
                .matcher(stdout);
        assertTrue(named.find(), "the console names the stranger: " + stdout);
        assertTrue(
                stranger.localPorts.contains(Integer.parseInt(named.group(2))),
                "the named peer is one of the stranger's connections: " + named.group());
    }

    private static String[] args(Path dir) {
        return new String[] {
            "train",
            "--fresh",
            "deploy/jobs/digits-mlp.yaml",
            "--set",
            "workers=2",
            "--set",
            "train.epochs=10",
            "--set",
            "checkpoint.dir=" + dir.resolve("ck"),
            "--set",
            "telemetry.out=" + dir.resolve("t.jsonl"),
            "--set",
            "export.path=" + dir.resolve("m.safetensors")
        };
    }

    /** Finds the JVM's listening ports as they open and tries each one, once, every way it knows. */
    private static final class Stranger {
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
                    s.connect(new InetSocketAddress("127.0.0.1", port), 200);
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
                s.connect(new InetSocketAddress("127.0.0.1", port), 1_000);
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
            for (String table : new String[] {"/proc/net/tcp", "/proc/net/tcp6"}) {
                List<String> lines = Files.readAllLines(Path.of(table));
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
}
