package dev.ringtape.allreduce;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.Header;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Ring all-reduce over Aeron: sums float32 ranges of a buffer across N ranks, each rank sending to rank + 1 and
 * receiving from rank - 1. A range is summed in segments of 1 MiB, each by reduce-scatter then all-gather, 2(N - 1)
 * ring steps over N chunks of the segment; every chunk moves in
 * MTU-sized fragments, and a fragment goes on to the next step as soon as it has arrived (and been added), so a rank
 * sends fragment i + 1 while the next rank reduces fragment i. Each element is summed in the same ring order on
 * every call, so results repeat exactly for a given N.
 *
 * <p>The floats live in the caller's heap array (the trainer's gradient arena itself, so nothing is copied in or out
 * of direct memory around a sum). Each frame is claimed in the publication's log and filled in place (header, then
 * the floats in one bulk copy); a received fragment is copied out of the log in one bulk copy and either added into
 * the array ({@link Adder}: eight lanes at a time; reduce-scatter) or copied straight into it (all-gather). Per rank and all-reduce of
 * S bytes on two ranks that is S copied into logs and S out of them, the least a log-based transport can do.
 *
 * <p>With {@link Compression#BF16} a frame carries twice as many values as bfloat16: a received partial sum is widened
 * and added in float32, and each chunk's owner rounds its final sum to bfloat16 as it sends it round, so every rank
 * ends with the same bits. {@link #probeLinks} measures each link at its own rate (an all-reduce cannot: its links
 * all run at the slowest one's pace).
 *
 * <p>Not thread-safe: one thread drives a ring. No allocation per call. A peer that dies or stalls turns into an
 * {@link AllReduceException} naming the rank and the collective within the context's timeout.
 */
public final class RingAllReduce implements AutoCloseable {
    private final AllReduceContext ctx;
    private final EmbeddedDriver driver;
    private final Adder adder = Adder.get();
    private final int rank;
    private final int world;
    private final Aeron aeron;
    private final Subscription subscription;
    private final UnsafeBuffer header = new UnsafeBuffer(ByteBuffer.allocateDirect(Frame.LENGTH));
    // Waiting for a peer: 100 spins, some yields, then naps of 1 to 50 us (a nap of 1 us lasts about 80 us on Linux,
    // its 50 us timer slack). Until the peer's first frame of an all-reduce arrives the wait can be long (the peer
    // may still be in its backward pass): 10 yields, then naps, leave the cores to the trainer. Once frames flow the
    // waits are short and up to 1,000 yields (0.2 us each here) keep naps out of them: 64 MiB all-reduces ran about
    // 6 % (IPC) and 9 % (UDP) faster than with 10. (In a 2-worker training run, 1,000 yields throughout cost 0 to
    // 9 % of the samples/s in three sets of alternated runs; this split cost the all-reduce bench nothing.)
    private final IdleStrategy politeIdle = new BackoffIdleStrategy(100, 10, 1_000, 50_000);
    private final IdleStrategy flowingIdle = new BackoffIdleStrategy(100, 1_000, 1_000, 50_000);
    private IdleStrategy idle = politeIdle;
    private final ControlledFragmentHandler handler = this::onFragment;
    private final UnsafeBuffer scalarOut = new UnsafeBuffer(ByteBuffer.allocateDirect(8 * 64));
    private final BufferClaim claim = new BufferClaim();
    private static final long FLOAT_ARRAY_BASE = UnsafeApi.arrayBaseOffset(float[].class);
    private Publication publication;
    private Rendezvous rendezvous;
    private float[] incoming = new float[0];
    private float[] scratch = new float[0];
    private long token;
    private int fragmentFloats;
    /** Values a ring frame carries: {@link #fragmentFloats}, twice as many as bfloat16. */
    private int perFrame;

    private final boolean bf16;
    private final int valueBytes;
    private long sentBytes;
    private long sequence;
    private long droppedStranger;
    private long droppedStale;

    // state of the collective in progress
    private byte mode;
    private float[] data;
    private int baseFloat;
    private int lengthFloats;
    private int recvStep;
    private int recvFragment;
    private int totalSteps;
    private double[][] scalarVectors;
    private int scalarsReceived;
    private int probeReceived;
    private int probeFrom;
    private long probeFirstNs;
    private long probeLastNs;
    private String failure;

    private RingAllReduce(AllReduceContext ctx, int rank, int world) {
        this.ctx = ctx;
        this.driver = ctx.driver();
        this.rank = rank;
        this.world = world;
        this.bf16 = ctx.compression() == Compression.BF16;
        this.valueBytes = bf16 ? 2 : 4;
        this.aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(ctx.aeronDirectory()));
        try {
            int stream = ctx.transport() == Transport.IPC ? ctx.streamId() + rank : ctx.streamId();
            this.subscription = aeron.addSubscription(ctx.subscriptionChannel(), stream);
        } catch (RuntimeException e) {
            aeron.close();
            throw e;
        }
    }

    /**
     * Opens rank {@code rank} of {@code world}: connects to the media driver and, for UDP, binds the subscription
     * whose {@link #endpoint()} goes into the rendezvous.
     */
    public static RingAllReduce open(AllReduceContext ctx, int rank, int world) {
        ctx.conclude();
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException(
                    "the ring moves floats in little-endian order, as x86 and ARM hold them");
        }
        if (world < 1 || rank < 0 || rank >= world) {
            throw new IllegalArgumentException("rank " + rank + " of " + world);
        }
        return new RingAllReduce(ctx, rank, world);
    }

    /** This rank's receiving endpoint ({@code host:port} for UDP, once the OS picked the port; "ipc" for IPC). */
    public String endpoint() {
        if (ctx.transport() == Transport.IPC) {
            return "ipc";
        }
        long deadline = System.nanoTime() + ctx.timeoutNs();
        while (true) {
            String resolved = subscription.resolvedEndpoint();
            if (resolved != null) {
                return resolved;
            }
            if (System.nanoTime() > deadline) {
                throw new AllReduceException("rank " + rank + ": the media driver did not bind a UDP endpoint");
            }
            idleOrDrive();
        }
    }

    /** Connects to the next rank and waits until both neighbours are there (within the timeout). */
    public void connect(Rendezvous r) {
        if (r.rank() != rank || r.worldSize() != world) {
            throw new IllegalArgumentException("rendezvous for rank " + r.rank() + " of " + r.worldSize()
                    + ", this is rank " + rank + " of " + world);
        }
        this.rendezvous = r;
        this.token = r.token();
        if (world == 1) {
            return;
        }
        int stream = ctx.transport() == Transport.IPC ? ctx.streamId() + r.next() : ctx.streamId();
        ExclusivePublication p = aeron.addExclusivePublication(
                ctx.publicationChannel(r.endpoints().get(r.next())), stream);
        this.publication = p;
        this.fragmentFloats = (p.maxPayloadLength() - Frame.LENGTH) / 4;
        this.perFrame = fragmentFloats * 4 / valueBytes;
        this.incoming = new float[perFrame];
        this.scratch = new float[perFrame];
        long deadline = System.nanoTime() + ctx.timeoutNs();
        idle.reset();
        while (!p.isConnected() || !subscription.isConnected()) {
            if (System.nanoTime() > deadline) {
                throw new AllReduceException("rank " + rank + ": "
                        + (!p.isConnected()
                                ? "rank " + r.next() + " (next) did not connect"
                                : "rank " + r.previous() + " (previous) did not connect")
                        + " within " + ctx.timeoutNs() / 1_000_000 + " ms");
            }
            idleOrDrive();
        }
    }

    public int rank() {
        return rank;
    }

    /** Floats per frame: the publication's largest unfragmented payload less the header. */
    public int fragmentFloats() {
        return fragmentFloats;
    }

    public int worldSize() {
        return world;
    }

    /** Bytes of ring frames (headers and values) this rank has sent in all-reduces of buffers. */
    public long sentBytes() {
        return sentBytes;
    }

    /** Frames dropped because they carried another job's (or attempt's) token. */
    public long droppedStrangerFrames() {
        return droppedStranger;
    }

    /** Frames dropped because they belonged to a collective already completed. */
    public long droppedStaleFrames() {
        return droppedStale;
    }

    /**
     * Replaces floats {@code [offset, offset + length)} of {@code data} by their sum over all ranks. {@code step}
     * only labels errors (the trainer's step).
     */
    public void allReduce(float[] data, int offset, int length, long step) {
        requireConnected();
        if (offset < 0 || length < 0 || offset > data.length - length) {
            throw new IllegalArgumentException("floats " + offset + "+" + length + " of an array of " + data.length);
        }
        if (world == 1 || length == 0) {
            sequence++;
            return;
        }
        idle = politeIdle;
        // segment by segment (each a ring all-reduce of its own): a segment's chunks are sent, summed and gathered
        // while they are still in cache. 64 MiB over IPC, alternated runs: no segments 1.73-1.85 GB/s, 4 MiB
        // segments 1.95-2.06 (before the ranks ran the driver); then 4 MiB 2.85-3.05, 1 MiB 3.14-3.44, 256 KiB
        // 3.25-3.35, and at 256 MiB 1 MiB segments still led (3.11 against 2.86, 256 KiB 3.03-3.23)
        for (int done = 0; done < length; done += SEGMENT_FLOATS) {
            ring(data, offset + done, Math.min(SEGMENT_FLOATS, length - done), step);
        }
    }

    /** Floats of one segment: 1 MiB, the size that measured best (above). */
    static final int SEGMENT_FLOATS = 1 << 18;

    private void ring(float[] data, int offset, int length, long step) {
        mode = Frame.REDUCE_SCATTER;
        this.data = data;
        baseFloat = offset;
        lengthFloats = length;
        totalSteps = 2 * (world - 1);
        recvStep = 0;
        recvFragment = 0;
        skipEmpty();
        int sendStep = 0;
        int sendFragment = 0;
        while (sendStep < totalSteps && fragments(sendChunk(sendStep)) == 0) {
            sendStep++;
        }
        long lastProgress = System.nanoTime();
        idle.reset();
        while (recvStep < totalSteps || sendStep < totalSteps) {
            int work = 0;
            while (sendStep < totalSteps && received(sendStep - 1, sendFragment)) {
                int chunk = sendChunk(sendStep);
                int from = chunkStart(chunk) + sendFragment * perFrame;
                int count = Math.min(perFrame, chunkStart(chunk + 1) - from);
                byte type = sendStep < world - 1 ? Frame.REDUCE_SCATTER : Frame.ALL_GATHER;
                long result = publication.tryClaim(Frame.LENGTH + valueBytes * count, claim);
                if (result < 0) {
                    checkPublication(result, step);
                    break;
                }
                MutableDirectBuffer out = claim.buffer();
                int at = claim.offset();
                Frame.write(out, at, type, sendStep, rank, token, sequence, from, count);
                writeValues(out, at + Frame.LENGTH, type, baseFloat + from, count);
                claim.commit();
                sentBytes += Frame.LENGTH + (long) valueBytes * count;
                work++;
                if (++sendFragment == fragments(chunk)) {
                    sendFragment = 0;
                    do {
                        sendStep++;
                    } while (sendStep < totalSteps && fragments(sendChunk(sendStep)) == 0);
                }
            }
            lastProgress = pollAndPace(recvStep < totalSteps, 64, work, lastProgress, step);
        }
        sequence++;
        this.data = null;
    }

    /**
     * Measures the link into every rank: each rank sends {@code bytes} of filler frames to the next at once, all links
     * at the same time, and times what arrives from the previous one (from the first quarter on, so the burst a
     * shaped link lets through at line rate does not count). Unlike an all-reduce, whose every link runs at the
     * pace of the slowest (a rank forwards only what it received), here each link runs at its own rate. Returns,
     * on every rank, the bytes per second that arrived at each rank (index r: the link from rank r - 1 to rank r),
     * or null with more than 64 ranks. A collective: every rank calls it at the same point.
     */
    public double[] probeLinks(int bytes, long step) {
        requireConnected();
        if (world == 1 || world > 64) {
            sequence++;
            return world == 1 ? new double[] {Double.POSITIVE_INFINITY} : null;
        }
        int frames = Math.max(4, (bytes + 4 * fragmentFloats - 1) / (4 * fragmentFloats));
        mode = Frame.PROBE;
        idle = politeIdle;
        probeReceived = 0;
        probeFrom = frames / 4;
        int sent = 0;
        long lastProgress = System.nanoTime();
        idle.reset();
        while (probeReceived < frames || sent < frames) {
            int work = 0;
            while (sent < frames) {
                long result = publication.tryClaim(Frame.LENGTH + 4 * fragmentFloats, claim);
                if (result < 0) {
                    checkPublication(result, step);
                    break;
                }
                MutableDirectBuffer out = claim.buffer();
                Frame.write(out, claim.offset(), Frame.PROBE, 0, rank, token, sequence, sent, fragmentFloats);
                out.setMemory(claim.offset() + Frame.LENGTH, 4 * fragmentFloats, (byte) 0);
                claim.commit();
                sent++;
                work++;
            }
            lastProgress = pollAndPace(probeReceived < frames, 64, work, lastProgress, step);
        }
        sequence++;
        double[] rates = new double[world];
        long ns = Math.max(1, probeLastNs - probeFirstNs);
        rates[rank] = (frames - probeFrom - 1) * 4.0 * fragmentFloats / (ns / 1e9);
        sumScalars(rates, step);
        return rates;
    }

    /** Replaces each value by its sum over all ranks, added in rank order (so every rank gets the same bits). */
    public void sumScalars(double[] values, long step) {
        requireConnected();
        if (values.length > 64) {
            throw new IllegalArgumentException("at most 64 scalars, got " + values.length);
        }
        if (world == 1) {
            sequence++;
            return;
        }
        mode = Frame.SCALARS;
        idle = politeIdle;
        scalarVectors = new double[world][];
        scalarVectors[rank] = values.clone();
        scalarsReceived = 0;
        // pass on our own vector first, then each one received but the last: after N - 1 hops all have all
        int forwarded = 0;
        long lastProgress = System.nanoTime();
        idle.reset();
        while (scalarsReceived < world - 1 || forwarded < world - 1) {
            int work = 0;
            int ready = 1 + Math.min(scalarsReceived, world - 2);
            while (forwarded < ready) {
                int origin = (rank - forwarded + world) % world;
                double[] v = scalarVectors[origin];
                for (int i = 0; i < v.length; i++) {
                    scalarOut.putDouble(8 * i, v[i], ByteOrder.LITTLE_ENDIAN);
                }
                Frame.write(header, 0, Frame.SCALARS, forwarded, rank, token, sequence, origin, v.length);
                long result = publication.offer(header, 0, Frame.LENGTH, scalarOut, 0, 8 * v.length);
                if (result < 0) {
                    checkPublication(result, step);
                    break;
                }
                forwarded++;
                work++;
            }
            lastProgress = pollAndPace(scalarsReceived < world - 1, 16, work, lastProgress, step);
        }
        for (int i = 0; i < values.length; i++) {
            double s = 0;
            for (int r = 0; r < world; r++) {
                s += scalarVectors[r][i];
            }
            values[i] = s;
        }
        sequence++;
    }

    /**
     * Polls (when still receiving), then resets the idle strategy after progress or idles, failing once the silence
     * outlasts the timeout. Returns the time of the last progress.
     */
    private long pollAndPace(boolean receiving, int limit, int work, long lastProgress, long step) {
        if (receiving) {
            work += subscription.controlledPoll(handler, limit);
            if (failure != null) {
                throw new AllReduceException(failure);
            }
        }
        if (work > 0) {
            idle.reset();
            return System.nanoTime();
        }
        checkAlive(lastProgress, step);
        idleOrDrive();
        return lastProgress;
    }

    /**
     * Nothing to do until a peer moves: runs a cycle of this JVM's media driver if it has work (rather than leave
     * it to the driver's keeper thread), or idles. The driver's work is not the ring's progress: it does not hold
     * off the timeout.
     */
    private void idleOrDrive() {
        if (driver != null && driver.doWork() > 0) {
            idle.reset();
        } else {
            idle.idle();
        }
    }

    private ControlledFragmentHandler.Action onFragment(DirectBuffer b, int at, int length, Header h) {
        if (!Frame.valid(b, at, length) || Frame.token(b, at) != token) {
            droppedStranger++;
            return ControlledFragmentHandler.Action.CONTINUE;
        }
        long seq = Frame.sequence(b, at);
        if (seq < sequence) {
            droppedStale++;
            return ControlledFragmentHandler.Action.CONTINUE;
        }
        if (seq > sequence) {
            // the previous rank already started the next collective: leave it in the log for then
            return ControlledFragmentHandler.Action.ABORT;
        }
        int sender = Frame.sender(b, at);
        if (sender != rendezvous.previous()) {
            failure = "rank " + rank + ": collective " + seq + " got a frame from rank " + sender + ", expected rank "
                    + rendezvous.previous();
            return ControlledFragmentHandler.Action.BREAK;
        }
        byte type = Frame.type(b, at);
        int payload = at + Frame.LENGTH;
        if (mode == Frame.PROBE || type == Frame.PROBE) {
            if (mode != type) {
                failure = "rank " + rank + ": collective " + seq + " mixes a link probe and another collective";
                return ControlledFragmentHandler.Action.BREAK;
            }
            if (probeReceived == probeFrom) {
                probeFirstNs = System.nanoTime();
            }
            probeLastNs = System.nanoTime();
            probeReceived++;
            return ControlledFragmentHandler.Action.CONTINUE;
        }
        if (mode == Frame.SCALARS) {
            if (type != Frame.SCALARS) {
                failure = "rank " + rank + ": collective " + seq + " mixes scalar and buffer all-reduces across ranks";
                return ControlledFragmentHandler.Action.BREAK;
            }
            int origin = Frame.offset(b, at);
            int count = Frame.count(b, at);
            double[] v = new double[count];
            for (int i = 0; i < count; i++) {
                v[i] = b.getDouble(payload + 8 * i, ByteOrder.LITTLE_ENDIAN);
            }
            scalarVectors[origin] = v;
            scalarsReceived++;
            return ControlledFragmentHandler.Action.CONTINUE;
        }
        if (recvStep >= totalSteps) {
            return ControlledFragmentHandler.Action.ABORT;
        }
        int chunk = recvChunk(recvStep);
        int from = chunkStart(chunk) + recvFragment * perFrame;
        int count = Math.min(perFrame, chunkStart(chunk + 1) - from);
        if (type == Frame.SCALARS
                || Frame.ringStep(b, at) != recvStep
                || Frame.offset(b, at) != from
                || Frame.count(b, at) != count) {
            failure = "rank " + rank + ": collective " + seq + " expected ring step " + recvStep + " elements " + from
                    + "+" + count + " from rank " + sender + ", got step " + Frame.ringStep(b, at) + " elements "
                    + Frame.offset(b, at) + "+" + Frame.count(b, at) + " (ranks disagree on the buffer length?)";
            return ControlledFragmentHandler.Action.BREAK;
        }
        readValues(b.byteArray(), b.addressOffset() + payload, type, baseFloat + from, count);
        idle = flowingIdle;
        if (++recvFragment == fragments(chunk)) {
            recvFragment = 0;
            recvStep++;
            skipEmpty();
        }
        return ControlledFragmentHandler.Action.CONTINUE;
    }

    /** Puts {@code data[at, at + count)} into a frame's payload: float32 as they are, or rounded to bfloat16. */
    private void writeValues(MutableDirectBuffer out, int offset, byte type, int at, int count) {
        if (bf16) {
            // a chunk's owner rounds its sum as it sends it round, so every rank ends with the same bits
            Bf16.pack(data, at, count, out.byteArray(), out.addressOffset() + offset, type == Frame.ALL_GATHER);
        } else {
            UnsafeApi.copyMemory(
                    data, FLOAT_ARRAY_BASE + 4L * at, out.byteArray(), out.addressOffset() + offset, 4L * count);
        }
    }

    /**
     * Takes a received payload of {@code count} values into {@code data[at, at + count)}: added (reduce-scatter) or
     * copied (all-gather), widened from bfloat16 first where the frames carry it.
     */
    private void readValues(Object base, long src, byte type, int at, int count) {
        if (type == Frame.REDUCE_SCATTER) {
            // one bulk copy out of the log (adding through Unsafe straight from the log C2 leaves scalar)
            if (bf16) {
                Bf16.unpack(base, src, incoming, 0, count);
            } else {
                UnsafeApi.copyMemory(base, src, incoming, FLOAT_ARRAY_BASE, 4L * count);
            }
            adder.add(data, at, incoming, count, scratch);
        } else if (bf16) {
            Bf16.unpack(base, src, data, at, count);
        } else {
            UnsafeApi.copyMemory(base, src, data, FLOAT_ARRAY_BASE + 4L * at, 4L * count);
        }
    }

    private void skipEmpty() {
        while (recvStep < totalSteps && fragments(recvChunk(recvStep)) == 0) {
            recvStep++;
        }
    }

    /** Whether fragment {@code j} of ring step {@code t} has been received (step -1: always). */
    private boolean received(int t, int j) {
        return t < 0 || recvStep > t || (recvStep == t && recvFragment > j);
    }

    private int sendChunk(int t) {
        int s = t < world - 1 ? t : t - (world - 1);
        int c = t < world - 1 ? rank - s : rank + 1 - s;
        return ((c % world) + world) % world;
    }

    private int recvChunk(int t) {
        int s = t < world - 1 ? t : t - (world - 1);
        int c = t < world - 1 ? rank - s - 1 : rank - s;
        return ((c % world) + world) % world;
    }

    private int chunkStart(int c) {
        return (int) ((long) lengthFloats * c / world);
    }

    private int fragments(int c) {
        int n = chunkStart(c + 1) - chunkStart(c);
        return (n + perFrame - 1) / perFrame;
    }

    private void requireConnected() {
        if (rendezvous == null) {
            throw new IllegalStateException("connect(rendezvous) first");
        }
    }

    private void checkPublication(long result, long step) {
        if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
            throw new AllReduceException("rank " + rank + ": the publication to rank " + rendezvous.next()
                    + " is closed (step " + step + ", collective " + sequence + ")");
        }
    }

    private void checkAlive(long lastProgress, long step) {
        long silent = System.nanoTime() - lastProgress;
        if (silent > ctx.timeoutNs()) {
            String who;
            if (!publication.isConnected()) {
                who = "rank " + rendezvous.next() + " (next) is gone";
            } else if (!subscription.isConnected()) {
                who = "rank " + rendezvous.previous() + " (previous) is gone";
            } else {
                who = "nothing arrived from rank " + rendezvous.previous() + " (previous)";
            }
            throw new AllReduceException("rank " + rank + ": all-reduce of step " + step + " (collective " + sequence
                    + ") made no progress for " + silent / 1_000_000 + " ms: " + who);
        }
    }

    @Override
    public void close() {
        try {
            if (publication != null) {
                publication.close();
            }
            subscription.close();
        } finally {
            aeron.close();
        }
    }
}
