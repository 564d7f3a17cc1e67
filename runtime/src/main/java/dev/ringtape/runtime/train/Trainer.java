package dev.ringtape.runtime.train;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.data.BatchPlan;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.nn.ForwardContext;
import dev.ringtape.runtime.nn.Layer;
import dev.ringtape.runtime.nn.Loss;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.telemetry.Records;
import dev.ringtape.telemetry.Schema;
import dev.ringtape.telemetry.TelemetrySink;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A worker's training run: epochs of optimizer steps over its shard of each global batch ({@link BatchPlan}),
 * evaluation on the held-out data after each epoch, a progress line as it goes, and the {@code run}, {@code step},
 * {@code nonfinite} and {@code end} telemetry records.
 */
public final class Trainer {
    /** Steps between checks that every rank still holds the same parameters (two scalar collectives each). */
    private static final int SYNC_CHECK_EVERY = 100;

    private final Sequential model;
    private final StepLoop loop;
    private final BatchPlan plan;
    private final GradientReducer reducer;
    private final StateStore store;
    private final TelemetrySink sink;
    private final String job;
    private final PrintStream progress;
    private boolean evalSharded;

    public Trainer(
            Sequential model,
            StepLoop loop,
            BatchPlan plan,
            GradientReducer reducer,
            StateStore store,
            TelemetrySink sink,
            String job,
            PrintStream progress) {
        this.model = model;
        this.loop = loop;
        this.plan = plan;
        this.reducer = reducer;
        this.store = store;
        this.sink = sink;
        this.job = job;
        this.progress = progress;
    }

    /**
     * Says that each rank holds its own shard of the held-out data (rather than all of it), so each evaluates all
     * of its own.
     */
    public Trainer evalSharded(boolean value) {
        this.evalSharded = value;
        return this;
    }

    /**
     * Where a run resumes: the next step to take and the state after the step before it (parameters, optimizer
     * buffers and step counts, loss scaler), as a snapshot holds them.
     */
    public record Resume(
            long nextStep,
            Map<String, float[]> parameters,
            Map<String, float[]> optimizer,
            double lossScale,
            int growthTracker) {}

    private Resume resume;
    private int threads;
    private String threadsWhy;
    private String backend;
    private String backendWhy;
    private String gpu;

    /**
     * The coming steps' micro-batches, gathered from the shuffled training data on a thread of their own while steps
     * run (a gather of rows scattered over the dataset: 0.12-0.17 ms a step of the Fashion-MNIST MLP,
     * bench/RESULTS.md), {@link Prefetch#CHUNK} steps at a time into two sets of arrays used in turn. Handing the
     * gathering thread one step at a time cost the training thread 0.06-0.13 ms a step on two cores (waking it,
     * waiting for it); a chunk at a time, 0.01-0.05 ms.
     */
    private static final class Prefetch {
        static final int CHUNK = 8;
        private static final java.util.concurrent.ExecutorService THREAD =
                java.util.concurrent.Executors.newCachedThreadPool(r -> {
                    Thread t = new Thread(r, "ringtape-batches");
                    t.setDaemon(true);
                    return t;
                });

        private final Dataset train;
        private final BatchPlan plan;
        private final int rank;
        /** [half][step in the chunk][micro-batch]: {x, y}. */
        private final Tensor[][][][] sets;
        /** Per half, the gathered steps' micro-batch lists. */
        private final List<List<Tensor[]>> lists0 = new ArrayList<>();

        private final List<List<Tensor[]>> lists1 = new ArrayList<>();
        /** The half the current chunk is in, its first step and its size (0: none). */
        private int half;

        private int first;
        private int size;
        /** The chunk after the current one (of this epoch) being gathered into the other half, or null. */
        private java.util.concurrent.Future<?> pending;

        Prefetch(Dataset train, BatchPlan plan, int rank) {
            this.train = train;
            this.plan = plan;
            this.rank = rank;
            this.sets = new Tensor[2][CHUNK][plan.microBatches()][];
        }

