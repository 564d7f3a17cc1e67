package dev.ringtape.scheduler.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.checkpointing.CheckpointException;
import dev.ringtape.checkpointing.Snapshot;
import dev.ringtape.checkpointing.SnapshotStore;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.train.GradientReducer;
import dev.ringtape.scheduler.driver.Failures;
import dev.ringtape.scheduler.job.JobException;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.scheduler.worker.Threads;
import dev.ringtape.scheduler.worker.Worker;
import dev.ringtape.telemetry.Report;
import dev.ringtape.telemetry.Schema;
import dev.ringtape.telemetry.TelemetrySink;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * {@code ringtape replay JOB.yaml --step N}: restores the newest snapshot before step N from {@code checkpoint.dir},
 * re-runs the steps up to N in this process (one worker taking the whole global batch, every step sampled), and
 * prints what happened at step N: the loss, the loss-scale decision, the largest gradients, the first non-finite
 * value's origin and the diagnoses that opened.
 */
final class Replay {
    private Replay() {}

    /** Stops the run once step N is done. */
    private static final class Done extends RuntimeException {
        Done() {
            super(null, null, false, false);
        }
    }

    static int run(String[] argv, PrintStream out, PrintStream err) {
        List<String> rest = new ArrayList<>(Arrays.asList(argv));
        int at = rest.indexOf("--step");
        if (at < 0 || at + 1 >= rest.size() || !rest.get(at + 1).matches("\\d+")) {
            err.println("usage: ringtape replay JOB.yaml --step N [--set key=value ...]");
            return 2;
        }
        long target = Long.parseLong(rest.get(at + 1));
        rest.subList(at, at + 2).clear();
        Train.Args args = Train.Args.parse("replay", rest.toArray(String[]::new), err);
        if (args == null) {
            return 2;
        }
        List<String> overrides = new ArrayList<>(args.overrides());
        overrides.add("telemetry.every_steps=1");
        JobSpec job;
        JobFile file;
        try {
            file = JobFile.load(args.job(), overrides);
            job = JobSpec.from(file);
        } catch (JobException e) {
            err.println("ringtape replay: " + e.getMessage());
            return 1;
        }
        try {
            SnapshotStore store =
                    SnapshotStore.open(job.checkpoint().dir(), job.checkpoint().keep());
            Snapshot from = null;
            String fromPath = null;
            for (var p : store.snapshots()) { // newest first
                Snapshot s = SnapshotStore.load(p.toString());
                if (s.step() < target && s.jobHash().equals(job.specHash())) {
                    from = s;
                    fromPath = p.toString();
                    break;
                }
            }
            out.println(
                    from == null
                            ? "replay: no snapshot before step " + target + " in "
                                    + job.checkpoint().dir() + "; from step 0"
                            : "replay: from " + fromPath + " (after step " + from.step() + ")"
                                    + (from.worldSize() > 1
                                            ? ", on one worker taking the whole global batch of " + from.worldSize()
                                            : ""));
            List<ObjectNode> records = new ArrayList<>();
            TelemetrySink collect = new TelemetrySink() {
                @Override
                public void emit(ObjectNode r) {
                    if (r.path(Schema.STEP).asLong() == target) {
                        records.add(r.deepCopy());
                    }
                }

                @Override
                public void close() {}
            };
            try {
                Worker.run(
                        job,
                        shape -> Worker.data(job, args.jobDir(), shape),
                        GradientReducer.local(),
                        (step, state) -> {
                            if (step == target) {
                                throw new Done();
                            }
                        },
                        collect,
                        new PrintStream(OutputStream.nullOutputStream()),
                        from == null ? null : from.resume(),
                        // the job's threads, as a worker alone in local mode takes them; the count changes no bits
                        Threads.choose(job.threads(), 1, 1, Runtime.getRuntime().availableProcessors(), true),
                        null);
                err.println("ringtape replay: the job ends before step " + target);
                return 1;
            } catch (Done done) {
                describe(target, records, out);
                return 0;
            }
        } catch (CheckpointException | DataException e) {
            err.println("ringtape replay: " + e.getMessage());
            return 1;
        } catch (SpecException e) {
            err.println("ringtape replay: " + file.error(e).getMessage());
            return 1;
        } catch (RuntimeException e) {
            err.println("ringtape replay: " + Failures.describe(job.name(), e));
            return 1;
        }
    }

    private static void describe(long step, List<ObjectNode> records, PrintStream out) {
        for (ObjectNode r : records) {
            if (r.path(Schema.TYPE).asText().equals(Schema.Type.STEP)) {
                out.printf(
                        "step %d: loss %s, grad norm %s%s, loss scale %s%s%n",
                        step,
                        r.path(Schema.LOSS).asText(),
                        r.path(Schema.GRAD_NORM).asText(),
                        r.path(Schema.CLIPPED).asBoolean() ? " (clipped)" : "",
                        r.path(Schema.LOSS_SCALE).asText(),
                        r.path(Schema.SKIPPED).asBoolean()
                                ? ": the gradients held a NaN or Inf, the step was skipped (no weight moved)"
                                        + " and a loss scale backs off"
                                : ": no overflow, the step was taken");
            }
        }
        for (ObjectNode r : records) {
            if (r.path(Schema.TYPE).asText().equals(Schema.Type.NONFINITE)) {
                out.printf(
                        "  first non-finite value: the %s of %s in %s (micro-batch %d, %s the all-reduce)%n",
                        r.path(Schema.PHASE).asText(),
                        r.path(Schema.OP).asText(),
                        r.path(Schema.LAYER).asText(),
                        r.path(Schema.MICRO_BATCH).asInt(),
                        r.path(Schema.BEFORE_ALLREDUCE).asBoolean() ? "before" : "after");
            }
        }
        List<ObjectNode> params = records.stream()
                .filter(r -> r.path(Schema.TYPE).asText().equals(Schema.Type.LAYER) && r.has(Schema.PARAM))
                .sorted(Comparator.comparingDouble(
                                (ObjectNode r) -> r.path(Schema.GRAD_NORM).asDouble())
                        .reversed())
                .toList();
        out.println("  largest gradients:");
        for (ObjectNode r : params.subList(0, Math.min(3, params.size()))) {
            out.printf(
                    "    %-24s grad norm %s, max |g| %s, update ratio %s%n",
                    r.path(Schema.PARAM).asText(),
                    r.path(Schema.GRAD_NORM).asText(),
                    r.path(Schema.GRAD_MAX_ABS).asText(),
                    r.path(Schema.UPDATE_RATIO).isNumber()
                            ? r.path(Schema.UPDATE_RATIO).asText()
                            : "none");
        }
        for (ObjectNode r : records) {
            if (r.path(Schema.TYPE).asText().equals(Schema.Type.DIAGNOSIS)) {
                out.printf(
                        "  diagnosis %s: %s %s%s: %s%n",
                        r.path(Schema.STATE).asText(),
                        r.path(Schema.SEVERITY).asText(),
                        r.path(Schema.CODE).asText(),
                        r.path(Schema.LAYER).asText().isEmpty()
                                ? ""
                                : " in " + r.path(Schema.LAYER).asText(),
                        Report.evidenceInWords(r.path(Schema.EVIDENCE)));
            }
        }
    }
}
