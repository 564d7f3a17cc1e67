package dev.ringtape.scheduler.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.allreduce.AllReduceContext;
import dev.ringtape.allreduce.EmbeddedDriver;
import dev.ringtape.allreduce.MediaDrivers;
import dev.ringtape.allreduce.Rendezvous;
import dev.ringtape.allreduce.RingAllReduce;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A ring of one sums in place with no agent thread of its own (an idle agent polls, and costs CPU a step). */
class AeronGradientReducerTest {
    @Test
    void shouldSumARingOfOneWithoutAnAgentThread() {
        try (EmbeddedDriver driver = MediaDrivers.launch(MediaDrivers.directoryFor("reducer-test"))) {
            RingAllReduce ring = RingAllReduce.open(new AllReduceContext().driver(driver), 0, 1);
            ring.connect(new Rendezvous(0, 1, 42L, List.of(ring.endpoint())));
            try (AeronGradientReducer reducer = new AeronGradientReducer(ring)) {
                float[] arena = {1f, -2f, 3.5f, 0f};
                reducer.startSum(arena, 0, 2);
                reducer.startSum(arena, 2, 2);
                reducer.finishSums();
                reducer.sum(arena, 1, 3);
                double[] scalars = {7, 0.25};
                reducer.sumScalars(scalars);
                assertArrayEquals(new float[] {1f, -2f, 3.5f, 0f}, arena);
                assertArrayEquals(new double[] {7, 0.25}, scalars);
                assertEquals(0, reducer.hiddenMs());
                assertTrue(
                        Thread.getAllStackTraces().keySet().stream()
                                .noneMatch(t -> t.getName().startsWith("ringtape-allreduce")),
                        "no agent thread for a ring of one");
            } finally {
                ring.close();
            }
        }
    }
}