        /**
         * Step {@code s}'s micro-batches of the epoch with {@code order}, {@code left} steps of this epoch and run
         * from {@code s} on (s included). The first step of a chunk waits for the chunk gathered meanwhile (or, at
         * the start of an epoch or of a resumed run, gathers it now) and starts gathering the next one.
         */
        List<Tensor[]> take(int[] order, int s, int left) {
            if (size == 0 || s < first || s >= first + size) {
                int n = Math.min(CHUNK, left);
                if (pending != null) {
                    if (s != first + size) {
                        throw new IllegalStateException("batches taken out of order: step " + s + " after steps "
                                + first + ".." + (first + size - 1));
                    }
                    await();
                    half ^= 1;
                } else {
                    gather(order, s, n, half);
                }
                first = s;
                size = n;
                if (left > n) {
                    int next = s + n;
                    int m = Math.min(CHUNK, left - n);
                    int other = half ^ 1;
                    pending = THREAD.submit(() -> gather(order, next, m, other));
                }
            }
            return (half == 0 ? lists0 : lists1).get(s - first);
        }

        private void await() {
            try {
                pending.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while gathering batches", e);
            } catch (java.util.concurrent.ExecutionException e) {
                throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
            } finally {
                pending = null;
            }
        }

        /** Gathers steps {@code s .. s+n-1} into half {@code h}. */
        private void gather(int[] order, int s, int n, int h) {
            List<List<Tensor[]>> lists = h == 0 ? lists0 : lists1;
            lists.clear();
            for (int i = 0; i < n; i++) {
                Tensor[][] set = sets[h][i];
                List<Tensor[]> out = new ArrayList<>(set.length);
                for (int m = 0; m < set.length; m++) {
                    set[m] = train.batchInto(order, plan.offset(s + i, rank, m), plan.microBatchSize(), set[m]);
                    out.add(set[m]);
                }
                lists.add(out);
            }
        }
    }

    /** Records in the {@code run} record how many compute threads this worker runs, and why that many. */
    public Trainer threads(int count, String why) {
        this.threads = count;
        this.threadsWhy = why;
        return this;
    }

    /**
     * Records the backend the run computes on, why ({@code backend_why}: the job's choice, or what {@code auto}
     * passed over), and the GPU address Spark assigned the task (null: none) in the {@code run} record.
     */
    public Trainer backend(String name, String why, String gpu) {
        this.backend = name;
        this.backendWhy = why;
        this.gpu = gpu;
        return this;
    }

    /** Starts {@link #fit} from {@code r} instead of step 0. */
    public Trainer resumeFrom(Resume r) {
        this.resume = r;
        return this;
    }

    /** What a run ends with: the last evaluation, steps taken and skipped, the first non-finite origin. */
    public record Summary(Metrics eval, long steps, long skipped, NonFiniteTracer.NonFinite firstNonFinite) {}

