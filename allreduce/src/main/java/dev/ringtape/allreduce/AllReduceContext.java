package dev.ringtape.allreduce;

import java.util.concurrent.TimeUnit;

/**
 * Settings of a ring, Aeron-style: defaults, setters, then {@link #conclude()} validates them once. The defaults are
 * the tuning measured on loopback (bench/RESULTS.md): a 64 KiB MTU (Aeron's largest, 65504 bytes) so a frame carries
 * 16,360 floats; 4 MiB terms for both transports (the driver zeroes every term it rotates past, and a small log
 * stays in cache: for IPC 4 MiB beat 1, 2, 8, 16 and 64 MiB, for UDP 64 MiB all-reduces ran at 1.32 GB/s against
 * 0.95 with 16 MiB terms and 1.09 with 8 MiB); for UDP also 4 MiB socket buffers.
 *
 * <p>The UDP receiver window (how much a sender may have in flight, Aeron's {@code rcv-wnd}) is 256 KiB, measured
 * over shaped links (issue 24, deploy/testbed): Aeron's default flow control has no congestion control, so a window
 * larger than the queue in front of a slow link overflows it at every round, and the receiver's NAKs and the
 * sender's retransmits feed the loss. With the window at the 4 MiB socket buffer, two hosts on 100 Mbit/s links
 * (a tbf queue of about 0.5 MB) summed 8 MiB in 33 s and retransmitted 1.6 GB; at 256 KiB, 0.68 s, 98 % of the link,
 * nothing retransmitted, and 98 % of a 10 Mbit/s link too. Aeron's CUBIC congestion control ({@code cc=cubic})
 * matched that at 100 Mbit/s but stalled for good at 10. The cost: about 6 % of a 64 MiB UDP all-reduce between two
 * processes on loopback, where ranks on one host use IPC anyway.
 */
public final class AllReduceContext {
    private Transport transport = Transport.UDP;
    private String aeronDirectory;
    private EmbeddedDriver driver;
    private String host = "127.0.0.1";
    private long timeoutNs = TimeUnit.SECONDS.toNanos(60);
    private int termLength;
    private int mtu = 65504;
    private int socketBufferBytes = 4 << 20;
    private int receiverWindow = 256 << 10;
    private int streamId = 7001;
    private Compression compression = Compression.NONE;
    private boolean concluded;

    public AllReduceContext transport(Transport value) {
        transport = value;
        return this;
    }

    public Transport transport() {
        return transport;
    }

    /** The media driver's directory this rank's Aeron client connects to (for IPC: the one all ranks share). */
    public AllReduceContext aeronDirectory(String value) {
        aeronDirectory = value;
        return this;
    }

    public String aeronDirectory() {
        return aeronDirectory;
    }

    /**
     * The embedded driver of this JVM to connect to: sets {@link #aeronDirectory}, and the ring runs the driver's
     * duty cycle while it waits for its peers.
     */
    public AllReduceContext driver(EmbeddedDriver value) {
        driver = value;
        aeronDirectory = value.aeronDirectoryName();
        return this;
    }

    /** The embedded driver the ring helps run, or null when the driver is another process's. */
    EmbeddedDriver driver() {
        return driver;
    }

    /** The address UDP subscriptions bind (port 0: the OS picks one, reported by {@code endpoint()}). */
    public AllReduceContext host(String value) {
        host = value;
        return this;
    }

    public String host() {
        return host;
    }

    /** How long a collective may go without progress before it fails, naming the silent peer. */
    public AllReduceContext timeoutNs(long value) {
        timeoutNs = value;
        return this;
    }

    public long timeoutNs() {
        return timeoutNs;
    }

    public AllReduceContext termLength(int value) {
        termLength = value;
        return this;
    }

    public int termLength() {
        return termLength;
    }

    public AllReduceContext mtu(int value) {
        mtu = value;
        return this;
    }

    public int mtu() {
        return mtu;
    }

    public AllReduceContext socketBufferBytes(int value) {
        socketBufferBytes = value;
        return this;
    }

    public int socketBufferBytes() {
        return socketBufferBytes;
    }

    /** How many bytes a sender may have in flight to this rank (Aeron's {@code rcv-wnd}); 256 KiB, see above. */
    public AllReduceContext receiverWindow(int value) {
        receiverWindow = value;
        return this;
    }

    public int receiverWindow() {
        return receiverWindow;
    }

    /** How ring frames carry a buffer's values: float32 ({@code NONE}) or bfloat16. Every rank must agree. */
    public AllReduceContext compression(Compression value) {
        compression = value;
        return this;
    }

    public Compression compression() {
        return compression;
    }

    public AllReduceContext streamId(int value) {
        streamId = value;
        return this;
    }

    public int streamId() {
        return streamId;
    }

    /** Validates every setting; called once by the ring. */
    public AllReduceContext conclude() {
        if (concluded) {
            return this;
        }
        if (termLength == 0) {
            termLength = 4 << 20;
        }
        if (aeronDirectory == null || aeronDirectory.isEmpty()) {
            throw new IllegalArgumentException("aeronDirectory is required");
        }
        if (Integer.bitCount(termLength) != 1 || termLength < 64 * 1024 || termLength > 1 << 30) {
            throw new IllegalArgumentException(
                    "termLength must be a power of two in [64 KiB, 1 GiB], got " + termLength);
        }
        if (mtu < 4096 || mtu > 65504 || mtu % 32 != 0) {
            throw new IllegalArgumentException("mtu must be a multiple of 32 in [4096, 65504], got " + mtu);
        }
        if (receiverWindow < 4096 || receiverWindow > socketBufferBytes) {
            throw new IllegalArgumentException("receiverWindow must be 4 KiB to the socket buffer (" + socketBufferBytes
                    + "), got " + receiverWindow);
        }
        if (timeoutNs <= 0) {
            throw new IllegalArgumentException("timeoutNs must be positive");
        }
        concluded = true;
        return this;
    }

    String subscriptionChannel() {
        return transport == Transport.IPC
                ? "aeron:ipc"
                : "aeron:udp?endpoint=" + host + ":0|so-rcvbuf=" + socketBufferBytes + "|rcv-wnd=" + receiverWindow();
    }

    String publicationChannel(String endpoint) {
        return transport == Transport.IPC
                ? "aeron:ipc?term-length=" + termLength + "|mtu=" + mtu
                : "aeron:udp?endpoint=" + endpoint + "|mtu=" + mtu + "|term-length=" + termLength + "|so-sndbuf="
                        + socketBufferBytes;
    }
}
