package dev.ringtape.scheduler.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Compute threads per worker: the job's number, or the cores the task owns. */
class ThreadsTest {
    @Test
    void shouldLeaveTheDriverACoreInLocalModeAndSplitTheRestOverTheWorkers() {
        assertEquals(1, Threads.choose(0, 1, 1, 2, true).count(), "2 cores, 1 worker");
        assertEquals(1, Threads.choose(0, 1, 2, 2, true).count(), "2 cores, 2 workers");
        assertEquals(7, Threads.choose(0, 1, 1, 8, true).count(), "8 cores, 1 worker");
        assertEquals(3, Threads.choose(0, 1, 2, 8, true).count(), "8 cores, 2 workers");
        assertTrue(Threads.choose(0, 1, 2, 8, true).why().contains("local mode"));
        assertFalse(Threads.choose(0, 1, 2, 8, true).oversubscribed());
    }

    @Test
    void shouldFollowTheTaskCpusOnAClusterAndTheJobWhenItSays() {
        assertEquals(4, Threads.choose(0, 4, 1, 16, false).count());
        assertEquals(2, Threads.choose(0, 4, 4, 8, false).count(), "capped by the executor's cores over its ranks");
        assertEquals(1, Threads.choose(0, 1, 3, 2, false).count(), "never below one");
        Threads set = Threads.choose(6, 1, 1, 2, true);
        assertEquals(6, set.count());
        assertEquals("threads: 6 in the job", set.why());
        assertTrue(set.oversubscribed());
        assertTrue(set.warning().startsWith("warning: 6 compute thread(s) per worker"), set.warning());
        assertNull(Threads.choose(0, 1, 1, 2, true).warning());
    }
}