    /** Trains for {@code totalSteps} optimizer steps (whole epochs when it is a multiple of steps per epoch). */
    public Summary fit(Dataset train, Dataset eval, long totalSteps, ObjectNode config) {
        ObjectNode run = Records.of(Schema.Type.RUN, job, 0);
        run.put(Schema.SCHEMA_VERSION, Schema.VERSION);
        run.put(Schema.WORLD_SIZE, reducer.worldSize());
        run.put(Schema.RANK, reducer.rank());
        run.set(Schema.CONFIG, config);
        if (threadsWhy != null) {
            run.put(Schema.THREADS, threads);
            run.put(Schema.THREADS_WHY, threadsWhy);
        }
        if (backend != null) {
            run.put(Schema.BACKEND, backend);
            run.put(Schema.BACKEND_WHY, backendWhy);
            if (gpu != null) {
                run.put(Schema.GPU, gpu);
            }
        }
        ArrayNode layers = run.putArray(Schema.LAYERS);
        for (Layer l : model.layers()) {
            ObjectNode row = layers.addObject();
            row.put(Schema.NAME, l.name());
            row.put(Schema.TYPE, l.type());
            row.put(
                    Schema.PARAMS,
                    l.parameters().stream().mapToInt(Tensor::size).sum());
        }
        sink.emit(run);
        long step = 0;
        if (resume != null) {
            for (Map.Entry<String, Tensor> p : model.parameters().entrySet()) {
                float[] v = resume.parameters().get(p.getKey());
                if (v == null || v.length != p.getValue().size()) {
                    throw new IllegalArgumentException("the snapshot has no " + p.getKey() + " of "
                            + p.getValue().size() + " values: it is of another model");
                }
                p.getValue().write(v, 0);
            }
            loop.optimizer().load(resume.optimizer());
            loop.scaler().restore(resume.lossScale(), resume.growthTracker());
            step = resume.nextStep();
        }
        Replicas.broadcastFromRankZero(model.parameterList(), reducer);

        int perEpoch = plan.stepsPerEpoch();
        int epochs = (int) ((totalSteps + perEpoch - 1) / perEpoch);
        long skipped = 0;
        NonFiniteTracer.NonFinite first = null;
        long start = System.nanoTime();
        Metrics last = null;
        long resumedAt = step;
        Prefetch prefetch = new Prefetch(train, plan, reducer.rank());
        for (int epoch = (int) (step / perEpoch) + 1; epoch <= epochs && step < totalSteps; epoch++) {
            int[] order = plan.order(epoch);
            double lossSum = 0;
            int lossCount = 0;
            for (int s = (int) (step % perEpoch); s < perEpoch && step < totalSteps; s++) {
                List<Tensor[]> batches = prefetch.take(order, s, (int) Math.min(perEpoch - s, totalSteps - step));
                StepLoop.Result r = loop.step(step, batches);
                long done = step;
                int inEpoch = epoch;
                store.afterStep(
                        done,
                        () -> new TrainingState(
                                done,
                                inEpoch,
                                model.parameters(),
                                loop.optimizer().state(),
                                loop.scaler().scale(),
                                loop.scaler().growthTracker()));
                step++;
                if (step % SYNC_CHECK_EVERY == 0 || step == totalSteps) {
                    Replicas.checkInSync(model.parameterList(), reducer, step);
                }
                if (r.skipped()) {
                    skipped++;
                }
                if (r.nonFinite() != null && first == null) {
                    first = r.nonFinite();
                    progress.println("non-finite: " + first.describe());
                }
                if (Double.isFinite(r.loss())) {
                    lossSum += r.loss();
                    lossCount++;
                }
                if (step % 50 == 0 || step == totalSteps) {
                    double secs = (System.nanoTime() - start) / 1e9;
                    double rate = (step - resumedAt) * (double) r.samples() / secs;
                    progress.printf(
                            "step %d/%d  epoch %d/%d  loss %.4f  loss scale %s  %.0f samples/s  ETA %.0fs%n",
                            step,
                            totalSteps,
                            epoch,
                            epochs,
                            lossCount == 0 ? Double.NaN : lossSum / lossCount,
                            loop.scaler().enabled()
                                    ? String.valueOf(loop.scaler().scale())
                                    : "off",
                            rate,
                            (totalSteps - step) * secs / (step - resumedAt));
                }
            }
            last = evaluate(eval);
            progress.printf(
                    "epoch %d/%d  train loss %.4f  eval loss %.4f%s%n",
                    epoch,
                    epochs,
                    lossCount == 0 ? Double.NaN : lossSum / lossCount,
                    last.loss(),
                    (Double.isNaN(last.accuracy())
                                    ? ""
                                    : String.format("  eval accuracy %.2f%%", 100 * last.accuracy()))
                            + (Double.isNaN(last.bitsPerToken())
                                    ? ""
                                    : String.format("  %.3f bits/byte", last.bitsPerToken())));
        }
        if (last == null) {
            last = evaluate(eval); // resumed at the very end: no epoch ran, but the model is still evaluated
        }
        ObjectNode end = Records.of(Schema.Type.END, job, step);
        ObjectNode ev = end.putObject(Schema.EVAL);
        Records.putNumber(ev, Schema.LOSS, last == null ? Double.NaN : last.loss());
        Records.putNumber(ev, Schema.ACCURACY, last == null ? Double.NaN : last.accuracy());
        if (last != null && !Double.isNaN(last.bitsPerToken())) {
            Records.putNumber(ev, Schema.BITS_PER_BYTE, last.bitsPerToken());
        }
        ev.put(Schema.SAMPLES, last == null ? 0 : last.samples());
        end.put(Schema.STEPS, step);
        end.put(Schema.SKIPPED_STEPS, skipped);
        end.put(Schema.SECONDS, (System.nanoTime() - start) / 1e9);
        sink.emit(end);
        return new Summary(last, step, skipped, first);
    }

