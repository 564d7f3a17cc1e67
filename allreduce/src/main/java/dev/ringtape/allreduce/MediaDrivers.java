package dev.ringtape.allreduce;

import io.aeron.driver.MediaDriver;

/**
 * Embedded Aeron media drivers: run by the threads of this JVM ({@link EmbeddedDriver}), in a directory under
 * /dev/shm removed on close (also after a failure).
 */
public final class MediaDrivers {
    private MediaDrivers() {}

    /**
     * Launches a driver in {@code directory}, replacing whatever a dead run left there, after removing the
     * directories of drivers whose process no longer exists (a killed process cannot clean up after itself).
     */
    public static EmbeddedDriver launch(String directory) {
        sweepStale();
        MediaDriver.Context ctx = new MediaDriver.Context()
                .aeronDirectoryName(directory)
                .dirDeleteOnStart(true)
                .dirDeleteOnShutdown(true)
                .termBufferSparseFile(true)
                .warnIfDirectoryExists(false)
                .printConfigurationOnStart(false);
        return new EmbeddedDriver(ctx);
    }

    /** Removes {@code ringtape-aeron-<tag>-<pid>-<n>} directories whose process {@code pid} is gone. */
    public static int sweepStale() {
        java.io.File base = new java.io.File(baseDirectory());
        java.io.File[] dirs = base.listFiles((d, name) -> name.startsWith(PREFIX));
        int removed = 0;
        if (dirs == null) {
            return 0;
        }
        for (java.io.File d : dirs) {
            String[] parts = d.getName().substring(PREFIX.length()).split("-");
            if (parts.length < 3) {
                continue;
            }
            try {
                long pid = Long.parseLong(parts[parts.length - 2]);
                if (ProcessHandle.of(pid).isEmpty()) {
                    org.agrona.IoUtil.delete(d, true);
                    removed++;
                }
            } catch (NumberFormatException e) {
                // not one of ours
            }
        }
        return removed;
    }

    private static final String PREFIX = "ringtape-aeron-";

    private static String baseDirectory() {
        return new java.io.File("/dev/shm").isDirectory() ? "/dev/shm" : System.getProperty("java.io.tmpdir");
    }

    /** A fresh directory name under /dev/shm (or the temp dir where there is no /dev/shm) for {@code tag}. */
    public static String directoryFor(String tag) {
        return baseDirectory() + "/" + PREFIX + tag + "-"
                + ProcessHandle.current().pid() + "-" + System.nanoTime();
    }
}
