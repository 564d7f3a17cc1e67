package dev.ringtape.checkpointing;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.train.StateStore;
import dev.ringtape.runtime.train.TrainingState;
import dev.ringtape.telemetry.Records;
import dev.ringtape.telemetry.Schema;
import dev.ringtape.telemetry.TelemetrySink;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;

/**
 * The trainer's {@link StateStore} port on a {@link SnapshotStore}: every {@code everySteps} steps it copies the
 * state between steps, on the training thread (so the next step cannot change what is written), and writes the copy
 * from a background thread, one write at a time (a step that comes due while the last write is still going waits
 * for it). Each write is a {@code checkpoint} record (step, path, bytes, seconds; or the error, after which training
 * goes on and the previous snapshot stays the newest).
 */
public final class SnapshotWriter implements StateStore, AutoCloseable {
    private final SnapshotStore store;
    private final JobId jobId;
    private final int worldSize;
    private final int everySteps;
    private final TelemetrySink sink;
    private final String job;
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "ringtape-snapshot-writer");
        t.setDaemon(true);
        return t;
    });
    private Future<?> pending;

    public SnapshotWriter(
            SnapshotStore store, JobId jobId, int worldSize, int everySteps, TelemetrySink sink, String job) {
        this.store = store;
        this.jobId = jobId;
        this.worldSize = worldSize;
        this.everySteps = everySteps;
        this.sink = sink;
        this.job = job;
    }

    @Override
    public void afterStep(long step, Supplier<TrainingState> state) {
        if (everySteps <= 0 || (step + 1) % everySteps != 0) {
            return;
        }
        awaitPending();
        Snapshot copy = Snapshot.of(jobId, worldSize, state.get());
        pending = thread.submit(() -> {
            ObjectNode r = Records.of(Schema.Type.CHECKPOINT, job, step);
            try {
                SnapshotStore.Written w = store.write(copy);
                r.put(Schema.PATH, w.path());
                r.put(Schema.BYTES, w.bytes());
                r.put(Schema.SECONDS, w.seconds());
            } catch (CheckpointException e) {
                r.put(Schema.ERROR, e.getMessage());
            }
            sink.emit(r);
        });
    }

    private void awaitPending() {
        if (pending != null) {
            try {
                pending.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException("the snapshot writer failed", e.getCause());
            }
            pending = null;
        }
    }

    /** Waits for the last write. */
    @Override
    public void close() {
        awaitPending();
        thread.shutdown();
    }
}
