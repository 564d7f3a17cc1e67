package dev.ringtape.bench;

import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas;

/**
 * GFLOP/s of the CPU backend's matrix product at N x N x N (default 1024), on one thread and on every core, against
 * one {@code cblas_sgemm} call on native buffers with OpenBLAS's own threads (what the backend gave up so that the
 * thread count changes no result: it cuts a product into blocks by its shape and runs each single-threaded), and a
 * plain-Java cache-friendly (i-k-j) loop as the in-run reference.
 */
final class SgemmBench {
    private SgemmBench() {}

    public static void main(String[] args) {
        int n = 1024;
        int reps = 10;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--size" -> n = Integer.parseInt(args[i + 1]);
                case "--reps" -> reps = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Tensor a = random(n, 1);
        Tensor b = random(n, 2);
        Tensor c = Tensor.zeros(n, n);
        CpuBackend cpu = new CpuBackend();
        int cores = Runtime.getRuntime().availableProcessors();
        System.out.printf("sgemm %dx%dx%d, best of %d after warm-up, %d cores%n", n, n, n, reps, cores);
        System.out.println(CpuBackend.describe());

        double javaLoop = best(Math.max(2, reps / 4), () -> naive(a.data(), b.data(), c.data(), nOf(a)));
        final int size = n;
        CpuBackend.blasThreads(1);
        double one = best(reps, () -> cpu.gemm(false, false, size, size, size, 1f, a, b, 0f, c));
        CpuBackend.blasThreads(cores);
        double all = best(reps, () -> cpu.gemm(false, false, size, size, size, 1f, a, b, 0f, c));
        double callOne;
        double callAll;
        try (FloatPointer pa = new FloatPointer(a.data());
                FloatPointer pb = new FloatPointer(b.data());
                FloatPointer pc = new FloatPointer((long) n * n)) {
            Runnable call = () -> openblas.cblas_sgemm(
                    openblas.CblasRowMajor,
                    openblas.CblasNoTrans,
                    openblas.CblasNoTrans,
                    size,
                    size,
                    size,
                    1f,
                    pa,
                    size,
                    pb,
                    size,
                    0f,
                    pc,
                    size);
            callOne = best(reps, call);
            openblas.blas_set_num_threads(cores);
            try {
                callAll = best(reps, call);
            } finally {
                openblas.blas_set_num_threads(1); // the backend's GEMMs run OpenBLAS single-threaded
            }
        }

        double flop = 2.0 * n * n * n;
        String blocks = CpuBackend.gemmBlocks(n, n, n) + " blocks";
        row("plain Java i-k-j loop, 1 thread", flop, javaLoop, javaLoop);
        row("one OpenBLAS call, 1 thread", flop, callOne, javaLoop);
        row("backend, 1 thread (" + blocks + ")", flop, one, javaLoop);
        row("backend, " + cores + " threads (" + blocks + ")", flop, all, javaLoop);
        row("one OpenBLAS call, its " + cores + " threads", flop, callAll, javaLoop);
        System.out.printf(
                "backend on %d threads: %.2fx OpenBLAS's own %d threads; on 1 thread: %.2fx one call%n",
                cores, callAll / all, cores, callOne / one);
    }

    private static void row(String what, double flop, double seconds, double reference) {
        System.out.printf("%-44s %8.1f GFLOP/s  %6.1fx%n", what, flop / seconds / 1e9, reference / seconds);
    }

    private static int nOf(Tensor t) {
        return t.dim(0);
    }

    private static Tensor random(int n, long seed) {
        Tensor t = Tensor.zeros(n, n);
        SplittableRandom r = new SplittableRandom(seed);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) r.nextDouble(-1, 1);
        }
        return t;
    }

    /** The reference: C = A B with the i-k-j loop order the JIT vectorizes. */
    private static void naive(float[] a, float[] b, float[] c, int n) {
        java.util.Arrays.fill(c, 0f);
        for (int i = 0; i < n; i++) {
            int ci = i * n;
            for (int k = 0; k < n; k++) {
                float aik = a[i * n + k];
                int bk = k * n;
                for (int j = 0; j < n; j++) {
                    c[ci + j] += aik * b[bk + j];
                }
            }
        }
    }

    /** The best wall time in seconds of {@code reps} runs, after two warm-up runs. */
    private static double best(int reps, Runnable r) {
        r.run();
        r.run();
        double best = Double.MAX_VALUE;
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            r.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }
}
