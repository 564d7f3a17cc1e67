package dev.ringtape.scheduler.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.telemetry.JobKey;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** The driver's exchange of ring endpoints: every rank gets all of them in rank order, or a clear error in time. */
class EndpointExchangeTest {
    private static final JobKey KEY = JobKey.fresh();
    private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    @Test
    void shouldHandEveryRankAllEndpointsInRankOrder() throws Exception {
        ExecutorService ranks = Executors.newFixedThreadPool(3);
        try (EndpointExchange x = new EndpointExchange("127.0.0.1", 3, KEY, QUIET)) {
            List<Future<String[]>> got = new ArrayList<>();
            for (int r : new int[] {2, 0, 1}) { // in any order
                got.add(ranks.submit(() -> EndpointExchange.exchange(
                        x.address(), r, 3, "10.0.0." + r + ":400" + r, KEY, 10_000, () -> false)));
            }
            for (Future<String[]> f : got) {
                assertArrayEquals(new String[] {"10.0.0.0:4000", "10.0.0.1:4001", "10.0.0.2:4002"}, f.get());
            }
        } finally {
            ranks.shutdownNow();
        }
    }

    @Test
    void shouldBelieveOnlyRanksThatHoldTheKey() throws Exception {
        ExecutorService ranks = Executors.newFixedThreadPool(2);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (EndpointExchange x =
                new EndpointExchange("127.0.0.1", 2, KEY, new PrintStream(console, true, StandardCharsets.UTF_8))) {
            // a stranger claims rank 1 with another key: refused, and rank 1's own claim still counts
            IOException stranger = assertThrows(
                    IOException.class,
                    () -> EndpointExchange.exchange(
                            x.address(), 1, 2, "127.0.0.1:9", JobKey.fresh(), 2_000, () -> false));
            assertTrue(stranger.getMessage().contains("did not answer"), stranger.getMessage());
            // one that claims a rank in the clear, as the exchange's old protocol had it, and stays silent after
            try (Socket plain =
                    new Socket("127.0.0.1", Integer.parseInt(x.address().split(":")[1]))) {
                plain.getOutputStream().write("1\t127.0.0.1:9\n".getBytes(StandardCharsets.UTF_8));
                Future<String[]> zero = ranks.submit(
                        () -> EndpointExchange.exchange(x.address(), 0, 2, "a:1", KEY, 10_000, () -> false));
                Future<String[]> one = ranks.submit(
                        () -> EndpointExchange.exchange(x.address(), 1, 2, "b:2", KEY, 10_000, () -> false));
                assertArrayEquals(new String[] {"a:1", "b:2"}, zero.get());
                assertArrayEquals(new String[] {"a:1", "b:2"}, one.get());
            }
        } finally {
            ranks.shutdownNow();
        }
        String said = console.toString(StandardCharsets.UTF_8);
        assertTrue(
                said.contains("warning: the driver's ring endpoint exchange refused a connection from 127.0.0.1:"),
                said);
        assertTrue(said.contains("more connection(s) that did not prove the job's key"), said);
    }

    @Test
    void shouldDropAnOverlongLineFromAKeyHolderAndStillServeTheRanks() throws Exception {
        ExecutorService ranks = Executors.newFixedThreadPool(2);
        try (EndpointExchange x = new EndpointExchange("127.0.0.1", 2, KEY, QUIET)) {
            try (Socket s = KEY.connect(x.address(), EndpointExchange.SERVICE, 5_000)) {
                s.getOutputStream().write(("0\t" + "9".repeat(1 << 20)).getBytes(StandardCharsets.UTF_8));
                assertEquals(-1, s.getInputStream().read(), "a line over 1 KiB is dropped, the connection closed");
            } catch (java.net.SocketException e) {
                // closed while the megabyte was still being written: dropped all the same
            }
            Future<String[]> zero =
                    ranks.submit(() -> EndpointExchange.exchange(x.address(), 0, 2, "a:1", KEY, 10_000, () -> false));
            Future<String[]> one =
                    ranks.submit(() -> EndpointExchange.exchange(x.address(), 1, 2, "b:2", KEY, 10_000, () -> false));
            assertArrayEquals(new String[] {"a:1", "b:2"}, zero.get());
            assertArrayEquals(new String[] {"a:1", "b:2"}, one.get());
        } finally {
            ranks.shutdownNow();
        }
    }

    @Test
    void shouldNotTouchTheNetworkAlone() throws Exception {
        assertArrayEquals(
                new String[] {"ipc"}, EndpointExchange.exchange("nowhere:1", 0, 1, "ipc", KEY, 10, () -> false));
    }

    @Test
    void shouldGiveUpWhenARankNeverReportsOrTheTaskIsKilled() throws Exception {
        try (EndpointExchange x = new EndpointExchange("127.0.0.1", 2, KEY, QUIET)) {
            long t0 = System.nanoTime();
            IOException late = assertThrows(
                    IOException.class,
                    () -> EndpointExchange.exchange(x.address(), 0, 2, "a:1", KEY, 600, () -> false));
            assertTrue(late.getMessage().contains("did not report their ring endpoints within"), late.getMessage());
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "gave up in time");
        }
        try (EndpointExchange x = new EndpointExchange("127.0.0.1", 2, KEY, QUIET)) {
            IOException killed = assertThrows(
                    IOException.class,
                    () -> EndpointExchange.exchange(x.address(), 1, 2, "b:1", KEY, 60_000, () -> true));
            assertTrue(killed.getMessage().contains("killed"), killed.getMessage());
        }
    }
}
