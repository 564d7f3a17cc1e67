package dev.ringtape.scheduler.job;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.databind.JsonNode;
import dev.ringtape.runtime.data.TextReader;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.nn.SpecNode;
import dev.ringtape.runtime.optim.Optimizers;
import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A validated job (DESIGN.md, "Job config"): every key checked on the driver, before any worker starts. Plain
 * serializable values only, so executors can receive it.
 */
public record JobSpec(
        String name,
        long seed,
        int workers,
        String backend,
        @JsonIgnore int threads,
        Spark spark,
        Data data,
        JsonNode model,
        Train train,
        Allreduce allreduce,
        Checkpoint checkpoint,
        Export export,
        Telemetry telemetry)
        implements Serializable {

    /** {@code export:}: where the driver writes the trained model (safetensors). */
    public record Export(String path) implements Serializable {}

    /** This job with its data sources replaced (the driver resolves their paths before shipping the job). */
    public JobSpec withData(Data value) {
        return with(value, train);
    }

    /** This job with its initial weights' file replaced (the driver resolves its path before shipping the job). */
    public JobSpec withInitFrom(String path) {
        Train t = train;
        return with(
                data,
                new Train(
                        t.epochs(),
                        t.steps(),
                        t.globalBatch(),
                        t.microBatches(),
                        t.optimizer(),
                        t.lrSchedule(),
                        t.clipGradNorm(),
                        t.precision(),
                        t.lossScale(),
                        t.recomputeSegments(),
                        path));
    }

    private JobSpec with(Data d, Train t) {
        return new JobSpec(
                name, seed, workers, backend, threads, spark, d, model, t, allreduce, checkpoint, export, telemetry);
    }

    /** {@code spark:}: the embedded session's master and extra conf. */
    public record Spark(String master, Map<String, String> conf) implements Serializable {}

    /** A data source: {@code format} with its options (the source's whole mapping, for format-specific keys). */
    public record Source(String format, String path, String label, @JsonIgnore JsonNode options)
            implements Serializable {
        /**
         * Whether Spark reads this source on the driver and hands each rank only its shard (parquet, libsvm), rather
         * than every rank reading the file.
         */
        public boolean sharded() {
            return kind().sharded();
        }

        /** The format, checked when the job was read. */
        public DataFormat kind() {
            return DataFormat.of(format);
        }
    }

    /** {@code data:}: the training source, a held-out split or a second source, and the normalization. */
    public record Data(Source train, Source eval, double evalSplit, String normalize) implements Serializable {}

    /** {@code train.loss_scale:}, with PyTorch GradScaler's defaults. */
    public record LossScale(double init, double growthFactor, double backoffFactor, int growthInterval)
            implements Serializable {}

    /** {@code train:}; exactly one of {@code epochs} and {@code steps} is positive. */
    public record Train(
            int epochs,
            long steps,
            int globalBatch,
            int microBatches,
            JsonNode optimizer,
            JsonNode lrSchedule,
            double clipGradNorm,
            String precision,
            LossScale lossScale,
            int recomputeSegments,
            String initFrom)
            implements Serializable {}

    /** {@code allreduce:}; {@code compress} is {@code none} or {@code bf16} (hops send bfloat16, sums stay float32). */
    public record Allreduce(String transport, double bucketMb, double timeoutS, String compress)
            implements Serializable {}

    /** {@code checkpoint:}. */
    /** {@code checkpoint:}; {@code everySteps} 0 writes no snapshot. */
    public record Checkpoint(String dir, int everySteps, int keep, int maxRestarts) implements Serializable {}

    /**
     * A hash of what determines the trained model: the seed, the data, the model and the training recipe (with the
     * gradient compression, when there is one: bfloat16 frames round the gradients), but not how the work is split
     * (workers, micro-batches) nor where things are written. A snapshot is refused by a job whose hash differs.
     */
    public String specHash() {
        com.fasterxml.jackson.databind.node.ObjectNode j = identity();
        String text = j.get("seed") + "|" + j.get("data") + "|" + j.get("model") + "|" + j.get("train")
                + (j.has("allreduce_compress") ? "|" + j.get("allreduce_compress") : "");
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(d, 0, 8);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** What {@link #specHash} hashes, as JSON: the seed, the data, the model, and the training recipe. */
    private com.fasterxml.jackson.databind.node.ObjectNode identity() {
        com.fasterxml.jackson.databind.node.ObjectNode j = toJson();
        com.fasterxml.jackson.databind.node.ObjectNode t =
                ((com.fasterxml.jackson.databind.node.ObjectNode) j.get("train")).deepCopy();
        t.remove("micro_batches");
        com.fasterxml.jackson.databind.node.ObjectNode id = j.objectNode();
        id.set("seed", j.get("seed"));
        id.set("data", j.get("data"));
        id.set("model", j.get("model"));
        id.set("train", t);
        if (!allreduce.compress().equals("none")) {
            id.put("allreduce_compress", allreduce.compress()); // absent otherwise: older snapshots keep their hash
        }
        return id;
    }

    /** This job as snapshots know it: its {@link #specHash} and what was hashed, so a refusal can say what changed. */
    public dev.ringtape.checkpointing.JobId id() {
        return new dev.ringtape.checkpointing.JobId(specHash(), identity().toString());
    }

    /** {@code telemetry:}. */
    /** {@code tensorboard}: a directory for TensorBoard's event files, written as the run goes; null for none. */
    public record Telemetry(String out, int everySteps, Map<String, Double> thresholds, String tensorboard)
            implements Serializable {}

    /** The job as the {@code run} telemetry record reports it: snake_case keys, as in the YAML. */
    public com.fasterxml.jackson.databind.node.ObjectNode toJson() {
        return new com.fasterxml.jackson.databind.ObjectMapper()
                .setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE)
                .valueToTree(this);
    }

    private static final Set<String> TOP = Set.of(
            "name",
            "seed",
            "workers",
            "backend",
            "threads",
            "spark",
            "data",
            "model",
            "train",
            "allreduce",
            "checkpoint",
            "export",
            "telemetry");

    /** Validates {@code job}; the error names the file, line and key. */
    public static JobSpec from(JobFile job) throws JobException {
        try {
            return parse(job);
        } catch (SpecException e) {
            throw job.error(e);
        }
    }

    private static JobSpec parse(JobFile job) throws SpecException {
        SpecNode root = new SpecNode(job.root(), "").allowOnly(TOP);
        String stem = job.path().getFileName().toString().replaceFirst("\\.ya?ml$", "");
        String name = root.string("name", stem);
        if (!name.matches("[A-Za-z0-9._-]+")) {
            throw new SpecException("name", "use letters, digits, '.', '_' and '-' only, got '" + name + "'");
        }
        long seed = root.integer("seed", 0, 42);
        int workers = root.integer("workers", 1, 1);
        String backend = oneOf(root, "backend", "auto", "cpu", "cuda", "auto");
        // compute threads per worker (BLAS); 0: auto, from the cores the worker's task owns
        int threads = 0;
        if (root.has("threads") && !root.raw().get("threads").asText().equals("auto")) {
            if (!root.raw().get("threads").isIntegralNumber()) {
                throw new SpecException(
                        "threads",
                        "expected auto or a number of threads, got "
                                + SpecNode.describe(root.raw().get("threads")));
            }
            threads = root.integer("threads", 1);
        }

        Spark spark = new Spark("local[" + workers + "]", Map.of());
        if (root.has("spark")) {
            SpecNode s = root.object("spark").allowOnly(Set.of("master", "conf"));
            Map<String, String> conf = new LinkedHashMap<>();
            if (s.has("conf")) {
                SpecNode c = s.object("conf");
                for (var it = c.raw().fieldNames(); it.hasNext(); ) {
                    String k = it.next();
                    JsonNode v = c.raw().get(k);
                    if (v.isContainerNode()) {
                        throw new SpecException("spark.conf." + k, "expected a plain value");
                    }
                    conf.put(k, v.asText());
                }
            }
            spark = new Spark(s.string("master", spark.master()), Map.copyOf(conf));
        }

        SpecNode d = root.object("data").allowOnly(Set.of("train", "eval", "normalize"));
        Source train = source(d.object("train"));
        Source eval = null;
        double split = 0;
        if (d.has("eval")) {
            SpecNode e = d.object("eval");
            if (e.has("split")) {
                e.allowOnly(Set.of("split"));
                split = e.number("split", 0, 0.99, 0.2);
            } else {
                eval = source(e);
            }
        }
        if (eval != null && eval.sharded() != train.sharded()) {
            throw new SpecException(
                    "data.eval.format",
                    "a " + train.format() + " training source needs a held-out source read the same way ("
                            + (train.sharded() ? "parquet or libsvm, or a split" : "csv, idx or synthetic, or a split")
                            + "), got " + eval.format());
        }

        JsonNode model = job.root().get("model");
        if (model == null || model.isNull()) {
            throw new SpecException(
                    "model",
                    "missing (required): the network to train, e.g. model: {input: [64],"
                            + " layers: [...], loss: {type: softmax_cross_entropy}}");
        }
        // validates every layer and shape now, on the driver
        var built = ModelBuilder.build(model, seed);
        int[] out = built.outputShape();
        // token ids are not features: they are not normalized, and a text's bytes need a model that reads bytes
        String normalize =
                oneOf(d, "normalize", built.takesTokenIds() ? "none" : "standard", "standard", "minmax", "none");
        if (built.takesTokenIds() && !normalize.equals("none")) {
            throw new SpecException(
                    "data.normalize",
                    "the model reads token ids (its first layer is an embedding), which are not normalized; use none");
        }
        if (train.kind() == DataFormat.TEXT) {
            int vocab = built.takesTokenIds() ? built.parameterList().get(0).dim(0) : 0;
            if (vocab < TextReader.VOCAB) {
                throw new SpecException(
                        "model.layers.0",
                        "format text gives byte ids 0-255: start the model with {type: embedding, vocab: 256, dim: D}");
            }
            if (out.length != 2 || out[1] < TextReader.VOCAB) {
                throw new SpecException(
                        "model.layers",
                        "format text predicts the next byte at every position: the last layer must give [positions,"
                                + " 256] per sample, not " + dev.ringtape.runtime.tensor.Shapes.str(out));
            }
        }

        if (built.loss() != dev.ringtape.runtime.nn.Loss.SOFTMAX_CROSS_ENTROPY && !(out.length == 1 && out[0] == 1)) {
            throw new SpecException(
                    "model.loss",
                    built.loss().key() + " compares the output with the label, one value per sample, but the last"
                            + " layer gives " + dev.ringtape.runtime.tensor.Shapes.str(out) + " per sample; end the"
                            + " model with {type: linear, out: 1}");
        }

        Train t = train(root.has("train") ? root.object("train") : new SpecNode(emptyObject(), "train"), workers);

        SpecNode ar = root.has("allreduce") ? root.object("allreduce") : new SpecNode(emptyObject(), "allreduce");
        ar.allowOnly(Set.of("transport", "bucket_mb", "timeout_s", "compress"));
        Allreduce allreduce = new Allreduce(
                oneOf(ar, "transport", "auto", "aeron-ipc", "aeron-udp", "auto"),
                ar.number("bucket_mb", 0.001, 4096, 25),
                ar.number("timeout_s", 0.1, 86400, 60),
                oneOf(ar, "compress", "none", "none", "bf16"));

        SpecNode ck = root.has("checkpoint") ? root.object("checkpoint") : new SpecNode(emptyObject(), "checkpoint");
        ck.allowOnly(Set.of("dir", "every_steps", "keep", "max_restarts"));
        Checkpoint checkpoint = new Checkpoint(
                ck.string("dir", "runs/" + name + "/checkpoints"),
                ck.integer("every_steps", 0, 200),
                ck.integer("keep", 1, 3),
                ck.integer("max_restarts", 0, 3));

        SpecNode ex = root.has("export") ? root.object("export") : new SpecNode(emptyObject(), "export");
        ex.allowOnly(Set.of("path"));
        Export export = new Export(ex.string("path", "runs/" + name + "/model.safetensors"));

        SpecNode tm = root.has("telemetry") ? root.object("telemetry") : new SpecNode(emptyObject(), "telemetry");
        tm.allowOnly(Set.of("out", "every_steps", "thresholds", "tensorboard"));
        Map<String, Double> thresholds = new LinkedHashMap<>();
        if (tm.has("thresholds")) {
            SpecNode th = tm.object("thresholds");
            th.allowOnly(dev.ringtape.telemetry.Thresholds.DEFAULTS.keySet());
            for (var it = th.raw().fieldNames(); it.hasNext(); ) {
                String k = it.next();
                thresholds.put(k, th.number(k, -1e300, 1e300, 0));
            }
        }
        Telemetry telemetry = new Telemetry(
                tm.string("out", "runs/" + name + "/telemetry.jsonl"),
                tm.integer("every_steps", 1, 10),
                Map.copyOf(thresholds),
                tm.string("tensorboard", null));

        return new JobSpec(
                name,
                seed,
                workers,
                backend,
                threads,
                spark,
                new Data(train, eval, split, normalize),
                model,
                t,
                allreduce,
                checkpoint,
                export,
                telemetry);
    }

    private static Train train(SpecNode t, int workers) throws SpecException {
        t.allowOnly(Set.of(
                "epochs",
                "steps",
                "global_batch",
                "micro_batches",
                "optimizer",
                "lr_schedule",
                "clip_grad_norm",
                "precision",
                "loss_scale",
                "recompute",
                "init_from"));
        if (t.has("epochs") && t.has("steps")) {
            throw new SpecException(t.path() + ".steps", "give epochs or steps, not both");
        }
        int epochs = t.has("steps") ? 0 : t.integer("epochs", 1, 10);
        long steps = t.has("steps") ? t.integer("steps", 1) : 0;
        int globalBatch = t.integer("global_batch", 1, 64);
        int micro = t.integer("micro_batches", 1, 1);
        if (globalBatch % (workers * micro) != 0) {
            throw new SpecException(
                    t.path() + ".global_batch",
                    globalBatch + " samples cannot be split evenly over " + workers + " workers x " + micro
                            + " micro-batches; use a multiple of " + workers * micro);
        }
        SpecNode opt =
                t.has("optimizer") ? t.object("optimizer") : new SpecNode(emptyObject(), t.path() + ".optimizer");
        Optimizers.Configured configured = Optimizers.create(opt, List.of());
        SpecNode sched = t.has("lr_schedule") ? t.object("lr_schedule") : null;
        Optimizers.schedule(sched, configured.lr(), 1);
        double clip = t.has("clip_grad_norm") ? t.number("clip_grad_norm", 1e-12, 1e30, 0) : 0;
        String precision = oneOf(t, "precision", "fp32", "fp32", "fp16", "bf16");
        SpecNode ls =
                t.has("loss_scale") ? t.object("loss_scale") : new SpecNode(emptyObject(), t.path() + ".loss_scale");
        ls.allowOnly(Set.of("init", "growth_factor", "backoff_factor", "growth_interval"));
        LossScale lossScale = new LossScale(
                ls.number("init", 1e-30, 1e30, 65536),
                ls.number("growth_factor", 1, 1e6, 2.0),
                ls.number("backoff_factor", 1e-6, 1, 0.5),
                ls.integer("growth_interval", 1, 2000));
        int segments = 0;
        if (t.has("recompute")) {
            SpecNode rc = t.object("recompute").allowOnly(Set.of("segments"));
            segments = rc.integer("segments", 0, 0);
        }
        return new Train(
                epochs,
                steps,
                globalBatch,
                micro,
                opt.raw(),
                sched == null ? null : sched.raw(),
                clip,
                precision,
                lossScale,
                segments,
                t.has("init_from") ? t.string("init_from") : null);
    }

    private static Source source(SpecNode s) throws SpecException {
        String format = s.string("format");
        DataFormat kind = DataFormat.of(format);
        if (kind == null) {
            List<String> names = DataFormat.names();
            String near = SpecException.closest(format, names);
            throw new SpecException(
                    s.path() + ".format",
                    "unknown format '" + format + "'" + (near == null ? "" : " (did you mean '" + near + "'?)")
                            + "; expected " + String.join(", ", names.subList(0, names.size() - 1)) + " or "
                            + names.get(names.size() - 1));
        }
        s.allowOnly(kind.keys());
        String path = kind == DataFormat.SYNTHETIC ? null : s.string("path");
        if (kind == DataFormat.PARQUET) {
            // column names, as Spark ML pipelines write them by default
            String label = s.string("label", "label");
            s.string("features", "features");
            return new Source(format, path, label, s.raw());
        }
        String label = "last";
        if (s.has("label")) {
            JsonNode l = s.raw().get("label");
            if (l.isIntegralNumber() && l.asInt() >= 0) {
                label = Integer.toString(l.asInt());
            } else if (l.isTextual()
                    && (l.asText().equals("first") || l.asText().equals("last"))) {
                label = l.asText();
            } else {
                throw new SpecException(
                        s.path() + ".label", "expected first, last or a column index, got " + SpecNode.describe(l));
            }
        }
        return new Source(format, path, label, s.raw());
    }

    private static String oneOf(SpecNode n, String key, String dflt, String... allowed) throws SpecException {
        String v = n.string(key, dflt);
        for (String a : allowed) {
            if (a.equals(v)) {
                return v;
            }
        }
        String near = SpecException.closest(v, List.of(allowed));
        throw new SpecException(
                n.path().isEmpty() ? key : n.path() + "." + key,
                "'" + v + "' is not one of " + String.join(", ", allowed)
                        + (near == null ? "" : " (did you mean '" + near + "'?)"));
    }

    private static JsonNode emptyObject() {
        return com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
    }
}
