package dev.ringtape.runtime.backend.cpu;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.CRC32;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;

/**
 * {@code cblas_sgemm} on Java arrays in place: the JNI shim {@code src/main/c/ringtape_blas.c} pins the arrays for
 * the call where JavaCPP's binding copies every operand into native memory and back (7-11 % of a training step,
 * bench/RESULTS.md). It calls the OpenBLAS JavaCPP has loaded, so the arithmetic is the same. The shim is built
 * with the jar for Linux x86-64 ({@code build-native.sh}); where it is missing or does not load, {@link #REASON}
 * says why and the CPU backend keeps to JavaCPP's binding.
 */
final class NativeBlas {
    private static final String RESOURCE = "native/linux-x86_64/libringtape_blas.so";

    /** Null when the shim is loaded; else why not, in a few words. */
    static final String REASON = load();

    private NativeBlas() {}

    private static String load() {
        if (!(System.getProperty("os.name").equals("Linux")
                && System.getProperty("os.arch").equals("amd64"))) {
            return "no shim for " + System.getProperty("os.name") + " " + System.getProperty("os.arch");
        }
        byte[] bytes;
        try (InputStream in = NativeBlas.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return "the shim was not built with this jar (no gcc at build time)";
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            return "could not read the shim from the jar: " + e.getMessage();
        }
        try {
            Loader.load(openblas.class); // JavaCPP's OpenBLAS first: open() finds it among the loaded libraries
            System.load(extract(bytes).toString());
            return open();
        } catch (IOException | UnsatisfiedLinkError e) {
            return "the shim did not load: " + e.getMessage();
        }
    }

    /**
     * The shim as a file: one per content in the temporary directory, written once (by whichever process comes
     * first; a rename makes it whole or absent) and shared by later JVMs, so executors leave no file per start.
     */
    private static Path extract(byte[] bytes) throws IOException {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        Path dir = Path.of(System.getProperty("java.io.tmpdir"));
        Path file = dir.resolve("ringtape-blas-" + Long.toHexString(crc.getValue()) + "-" + bytes.length + ".so");
        if (!Files.isRegularFile(file) || Files.size(file) != bytes.length) {
            Path tmp = Files.createTempFile(dir, "ringtape-blas-", ".tmp");
            try {
                Files.write(tmp, bytes);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
        return file;
    }

    /** Finds {@code cblas_sgemm} in the loaded OpenBLAS: null, or why not. */
    private static native String open();

    /**
     * Row-major {@code C = alpha op(A) op(B) + beta C} with {@code A}, {@code B} and {@code C} at offsets of their
     * arrays; {@code transA}, {@code transB}: {@code CblasNoTrans} or {@code CblasTrans}. Only {@code C}'s m x n
     * values at {@code cOff} (row stride {@code ldc}) are written.
     */
    static native void sgemm(
            int transA,
            int transB,
            int m,
            int n,
            int k,
            float alpha,
            float[] a,
            int aOff,
            int lda,
            float[] b,
            int bOff,
            int ldb,
            float beta,
            float[] c,
            int cOff,
            int ldc);
}
