package dev.ringtape.scheduler.driver;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.allreduce.AllReduceContext;
import dev.ringtape.allreduce.Compression;
import dev.ringtape.allreduce.EmbeddedDriver;
import dev.ringtape.allreduce.MediaDrivers;
import dev.ringtape.allreduce.Rendezvous;
import dev.ringtape.allreduce.RingAllReduce;
import dev.ringtape.allreduce.Transport;
import dev.ringtape.checkpointing.CheckpointException;
import dev.ringtape.checkpointing.JobId;
import dev.ringtape.checkpointing.SnapshotStore;
import dev.ringtape.checkpointing.SnapshotWriter;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.train.StateStore;
import dev.ringtape.runtime.train.Trainer;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.scheduler.worker.AeronGradientReducer;
import dev.ringtape.scheduler.worker.Threads;
import dev.ringtape.scheduler.worker.Worker;
import dev.ringtape.telemetry.JobKey;
import dev.ringtape.telemetry.Links;
import dev.ringtape.telemetry.Records;
import dev.ringtape.telemetry.Schema;
import dev.ringtape.telemetry.SocketSink;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.BarrierTaskInfo;

/**
 * One rank of a job, run as a barrier task on an executor. Rank = partition id. It reports to the driver's
 * telemetry server, starts Aeron (IPC through one media driver when every rank runs in this executor JVM, else UDP
 * on the executor's own address), exchanges ring endpoints through the driver ({@link EndpointExchange}), and
 * trains with the ring as the trainer's {@code GradientReducer}. Rank 0 returns the trained model; a rank that fails tells the driver why
 * before its exception fails the stage.
 */
final class RankTask implements Barrier.Task<Object, TrainedModel> {
    private final JobSpec job;
    private final String telemetryEndpoint;
    private final String exchange;
    private final JobKey key;
    private final long token;
    private final JobId jobId;
    private final String checkpoints;
    private final String resume;

    /**
     * A rank of {@code job}: its telemetry to {@code telemetryEndpoint}, its ring endpoint to the driver's {@code
     * exchange}, both proving {@code key} (this attempt's, which reaches the executor inside the task); rank 0 writes snapshots to {@code checkpoints}; every rank starts from the snapshot at {@code
     * resume} (null: from the start).
     */
    RankTask(
            JobSpec job,
            String telemetryEndpoint,
            String exchange,
            JobKey key,
            long token,
            JobId jobId,
            String checkpoints,
            String resume) {
        this.job = job;
        this.telemetryEndpoint = telemetryEndpoint;
        this.exchange = exchange;
        this.key = key;
        this.token = token;
        this.jobId = jobId;
        this.checkpoints = checkpoints;
        this.resume = resume;
    }

    @Override
    public List<TrainedModel> run(Iterator<Object> partition) throws Exception {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        int rank = ctx.partitionId();
        Object first = partition.hasNext() ? partition.next() : null;
        Worker.Loader loader = first instanceof Shard shard
                ? shape -> Worker.shard(
                        shard.train(),
                        shard.eval(),
                        shard.stats().normalizer(job.data().normalize()),
                        shard.smallestTrainShard(),
                        shape)
                : shape -> Worker.data(job, null, shape);
        try (SocketSink sink = new SocketSink(telemetryEndpoint, rank, key, 30_000)) {
            try {
                Worker.Outcome o = train(ctx, rank, sink, loader);
                return rank == 0 ? List.of(TrainedModel.of(o)) : List.of();
            } catch (SpecException | DataException e) {
                sink.error(e.getMessage());
                throw new IllegalStateException(e.getMessage(), e);
            } catch (RuntimeException | Error e) {
                sink.error("rank " + rank + ": " + e, e);
                throw e;
            }
        }
    }

