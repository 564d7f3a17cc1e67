package dev.ringtape.runtime.backend.cpu;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;

/**
 * {@code cblas_sgemm} on Java arrays in place: the JNI shim {@code src/main/c/ringtape_blas.c} pins the arrays for
 * the call where JavaCPP's binding copies every operand into native memory and back (7-11 % of a training step,
 * bench/RESULTS.md). It calls the OpenBLAS JavaCPP has loaded, so the arithmetic is the same, and makes that instance
 * single-threaded when it opens it ({@link GemmBlocks} runs a product's blocks on threads of its own). The shim is built
 * with the jar for Linux x86-64 ({@code build-native.sh}); where it is missing or does not load, {@link #REASON}
 * says why and the CPU backend keeps to JavaCPP's binding.
 *
 * <p>The price of pinning: while a GEMM runs, a garbage collection another thread of the JVM needs waits for it to
 * end (the JVM's GC locker). The training step's GEMMs take well under a millisecond on the models of the bench; a
 * model with GEMMs of seconds would hold other threads' collections that long. Off-heap tensors would lift it.
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
            // a file of this process's own (created 0600, so no other user can swap it before it is loaded),
            // deleted once loaded: the mapping outlives the name, and executors leave nothing behind
            Path file = Files.createTempFile("ringtape-blas-", ".so");
            try {
                Files.write(file, bytes);
                // under JavaCPP's loader lock: its loading looks symbols up with dlsym inside dl_iterate_phdr,
                // which deadlocks with a dlopen on another thread in glibc (bench/RESULTS.md, fourth session)
                synchronized (Loader.class) {
                    System.load(file.toString());
                    return open();
                }
            } finally {
                Files.deleteIfExists(file);
            }
        } catch (IOException | UnsatisfiedLinkError e) {
            return "the shim did not load: " + e.getMessage();
        }
    }

    /**
     * Loads the shim if that has not happened yet; true when it is in use. Called before any call into JavaCPP's
     * OpenBLAS: {@code blas_set_num_threads} and {@code blas_get_num_threads} look their function up with
     * {@code Loader.addressof} on every call, outside the loader's lock, and that must not meet the shim's dlopen
     * on another thread.
     */
    static boolean loaded() {
        return REASON == null;
    }

    /** Finds {@code cblas_sgemm} in the loaded OpenBLAS and sets that instance to one thread: null, or why not. */
    private static native String open();

    /** The kernel family the OpenBLAS the shim calls chose, e.g. {@code Haswell} or {@code Cooperlake}; or null. */
    static native String corename();

    /** The file of the OpenBLAS the shim calls; or null. */
    static native String library();

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
