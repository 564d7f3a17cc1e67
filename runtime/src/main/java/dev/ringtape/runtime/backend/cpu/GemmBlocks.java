package dev.ringtape.runtime.backend.cpu;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * How the CPU backend splits a GEMM over its compute threads, so that the thread count never changes a result.
 *
 * <p>OpenBLAS's own threads split a product by how many there are, and its kernels round a value differently
 * depending on which tile of the split it falls in: with its Haswell kernels (AVX2 machines, and any machine whose
 * {@code OPENBLAS_CORETYPE} says Haswell) a 64x128x64 product gives other last bits for 1,700 of its 8,192 values
 * on two threads than on one (bench/RESULTS.md, sixth session). A run trained on one thread and replayed or resumed
 * on two then drifts apart. So OpenBLAS always runs one thread per call here, and a large product is cut into
 * blocks of rows or columns of C by its shape alone ({@link #count}); each block is one single-threaded
 * {@code cblas_sgemm}, and the worker's threads share the blocks out. The same shape gives the same blocks, the
 * same calls and the same bits on one thread or sixteen.
 *
 * <p>A block repacks the operand it shares with the others (B when rows are split, A when columns are), about
 * {@code 1 / extent} of its own arithmetic in copies: blocks are at least {@link #MIN_EXTENT} rows or columns, and
 * at least {@link #MIN_WORK} multiply-adds, so a product too small to gain from threads stays one call.
 */
final class GemmBlocks {
    /** The fewest rows or columns of C in a block. */
    static final int MIN_EXTENT = 512;
    /** The fewest multiply-adds in a block: ~50-100 us on one core, well above the cost of handing it over. */
    static final long MIN_WORK = 1L << 22;
    /** The most blocks a product is cut into. */
    static final int MAX_BLOCKS = 16;
    /** Block edges fall on multiples of this many rows or columns (a cache line of floats and then some). */
    private static final int ALIGN = 64;

    /** One block: {@code rows x cols} of C, its operands at these element offsets from where A, B and C start. */
    @FunctionalInterface
    interface Block {
        void run(int rows, int cols, long aOff, long bOff, long cOff);
    }

    private static volatile int threads = Runtime.getRuntime().availableProcessors();

    private static final ExecutorService HELPERS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "ringtape-gemm");
        t.setDaemon(true);
        return t;
    });

    private GemmBlocks() {}

    /** The threads a GEMM may run on, the caller's included (at least one). */
    static void threads(int n) {
        threads = Math.max(1, n);
    }

    static int threads() {
        return threads;
    }

    /** How many blocks an {@code m x n x k} product is cut into: a function of its shape alone. */
    static int count(int m, int n, int k) {
        int extent = Math.max(m, n);
        return ceilDiv(extent, size(extent, wanted(m, n, k)));
    }

    /** Whether the product is one block: {@link #run} then makes exactly one call for it, on the caller's thread. */
    static boolean single(int m, int n, int k) {
        return wanted(m, n, k) == 1;
    }

    /** The blocks the product's work and extent allow, before block edges are aligned. */
    private static int wanted(int m, int n, int k) {
        long work = (long) m * n * k;
        return (int) Math.max(1, Math.min(MAX_BLOCKS, Math.min(Math.max(m, n) / MIN_EXTENT, work / MIN_WORK)));
    }

    /** The rows (or columns) of every block but the last, for {@code wanted} blocks over {@code extent}. */
    private static int size(int extent, int wanted) {
        return ceilDiv(ceilDiv(extent, wanted), ALIGN) * ALIGN;
    }

    /**
     * Runs row-major {@code C = op(A) op(B)}'s blocks through {@code block}, on up to {@link #threads()} threads.
     * Rows of C are split when {@code m >= n}, else columns; the offsets are those of the block's first element of
     * each operand, for the leading dimensions of the whole product ({@code lda = transA ? m : k}, {@code ldb =
     * transB ? k : n}, {@code ldc = n}).
     */
    static void run(boolean transA, boolean transB, int m, int n, int k, Block block) {
        int wanted = wanted(m, n, k);
        if (wanted == 1) {
            block.run(m, n, 0, 0, 0);
            return;
        }
        boolean rows = m >= n;
        int extent = rows ? m : n;
        int size = size(extent, wanted);
        int count = ceilDiv(extent, size);
        AtomicInteger next = new AtomicInteger();
        CountDownLatch left = new CountDownLatch(count);
        Throwable[] failure = new Throwable[1];
        Runnable work = () -> {
            for (int i = next.getAndIncrement(); i < count; i = next.getAndIncrement()) {
                try {
                    int from = i * size;
                    int len = Math.min(size, extent - from);
                    if (rows) {
                        block.run(len, n, transA ? from : (long) from * k, 0, (long) from * n);
                    } else {
                        block.run(m, len, 0, transB ? (long) from * k : from, from);
                    }
                } catch (Throwable t) {
                    synchronized (failure) {
                        if (failure[0] == null) {
                            failure[0] = t;
                        }
                    }
                } finally {
                    left.countDown();
                }
            }
        };
        int helpers = Math.min(threads, count) - 1;
        for (int h = 0; h < helpers; h++) {
            HELPERS.execute(work);
        }
        work.run(); // the caller takes blocks too; a helper that starts late finds none left
        boolean interrupted = false;
        while (true) {
            try {
                left.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true; // the blocks write into C: wait for them whatever happens
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        synchronized (failure) {
            if (failure[0] instanceof RuntimeException re) {
                throw re;
            }
            if (failure[0] instanceof Error er) {
                throw er;
            }
            if (failure[0] != null) {
                throw new IllegalStateException(failure[0]);
            }
        }
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
