package dev.ringtape.scheduler.worker;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.backend.Backends;
import dev.ringtape.runtime.data.BatchPlan;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.data.Normalizer;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.nn.SpecNode;
import dev.ringtape.runtime.optim.LrSchedule;
import dev.ringtape.runtime.optim.Optimizers;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.train.GradientReducer;
import dev.ringtape.runtime.train.LossScaler;
import dev.ringtape.runtime.train.StateStore;
import dev.ringtape.runtime.train.StepLoop;
import dev.ringtape.runtime.train.Trainer;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.telemetry.TelemetrySink;
import dev.ringtape.telemetry.Thresholds;
import java.io.PrintStream;
import java.nio.file.Path;

/** One worker of a job: wires the runtime's trainer to its ports (reducer, state store, telemetry sink). */
public final class Worker {
    private Worker() {}

    /**
     * The data a worker trains and evaluates on, normalized with the training split's statistics. Sharded data is
     * this worker's own part ({@code smallestShard}: the smallest training part of any worker); otherwise every
     * worker holds all of it.
     */
    public record Data(Dataset train, Dataset eval, Normalizer normalizer, boolean sharded, int smallestShard) {}

    /** Gives a worker its data, shaped as the model's input. */
    @FunctionalInterface
    public interface Loader {
        Data load(int[] inputShape) throws DataException;
    }

    /** The data of a sharded source: this worker's rows, normalized with statistics of the whole training data. */
    public static Data shard(Dataset train, Dataset eval, Normalizer normalizer, int smallestShard, int[] inputShape)
            throws DataException {
        normalizer.apply(train);
        normalizer.apply(eval);
        return new Data(
                shaped(train, inputShape, "data.train"),
                eval.size() == 0 ? null : shaped(eval, inputShape, "data.eval"),
                normalizer,
                true,
                smallestShard);
    }

    /** What a worker's run ends with: its summary, the trained model and the normalization its input needs. */
    public record Outcome(Trainer.Summary summary, Sequential model, Normalizer normalizer) {}

    /**
     * Reads, splits and normalizes the job's data, seen with the model's input shape; takes what {@link Prefetch}
     * read and fitted for it when the driver in this JVM did.
     */
    public static Data data(JobSpec job, Path jobDir, int[] inputShape) throws DataException {
        Read read = Prefetch.take(job);
        if (read == null) {
            read = read(job, jobDir);
        }
        read.normalizer().apply(read.train());
        if (read.eval() != null) {
            read.normalizer().apply(read.eval());
        }
        return new Data(
                shaped(read.train(), inputShape, "data.train"),
                read.eval() == null ? null : shaped(read.eval(), inputShape, "data.eval"),
                read.normalizer(),
                false,
                read.train().size());
    }

    /**
     * The job's file sources as read and split as the job says (the held-out split null when there is none), with
     * the normalizer fitted on the training split and not yet applied.
     */
    record Read(Dataset train, Dataset eval, Normalizer normalizer) {}

    /** Reads the job's file sources and fits their normalizer: {@link Read}. */
    static Read read(JobSpec job, Path jobDir) throws DataException {
        Dataset train;
        Dataset eval;
        if (job.data().evalSplit() > 0) {
            Dataset[] split = DataSources.readSplit(
                    job.data().train(), jobDir, "data.train", job.data().evalSplit(), job.seed());
            train = split[0];
            eval = split[1];
        } else {
            train = DataSources.read(job.data().train(), jobDir, "data.train");
            eval = job.data().eval() == null
                    ? null
                    : DataSources.read(job.data().eval(), jobDir, "data.eval");
        }
        return new Read(train, eval, Normalizer.fit(job.data().normalize(), train));
    }

    private static Dataset shaped(Dataset d, int[] inputShape, String key) throws DataException {
        checkShape(d.sampleShape(), inputShape, key);
        return d.reshaped(inputShape);
    }

    /** That samples of {@code sampleShape} (from the source at {@code key}) fit a model taking {@code inputShape}. */
    public static void checkShape(int[] sampleShape, int[] inputShape, String key) throws DataException {
        if (Shapes.size(sampleShape) != Shapes.size(inputShape)) {
            throw new DataException(key + ": samples have " + Shapes.size(sampleShape) + " features "
                    + Shapes.str(sampleShape) + " but model.input is " + Shapes.str(inputShape));
        }
    }

    /** Trains {@code job} on its data files as worker {@code reducer.rank()} of {@code reducer.worldSize()}. */
    public static Outcome run(
            JobSpec job,
            Path jobDir,
            GradientReducer reducer,
            StateStore store,
            TelemetrySink sink,
            PrintStream progress)
            throws SpecException, DataException {
        String init = job.train().initFrom();
        JobSpec here = init == null ? job : job.withInitFrom(DataSources.resolve(init, jobDir));
        return run(here, shape -> data(here, jobDir, shape), reducer, store, sink, progress, null, null, null);
    }

