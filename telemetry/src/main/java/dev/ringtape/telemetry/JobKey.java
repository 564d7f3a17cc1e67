package dev.ringtape.telemetry;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The secret of one stage attempt of a job: 256 bits from {@link SecureRandom}, made by the driver for each attempt
 * and handed to the ranks inside their task (so it travels over Spark's own RPC, which {@code spark.authenticate}
 * and {@code spark.network.crypto.enabled} protect on a cluster). Every connection to a TCP service of the driver
 * ({@link AuthServer}) proves it holds the key before anything it sends is believed, by a challenge-response that
 * never puts the key on the wire, as Horovod's driver and task services do:
 *
 * <ol>
 *   <li>the service sends {@link #MAGIC} and a fresh 32-byte nonce of its own;
 *   <li>the rank answers with a 32-byte nonce of its own and HMAC-SHA256(key, "ringtape/1 rank" | service | service
 *       nonce | rank nonce);
 *   <li>the service checks it in constant time, closes the connection if it is wrong, and otherwise answers
 *       HMAC-SHA256(key, "ringtape/1 driver" | service | both nonces), which the rank checks in turn: a rank talks
 *       only to the driver of its own attempt.
 * </ol>
 *
 * A recorded answer is worth nothing on another connection (the service's nonce is new each time), and the two
 * roles sign different labels, so neither side's answer serves as the other's.
 */
public final class JobKey implements Serializable {
    private static final long serialVersionUID = 1L;
    /** What a service sends first: the protocol and its version. */
    static final byte[] MAGIC = "RTK1".getBytes(StandardCharsets.US_ASCII);
    /** Nonce and tag lengths, in bytes. */
    static final int NONCE = 32;

    static final int TAG = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final byte[] key;

    private JobKey(byte[] key) {
        this.key = key;
    }

    /** A fresh key: one per stage attempt. */
    public static JobKey fresh() {
        byte[] k = new byte[32];
        RANDOM.nextBytes(k);
        return new JobKey(k);
    }

    static byte[] nonce() {
        byte[] n = new byte[NONCE];
        RANDOM.nextBytes(n);
        return n;
    }

    /** The tag a side of {@code service} answers with: {@code rank} for the connecting side, else the driver's. */
    byte[] tag(boolean rank, String service, byte[] serviceNonce, byte[] rankNonce) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update(((rank ? "ringtape/1 rank " : "ringtape/1 driver ") + service + "\n")
                    .getBytes(StandardCharsets.UTF_8));
            mac.update(serviceNonce);
            mac.update(rankNonce);
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every Java runtime", e);
        }
    }

    /** Whether two tags are equal, in time that does not depend on where they differ. */
    static boolean same(byte[] a, byte[] b) {
        return MessageDigest.isEqual(a, b);
    }

    /**
     * Connects to the driver's {@code service} at {@code host:port} and proves this key, within {@code timeoutMs};
     * returns the connection, ready for the service's own frames. A connection the service drops before the
     * exchange is over (it sheds load when many connect at once) is tried again until the time is up; a driver that
     * cannot prove the key is an error at once.
     */
    public Socket connect(String endpoint, String service, int timeoutMs) throws IOException {
        int colon = endpoint.lastIndexOf(':');
        InetSocketAddress to =
                new InetSocketAddress(endpoint.substring(0, colon), Integer.parseInt(endpoint.substring(colon + 1)));
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        IOException last;
        do {
            Socket s = new Socket();
            try {
                s.setTcpNoDelay(true);
                s.connect(to, left(deadline));
                prove(s, service, left(deadline));
                s.setSoTimeout(0);
                return s;
            } catch (EOFException | SocketException | SocketTimeoutException e) {
                last = e;
                s.close();
            } catch (IOException e) {
                s.close();
                throw e;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while connecting to the driver's " + service, e);
            }
        } while (System.nanoTime() < deadline);
        throw new IOException(
                "the driver's " + service + " at " + endpoint + " did not answer within " + timeoutMs + " ms: " + last,
                last);
    }

    private static int left(long deadline) throws SocketTimeoutException {
        long ms = (deadline - System.nanoTime()) / 1_000_000;
        if (ms <= 0) {
            throw new SocketTimeoutException("out of time");
        }
        return (int) Math.min(ms, Integer.MAX_VALUE);
    }

    /** The rank's side of the exchange on {@code s}. */
    void prove(Socket s, String service, int timeoutMs) throws IOException {
        s.setSoTimeout(timeoutMs);
        InputStream in = s.getInputStream();
        OutputStream out = s.getOutputStream();
        DataInputStream data = new DataInputStream(in);
        byte[] magic = new byte[MAGIC.length];
        data.readFully(magic);
        if (!MessageDigest.isEqual(magic, MAGIC)) {
            throw new IOException("the driver's " + service + " at " + s.getRemoteSocketAddress()
                    + " does not speak Ringtape's handshake (" + MAGIC.length + " bytes that are not RTK1)");
        }
        byte[] serviceNonce = new byte[NONCE];
        data.readFully(serviceNonce);
        byte[] rankNonce = nonce();
        byte[] answer = new byte[NONCE + TAG];
        System.arraycopy(rankNonce, 0, answer, 0, NONCE);
        System.arraycopy(tag(true, service, serviceNonce, rankNonce), 0, answer, NONCE, TAG);
        out.write(answer);
        out.flush();
        byte[] proof = new byte[TAG];
        data.readFully(proof);
        if (!same(proof, tag(false, service, serviceNonce, rankNonce))) {
            throw new IOException("the driver's " + service + " at " + s.getRemoteSocketAddress()
                    + " did not prove it holds this job's key: not this attempt's driver");
        }
    }

    @Override
    public String toString() {
        return "JobKey[256 bits, not shown]";
    }
}
