package dev.ringtape.scheduler.driver;

import dev.ringtape.allreduce.EmbeddedDriver;
import dev.ringtape.allreduce.MediaDrivers;
import java.util.HashMap;
import java.util.Map;

/**
 * The media driver the ranks of one job attempt share when they run in one executor JVM (local mode, or an
 * executor with several task slots) and sum over IPC: the first rank launches it, the last one out closes it.
 */
final class SharedDrivers {
    private static final Map<Long, Entry> DRIVERS = new HashMap<>();

    private record Entry(EmbeddedDriver driver, int[] users) {}

    private SharedDrivers() {}

    static synchronized EmbeddedDriver acquire(long token) {
        Entry e = DRIVERS.computeIfAbsent(
                token, t -> new Entry(MediaDrivers.launch(MediaDrivers.directoryFor("job")), new int[1]));
        e.users()[0]++;
        return e.driver();
    }

    static synchronized void release(long token) {
        Entry e = DRIVERS.get(token);
        if (e != null && --e.users()[0] == 0) {
            DRIVERS.remove(token);
            e.driver().close();
        }
    }
}
