package dev.ringtape.bench;

import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * GFLOP/s of the CPU backend's matrix product at N x N x N (default 1024): OpenBLAS with one thread and with its
 * default thread count, against a plain-Java cache-friendly (i-k-j) loop as the in-run reference.
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

        double javaLoop = best(Math.max(2, reps / 4), () -> naive(a.data(), b.data(), c.data(), nOf(a)));
        CpuBackend.blasThreads(1);
        final int size = n;
        double one = best(reps, () -> cpu.gemm(false, false, size, size, size, 1f, a, b, 0f, c));
        CpuBackend.blasThreads(cores);
        double all = best(reps, () -> cpu.gemm(false, false, size, size, size, 1f, a, b, 0f, c));

        double flop = 2.0 * n * n * n;
        double ref = flop / javaLoop / 1e9;
        System.out.printf("%-34s %8.1f GFLOP/s  %6.1fx%n", "plain Java i-k-j loop, 1 thread", ref, 1.0);
        System.out.printf("%-34s %8.1f GFLOP/s  %6.1fx%n", "OpenBLAS, 1 thread", flop / one / 1e9, javaLoop / one);
        System.out.printf(
                "%-34s %8.1f GFLOP/s  %6.1fx%n",
                "OpenBLAS, " + cores + " threads (default)", flop / all / 1e9, javaLoop / all);
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
