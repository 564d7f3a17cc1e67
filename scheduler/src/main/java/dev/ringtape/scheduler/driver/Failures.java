package dev.ringtape.scheduler.driver;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/**
 * What the CLI does with a failure nobody anticipated: one line on the terminal naming the job and what failed, the
 * stack trace in a file the line names ({@code runs/<job>/error-<time>.txt}, or the temp folder), never on the
 * terminal.
 */
public final class Failures {
    private Failures() {}

    /** Files {@code trace} and returns where, or null if it could not be written. */
    public static Path file(String job, String trace) {
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        for (Path dir :
                new Path[] {job == null ? null : Path.of("runs", job), Path.of(System.getProperty("java.io.tmpdir"))}) {
            if (dir == null) {
                continue;
            }
            try {
                Files.createDirectories(dir);
                Path f = dir.resolve("error-" + stamp + ".txt");
                Files.writeString(f, trace);
                return f;
            } catch (IOException | RuntimeException e) {
                // try the next place
            }
        }
        return null;
    }

    /** The one line for {@code e}, its stack trace filed. */
    public static String describe(String job, Throwable e) {
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        Path f = file(job, trace.toString());
        String what = e.getMessage() == null
                ? e.getClass().getSimpleName()
                : e.getClass().getSimpleName() + ": "
                        + e.getMessage().lines().findFirst().orElse("");
        return (job == null ? "" : job + ": ") + "failed: " + what + (f == null ? "" : " (stack trace in " + f + ")");
    }
}
