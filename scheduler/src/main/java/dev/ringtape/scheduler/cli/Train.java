package dev.ringtape.scheduler.cli;

import dev.ringtape.allreduce.Transport;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.train.GradientReducer;
import dev.ringtape.runtime.train.StateStore;
import dev.ringtape.runtime.train.Trainer;
import dev.ringtape.scheduler.job.JobException;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.scheduler.worker.AeronGradientReducer;
import dev.ringtape.scheduler.worker.LocalRing;
import dev.ringtape.scheduler.worker.Worker;
import dev.ringtape.telemetry.JsonlFileSink;
import dev.ringtape.telemetry.TelemetrySink;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code ringtape train JOB.yaml [--set k=v ...]}: validates the job, then trains it in this process, its {@code
 * workers} as threads that sum gradients over an Aeron ring (IPC through one embedded driver, or UDP on loopback).
 */
final class Train {
    private Train() {}

    /** The job file and its overrides, from {@code JOB.yaml [--set k=v ...]}. */
    record Args(Path job, List<String> overrides) {
        static Args parse(String command, String[] args, PrintStream err) {
            Path job = null;
            List<String> overrides = new ArrayList<>();
            for (int i = 0; i < args.length; i++) {
                if (args[i].equals("--set") && i + 1 < args.length) {
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
            return new Args(job, overrides);
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
        try (TelemetrySink sink = new JsonlFileSink(Path.of(job.telemetry().out()))) {
            Trainer.Summary summary = job.workers() == 1
                    ? Worker.run(job, args.jobDir(), GradientReducer.local(), StateStore.NONE, sink, out)
                    : threads(job, args.jobDir(), sink, out);
            if (summary.eval() != null && !Double.isNaN(summary.eval().accuracy())) {
                out.printf(
                        "%s: held-out accuracy %.2f%% on %d samples; telemetry in %s%n",
                        job.name(),
                        100 * summary.eval().accuracy(),
                        summary.eval().samples(),
                        job.telemetry().out());
            }
            return 0;
        } catch (SpecException e) {
            err.println("ringtape train: " + file.error(e).getMessage());
            return 1;
        } catch (DataException e) {
            err.println("ringtape train: " + e.getMessage());
            return 1;
        } catch (IOException e) {
            err.println("ringtape train: cannot write telemetry to "
                    + job.telemetry().out() + ": " + e.getMessage());
            return 1;
        }
    }

    /** Runs the job's workers as threads summing over an Aeron ring; rank 0 prints progress. */
    private static Trainer.Summary threads(JobSpec job, Path jobDir, TelemetrySink sink, PrintStream out)
            throws SpecException, DataException {
        Transport transport = Transport.of(job.allreduce().transport(), true);
        try (LocalRing ring =
                new LocalRing(job.workers(), transport, (long) (job.allreduce().timeoutS() * 1e9))) {
            List<AeronGradientReducer> reducers = new ArrayList<>();
            for (int r = 0; r < job.workers(); r++) {
                reducers.add(new AeronGradientReducer(ring.rank(r)));
            }
            try {
                return threads(job, jobDir, sink, out, reducers);
            } finally {
                reducers.forEach(AeronGradientReducer::close);
            }
        }
    }

    private static Trainer.Summary threads(
            JobSpec job, Path jobDir, TelemetrySink sink, PrintStream out, List<? extends GradientReducer> reducers)
            throws SpecException, DataException {
        List<Thread> threads = new ArrayList<>();
        AtomicReference<Trainer.Summary> result = new AtomicReference<>();
        AtomicReference<Exception> failure = new AtomicReference<>();
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        for (int r = 0; r < job.workers(); r++) {
            int rank = r;
            Thread t = new Thread(
                    () -> {
                        try {
                            Trainer.Summary s = Worker.run(
                                    job,
                                    jobDir,
                                    reducers.get(rank),
                                    StateStore.NONE,
                                    rank == 0 ? sink : TelemetrySink.NONE,
                                    rank == 0 ? out : quiet);
                            if (rank == 0) {
                                result.set(s);
                            }
                        } catch (SpecException | DataException | RuntimeException e) {
                            failure.compareAndSet(null, e);
                        }
                    },
                    "ringtape-worker-" + r);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while training", e);
            }
        }
        Exception e = failure.get();
        if (e instanceof SpecException s) {
            throw s;
        }
        if (e instanceof DataException d) {
            throw d;
        }
        if (e instanceof RuntimeException re) {
            throw re;
        }
        return result.get();
    }
}
