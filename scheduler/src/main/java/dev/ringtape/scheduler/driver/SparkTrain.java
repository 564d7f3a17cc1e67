package dev.ringtape.scheduler.driver;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.telemetry.JobKey;
import dev.ringtape.telemetry.JsonlFileSink;
import dev.ringtape.telemetry.RankMerger;
import dev.ringtape.telemetry.Records;
import dev.ringtape.telemetry.Schema;
import dev.ringtape.telemetry.TelemetryServer;
import dev.ringtape.telemetry.TelemetrySink;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.SparkSession;

/**
 * The driver of a job: checks what can be checked before any executor starts, then runs the job's {@code workers}
 * ranks as one Spark barrier stage in a job group (cancelled if the driver is interrupted), collects every rank's telemetry into one
 * log, and writes rank 0's trained model to {@code export.path}.
 *
 * <p>Under {@code spark-submit} the master and conf are spark-submit's (the job's {@code spark.conf} fills in only
 * what it left unset); otherwise the job's {@code spark.master} (default {@code local[workers]}) runs embedded.
 */
public final class SparkTrain {
    /**
     * JVM flags every executor needs: Agrona reaches into jdk.internal.misc; the Vector API speeds the loops, which
     * are compiled after 1/20 of HotSpot's usual calls so that {@code Loops.warmUp} has them compiled before the first
     * steps. The launcher's deploy/conf/jvm.options has the same lines.
     */
    static final String EXECUTOR_FLAGS = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED"
            + " --add-modules=jdk.incubator.vector"
            + " -XX:CompileCommand=quiet"
            + " -XX:CompileCommand=CompileThresholdScaling,dev.ringtape.runtime.backend.cpu.*::*,0.05";

    private static final Pattern LOCAL = Pattern.compile("local(?:\\[(\\*|\\d+)(?:,\\s*(\\d+))?])?");

    private SparkTrain() {}

    /** A failure the driver reports as one line. */
    public static final class JobFailed extends Exception {
        public JobFailed(String message) {
            super(message);
        }
    }

    /** What a finished job reports. */
    public record Result(double evalLoss, double evalAccuracy, int evalSamples, long steps, Path export) {}

    /** Runs {@code job}; {@code jobDir} resolves relative data paths that are not found from the working directory. */
    public static Result run(JobSpec job, Path jobDir, PrintStream out) throws JobFailed, DataException {
        return run(job, jobDir, out, false);
    }

    /**
     * Runs {@code job}, telling diagnoses on {@code out} as they open and clear; {@code quiet} keeps errors only
     * (no progress lines, no warnings).
     */
    public static Result run(JobSpec job, Path jobDir, PrintStream out, boolean quiet) throws JobFailed, DataException {
        return run(job, jobDir, out, quiet, false);
    }