    private Worker.Outcome train(BarrierTaskContext ctx, int rank, SocketSink sink, Worker.Loader loader)
            throws SpecException, DataException {
        BarrierTaskInfo[] infos = ctx.getTaskInfos();
        int world = infos.length;
        String own = infos[rank].address();
        boolean oneJvm = Arrays.stream(infos).allMatch(i -> i.address().equals(own));
        Transport transport = Transport.of(job.allreduce().transport(), oneJvm);
        if (transport == Transport.IPC && !oneJvm) {
            throw new SpecException(
                    "allreduce.transport",
                    "aeron-ipc needs every rank in one executor JVM, but the " + world + " ranks run in "
                            + Arrays.stream(infos)
                                    .map(BarrierTaskInfo::address)
                                    .distinct()
                                    .count()
                            + " executors; use aeron-udp or auto");
        }
        EmbeddedDriver ownDriver = null;
        EmbeddedDriver driver;
        if (transport == Transport.IPC) {
            driver = SharedDrivers.acquire(token);
        } else {
            ownDriver = MediaDrivers.launch(MediaDrivers.directoryFor("rank" + rank));
            driver = ownDriver;
        }
        try {
            AllReduceContext arc = new AllReduceContext()
                    .transport(transport)
                    .driver(driver)
                    .host(host(own))
                    .compression(Compression.of(job.allreduce().compress()))
                    .timeoutNs((long) (job.allreduce().timeoutS() * 1e9));
            try (RingAllReduce ring = RingAllReduce.open(arc, rank, world)) {
                String[] endpoints;
                try {
                    endpoints = EndpointExchange.exchange(
                            exchange,
                            rank,
                            world,
                            ring.endpoint(),
                            key,
                            (long) (job.allreduce().timeoutS() * 1000),
                            ctx::isInterrupted);
                } catch (java.io.IOException e) {
                    throw new IllegalStateException("rank " + rank + ": " + e.getMessage(), e);
                }
                ring.connect(new Rendezvous(rank, world, token, List.of(endpoints)));
                ObjectNode started = Records.of(Schema.Type.EVENT, job.name(), 0);
                started.put(Schema.EVENT, "rank_started");
                started.put(Schema.EXECUTOR, own);
                started.put(Schema.TRANSPORT, transport == Transport.IPC ? "aeron-ipc" : "aeron-udp");
                started.put(Schema.ENDPOINT, endpoints[rank]);
                String gpu = gpu(ctx.resourcesJMap());
                if (gpu != null) {
                    started.put(Schema.GPU, gpu);
                }
                sink.emit(started);
                if (transport == Transport.UDP && world > 1) {
                    probeLinks(ring, infos, job.name(), rank, sink);
                }
                try (AeronGradientReducer reducer = new AeronGradientReducer(ring);
                        SnapshotWriter snapshots = rank == 0 && job.checkpoint().everySteps() > 0
                                ? new SnapshotWriter(
                                        SnapshotStore.open(
                                                checkpoints, job.checkpoint().keep()),
                                        jobId,
                                        world,
                                        job.checkpoint().everySteps(),
                                        sink,
                                        job.name())
                                : null) {
                    PrintStream progress =
                            rank == 0 ? sink.console() : new PrintStream(OutputStream.nullOutputStream());
                    Trainer.Resume from =
                            resume == null ? null : SnapshotStore.load(resume).resume();
                    int here = (int) Arrays.stream(infos)
                            .filter(i -> i.address().equals(own))
                            .count();
                    Threads threads = Threads.choose(
                            job.threads(),
                            ctx.cpus(),
                            here,
                            Runtime.getRuntime().availableProcessors(),
                            "driver".equals(org.apache.spark.SparkEnv.get().executorId()));
                    return Worker.run(
                            job,
                            loader,
                            reducer,
                            snapshots == null ? StateStore.NONE : snapshots,
                            sink,
                            progress,
                            from,
                            threads,
                            gpu);
                } catch (CheckpointException e) {
                    throw new IllegalStateException(e.getMessage(), e);
                }
            }
        } finally {
            if (ownDriver != null) {
                ownDriver.close();
            } else {
                SharedDrivers.release(token);
            }
        }
    }

    /**
     * The GPU Spark assigned this task ({@code spark.task.resource.gpu.amount}): the first of its addresses, so each
     * rank computes on its own GPU rather than every rank on device 0; null when the job asks for no GPUs.
     */
    static String gpu(java.util.Map<String, org.apache.spark.resource.ResourceInformation> resources) {
        org.apache.spark.resource.ResourceInformation gpu = resources.get("gpu");
        return gpu == null || gpu.addresses().length == 0 ? null : gpu.addresses()[0];
    }

    private static String host(String address) {
        int colon = address.lastIndexOf(':');
        return colon > 0 ? address.substring(0, colon) : address;
    }

    /** Bytes each rank sends in the link probe: 1 ms at 10 Gbit/s, 0.2 s at 100 Mbit/s. */
    static final int PROBE_BYTES = 2 << 20;

    /**
     * Measures the link into every rank before the first step ({@link RingAllReduce#probeLinks}), twice, keeping each
     * link's faster round: a rank held up during a round (its JVM compiling the first step on a busy host) makes the
     * link it sends on read slow, never fast. One round once read a 1 Gbit/s link of the testbed at 102 Mbit/s, beside
     * the 100 Mbit/s one it was to single out (SlowLinkTest). Rank 0 writes the rates as a {@code links} event, naming
     * the rank on a slow link (its executor) when one is ({@link Links}).
     */
    private static void probeLinks(RingAllReduce ring, BarrierTaskInfo[] infos, String job, int rank, SocketSink sink) {
        double[] in = ring.probeLinks(PROBE_BYTES, 0);
        double[] again = ring.probeLinks(PROBE_BYTES, 0);
        if (rank != 0 || in == null) {
            return;
        }
        for (int r = 0; r < in.length; r++) {
            in[r] = Math.max(in[r], again[r]);
        }
        ObjectNode links = Records.of(Schema.Type.EVENT, job, 0);
        links.put(Schema.EVENT, "links");
        com.fasterxml.jackson.databind.node.ArrayNode rates = links.putArray(Schema.LINK_MBIT_S);
        for (double v : in) {
            rates.add(mbit(v));
        }
        Links.Straggler s = Links.straggler(in);
        if (s != null) {
            ObjectNode o = links.putObject(Schema.STRAGGLER);
            o.put(Schema.RANK, s.rank());
            o.put(Schema.EXECUTOR, infos[s.rank()].address());
            o.put(Schema.BOTH_WAYS, s.bothWays());
            o.put(Schema.MBIT_S, mbit(s.bytesPerSecond()));
            o.put(Schema.FASTEST_MBIT_S, mbit(s.fastestBytesPerSecond()));
        }
        sink.emit(links);
    }

    /** Bytes per second as Mbit/s, to a tenth. */
    private static double mbit(double bytesPerSecond) {
        return Math.round(bytesPerSecond * 8 / 1e5) / 10.0;
    }
}