    /**
     * Mean loss and, for classification, accuracy on the held-out data (no tape, dropout off, fp32), over every
     * rank: each rank evaluates its part (its own shard of sharded data, else every N-th sample) and one scalar
     * sum combines them, so every rank gets the same numbers.
     */
    Metrics evaluate(Dataset data) {
        int n = data == null ? 0 : data.size();
        int world = reducer.worldSize();
        int from = evalSharded ? 0 : reducer.rank();
        int stride = evalSharded ? 1 : world;
        int count = from >= n ? 0 : (n - from + stride - 1) / stride;
        int[] mine = new int[count];
        for (int i = 0; i < count; i++) {
            mine[i] = from + i * stride;
        }
        double lossSum = 0;
        long correct = 0;
        long predictions = 0;
        for (int at = 0; at < count; at += 512) {
            int m = Math.min(512, count - at);
            Tensor[] xy = data.batch(mine, at, m);
            Tensor out = model.forward(xy[0], ForwardContext.EVAL);
            lossSum += model.loss().apply(out, xy[1]).item() * m;
            if (model.loss() == Loss.BCE_WITH_LOGITS) {
                float[] o = out.toArray();
                for (int i = 0; i < m; i++) {
                    correct += (o[i] > 0) == (xy[1].data()[i] > 0.5f) ? 1 : 0; // a positive logit says 1
                }
                predictions += m;
            } else if (model.loss() == Loss.SOFTMAX_CROSS_ENTROPY) {
                // one prediction per sample, or per position of a sequence model
                int c = out.dim(-1);
                int rows = out.size() / c;
                float[] o = out.toArray();
                float[] want = xy[1].data();
                for (int i = 0; i < rows; i++) {
                    int best = 0;
                    for (int j = 1; j < c; j++) {
                        if (o[i * c + j] > o[i * c + best]) {
                            best = j;
                        }
                    }
                    correct += best == (int) want[i] ? 1 : 0;
                }
                predictions += rows;
            }
        }
        double[] sums = {lossSum, correct, count, predictions};
        if (world > 1) {
            reducer.sumScalars(sums);
        }
        int samples = (int) sums[2];
        if (samples == 0) {
            return new Metrics(Double.NaN, Double.NaN, 0, Double.NaN);
        }
        double loss = sums[0] / samples;
        double accuracy = model.loss().classifies() ? sums[1] / sums[3] : Double.NaN;
        boolean perToken = model.takesTokenIds() && model.loss() == Loss.SOFTMAX_CROSS_ENTROPY;
        return new Metrics(loss, accuracy, samples, perToken ? loss / Math.log(2) : Double.NaN);
    }

    /**
     * An evaluation: mean loss, accuracy (NaN when not classifying; over positions for a sequence model), sample
     * count, and for a model that reads token ids the loss in bits per token (NaN otherwise).
     */
    public record Metrics(double loss, double accuracy, int samples, double bitsPerToken) {}
}
