package dev.ringtape.scheduler.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** The driver's exchange of ring endpoints: every rank gets all of them in rank order, or a clear error in time. */
class EndpointExchangeTest {
    @Test
    void shouldHandEveryRankAllEndpointsInRankOrder() throws Exception {
        ExecutorService ranks = Executors.newFixedThreadPool(3);
        try (EndpointExchange x = new EndpointExchange("127.0.0.1", 3)) {
            List<Future<String[]>> got = new ArrayList<>();
            for (int r : new int[] {2, 0, 1}) { // in any order
                got.add(ranks.submit(() ->
                        EndpointExchange.exchange(x.address(), r, 3, "10.0.0." + r + ":400" + r, 10_000, () -> false)));
            }
            for (Future<String[]> f : got) {
                assertArrayEquals(new String[] {"10.0.0.0:4000", "10.0.0.1:4001", "10.0.0.2:4002"}, f.get());
            }
        } finally {
            ranks.shutdownNow();
        }
    }

    @Test
    void shouldNotTouchTheNetworkAlone() throws Exception {
        assertArrayEquals(new String[] {"ipc"}, EndpointExchange.exchange("nowhere:1", 0, 1, "ipc", 10, () -> false));
    }

    @Test
    void shouldGiveUpWhenARankNeverReportsOrTheTaskIsKilled() throws Exception {
        try (EndpointExchange x = new EndpointExchange("127.0.0.1", 2)) {
            long t0 = System.nanoTime();
            IOException late = assertThrows(
                    IOException.class, () -> EndpointExchange.exchange(x.address(), 0, 2, "a:1", 600, () -> false));
            assertTrue(late.getMessage().contains("did not report their ring endpoints within"), late.getMessage());
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "gave up in time");
        }
        try (EndpointExchange x = new EndpointExchange("127.0.0.1", 2)) {
            IOException killed = assertThrows(
                    IOException.class, () -> EndpointExchange.exchange(x.address(), 1, 2, "b:1", 60_000, () -> true));
            assertTrue(killed.getMessage().contains("killed"), killed.getMessage());
        }
    }
}
