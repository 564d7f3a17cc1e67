package dev.ringtape.scheduler.cli;

import dev.ringtape.runtime.data.DataException;
import dev.ringtape.scheduler.driver.Failures;
import dev.ringtape.scheduler.driver.SparkTrain;
import dev.ringtape.scheduler.job.JobException;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code ringtape train JOB.yaml [--set k=v ...]}: validates the job, then trains it through Spark: embedded local
 * Spark by default, or the cluster of the {@code spark-submit} that launched this JVM.
 */
final class Train {
    private Train() {}

    /** The job file and its overrides, from {@code JOB.yaml [--set k=v ...]}. */
    record Args(Path job, List<String> overrides, boolean quiet, boolean fresh) {
        static Args parse(String command, String[] args, PrintStream err) {
            Path job = null;
            List<String> overrides = new ArrayList<>();
            boolean quiet = false;
            boolean fresh = false;
            for (int i = 0; i < args.length; i++) {
                if (args[i].equals("--quiet") && command.equals("train")) {
                    quiet = true;
                } else if (args[i].equals("--fresh") && command.equals("train")) {
                    fresh = true;
                } else if (args[i].equals("--set") && i + 1 < args.length) {
                    overrides.add(args[++i]);
                } else if (args[i].startsWith("--set=")) {
                    overrides.add(args[i].substring("--set=".length()));
                } else if (job == null && !args[i].startsWith("-")) {
                    job = Path.of(args[i]);
                } else {
                    err.println("ringtape " + command + ": unexpected argument '" + args[i] + "'");
                    return null;
                }
            }
            if (job == null) {
                err.println("usage: ringtape " + command + " JOB.yaml [--set key.path=value ...]");
                return null;
            }
            return new Args(job, overrides, quiet, fresh);
        }

        Path jobDir() {
            return job.toAbsolutePath().getParent();
        }
    }

    static int run(String[] argv, PrintStream out, PrintStream err) {
        Args args = Args.parse("train", argv, err);
        if (args == null) {
            return 2;
        }
        JobFile file;
        JobSpec job;
        try {
            file = JobFile.load(args.job(), args.overrides());
            job = JobSpec.from(file);
        } catch (JobException e) {
            err.println("ringtape train: " + e.getMessage());
            return 1;
        }
        try {
            SparkTrain.Result r = SparkTrain.run(job, args.jobDir(), out, args.quiet(), args.fresh());
            out.printf(
                    "%s: %s; model in %s, telemetry in %s%n",
                    job.name(),
                    Double.isNaN(r.evalAccuracy())
                            ? (Double.isNaN(r.evalLoss())
                                    ? "no held-out data"
                                    : String.format("held-out loss %.4f on %d samples", r.evalLoss(), r.evalSamples()))
                            : String.format(
                                    "held-out accuracy %.2f%% on %d samples", 100 * r.evalAccuracy(), r.evalSamples()),
                    r.export(),
                    job.telemetry().out());
            return 0;
        } catch (DataException e) {
            err.println("ringtape train: " + e.getMessage());
            return 1;
        } catch (SparkTrain.JobFailed e) {
            err.println("ringtape train: " + job.name() + ": " + e.getMessage());
            return 1;
        } catch (RuntimeException | LinkageError e) {
            err.println("ringtape train: " + Failures.describe(job.name(), e));
            return 1;
        }
    }
}
