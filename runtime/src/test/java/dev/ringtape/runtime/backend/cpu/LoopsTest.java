package dev.ringtape.runtime.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LoopsTest {
    private static final Loops VECTOR = Loops.get();
    private static final Loops SCALAR = Loops.scalar();

    @Test
    void shouldWarmUpOnceAThreadOfItsOwnOnBothImplementations() throws Exception {
        for (Loops loops : new Loops[] {VECTOR, SCALAR}) {
            loops.warm(3); // every call of a round, Adam's and AdamW's branches, on either implementation
        }
        Loops.warmUp();
        Loops.warmUp();
        long threads = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("ringtape-warm-up"))
                .count();
        assertTrue(threads <= 1, threads + " warm-up threads");
    }

    @Test
    void shouldRunOnTheVectorApiInTheBuildsJvms() {
        // the surefire JVMs get --add-modules jdk.incubator.vector (pom.xml), as the launcher's do
        assertEquals("Vector API, 8 x float", VECTOR.implementation());
    }

    /**
     * Every loop has its vector twin: a lost override would run the scalar loop silently, and the two-implementation
     * checks below compare nothing then (one edit dropped eleven overrides that way; only the step time showed it).
     */
    @Test
    void shouldOverrideEveryLoopOnTheVectorApi() {
        java.util.Set<String> scalarOnly = java.util.Set.of();
        for (java.lang.reflect.Method m : Loops.class.getDeclaredMethods()) {
            int mod = m.getModifiers();
            if (!java.lang.reflect.Modifier.isPublic(mod) || java.lang.reflect.Modifier.isStatic(mod)) {
                continue;
            }
            boolean overridden;
            try {
                VECTOR.getClass().getDeclaredMethod(m.getName(), m.getParameterTypes());
                overridden = true;
            } catch (NoSuchMethodException e) {
                overridden = false;
            }
            assertEquals(!scalarOnly.contains(m.getName()), overridden, m.getName() + " on the Vector API");
        }
    }

    /**
     * tanh against StrictMath's (fdlibm, under one ulp in double) rounded to float: over a sweep of every 97th float
     * below 20 in magnitude, both signs, and the values where formulas break: at most one ulp apart, exact at zeros,
     * infinities and NaN, and never more than one ulp from each other.
     */
    @Test
    void shouldComputeTanhWithinAnUlpOfStrictMathOnBothImplementations() {
        List<Float> values = new java.util.ArrayList<>(List.of(
                0f,
                -0f,
                Float.NaN,
                Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY,
                Float.MIN_VALUE,
                -Float.MIN_VALUE,
                Float.MIN_NORMAL,
                1e-4f,
                -1e-4f,
                9.9999e-5f,
                20f,
                -44f,
                1e30f,
                Float.MAX_VALUE));
        for (int bits = 0; bits < 0x41a00000; bits += 97 * 61) {
            values.add(Float.intBitsToFloat(bits));
            values.add(-Float.intBitsToFloat(bits));
        }
        float[] x = new float[values.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = values.get(i);
        }
        float[] scalar = new float[x.length];
        float[] vector = new float[x.length];
        SCALAR.tanh(x, scalar);
        VECTOR.tanh(x, vector);
        for (int i = 0; i < x.length; i++) {
            float want = (float) StrictMath.tanh(x[i]);
            for (float got : new float[] {scalar[i], vector[i]}) {
                if (Float.isNaN(want) || want == 0f || Float.isInfinite(x[i])) {
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), "tanh(" + x[i] + ")");
                } else {
                    assertTrue(
                            Math.abs(Float.floatToRawIntBits(want) - Float.floatToRawIntBits(got)) <= 1,
                            "tanh(" + x[i] + "): " + got + " against " + want);
                }
            }
        }
    }

    /** Exact GELU and its derivative: SVML's exp in the vector lanes, the JDK's in the scalar loop, an ulp apart. */
    @Test
    void shouldComputeExactGeluWithinAnUlpOnBothImplementations() {
        int n = 200_003;
        float[] x = new float[n];
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (int i = 0; i < n; i++) {
            x[i] = i < 8
                    ? new float[] {0f, -0f, 1e-30f, -40f, 40f, Float.NaN, -6f, 3f}[i]
                    : (float) (r.nextGaussian() * 4);
        }
        float[][] y = new float[2][n];
        float[][] d = new float[2][n];
        Loops[] impls = {SCALAR, VECTOR};
        for (int k = 0; k < 2; k++) {
            impls[k].geluErf(x, y[k], d[k]);
        }
        float[] alone = new float[n];
        VECTOR.geluErf(x, alone, null);
        assertArrayEquals(y[1], alone, "the output is the same with or without the derivative");
        for (int i = 0; i < n; i++) {
            for (float[][] pair : new float[][][] {y, d}) {
                int a = Float.floatToRawIntBits(pair[0][i]);
                int b = Float.floatToRawIntBits(pair[1][i]);
                assertTrue(Math.abs(a - b) <= 1, "gelu at " + x[i] + ": " + pair[0][i] + " against " + pair[1][i]);
            }
        }
        // GELU'(x) = Phi(x) + x phi(x): at 0 a half, at 3 0.99865 + 3 * 0.0044318, at -6 almost 0
        assertEquals(0.5f, d[1][0]);
        assertEquals(0.99865f + 3f * 0.0044318f, d[1][7], 1e-5f);
        assertEquals(9.8659e-10 - 6 * 6.0759e-9, d[1][6], 1e-12);
        assertEquals(3f * 0.99865f, y[0][7], 1e-4f, "3 Phi(3)");
        assertEquals(-6f * 9.8659e-10f, y[1][6], 1e-13f, "the left tail keeps its relative accuracy");
    }

    /**
     * The row loops of layer norm and the softmaxes: the sums bit for bit on both implementations (the CUDA kernels add
     * in the same order, HostMathTest), at every length around the four lanes and at offsets; exp within an ulp.
     */
    @Test
    void shouldSumRowsAlikeAndExponentiateWithinAnUlpOnBothImplementations() {
        java.util.Random rnd = new java.util.Random(5);
        float[] a = new float[300];
        float[] b = new float[300];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rnd.nextGaussian() * 3);
            b[i] = (float) rnd.nextGaussian();
        }
        for (int n = 0; n <= 131; n++) {
            for (int at : new int[] {0, 3, 17}) {
                float shift = a[n];
                String where = "n " + n + " at " + at;
                assertEquals(SCALAR.sum8(a, at, n, shift), VECTOR.sum8(a, at, n, shift), where);
                assertEquals(SCALAR.squares8(a, at, n, shift), VECTOR.squares8(a, at, n, shift), where);
                assertEquals(SCALAR.dot8(a, at, b, at + 5, n), VECTOR.dot8(a, at, b, at + 5, n), where);
                double direct = 0;
                for (int j = 0; j < n; j++) {
                    direct += (double) a[at + j] * b[at + 5 + j];
                }
                assertEquals(direct, VECTOR.dot8(a, at, b, at + 5, n), 1e-12 * (1 + Math.abs(direct)), where);
                float[][] p = new float[2][n + 1];
                SCALAR.expShifted(a, at, p[0], 1, n, shift);
                VECTOR.expShifted(a, at, p[1], 1, n, shift);
                for (int j = 1; j <= n; j++) {
                    int x = Float.floatToRawIntBits(p[0][j]);
                    int y = Float.floatToRawIntBits(p[1][j]);
                    assertTrue(Math.abs(x - y) <= 1, where + ", exp " + j + ": " + p[0][j] + " against " + p[1][j]);
                }
                assertEquals(0f, p[1][0], "nothing written before the row");
                double[] tmp = new double[n];
                double sum = SCALAR.expSum4(a, at, n, shift, tmp);
                assertEquals(sum, VECTOR.expSum4(a, at, n, shift, tmp), 1e-15 * sum, where);
                SCALAR.expShifted2(a, at, p[0], 1, n, shift, 0.75);
                VECTOR.expShifted2(a, at, p[1], 1, n, shift, 0.75);
                for (int j = 1; j <= n; j++) {
                    int x = Float.floatToRawIntBits(p[0][j]);
                    int y = Float.floatToRawIntBits(p[1][j]);
                    assertTrue(Math.abs(x - y) <= 1, where + ", exp2 " + j + ": " + p[0][j] + " against " + p[1][j]);
                }
            }
        }
    }

    /** The elementwise row loops: the same bits on both implementations, at every length and offset. */
    @Test
    void shouldRunTheRowLoopsBitForBitOnBothImplementations() {
        Random rnd = new Random(8);
        float[] a = new float[200];
        float[] b = new float[200];
        float[] w = new float[200];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rnd.nextGaussian() * 2);
            b[i] = (float) rnd.nextGaussian();
            w[i] = (float) (1 + 0.1 * rnd.nextGaussian());
        }
        for (int n = 0; n <= 70; n++) {
            for (int at : new int[] {0, 5}) {
                float[][] out = new float[2][];
                float[][] aux = new float[2][];
                for (int k = 0; k < 2; k++) {
                    Loops l = k == 0 ? SCALAR : VECTOR;
                    float[] o = b.clone();
                    float[] h = new float[200];
                    float[] dh = new float[n];
                    l.axpy(1f, a, at, o, 3, n);
                    l.axpy(-0.3f, a, at + 1, o, 7, n);
                    l.addProducts(a, w, at, o, n);
                    l.mulRow(o, at + 2, n, 0.7f);
                    l.softmaxBackwardRow(a, at, w, 1, o, 9, n, 0.25f);
                    l.layerNormRow(a, at, n, 0.1f, 1.3f, w, b, h, o);
                    l.layerNormBackwardRow(b, h, at, n, w, 0.9f, dh, o);
                    o[0] = l.rowMax(a, at, n);
                    out[k] = o;
                    aux[k] = h;
                }
                assertArrayEquals(out[0], out[1], "n " + n + " at " + at);
                assertArrayEquals(aux[0], aux[1], "n " + n + " at " + at);
            }
        }
        float[] zeros = new float[20];
        zeros[13] = -0f;
        java.util.Arrays.fill(zeros, 0, 10, -0f);
        float[] nan = a.clone();
        nan[12] = Float.NaN;
        for (Loops l : List.of(SCALAR, VECTOR)) {
            assertEquals(Float.floatToRawIntBits(0f), Float.floatToRawIntBits(l.rowMax(zeros, 0, 20)), "+0 beats -0");
            assertTrue(Float.isNaN(l.rowMax(nan, 0, 40)), "a NaN wins");
            assertEquals(Float.NEGATIVE_INFINITY, l.rowMax(a, 0, 0));
        }
    }

    /**
     * Once compiled, the vector loops allocate nothing: a second species of a kind (4-lane floats and doubles beside
     * the others, once), or a scalar-operand call ({@code sub(float)}) on one, kept C2 from compiling loops to vector
     * code, and every loop of the step allocated its vectors (2.2 MB a step of a small MLP). The best of up to forty
     * rounds, as C2 compiles in the background.
     */
    @Test
    void shouldAllocateNothingOnceTheLoopsAreCompiled() {
        com.sun.management.ThreadMXBean mx =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        float[] a = new float[2_000];
        float[] b = new float[a.length];
        float[] p = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) Math.sin(i);
            b[i] = (float) Math.cos(i);
        }
        float[] maxAbs = new float[1];
        int[] zeros = new int[1];
        long best = Long.MAX_VALUE;
        double sink = 0;
        double[] tmp = new double[128];
        for (int round = 0; round < 40 && best >= 4096; round++) {
            long before = mx.getThreadAllocatedBytes(Thread.currentThread().getId());
            for (int rep = 0; rep < 500; rep++) {
                int n = 24 + rep % 41;
                sink += VECTOR.sum8(a, 3, n, 0.5f) + VECTOR.squares8(a, 3, n, 0.5f) + VECTOR.dot8(a, 3, b, 5, n);
                VECTOR.expShifted(a, 3, p, 1, n, 0.5f);
                VECTOR.geluErf(a, p, b);
                VECTOR.tanh(a, p);
                VECTOR.axpy(1f, a, 3, p, 1, 1000);
                VECTOR.axpy(0.5f, a, 3, p, 1, 1000);
                VECTOR.addProducts(a, b, 3, p, 128);
                VECTOR.mulRow(p, 3, n, 0.5f);
                sink += VECTOR.rowMax(a, 3, n) + VECTOR.expSum4(a, 3, n, 0.5, tmp);
                VECTOR.expShifted2(a, 3, p, 1, n, 0.5, 0.25);
                VECTOR.layerNormRow(a, 3, 128, 0.1f, 1.1f, b, b, p, p);
                VECTOR.layerNormBackwardRow(a, b, 3, 128, b, 1.1f, p, p);
                VECTOR.softmaxBackwardRow(a, 3, b, 5, p, 1, n, 0.1f);
                sink += VECTOR.squares(a, 0, a.length) + VECTOR.scale(a, 0, a.length, 1f, maxAbs, zeros, 0);
            }
            best = Math.min(
                    best, mx.getThreadAllocatedBytes(Thread.currentThread().getId()) - before);
        }
        assertTrue(Double.isFinite(sink));
        assertTrue(best < 4096, "bytes allocated by the best round of the loops: " + best);
    }

    @Test
    void shouldMatchADoubleSumToFloatPrecision() {
        float[] a = new float[100_003];
        double want = 0;
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) Math.sin(i) * (i % 13);
            want += (double) a[i] * a[i];
        }
        for (Loops r : List.of(VECTOR, SCALAR)) {
            assertEquals(want, r.squares(a, 0, a.length), want * 1e-5);
            assertEquals(9.0 + 16.0, r.squares(new float[] {1, 3, 4, 2}, 1, 3));
        }
    }

    @Test
    void shouldStayFiniteForHugeFiniteValuesAndNotForNaN() {
        float[] big = {3e19f, -2e19f, 1f, 0f, 0f, 0f, 0f, 0f, 0f};
        float[] bad = {1f, Float.NaN, 2f, 0f, 0f, 0f, 0f, 0f, 0f};
        for (Loops r : List.of(VECTOR, SCALAR)) {
            double sum = r.squares(big, 0, big.length);
            assertTrue(Double.isFinite(sum), "float squares overflow, the double fallback does not");
            assertEquals(9e38 + 4e38, sum, 1e33);
            assertTrue(Double.isNaN(r.squares(bad, 0, bad.length)));
            assertTrue(Double.isFinite(r.scale(big.clone(), 0, big.length, 1f, null, null, 0)));
        }
    }

    @Test
    void shouldGiveTheSameBitsOnBothImplementations() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + rnd.nextInt(trial < 100 ? 40 : 5000);
            float[] a = new float[n];
            for (int i = 0; i < n; i++) {
                a[i] = switch (rnd.nextInt(6)) {
                    case 0 -> 0f;
                    case 1 -> -0f;
                    case 2 -> Float.MIN_VALUE * rnd.nextInt(100); // subnormal
                    default -> (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(20) - 10));
                };
            }
            int from = rnd.nextInt(n);
            int to = from + rnd.nextInt(n - from + 1);
            float scale = trial % 3 == 0 ? 1f : (float) Math.scalb(3.0, -rnd.nextInt(20));
            String at = "trial " + trial + " [" + from + ", " + to + ")";
            assertEquals(SCALAR.squares(a, from, to), VECTOR.squares(a, from, to), at);

            float[] s = a.clone();
            float[] v = a.clone();
            float[] maxS = new float[2];
            float[] maxV = new float[2];
            int[] zerosS = new int[2];
            int[] zerosV = new int[2];
            assertEquals(
                    SCALAR.scale(s, from, to, scale, maxS, zerosS, 1),
                    VECTOR.scale(v, from, to, scale, maxV, zerosV, 1),
                    at);
            assertArrayEquals(s, v, at);
            assertEquals(maxS[1], maxV[1], at);
            assertEquals(zerosS[1], zerosV[1], at);
            float want = 0;
            int wantZeros = 0;
            for (int i = from; i < to; i++) {
                want = Math.max(want, Math.abs(s[i]));
                wantZeros += s[i] == 0f ? 1 : 0;
            }
            assertEquals(want, maxS[1], at);
            assertEquals(wantZeros, zerosS[1], at);
            assertEquals(
                    SCALAR.scale(a.clone(), from, to, scale, null, null, 0),
                    VECTOR.scale(a.clone(), from, to, scale, null, null, 0),
                    at);
        }
    }

    @Test
    void shouldMeasureActivationsAlikeOnBothImplementations() {
        Random rnd = new Random(11);
        for (int units : new int[] {1, 3, 8, 13, 256, 260}) {
            for (int rows : new int[] {1, 5, 64}) {
                float[] y = new float[rows * units];
                for (int i = 0; i < y.length; i++) {
                    int column = i % units;
                    // every third column dead; values near both sigmoid bounds, and some in between
                    y[i] = column % 3 == 0
                            ? 0f
                            : rnd.nextBoolean() ? rnd.nextFloat() * 2e-3f : 1 - rnd.nextFloat() * 0.5f;
                }
                double[] s = {1, 2, 3};
                double[] v = {1, 2, 3};
                int[] aliveS = new int[units];
                int[] aliveV = new int[units];
                SCALAR.addActivationStats(y, units, 0.4f, 1e-3f, 1 - 1e-3f, s, aliveS);
                VECTOR.addActivationStats(y, units, 0.4f, 1e-3f, 1 - 1e-3f, v, aliveV);
                String at = rows + " x " + units;
                assertArrayEquals(s, v, at);
                assertArrayEquals(aliveS, aliveV, at);
                double sum = 0;
                double squares = 0;
                long outside = 0;
                for (float value : y) {
                    sum += value - 0.4f;
                    squares += (double) (value - 0.4f) * (value - 0.4f);
                    outside += value < 1e-3f || value > 1 - 1e-3f ? 1 : 0;
                }
                assertEquals(1 + sum, s[0], 1e-5 * y.length, at);
                assertEquals(2 + squares, s[1], 1e-5 * y.length, at);
                assertEquals(3 + outside, s[2], at);
                for (int j = 0; j < units; j++) {
                    boolean dead = true;
                    for (int r = 0; r < rows; r++) {
                        dead &= y[r * units + j] == 0f;
                    }
                    assertEquals(dead, aliveS[j] == 0, at + " column " + j);
                }
            }
        }
    }

    @Test
    void shouldUpdateAlikeWithAndWithoutStatisticsOnBothImplementations() {
        Random rnd = new Random(5);
        for (int n : new int[] {1, 7, 8, 2047, 2048, 2049, 5003}) {
            for (int mode = 0; mode < 3; mode++) {
                boolean decoupled = mode == 1;
                float wd = mode == 0 ? 0f : 0.01f;
                float[][] start = new float[4][n];
                for (int i = 0; i < n; i++) {
                    start[0][i] = (float) rnd.nextGaussian();
                    start[1][i] = (float) rnd.nextGaussian() * 1e-2f;
                    start[2][i] = (float) rnd.nextGaussian() * 1e-3f;
                    start[3][i] = rnd.nextFloat() * 1e-5f;
                }
                float[][] plain = copy(start);
                Loops.AdamStep step =
                        new Loops.AdamStep(0.9f, 0.1f, 0.999f, 1e-3f, 0.03f, -0.01f, 1e-8f, decoupled, 0.9999f, wd);
                SCALAR.adam(plain[0], plain[1], 0, plain[2], plain[3], step, null);
                String at = "n " + n + " mode " + mode;
                double[] want = new double[2];
                for (int i = 0; i < n; i++) {
                    double e = (double) plain[0][i] - start[0][i];
                    want[0] += (double) plain[0][i] * plain[0][i];
                    want[1] += e * e;
                }
                double[][] stats = new double[2][2];
                int k = 0;
                for (Loops loops : List.of(SCALAR, VECTOR)) {
                    float[][] t = copy(start);
                    // the gradient as a view at an offset of a larger array (the all-reduce arena)
                    loops.adam(t[0], shifted(t[1], 5), 5, t[2], t[3], step, stats[k++]);
                    assertArrayEquals(plain[0], t[0], at + " weights, " + loops.implementation());
                    assertArrayEquals(plain[2], t[2], at + " first moments, " + loops.implementation());
                    assertArrayEquals(plain[3], t[3], at + " second moments, " + loops.implementation());
                    float[][] u = copy(start);
                    loops.adam(u[0], shifted(u[1], 5), 5, u[2], u[3], step, null);
                    assertArrayEquals(plain[0], u[0], at + " weights without statistics, " + loops.implementation());
                    assertArrayEquals(plain[3], u[3], at + " second moments without, " + loops.implementation());
                }
                assertArrayEquals(stats[0], stats[1], at);
                assertEquals(want[0], stats[0][0], want[0] * 1e-5, at);
                assertEquals(want[1], stats[0][1], want[1] * 1e-4, at);
            }
        }
    }

    @Test
    void shouldStepSgdAlikeWithAndWithoutStatisticsOnBothImplementations() {
        Random rnd = new Random(9);
        for (int n : new int[] {1, 7, 8, 2047, 2048, 2049, 5003}) {
            for (int mode = 0; mode < 5; mode++) {
                boolean momentum = mode > 0;
                boolean first = mode == 1;
                boolean nesterov = mode == 3;
                boolean decay = mode == 4;
                float[][] start = new float[3][n];
                for (int i = 0; i < n; i++) {
                    start[0][i] = (float) rnd.nextGaussian();
                    start[1][i] = (float) rnd.nextGaussian() * 1e-2f;
                    start[2][i] = (float) rnd.nextGaussian() * 1e-2f;
                }
                float[][] plain = copy(start);
                Loops.SgdStep step = new Loops.SgdStep(0.01f, 0.9f, 0.9f, -0.1f, decay, nesterov);
                SCALAR.sgd(plain[0], plain[1], 0, momentum ? plain[2] : null, first, step, null);
                String at = "n " + n + " mode " + mode;
                double[] want = new double[2];
                for (int i = 0; i < n; i++) {
                    double e = (double) plain[0][i] - start[0][i];
                    want[0] += (double) plain[0][i] * plain[0][i];
                    want[1] += e * e;
                }
                double[][] stats = new double[2][2];
                int k = 0;
                for (Loops loops : List.of(SCALAR, VECTOR)) {
                    float[][] t = copy(start);
                    loops.sgd(t[0], shifted(t[1], 3), 3, momentum ? t[2] : null, first, step, stats[k++]);
                    assertArrayEquals(plain[0], t[0], at + " weights, " + loops.implementation());
                    assertArrayEquals(plain[2], t[2], at + " momentum, " + loops.implementation());
                    float[][] u = copy(start);
                    loops.sgd(u[0], shifted(u[1], 3), 3, momentum ? u[2] : null, first, step, null);
                    assertArrayEquals(plain[0], u[0], at + " weights without statistics, " + loops.implementation());
                    assertArrayEquals(plain[2], u[2], at + " momentum without, " + loops.implementation());
                }
                assertArrayEquals(stats[0], stats[1], at);
                assertEquals(want[0], stats[0][0], want[0] * 1e-5, at);
                assertEquals(want[1], stats[0][1], want[1] * 1e-4, at);
            }
        }
    }

    private static float[][] copy(float[][] a) {
        float[][] c = new float[a.length][];
        for (int i = 0; i < a.length; i++) {
            c[i] = a[i].clone();
        }
        return c;
    }

    /** {@code a} at offset {@code at} of a larger array whose other values are NaN (read them and the test fails). */
    private static float[] shifted(float[] a, int at) {
        float[] out = new float[a.length + at + 2];
        java.util.Arrays.fill(out, Float.NaN);
        System.arraycopy(a, 0, out, at, a.length);
        return out;
    }
}
