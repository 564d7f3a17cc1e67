package dev.ringtape.allreduce;

import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import org.agrona.concurrent.BackoffIdleStrategy;

/** Embedded Aeron media drivers: one thread, a directory under /dev/shm removed on close (also after a failure). */
public final class MediaDrivers {
    private MediaDrivers() {}

    /** Launches a driver in {@code directory}, replacing whatever a dead run left there. */
    public static MediaDriver launch(String directory) {
        MediaDriver.Context ctx = new MediaDriver.Context()
                .aeronDirectoryName(directory)
                .threadingMode(ThreadingMode.SHARED)
                .sharedIdleStrategy(new BackoffIdleStrategy(100, 10, 1_000, 100_000))
                .dirDeleteOnStart(true)
                .dirDeleteOnShutdown(true)
                .termBufferSparseFile(true)
                .warnIfDirectoryExists(false)
                .printConfigurationOnStart(false);
        return MediaDriver.launch(ctx);
    }

    /** A fresh directory name under /dev/shm (or the temp dir where there is no /dev/shm) for {@code tag}. */
    public static String directoryFor(String tag) {
        String base = new java.io.File("/dev/shm").isDirectory() ? "/dev/shm" : System.getProperty("java.io.tmpdir");
        return base + "/ringtape-aeron-" + tag + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    }
}