    /**
     * Runs {@code job}; unless {@code fresh}, from the newest snapshot in {@code checkpoint.dir} that verifies. A
     * failed stage (a lost executor, a rank's unexpected error) is run again, up to {@code checkpoint.max_restarts}
     * times, from the newest snapshot then: Spark never retries a failed barrier stage itself.
     */
    public static Result run(JobSpec job, Path jobDir, PrintStream out, boolean quiet, boolean fresh)
            throws JobFailed, DataException {
        checkBackend(job);
        JobSpec shipped = DataPaths.resolve(job, jobDir);
        checkShapes(shipped);
        checkInitFrom(shipped);
        Path export = Path.of(job.export().path());
        checkWritable(export, "export.path");
        Path log = Path.of(job.telemetry().out());
        checkWritable(log, "telemetry.out");
        if (job.telemetry().tensorboard() != null) {
            checkWritable(Path.of(job.telemetry().tensorboard()).resolve("events"), "telemetry.tensorboard");
        }
        dev.ringtape.checkpointing.JobId id = job.id();
        String checkpoints = DataPaths.absolute(job.checkpoint().dir());
        dev.ringtape.checkpointing.SnapshotStore store;
        try {
            store = dev.ringtape.checkpointing.SnapshotStore.open(
                    checkpoints, job.checkpoint().keep());
        } catch (dev.ringtape.checkpointing.CheckpointException e) {
            throw new JobFailed(e.getMessage());
        }
        PrintStream progress = quiet ? new PrintStream(java.io.OutputStream.nullOutputStream()) : out;
        if (fresh) {
            // a log is one run and its resumes: a run from step 0 appended to the last one would read as one run
            // that trained twice (the report, watch and TensorBoard's import all take it so)
            Path aside = setAside(log);
            if (aside != null) {
                progress.println("ringtape: --fresh: the previous run's telemetry is now " + aside);
            }
        }

        SparkConf conf = conf(job);
        checkConf(job, conf);
        SparkLogging.quietDefaults(conf);
        RingtapePlugin.Values.reset();
        if (conf.get("spark.master", "").startsWith("local")) {
            // the ranks will run in this JVM: read their data and compile their backend's loops while Spark starts
            dev.ringtape.scheduler.worker.Prefetch.start(shipped, jobDir);
            warmUp(job);
        }
        SparkContext sc = SparkContext.getOrCreate(conf);
        String group = "ringtape-" + job.name() + "-" + Long.toHexString(new SecureRandom().nextLong());
        try (TelemetrySink file = sinks(log, job);
                DiagnosisConsole console = new DiagnosisConsole(file, out, quiet)) {
            sc.setJobGroup(
                    group,
                    "ringtape train " + job.name() + ": " + job.workers() + " worker" + (job.workers() == 1 ? "" : "s"),
                    true);
            String resume = fresh ? null : newest(store, id, job, console, progress, 0);
            List<TrainedModel> results;
            // a sharded source is read, split and cached once; every attempt's stage runs on the same partitions
            try (ShardedData shards = shipped.data().train().sharded() ? sharded(sc, shipped) : null) {
                for (int attempt = 0; ; attempt++) {
                    // fresh for every attempt: what a rank must prove to the driver's services (JobKey)
                    JobKey key = JobKey.fresh();
                    try (TelemetryServer server = new TelemetryServer(
                                    telemetryHost(sc),
                                    job.workers(),
                                    key,
                                    new RankMerger(job.workers(), console),
                                    progress);
                            EndpointExchange endpoints =
                                    new EndpointExchange(telemetryHost(sc), job.workers(), key, progress)) {
                        RDD<Object> input = shards == null ? erase(Barrier.ranks(sc, job.workers())) : shards.zipped();
                        long token = new SecureRandom().nextLong(); // fresh for every attempt
                        // what the barrier stage is, on the Jobs page (Spark reads it once, as the job starts; the
                        // live figures are RingtapePlugin's gauges)
                        sc.setJobDescription("ringtape train " + job.name() + ": " + job.workers() + " worker"
                                + (job.workers() == 1 ? "" : "s") + ", attempt " + (attempt + 1)
                                + (resume == null ? " from step 0" : " from " + resume)
                                + "; progress in " + log + " and Spark's metrics (RingtapePlugin)");
                        try {
                            results = Barrier.run(
                                    input,
                                    new RankTask(
                                            shipped,
                                            server.endpoint(),
                                            endpoints.address(),
                                            key,
                                            token,
                                            id,
                                            checkpoints,
                                            resume),
                                    TrainedModel.class);
                            server.finish(10_000);
                            break;
                        } catch (RuntimeException e) {
                            // the stage's job has ended (collect returns or throws only then): nothing to cancel
                            server.finish(5_000);
                            // a rank's input error, or too few slots, would fail the same way again
                            boolean inputError = server.firstError() != null && server.firstTrace() == null;
                            String why = server.firstError() != null ? server.firstError() : explain(e, job, conf);
                            inputError |= server.firstError() == null && lacksSlots(e);
                            if (inputError || attempt >= job.checkpoint().maxRestarts()) {
                                java.nio.file.Path trace = server.firstTrace() == null
                                        ? null
                                        : Failures.file(job.name(), server.firstTrace());
                                throw new JobFailed(why
                                        + (trace == null ? "" : " (stack trace in " + trace + ")")
                                        + (inputError || attempt == 0 ? "" : " (after " + attempt + " restart(s))"));
                            }
                            ObjectNode failed = Records.of(Schema.Type.EVENT, job.name(), 0);
                            failed.put(Schema.EVENT, "stage_failed");
                            failed.put(Schema.ATTEMPT, attempt + 1);
                            failed.put(Schema.ERROR, why);
                            console.emit(failed);
                            progress.println("ringtape: the stage failed (" + why + "); restarting (" + (attempt + 1)
                                    + " of " + job.checkpoint().maxRestarts() + ")");
                            resume = newest(store, id, job, console, progress, attempt + 1);
                        }
                    }
                }
            }
            console.summarize();
            TrainedModel model = results.get(0);
            writeExport(export, model, job);
            return new Result(model.evalLoss(), model.evalAccuracy(), model.evalSamples(), model.steps(), export);
        } catch (IOException e) {
            throw new JobFailed("cannot write " + log + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            sc.cancelJobGroup(group);
            throw new JobFailed("interrupted");
        } finally {
            dev.ringtape.scheduler.worker.Prefetch.clear();
            sc.clearJobGroup();
            sc.stop();
        }
    }

    /** The newest good snapshot's path (null: none), told on the console and as a {@code resumed} event. */
    private static String newest(
            dev.ringtape.checkpointing.SnapshotStore store,
            dev.ringtape.checkpointing.JobId id,
            JobSpec job,
            DiagnosisConsole console,
            PrintStream progress,
            int attempt)
            throws JobFailed {
        dev.ringtape.checkpointing.SnapshotStore.Found found;
        try {
            found = store.newest(id, skipped -> progress.println("ringtape: " + skipped));
        } catch (dev.ringtape.checkpointing.CheckpointException e) {
            throw new JobFailed(e.getMessage());
        }
        if (found == null) {
            return null;
        }
        long next = found.snapshot().step() + 1;
        progress.println("ringtape: resuming from " + found.path() + " at step " + next);
        ObjectNode resumed = Records.of(Schema.Type.EVENT, job.name(), next);
        resumed.put(Schema.EVENT, "resumed");
        resumed.put(Schema.PATH, found.path());
        resumed.put(Schema.ATTEMPT, attempt);
        console.emit(resumed);
        return found.path();
    }

    /** The run's log, and TensorBoard's event file beside it when the job asks for one. */
    /**
     * Moves an existing, non-empty telemetry log aside, to a name with its last write's time ({@code
     * telemetry.20261207-051200.jsonl}, a counter added if that is taken): the new path, or null if there was none.
     */
    static Path setAside(Path log) throws JobFailed {
        try {
            if (!Files.isRegularFile(log) || Files.size(log) == 0) {
                return null;
            }
            String name = log.getFileName().toString();
            int dot = name.lastIndexOf('.');
            String stem = dot > 0 ? name.substring(0, dot) : name;
            String ext = dot > 0 ? name.substring(dot) : "";
            String when = java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
                    .withZone(java.time.ZoneId.systemDefault())
                    .format(Files.getLastModifiedTime(log).toInstant());
            Path target = log.resolveSibling(stem + "." + when + ext);
            for (int i = 2; Files.exists(target); i++) {
                target = log.resolveSibling(stem + "." + when + "-" + i + ext);
            }
            return Files.move(log, target);
        } catch (IOException e) {
            throw new JobFailed(
                    "telemetry.out: cannot move the previous run's " + log + " aside (" + describe(e) + ")");
        }
    }

    private static TelemetrySink sinks(Path log, JobSpec job) throws IOException, JobFailed {
        JsonlFileSink file = new JsonlFileSink(log);
        if (job.telemetry().tensorboard() == null) {
            return file;
        }
        try {
            return TelemetrySink.both(
                    file,
                    new dev.ringtape.telemetry.TensorBoard(
                            Path.of(job.telemetry().tensorboard())));
        } catch (IOException e) {
            file.close();
            throw new JobFailed(
                    "telemetry.tensorboard: cannot write " + job.telemetry().tensorboard() + " (" + describe(e) + ")");
        }
    }

    /**
     * A file source's samples against the model's input, from its header or first row, on the driver: a mismatch is
     * one line before any executor starts, not a rank's failure (a sharded source is checked as Spark reads it).
     */
    static void checkShapes(JobSpec job) throws DataException {
        if (job.data().train().sharded()) {
            return;
        }
        int[] input = inputShape(job);
        dev.ringtape.scheduler.worker.Worker.checkShape(
                dev.ringtape.scheduler.worker.DataSources.sampleShape(job.data().train(), null, "data.train"),
                input,
                "data.train");
        if (job.data().eval() != null) {
            dev.ringtape.scheduler.worker.Worker.checkShape(
                    dev.ringtape.scheduler.worker.DataSources.sampleShape(
                            job.data().eval(), null, "data.eval"),
                    input,
                    "data.eval");
        }
    }

    /** The file of {@code train.init_from} holds every parameter of the model with its shape, and nothing else. */
    static void checkInitFrom(JobSpec job) throws DataException {
        if (job.train().initFrom() == null) {
            return;
        }
        try {
            dev.ringtape.scheduler.worker.InitFrom.verify(
                    dev.ringtape.runtime.nn.ModelBuilder.build(job.model(), job.seed()),
                    job.train().initFrom());
        } catch (dev.ringtape.runtime.nn.SpecException e) {
            throw new DataException(e.getMessage());
        }
    }

    private static int[] inputShape(JobSpec job) {
        try {
            return dev.ringtape.runtime.nn.ModelBuilder.build(job.model(), job.seed())
                    .inputShape();
        } catch (dev.ringtape.runtime.nn.SpecException e) {
            throw new IllegalStateException("the model was validated before", e);
        }
    }

    private static ShardedData sharded(SparkContext sc, JobSpec job) throws DataException {
        SparkSession spark = SparkSession.builder().config(sc.getConf()).getOrCreate();
        int features = 1;
        for (int d : inputShape(job)) {
            features *= d;
        }
        return ShardedData.read(spark, job, features);
    }

    @SuppressWarnings("unchecked")
    private static RDD<Object> erase(RDD<?> rdd) {
        return (RDD<Object>) rdd;
    }

    /** Spark's conf: spark-submit's if it launched us, else the job's master; the flags executors need. */
    static SparkConf conf(JobSpec job) {
        SparkConf conf = new SparkConf(); // picks up spark.* system properties, as spark-submit sets them
        boolean submitted = conf.contains("spark.master");
        if (!submitted) {
            conf.setMaster(job.spark().master());
            if (job.spark().master().startsWith("local")) {
                // one machine: keep every endpoint on loopback (the launcher keeps Spark's UI there too)
                conf.setIfMissing("spark.driver.host", "127.0.0.1");
                conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
                // Spark's RPC speaks only to holders of a secret of this run's (one JVM: nothing to distribute)
                if (!job.spark().conf().containsKey("spark.authenticate")) {
                    byte[] secret = new byte[32];
                    new SecureRandom().nextBytes(secret);
                    conf.set("spark.authenticate", "true");
                    conf.set(
                            "spark.authenticate.secret",
                            java.util.HexFormat.of().formatHex(secret));
                }
            } else if ("1".equals(System.getenv("RINGTAPE_LOCAL_IP_DEFAULT"))) {
                // the launcher set SPARK_LOCAL_IP to loopback for the UI's sake: executors elsewhere need the
                // address Spark would have found without it
                conf.setIfMissing("spark.driver.host", hostAddress());
            }
        }
        for (Map.Entry<String, String> e : job.spark().conf().entrySet()) {
            if (submitted) {
                conf.setIfMissing(e.getKey(), e.getValue());
            } else {
                conf.set(e.getKey(), e.getValue());
            }
        }
        conf.setIfMissing("spark.app.name", "ringtape: " + job.name());
        conf.setIfMissing("spark.ui.showConsoleProgress", "false");
        // a barrier stage that lacks slots is retried every 15 s, 40 times, by default: fail within ~30 s instead
        conf.setIfMissing("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "1s");
        conf.setIfMissing("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures", "30");
        // rank 0's result (the trained model, 1 MB for the Fashion-MNIST MLP) comes back in the task's status message
        // rather than through the block manager, a fetch that took 0.1-0.15 s of a local run's end; Spark caps this
        // at spark.rpc.message.maxSize (128 MiB by default), past which the block manager carries it as before
        conf.setIfMissing("spark.task.maxDirectResultSize", "128m");
        // the run's gauges in Spark's metrics system (RingtapePlugin), beside any plugin the user named
        String plugins = conf.get("spark.plugins", "");
        if (!plugins.contains(RingtapePlugin.class.getName())) {
            conf.set("spark.plugins", (plugins.isBlank() ? "" : plugins + ",") + RingtapePlugin.class.getName());
        }
        String opts = conf.get("spark.executor.extraJavaOptions", "");
        if (!opts.contains("jdk.internal.misc")) {
            conf.set("spark.executor.extraJavaOptions", (opts + " " + EXECUTOR_FLAGS).strip());
        }
        return conf;
    }

    /**
     * This host's address as Spark finds it when {@code SPARK_LOCAL_IP} is unset: the local host name's address,
     * or, where that is loopback, the first IPv4 address of an interface that is up and not loopback.
     */
    static String hostAddress() {
        try {
            java.net.InetAddress local = java.net.InetAddress.getLocalHost();
            if (!local.isLoopbackAddress()) {
                return local.getHostAddress();
            }
            for (java.net.NetworkInterface ni :
                    java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
                if (!ni.isUp() || ni.isLoopback()) {
                    continue;
                }
                for (java.net.InetAddress a : java.util.Collections.list(ni.getInetAddresses())) {
                    if (a instanceof java.net.Inet4Address && !a.isLinkLocalAddress()) {
                        return a.getHostAddress();
                    }
                }
            }
            return local.getHostAddress();
        } catch (IOException e) {
            return "127.0.0.1";
        }
    }

    /**
     * Starts the warm-up of the CPU backend when the ranks will choose it (a device is theirs to open, not the
     * driver's). Looking for backends loads their native libraries: that happens here, on this thread, before Spark
     * starts loading its own (two threads in dlopen at once, OpenBLAS starting its threads in one and Netty's epoll
     * library loading in the other, hung a run).
     */
    private static void warmUp(JobSpec job) {
        if ("cpu".equals(dev.ringtape.runtime.backend.Backends.chosen(job.backend()))) {
            dev.ringtape.runtime.backend.Backends.select("cpu", null).backend().warmUp();
        }
    }

    /**
     * In local mode the workers run on this machine, so a {@code backend: cuda} it cannot run is refused first,
     * before any file is looked at; on a cluster each rank finds out on its executor, also before reading data.
     */
    static void checkBackend(JobSpec job) throws JobFailed {
        String master = new SparkConf().get("spark.master", job.spark().master());
        if (LOCAL.matcher(master).matches() && "cuda".equals(job.backend())) {
            try {
                dev.ringtape.runtime.backend.Backends.select("cuda", null);
            } catch (dev.ringtape.runtime.backend.Backends.Unavailable e) {
                throw new JobFailed(e.getMessage());
            }
        }
    }

    /** Refuses, before any executor starts, what would make the barrier stage fail or hang. */
    static void checkConf(JobSpec job, SparkConf conf) throws JobFailed {
        if (conf.getBoolean("spark.dynamicAllocation.enabled", false)) {
            throw new JobFailed("spark.dynamicAllocation.enabled is true, but Spark runs barrier stages only with"
                    + " a fixed set of executors; set spark.dynamicAllocation.enabled=false for this job");
        }
        String master = conf.get("spark.master");
        Matcher m = LOCAL.matcher(master);
        if (m.matches()) {
            int slots = m.group(1) == null
                    ? 1
                    : m.group(1).equals("*")
                            ? Runtime.getRuntime().availableProcessors()
                            : Integer.parseInt(m.group(1));
            int cpus = conf.getInt("spark.task.cpus", 1);
            if (job.workers() > slots / cpus) {
                throw new JobFailed("workers: " + job.workers() + " barrier tasks need " + job.workers()
                        + " task slots at once, but spark.master " + master + " offers " + slots / cpus
                        + "; use local[" + job.workers() * cpus + "] or at most " + slots / cpus + " workers");
            }
        }
    }

    private static boolean lacksSlots(RuntimeException e) {
        String msg = String.valueOf(e.getMessage());
        return msg.contains("BarrierJobSlotsNumberCheckFailed")
                || msg.contains("number of slots")
                || msg.contains("maxConcurrentTasksCheck");
    }

    /** One line for a failed stage that no rank explained (a lost executor, too few slots, ...). */
    static String explain(RuntimeException e, JobSpec job, SparkConf conf) {
        String msg = String.valueOf(e.getMessage());
        if (lacksSlots(e)) {
            return "workers: " + job.workers() + " barrier tasks need " + job.workers()
                    + " task slots at once, but the cluster at " + conf.get("spark.master")
                    + " did not offer them; add executors or cores, or lower workers";
        }
        String first = msg.lines().findFirst().orElse(msg);
        return "the Spark job failed: " + first;
    }

    private static String telemetryHost(SparkContext sc) {
        return sc.conf().get("spark.driver.host", "127.0.0.1");
    }

    private static void checkWritable(Path file, String key) throws JobFailed {
        Path dir = file.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
            Path probe = Files.createTempFile(dir, ".ringtape-probe", "");
            Files.delete(probe);
        } catch (IOException | SecurityException e) {
            throw new JobFailed(key + ": cannot write " + file + " (" + describe(e) + ")");
        }
    }

    private static String describe(Exception e) {
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    private static void writeExport(Path export, TrainedModel model, JobSpec job) throws JobFailed {
        Map<String, Safetensors.Entry> tensors = new LinkedHashMap<>();
        model.values()
                .forEach((k, v) ->
                        tensors.put(k, new Safetensors.Entry(model.shapes().get(k), v)));
        tensors.put("normalize.shift", new Safetensors.Entry(model.inputShape(), model.shift()));
        tensors.put("normalize.scale", new Safetensors.Entry(model.inputShape(), model.divisor()));
        ObjectNode spec = job.toJson();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("model", spec.get("model").toString());
        meta.put("ringtape_version", Version.get());
        try {
            Safetensors.write(export, tensors, meta);
        } catch (IOException e) {
            throw new JobFailed("export.path: cannot write " + export + ": " + e.getMessage());
        }
    }
}
