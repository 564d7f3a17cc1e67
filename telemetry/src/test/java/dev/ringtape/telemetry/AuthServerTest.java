package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The driver's services believe only a connection that proves the attempt's key: a wrong key, a replayed answer, a
 * truncated one, junk and silence are refused without holding up the ranks that do hold it, and the first is
 * reported with the service and the peer.
 */
class AuthServerTest {
    private final JobKey key = JobKey.fresh();
    private final ByteArrayOutputStream console = new ByteArrayOutputStream();
    /** What proven connections sent: their first line each. */
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

    private AuthServer server() throws IOException {
        return new AuthServer(
                "127.0.0.1",
                "test service",
                key,
                s -> {
                    byte[] b = s.getInputStream().readNBytes(5);
                    lines.add(new String(b, StandardCharsets.UTF_8));
                },
                new PrintStream(console, true, StandardCharsets.UTF_8));
    }

    private String said() {
        return console.toString(StandardCharsets.UTF_8);
    }

    @Test
    @Timeout(30)
    void shouldLetTheKeyInAndNothingElse() throws Exception {
        try (AuthServer server = server()) {
            try (Socket s = key.connect(server.endpoint(), "test service", 5_000)) {
                s.getOutputStream().write("hello".getBytes(StandardCharsets.UTF_8));
                assertEquals("hello", lines.poll(5, TimeUnit.SECONDS));
            }
            IOException wrong = assertThrows(
                    IOException.class, () -> JobKey.fresh().connect(server.endpoint(), "test service", 1_000));
            assertTrue(wrong.getMessage().contains("did not answer within"), wrong.getMessage());
            IOException otherService =
                    assertThrows(IOException.class, () -> key.connect(server.endpoint(), "another service", 1_000));
            assertTrue(otherService.getMessage().contains("did not answer"), otherService.getMessage());
            assertTrue(server.refused() >= 2, "refused: " + server.refused());
        }
        assertTrue(lines.isEmpty(), "nothing from a connection without the key reached the service: " + lines);
        assertTrue(
                said().contains("ringtape: warning: the driver's test service refused a connection from 127.0.0.1:"),
                said());
        assertTrue(said().contains("it did not prove it holds the job's key"), said());
        assertTrue(said().matches("(?s).*refused \\d+ more connection\\(s\\).*"), said());
    }

    @Test
    @Timeout(30)
    void shouldRefuseARecordedAnswerOnAnotherConnection() throws Exception {
        try (AuthServer server = server()) {
            byte[] answer;
            try (Socket s = connect(server)) {
                byte[] challenge = new DataInputStream(s.getInputStream()).readNBytes(36);
                byte[] nonce = java.util.Arrays.copyOfRange(challenge, 4, 36);
                byte[] mine = JobKey.nonce();
                answer = new byte[64];
                System.arraycopy(mine, 0, answer, 0, 32);
                System.arraycopy(key.tag(true, "test service", nonce, mine), 0, answer, 32, 32);
                s.getOutputStream().write(answer);
                byte[] proof = s.getInputStream().readNBytes(32);
                assertArrayEquals(key.tag(false, "test service", nonce, mine), proof, "the driver proves it too");
            }
            try (Socket replay = connect(server)) {
                replay.getInputStream().readNBytes(36); // a new nonce
                replay.getOutputStream().write(answer);
                assertEquals(-1, replay.getInputStream().read(), "the replayed answer is refused: closed");
            }
            assertEquals(1, server.refused());
        }
    }

    @Test
    @Timeout(30)
    void shouldRefuseATruncatedAnswer() throws Exception {
        try (AuthServer server = server()) {
            try (Socket s = connect(server)) {
                s.getInputStream().readNBytes(36);
                s.getOutputStream().write(new byte[40]); // a nonce and a third of a tag
                s.shutdownOutput();
                assertEquals(-1, s.getInputStream().read(), "closed without a proof of the driver's");
            }
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (server.refused() < 1 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(1, server.refused());
        }
        assertTrue(lines.isEmpty(), lines.toString());
        assertTrue(said().contains("closed the connection without proving it holds the job's key"), said());
    }

    @Test
    @Timeout(60)
    void shouldNotLetSilenceJunkOrABurstHoldUpARank() throws Exception {
        try (AuthServer server = server()) {
            List<Socket> strangers = new ArrayList<>();
            try {
                strangers.add(connect(server)); // says nothing
                Socket half = connect(server); // half an answer
                half.getOutputStream().write(new byte[40]);
                strangers.add(half);
                Socket junk = connect(server); // a megabyte without a newline
                strangers.add(junk);
                Thread flood = new Thread(() -> {
                    try {
                        junk.getOutputStream().write(new byte[1 << 20]);
                    } catch (IOException e) {
                        // refused after 64 bytes: the rest is not read
                    }
                });
                flood.start();
                for (int i = 0; i < 1_000; i++) { // a burst of connects, left open
                    strangers.add(connect(server));
                }
                long t0 = System.nanoTime();
                try (Socket s = key.connect(server.endpoint(), "test service", 10_000)) {
                    s.getOutputStream().write("ranks".getBytes(StandardCharsets.UTF_8));
                    assertEquals("ranks", lines.poll(10, TimeUnit.SECONDS));
                }
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(ms < 2_000, "a rank got in behind 1,003 strangers in " + ms + " ms");
                flood.join(10_000);
                assertFalse(flood.isAlive(), "the junk's writer is not stuck: the server closed on it");
            } finally {
                for (Socket s : strangers) {
                    s.close();
                }
            }
            assertTrue(server.refused() >= 3, "refused: " + server.refused());
        }
    }

    @Test
    @Timeout(30)
    void shouldRefuseADriverThatCannotProveTheKey() throws Exception {
        try (ServerSocket fake = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Thread impostor = new Thread(() -> {
                try (Socket s = fake.accept()) {
                    OutputStream out = s.getOutputStream();
                    out.write(JobKey.MAGIC);
                    out.write(JobKey.nonce());
                    s.getInputStream().readNBytes(64);
                    out.write(new byte[32]); // no key: any proof is a guess
                    s.getInputStream().read();
                } catch (IOException e) {
                    // the rank hung up
                }
            });
            impostor.start();
            IOException e = assertThrows(
                    IOException.class, () -> key.connect("127.0.0.1:" + fake.getLocalPort(), "test service", 5_000));
            assertTrue(e.getMessage().contains("did not prove it holds this job's key"), e.getMessage());
            impostor.join(5_000);
        }
    }

    private static Socket connect(AuthServer server) throws IOException {
        String[] hp = server.endpoint().split(":");
        Socket s = new Socket(hp[0], Integer.parseInt(hp[1]));
        s.setSoTimeout(10_000);
        return s;
    }
}