    /**
     * Trains {@code job} on what {@code loader} gives, as worker {@code reducer.rank()}, from {@code resume} (a
     * snapshot's state; null: from the start), running {@code threads} compute threads (null: leave them as they
     * are, as tests and benchmarks in one JVM do), on the GPU with address {@code gpu} when the job's backend runs on
     * one (the address Spark assigned this task; null: none assigned). The backend is chosen before the model is
     * built or any data is read: a {@code backend: cuda} that cannot run here is a one-line error naming what is
     * missing.
     */
    public static Outcome run(
            JobSpec job,
            Loader loader,
            GradientReducer reducer,
            StateStore store,
            TelemetrySink sink,
            PrintStream progress,
            Trainer.Resume resume,
            Threads threads,
            String gpu)
            throws SpecException, DataException {
        Backends.Selection backend;
        try {
            backend = Backends.select(job.backend(), gpu);
        } catch (Backends.Unavailable e) {
            throw new SpecException("backend", e.getMessage());
        }
        if (backend.fellBack() && reducer.rank() == 0) {
            progress.println("backend " + backend.why()); // one line: what was passed over and why
        }
        backend.backend().warmUp();
        Backends.Scope in = Backends.use(backend.backend());
        try {
            return train(job, loader, reducer, store, sink, progress, resume, threads, backend, gpu);
        } finally {
            in.close();
        }
    }

    private static Outcome train(
            JobSpec job,
            Loader loader,
            GradientReducer reducer,
            StateStore store,
            TelemetrySink sink,
            PrintStream progress,
            Trainer.Resume resume,
            Threads threads,
            Backends.Selection backend,
            String gpu)
            throws SpecException, DataException {
        if (threads != null) {
            dev.ringtape.runtime.backend.cpu.CpuBackend.blasThreads(threads.count());
            if (threads.warning() != null && reducer.rank() == 0) {
                progress.println(threads.warning());
            }
        }
        Sequential model = ModelBuilder.build(job.model(), job.seed())
                .recompute(job.train().recomputeSegments());
        if (job.train().initFrom() != null) {
            InitFrom.load(model, job.train().initFrom());
        }
        Data data = loader.load(model.inputShape());
        JobSpec.Train t = job.train();
        Optimizers.Configured opt =
                Optimizers.create(new SpecNode(t.optimizer(), "train.optimizer"), model.parameterList());
        BatchPlan plan;
        try {
            plan = data.sharded()
                    ? BatchPlan.sharded(
                            data.train().size(),
                            data.smallestShard(),
                            t.globalBatch(),
                            reducer.worldSize(),
                            t.microBatches(),
                            job.seed(),
                            reducer.rank())
                    : new BatchPlan(
                            data.train().size(), t.globalBatch(), reducer.worldSize(), t.microBatches(), job.seed());
        } catch (IllegalArgumentException e) {
            throw new SpecException("train.global_batch", e.getMessage());
        }
        long totalSteps = t.steps() > 0 ? t.steps() : (long) t.epochs() * plan.stepsPerEpoch();
        LrSchedule schedule = Optimizers.schedule(
                t.lrSchedule() == null ? null : new SpecNode(t.lrSchedule(), "train.lr_schedule"),
                opt.lr(),
                totalSteps);
        Precision precision = Precision.of(t.precision());
        LossScaler scaler = precision == Precision.FP16
                ? new LossScaler(
                        true,
                        t.lossScale().init(),
                        t.lossScale().growthFactor(),
                        t.lossScale().backoffFactor(),
                        t.lossScale().growthInterval())
                : LossScaler.disabled();
        StepLoop loop = new StepLoop(
                model,
                opt.optimizer(),
                schedule,
                scaler,
                reducer,
                sink,
                new StepLoop.Options(
                        job.name(),
                        t.microBatches(),
                        precision,
                        t.clipGradNorm(),
                        job.seed(),
                        (long) (job.allreduce().bucketMb() * (1 << 20)),
                        job.telemetry().everySteps(),
                        Thresholds.of(job.telemetry().thresholds())));
        if (reducer.rank() == 0) {
            progress.printf(
                    "%s: %d training and %d held-out samples, %d parameters, %d steps of %d samples"
                            + " (%d worker%s x %d micro-batch%s, %s, %s%s)%n",
                    job.name(),
                    data.train().size(),
                    data.eval() == null ? 0 : data.eval().size(),
                    model.parameterList().stream().mapToInt(x -> x.size()).sum(),
                    totalSteps,
                    t.globalBatch(),
                    reducer.worldSize(),
                    reducer.worldSize() == 1 ? "" : "s",
                    t.microBatches(),
                    t.microBatches() == 1 ? "" : "es",
                    t.precision(),
                    backend.backend().name(),
                    threads == null ? "" : ", " + threads.count() + " thread" + (threads.count() == 1 ? "" : "s"));
        }
        ObjectNode config = job.toJson();
        Trainer trainer = new Trainer(model, loop, plan, reducer, store, sink, job.name(), progress);
        if (threads != null) {
            trainer.threads(threads.count(), threads.why());
        }
        trainer.backend(backend.backend().name(), backend.why(), gpu);
        Trainer.Summary summary = trainer.evalSharded(data.sharded())
                .resumeFrom(resume)
                .fit(data.train(), data.eval(), totalSteps, config);
        return new Outcome(summary, model, data.normalizer());
    }
}
