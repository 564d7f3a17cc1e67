package dev.ringtape.bench;

import dev.ringtape.telemetry.AuthServer;
import dev.ringtape.telemetry.JobKey;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * What authenticating the job's network costs (issue 30). The handshake every connection to the driver's services
 * makes ({@link JobKey}, {@link AuthServer}) against a plain loopback connect with one round trip, in the same run;
 * and what a MAC on every ring frame would cost: HMAC-SHA256 (the JDK's) and SipHash-2-4 (a keyed 64-bit tag) over
 * 64 KiB frames, against the work the ring already does per received byte (adding a frame of floats into the
 * gradients) and a plain copy.
 */
final class ControlPlaneBench {
    private ControlPlaneBench() {}

    public static void main(String[] args) throws Exception {
        int connects = 300;
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (args[i].equals("--connects")) {
                connects = Integer.parseInt(args[i + 1]);
            } else {
                throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        handshake(connects);
        frames();
    }

    private static void handshake(int n) throws Exception {
        JobKey key = JobKey.fresh();
        double[] proved = new double[n];
        double[] plain = new double[n];
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        try (AuthServer server = new AuthServer(
                        "127.0.0.1", "bench", key, s -> s.getOutputStream().write(1), quiet);
                ServerSocket echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread t = new Thread(() -> {
                while (!echo.isClosed()) {
                    try (Socket s = echo.accept()) {
                        s.getOutputStream().write(1);
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            t.setDaemon(true);
            t.start();
            for (int round = 0; round < 2; round++) { // the first round warms up
                for (int i = 0; i < n; i++) {
                    long t0 = System.nanoTime();
                    try (Socket s = key.connect(server.endpoint(), "bench", 5_000)) {
                        s.getInputStream().read();
                    }
                    long t1 = System.nanoTime();
                    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), echo.getLocalPort())) {
                        s.getInputStream().read();
                    }
                    long t2 = System.nanoTime();
                    proved[i] = (t1 - t0) / 1e6;
                    plain[i] = (t2 - t1) / 1e6;
                }
            }
        }
        Arrays.sort(proved);
        Arrays.sort(plain);
        System.out.printf(
                "handshake, %d connects on loopback: median %.3f ms (p90 %.3f) against a plain connect and one byte"
                        + " back %.3f ms (p90 %.3f): %.2f ms more a connection%n",
                n, proved[n / 2], proved[n * 9 / 10], plain[n / 2], plain[n * 9 / 10], proved[n / 2] - plain[n / 2]);
    }

    private static void frames() throws Exception {
        int frame = 65_504; // the ring's MTU: one Aeron frame
        int count = 256; // 16 MiB
        byte[] data = new byte[frame * count];
        new SplittableRandom(1).nextBytes(data);
        float[] grad = new float[frame / 4];
        ByteBuffer floats = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        byte[] copy = new byte[data.length];
        Mac hmac = Mac.getInstance("HmacSHA256");
        hmac.init(new SecretKeySpec(new byte[32], "HmacSHA256"));
        long k0 = 0x0706050403020100L;
        long k1 = 0x0f0e0d0c0b0a0908L;
        long[] sink = new long[1];

        double add = best(() -> {
            for (int f = 0; f < count; f++) {
                int base = f * frame;
                for (int i = 0; i < grad.length; i++) {
                    grad[i] += floats.getFloat(base + 4 * i);
                }
            }
        });
        double memcpy = best(() -> System.arraycopy(data, 0, copy, 0, data.length));
        double sha = best(() -> {
            for (int f = 0; f < count; f++) {
                hmac.update(data, f * frame, frame);
                sink[0] += hmac.doFinal()[0];
            }
        });
        double sip = best(() -> {
            for (int f = 0; f < count; f++) {
                sink[0] += sipHash24(k0, k1, data, f * frame, frame);
            }
        });
        double bytes = data.length;
        System.out.printf(
                "per ring frame of %d bytes, %d MiB, best of 5 (GB/s on one core):%n",
                frame, (int) (bytes / (1 << 20)));
        System.out.printf("  %-46s %6.2f GB/s%n", "copy (System.arraycopy)", bytes / memcpy / 1e9);
        System.out.printf(
                "  %-46s %6.2f GB/s  1.00x%n", "the ring's own work: add the frame's floats", bytes / add / 1e9);
        System.out.printf("  %-46s %6.2f GB/s  %.2fx the add%n", "HMAC-SHA256 (JDK)", bytes / sha / 1e9, sha / add);
        System.out.printf(
                "  %-46s %6.2f GB/s  %.2fx the add%n", "SipHash-2-4, 64-bit tag", bytes / sip / 1e9, sip / add);
        System.out.printf(
                "  (a tag is made by the sender and checked by the receiver: twice per byte and hop; checksum %x;"
                        + " SipHash of the reference vector %x, want a129ca6149be45e5)%n",
                sink[0], sipHash24(k0, k1, new byte[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, 0, 15));
    }

    /** SipHash-2-4 of {@code len} bytes of {@code b} from {@code off}, keyed by {@code k0, k1}. */
    static long sipHash24(long k0, long k1, byte[] b, int off, int len) {
        Sip s = new Sip(k0, k1);
        ByteBuffer in = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int words = len / 8;
        for (int i = 0; i < words; i++) {
            s.absorb(in.getLong(off + 8 * i), 2);
        }
        long last = ((long) len) << 56;
        for (int i = 0; i < len % 8; i++) {
            last |= (b[off + 8 * words + i] & 0xffL) << (8 * i);
        }
        s.absorb(last, 2);
        s.v2 ^= 0xff;
        for (int r = 0; r < 4; r++) {
            s.round();
        }
        return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
    }

    /** SipHash's state. */
    private static final class Sip {
        long v0;
        long v1;
        long v2;
        long v3;

        Sip(long k0, long k1) {
            v0 = 0x736f6d6570736575L ^ k0;
            v1 = 0x646f72616e646f6dL ^ k1;
            v2 = 0x6c7967656e657261L ^ k0;
            v3 = 0x7465646279746573L ^ k1;
        }

        void absorb(long m, int rounds) {
            v3 ^= m;
            for (int r = 0; r < rounds; r++) {
                round();
            }
            v0 ^= m;
        }

        void round() {
            v0 += v1;
            v1 = Long.rotateLeft(v1, 13) ^ v0;
            v0 = Long.rotateLeft(v0, 32);
            v2 += v3;
            v3 = Long.rotateLeft(v3, 16) ^ v2;
            v0 += v3;
            v3 = Long.rotateLeft(v3, 21) ^ v0;
            v2 += v1;
            v1 = Long.rotateLeft(v1, 17) ^ v2;
            v2 = Long.rotateLeft(v2, 32);
        }
    }

    /** The best of five timed runs, in seconds, after three warm-up runs. */
    private static double best(Runnable r) {
        for (int i = 0; i < 3; i++) {
            r.run();
        }
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            long t0 = System.nanoTime();
            r.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }
}
