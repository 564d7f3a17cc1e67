package dev.ringtape.runtime.backend.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Loops} on the incubating Vector API: one 256-bit vector holds the eight float lanes, so every lane adds
 * the same values in the same order as the plain Java code and the results are the same bits. The maximum magnitude
 * is taken on the float bits as integers (for non-negative floats, integer order is float order), which the JIT
 * compiles to one instruction where a float maximum needs a sequence for NaN and signed zeros.
 *
 * <p>Lanes are read where the vectors are made: a vector passed to a method the JIT does not inline is boxed, and
 * the loop that made it with it (Adam with statistics ran 60 % slower for a helper taking two vectors).
 *
 * <p>Compiled apart from the rest of the module (it needs {@code --add-modules jdk.incubator.vector}) and loaded by
 * {@link Loops#get()} only when the JVM has that module.
 */
final class VectorLoops extends Loops {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    /** The widest double vector the CPU has (8 lanes with AVX-512, 4 with AVX2), and floats of the same count. */
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;

    private static final VectorSpecies<Float> FD =
            VectorSpecies.of(float.class, VectorShape.forBitSize(D.vectorBitSize() / 2));
    /** x86-64, where HotSpot compiles the Vector API's transcendental lanes to its bundled SVML routines. */
    private static final boolean SVML = System.getProperty("os.arch").matches("amd64|x86_64");

    /**
     * The widest double lanes at a time (SVML's tanh), each rounded once to float: 3.5x faster than the scalar loop
     * with four lanes (13.7-14.9 against 3.9-4.2 ns a value), 1.6x faster again with AVX-512's eight (2.1-2.3 ns),
     * and no less exact: over 36 million floats of |x| < 20 and 4 million random ones, 2 results differed from the
     * scalar loop's, by one ulp, and both times this one was StrictMath's (bench/RESULTS.md); four and eight lanes
     * give the same bits. Elsewhere the lanes would run as a Java fallback: the scalar loop then.
     */
    @Override
    public void tanh(float[] x, float[] y) {
        if (!SVML) {
            super.tanh(x, y);
            return;
        }
        int i = 0;
        int lanes = D.length();
        for (; i <= x.length - lanes; i += lanes) {
            DoubleVector d = (DoubleVector) FloatVector.fromArray(FD, x, i).convertShape(VectorOperators.F2D, D, 0);
            ((FloatVector) d.lanewise(VectorOperators.TANH).convertShape(VectorOperators.D2F, FD, 0)).intoArray(y, i);
        }
        for (; i < x.length; i++) {
            y[i] = (float) tanh(x[i]);
        }
    }

    /**
     * Exact GELU in the widest double lanes, the same Chebyshev erfc as {@link Special#erfc} with SVML's exp (as
     * {@link #tanh}), each value rounded once to float; the derivative from the same Phi, with one more exp.
     */
    @Override
    public void geluErf(float[] x, float[] y, float[] d) {
        if (!SVML) {
            super.geluErf(x, y, d);
            return;
        }
        int i = 0;
        int lanes = D.length();
        for (; i <= x.length - lanes; i += lanes) {
            DoubleVector v = (DoubleVector) FloatVector.fromArray(FD, x, i).convertShape(VectorOperators.F2D, D, 0);
            DoubleVector phi = normalCdf(v);
            ((FloatVector) v.mul(phi).convertShape(VectorOperators.D2F, FD, 0)).intoArray(y, i);
            if (d != null) {
                DoubleVector e = v.mul(-0.5).mul(v).lanewise(VectorOperators.EXP);
                DoubleVector dv = phi.add(v.mul(Special.INV_SQRT_2PI).mul(e));
                ((FloatVector) dv.convertShape(VectorOperators.D2F, FD, 0)).intoArray(d, i);
            }
        }
        for (; i < x.length; i++) {
            double v = x[i];
            double phi = Special.normalCdf(v);
            y[i] = (float) (v * phi);
            if (d != null) {
                d[i] = (float) (phi + v * Special.INV_SQRT_2PI * Math.exp(-0.5 * v * v));
            }
        }
    }

    /*
     * The eight interleaved double sums of Loops.sum8: one vector of eight lanes with AVX-512, two of four with AVX2
     * (lanes 0-3 and 4-7), so both add in the same order. The floats come in through FD and are widened to D, the
     * species the GELU and exp loops use: a second pair of species (four floats to four doubles) made C2 stop
     * compiling those conversions to vector code.
     */

    private static final int SUM_LANES = D.length();

    @Override
    public double sum8(float[] a, int at, int n, float shift) {
        if (SUM_LANES != 8 && SUM_LANES != 4) {
            return super.sum8(a, at, n, shift);
        }
        FloatVector sv = FloatVector.broadcast(FD, shift);
        DoubleVector lo = DoubleVector.zero(D);
        DoubleVector hi = DoubleVector.zero(D);
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            lo = lo.add(FloatVector.fromArray(FD, a, at + j).sub(sv).convertShape(VectorOperators.F2D, D, 0));
            if (SUM_LANES == 4) {
                hi = hi.add(FloatVector.fromArray(FD, a, at + j + 4).sub(sv).convertShape(VectorOperators.F2D, D, 0));
            }
        }
        double s0 = lo.lane(0);
        for (; j < n; j++) {
            s0 += a[at + j] - shift;
        }
        if (SUM_LANES == 8) { // the lanes read here: a vector passed to a helper was boxed (1.7 MB a GPT step)
            return combine8(s0, lo.lane(1), lo.lane(2), lo.lane(3), lo.lane(4), lo.lane(5), lo.lane(6), lo.lane(7));
        }
        return combine8(s0, lo.lane(1), lo.lane(2), lo.lane(3), hi.lane(0), hi.lane(1), hi.lane(2), hi.lane(3));
    }

    @Override
    public double squares8(float[] a, int at, int n, float shift) {
        if (SUM_LANES != 8 && SUM_LANES != 4) {
            return super.squares8(a, at, n, shift);
        }
        FloatVector sv = FloatVector.broadcast(FD, shift);
        DoubleVector lo = DoubleVector.zero(D);
        DoubleVector hi = DoubleVector.zero(D);
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            DoubleVector c =
                    (DoubleVector) FloatVector.fromArray(FD, a, at + j).sub(sv).convertShape(VectorOperators.F2D, D, 0);
            lo = lo.add(c.mul(c));
            if (SUM_LANES == 4) {
                DoubleVector c2 = (DoubleVector)
                        FloatVector.fromArray(FD, a, at + j + 4).sub(sv).convertShape(VectorOperators.F2D, D, 0);
                hi = hi.add(c2.mul(c2));
            }
        }
        double s0 = lo.lane(0);
        for (; j < n; j++) {
            double c = a[at + j] - shift;
            s0 += c * c;
        }
        if (SUM_LANES == 8) { // the lanes read here: a vector passed to a helper was boxed (1.7 MB a GPT step)
            return combine8(s0, lo.lane(1), lo.lane(2), lo.lane(3), lo.lane(4), lo.lane(5), lo.lane(6), lo.lane(7));
        }
        return combine8(s0, lo.lane(1), lo.lane(2), lo.lane(3), hi.lane(0), hi.lane(1), hi.lane(2), hi.lane(3));
    }

    @Override
    public double dot8(float[] a, int ao, float[] b, int bo, int n) {
        if (SUM_LANES != 8 && SUM_LANES != 4) {
            return super.dot8(a, ao, b, bo, n);
        }
        DoubleVector lo = DoubleVector.zero(D);
        DoubleVector hi = DoubleVector.zero(D);
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            DoubleVector x =
                    (DoubleVector) FloatVector.fromArray(FD, a, ao + j).convertShape(VectorOperators.F2D, D, 0);
            DoubleVector y =
                    (DoubleVector) FloatVector.fromArray(FD, b, bo + j).convertShape(VectorOperators.F2D, D, 0);
            lo = lo.add(x.mul(y));
            if (SUM_LANES == 4) {
                DoubleVector x2 =
                        (DoubleVector) FloatVector.fromArray(FD, a, ao + j + 4).convertShape(VectorOperators.F2D, D, 0);
                DoubleVector y2 =
                        (DoubleVector) FloatVector.fromArray(FD, b, bo + j + 4).convertShape(VectorOperators.F2D, D, 0);
                hi = hi.add(x2.mul(y2));
            }
        }
        double s0 = lo.lane(0);
        for (; j < n; j++) {
            s0 += (double) a[ao + j] * b[bo + j];
        }
        if (SUM_LANES == 8) { // the lanes read here: a vector passed to a helper was boxed (1.7 MB a GPT step)
            return combine8(s0, lo.lane(1), lo.lane(2), lo.lane(3), lo.lane(4), lo.lane(5), lo.lane(6), lo.lane(7));
        }
        return combine8(s0, lo.lane(1), lo.lane(2), lo.lane(3), hi.lane(0), hi.lane(1), hi.lane(2), hi.lane(3));
    }

    @Override
    public void axpy(float alpha, float[] src, int so, float[] dst, int dof, int n) {
        int i = 0;
        if (alpha == 1f) {
            for (; i <= n - 8; i += 8) {
                FloatVector.fromArray(F, dst, dof + i)
                        .add(FloatVector.fromArray(F, src, so + i))
                        .intoArray(dst, dof + i);
            }
        } else {
            FloatVector av = FloatVector.broadcast(F, alpha);
            for (; i <= n - 8; i += 8) {
                FloatVector.fromArray(F, dst, dof + i)
                        .add(av.mul(FloatVector.fromArray(F, src, so + i)))
                        .intoArray(dst, dof + i);
            }
        }
        super.axpy(alpha, src, so + i, dst, dof + i, n - i);
    }

    @Override
    public void addProducts(float[] a, float[] b, int at, float[] dst, int n) {
        int j = 0;
        for (; j <= n - 8; j += 8) {
            FloatVector.fromArray(F, dst, j)
                    .add(FloatVector.fromArray(F, a, at + j).mul(FloatVector.fromArray(F, b, at + j)))
                    .intoArray(dst, j);
        }
        for (; j < n; j++) {
            dst[j] += a[at + j] * b[at + j];
        }
    }

    @Override
    public float rowMax(float[] a, int at, int n) {
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j <= n - 8; j += 8) {
            m = m.max(FloatVector.fromArray(F, a, at + j));
        }
        float max = m.reduceLanes(VectorOperators.MAX);
        for (; j < n; j++) {
            max = Math.max(max, a[at + j]);
        }
        return max;
    }

    @Override
    public void mulRow(float[] a, int at, int n, float s) {
        FloatVector sv = FloatVector.broadcast(F, s);
        int j = 0;
        for (; j <= n - 8; j += 8) {
            FloatVector.fromArray(F, a, at + j).mul(sv).intoArray(a, at + j);
        }
        for (; j < n; j++) {
            a[at + j] *= s;
        }
    }

    @Override
    public void softmaxBackwardRow(float[] p, int po, float[] g, int go, float[] o, int oo, int n, float d) {
        FloatVector dv = FloatVector.broadcast(F, d);
        int j = 0;
        for (; j <= n - 8; j += 8) {
            FloatVector pg = FloatVector.fromArray(F, p, po + j)
                    .mul(FloatVector.fromArray(F, g, go + j).sub(dv));
            FloatVector.fromArray(F, o, oo + j).add(pg).intoArray(o, oo + j);
        }
        for (; j < n; j++) {
            o[oo + j] += p[po + j] * (g[go + j] - d);
        }
    }

    @Override
    public void layerNormRow(
            float[] x, int base, int d, float mean, float rs, float[] w, float[] b, float[] h, float[] y) {
        FloatVector mv = FloatVector.broadcast(F, mean);
        FloatVector rv = FloatVector.broadcast(F, rs);
        int j = 0;
        for (; j <= d - 8; j += 8) {
            FloatVector v = FloatVector.fromArray(F, x, base + j).sub(mv).mul(rv);
            v.intoArray(h, base + j);
            v.mul(FloatVector.fromArray(F, w, j))
                    .add(FloatVector.fromArray(F, b, j))
                    .intoArray(y, base + j);
        }
        for (; j < d; j++) {
            float v = (x[base + j] - mean) * rs;
            h[base + j] = v;
            y[base + j] = v * w[j] + b[j];
        }
    }

    @Override
    public void layerNormBackwardRow(
            float[] g, float[] h, int base, int d, float[] w, float rs, float[] dh, float[] gx) {
        int j = 0;
        for (; j <= d - 8; j += 8) {
            FloatVector.fromArray(F, g, base + j)
                    .mul(FloatVector.fromArray(F, w, j))
                    .intoArray(dh, j);
        }
        for (; j < d; j++) {
            dh[j] = g[base + j] * w[j];
        }
        float meanDh = (float) (sum8(dh, 0, d, 0f) / d);
        float meanDot = (float) (dot8(dh, 0, h, base, d) / d);
        FloatVector mv = FloatVector.broadcast(F, meanDh);
        FloatVector dv = FloatVector.broadcast(F, meanDot);
        FloatVector rv = FloatVector.broadcast(F, rs);
        for (j = 0; j <= d - 8; j += 8) {
            FloatVector hv = FloatVector.fromArray(F, h, base + j);
            FloatVector t = FloatVector.fromArray(F, dh, j).sub(mv).sub(hv.mul(dv));
            FloatVector.fromArray(F, gx, base + j).add(rv.mul(t)).intoArray(gx, base + j);
        }
        for (; j < d; j++) {
            gx[base + j] += rs * (dh[j] - meanDh - h[base + j] * meanDot);
        }
    }

    @Override
    public double expSum4(float[] z, int at, int n, double shift, double[] tmp) {
        if (!SVML) {
            return super.expSum4(z, at, n, shift, tmp);
        }
        DoubleVector sv = DoubleVector.broadcast(D, shift);
        int j = 0;
        int lanes = D.length();
        for (; j <= n - lanes; j += lanes) {
            ((DoubleVector) FloatVector.fromArray(FD, z, at + j).convertShape(VectorOperators.F2D, D, 0))
                    .sub(sv)
                    .lanewise(VectorOperators.EXP)
                    .intoArray(tmp, j);
        }
        for (; j < n; j++) {
            tmp[j] = Math.exp(z[at + j] - shift);
        }
        return sum4(tmp, n);
    }

    @Override
    public void expShifted2(float[] z, int at, float[] p, int po, int n, double shift1, double shift2) {
        if (!SVML) {
            super.expShifted2(z, at, p, po, n, shift1, shift2);
            return;
        }
        DoubleVector s1 = DoubleVector.broadcast(D, shift1);
        DoubleVector s2 = DoubleVector.broadcast(D, shift2);
        int j = 0;
        int lanes = D.length();
        for (; j <= n - lanes; j += lanes) {
            DoubleVector d =
                    (DoubleVector) FloatVector.fromArray(FD, z, at + j).convertShape(VectorOperators.F2D, D, 0);
            ((FloatVector) d.sub(s1).sub(s2).lanewise(VectorOperators.EXP).convertShape(VectorOperators.D2F, FD, 0))
                    .intoArray(p, po + j);
        }
        for (; j < n; j++) {
            p[po + j] = (float) Math.exp((double) z[at + j] - shift1 - shift2);
        }
    }

    /** SVML's exp in the widest double lanes (as {@link #tanh}), the tail through {@link Math#exp}. */
    @Override
    public void expShifted(float[] z, int zo, float[] p, int po, int n, float shift) {
        if (!SVML) {
            super.expShifted(z, zo, p, po, n, shift);
            return;
        }
        // a broadcast vector, not sub(float): with two float species in use (F and FD on AVX2 machines), a
        // scalar-operand call on the second one stopped C2 compiling loops to vector code (they allocated vectors)
        FloatVector sv = FloatVector.broadcast(FD, shift);
        int j = 0;
        int lanes = D.length();
        for (; j <= n - lanes; j += lanes) {
            DoubleVector d =
                    (DoubleVector) FloatVector.fromArray(FD, z, zo + j).sub(sv).convertShape(VectorOperators.F2D, D, 0);
            ((FloatVector) d.lanewise(VectorOperators.EXP).convertShape(VectorOperators.D2F, FD, 0))
                    .intoArray(p, po + j);
        }
        for (; j < n; j++) {
            p[po + j] = (float) Math.exp(z[zo + j] - shift);
        }
    }

    /** {@link Special#normalCdf} lane by lane: {@code 0.5 * erfc(-x / sqrt 2)}. */
    private static DoubleVector normalCdf(DoubleVector v) {
        DoubleVector x = v.mul(-Special.INV_SQRT2);
        DoubleVector z = x.abs();
        DoubleVector t = z.broadcast(1.0).div(z.mul(0.5).add(1.0));
        double[] c = Special.ERFC;
        DoubleVector p = t.broadcast(c[c.length - 1]);
        for (int k = c.length - 2; k >= 0; k--) {
            p = t.mul(p).add(c[k]);
        }
        DoubleVector r = t.mul(z.neg().mul(z).add(p).lanewise(VectorOperators.EXP));
        DoubleVector erfc = r.blend(r.neg().add(2.0), x.compare(VectorOperators.LT, 0.0));
        return erfc.mul(0.5);
    }

    @Override
    public String implementation() {
        return "Vector API, 8 x float";
    }

    @Override
    public double squares(float[] a, int from, int to) {
        FloatVector s = FloatVector.zero(F);
        int i = from;
        for (; i <= to - 8; i += 8) {
            FloatVector v = FloatVector.fromArray(F, a, i);
            s = s.add(v.mul(v));
        }
        return finish(
                a,
                from,
                to,
                combine(
                        s.lane(0), s.lane(1), s.lane(2), s.lane(3), s.lane(4), s.lane(5), s.lane(6), s.lane(7), i, to,
                        a));
    }

    @Override
    public double scale(float[] a, int from, int to, float scale, float[] maxAbs, int[] zeros, int slot) {
        FloatVector s = FloatVector.zero(F);
        int i = from;
        if (maxAbs == null) {
            for (; i <= to - 8; i += 8) {
                FloatVector v = FloatVector.fromArray(F, a, i).mul(scale);
                v.intoArray(a, i);
                s = s.add(v.mul(v));
            }
            for (int j = i; j < to; j++) {
                a[j] *= scale;
            }
            return finish(
                    a,
                    from,
                    to,
                    combine(
                            s.lane(0), s.lane(1), s.lane(2), s.lane(3), s.lane(4), s.lane(5), s.lane(6), s.lane(7), i,
                            to, a));
        }
        IntVector max = IntVector.zero(IntVector.SPECIES_256);
        IntVector zero = IntVector.zero(IntVector.SPECIES_256);
        for (; i <= to - 8; i += 8) {
            FloatVector v = FloatVector.fromArray(F, a, i).mul(scale);
            v.intoArray(a, i);
            s = s.add(v.mul(v));
            IntVector bits = v.reinterpretAsInts().and(0x7fffffff);
            max = max.max(bits);
            zero = zero.add(bits.sub(1).lanewise(VectorOperators.LSHR, 31)); // 1 where bits == 0
        }
        int m = max.reduceLanes(VectorOperators.MAX);
        int z = zero.reduceLanes(VectorOperators.ADD);
        for (int j = i; j < to; j++) {
            a[j] *= scale;
            int bits = Float.floatToRawIntBits(a[j]) & 0x7fffffff;
            m = Math.max(m, bits);
            z += (bits - 1) >>> 31;
        }
        maxAbs[slot] = Float.intBitsToFloat(m);
        zeros[slot] = z;
        return finish(
                a,
                from,
                to,
                combine(
                        s.lane(0), s.lane(1), s.lane(2), s.lane(3), s.lane(4), s.lane(5), s.lane(6), s.lane(7), i, to,
                        a));
    }

    @Override
    public void adam(float[] p, float[] g, int go, float[] m, float[] v, AdamStep s, double[] stats) {
        if (stats == null) {
            adamPlain(p, g, go, m, v, s);
        } else {
            adamWithStats(p, g, go, m, v, s, stats);
        }
    }

    /**
     * The update alone, in explicit vectors: the JIT's own vectorization of the plain loop gives up when the gradient
     * is read at an offset ({@code go}, a view in the all-reduce arena) and the other arrays are not (4x slower).
     */
    private static void adamPlain(float[] p, float[] g, int go, float[] m, float[] v, AdamStep s) {
        float b1 = s.b1();
        float oneMinusB2 = s.oneMinusB2();
        float b2 = s.b2();
        float bc2Sqrt = s.bc2Sqrt();
        float negStepSize = s.negStepSize();
        float eps = s.eps();
        boolean decoupled = s.decoupled();
        float decay = s.decay();
        float wd = s.wd();
        FloatVector oneMinusB1s = FloatVector.broadcast(F, s.oneMinusB1());
        FloatVector wds = FloatVector.broadcast(F, wd);
        int i = 0;
        for (; i <= p.length - 8; i += 8) {
            FloatVector pi = FloatVector.fromArray(F, p, i);
            FloatVector gi = FloatVector.fromArray(F, g, go + i);
            if (decoupled) {
                pi = pi.mul(decay);
            } else if (wd != 0) {
                gi = wds.fma(pi, gi);
            }
            FloatVector mi = oneMinusB1s.fma(gi, FloatVector.fromArray(F, m, i).mul(b1));
            mi.intoArray(m, i);
            FloatVector vi =
                    FloatVector.fromArray(F, v, i).mul(b2).add(gi.mul(gi).mul(oneMinusB2));
            vi.intoArray(v, i);
            FloatVector denom = vi.sqrt().div(bc2Sqrt).add(eps);
            pi.add(mi.mul(negStepSize).div(denom)).intoArray(p, i);
        }
        adamRange(p, g, go, m, v, i, p.length, s);
    }

    /**
     * The update and both norms in one pass, so the statistics cost no memory traffic of their own. A method of its
     * own, compiled apart from the plain path.
     */
    private static void adamWithStats(float[] p, float[] g, int go, float[] m, float[] v, AdamStep s, double[] stats) {
        float b1 = s.b1();
        float oneMinusB1 = s.oneMinusB1();
        float b2 = s.b2();
        float oneMinusB2 = s.oneMinusB2();
        float bc2Sqrt = s.bc2Sqrt();
        float negStepSize = s.negStepSize();
        float eps = s.eps();
        boolean decoupled = s.decoupled();
        float decay = s.decay();
        float wd = s.wd();
        FloatVector oneMinusB1s = FloatVector.broadcast(F, oneMinusB1);
        FloatVector wds = FloatVector.broadcast(F, wd);
        FloatVector w = FloatVector.zero(F);
        FloatVector d = FloatVector.zero(F);
        int i = 0;
        for (; i <= p.length - 8; i += 8) {
            FloatVector old = FloatVector.fromArray(F, p, i);
            FloatVector pi = old;
            FloatVector gi = FloatVector.fromArray(F, g, go + i);
            if (decoupled) {
                pi = pi.mul(decay);
            } else if (wd != 0) {
                gi = wds.fma(pi, gi);
            }
            FloatVector mi = oneMinusB1s.fma(gi, FloatVector.fromArray(F, m, i).mul(b1));
            mi.intoArray(m, i);
            FloatVector vi =
                    FloatVector.fromArray(F, v, i).mul(b2).add(gi.mul(gi).mul(oneMinusB2));
            vi.intoArray(v, i);
            FloatVector denom = vi.sqrt().div(bc2Sqrt).add(eps);
            FloatVector fresh = pi.add(mi.mul(negStepSize).div(denom));
            fresh.intoArray(p, i);
            FloatVector e = fresh.sub(old);
            w = w.add(fresh.mul(fresh));
            d = d.add(e.mul(e));
        }
        double tailW = 0;
        double tailD = 0;
        for (; i < p.length; i++) {
            float old = p[i];
            adamRange(p, g, go, m, v, i, i + 1, s);
            double e = (double) p[i] - old;
            tailW += (double) p[i] * p[i];
            tailD += e * e;
        }
        // lanes read here: a vector passed to a method that is not inlined is boxed, and the loop with it
        double ww = pairwise(w.lane(0), w.lane(1), w.lane(2), w.lane(3), w.lane(4), w.lane(5), w.lane(6), w.lane(7));
        double dd = pairwise(d.lane(0), d.lane(1), d.lane(2), d.lane(3), d.lane(4), d.lane(5), d.lane(6), d.lane(7));
        stats[0] += finish(p, 0, p.length, ww + tailW);
        stats[1] += dd + tailD;
    }

    @Override
    public void sgd(float[] p, float[] g, int go, float[] buf, boolean firstStep, SgdStep s, double[] stats) {
        if (stats == null) {
            sgdPlain(p, g, go, buf, firstStep, s);
        } else {
            sgdWithStats(p, g, go, buf, firstStep, s, stats);
        }
    }

    /** The update alone, in explicit vectors, as {@link #adamPlain}. */
    private static void sgdPlain(float[] p, float[] g, int go, float[] buf, boolean firstStep, SgdStep s) {
        float mom = s.mom();
        boolean decay = s.decay();
        boolean nesterov = s.nesterov();
        FloatVector wds = FloatVector.broadcast(F, s.wd());
        FloatVector keeps = FloatVector.broadcast(F, s.keep());
        FloatVector moms = FloatVector.broadcast(F, mom);
        FloatVector negLrs = FloatVector.broadcast(F, s.negLr());
        int i = 0;
        for (; i <= p.length - 8; i += 8) {
            FloatVector old = FloatVector.fromArray(F, p, i);
            FloatVector step = FloatVector.fromArray(F, g, go + i);
            if (decay) {
                step = wds.fma(old, step);
            }
            if (buf != null) {
                FloatVector b = firstStep
                        ? step
                        : keeps.fma(step, FloatVector.fromArray(F, buf, i).mul(mom));
                b.intoArray(buf, i);
                step = nesterov ? moms.fma(b, step) : b;
            }
            negLrs.fma(step, old).intoArray(p, i);
        }
        sgdRange(p, g, go, buf, i, p.length, firstStep, s);
    }

    /** The update and both norms in one pass, in a method of its own as for {@link #adamWithStats}. */
    private static void sgdWithStats(
            float[] p, float[] g, int go, float[] buf, boolean firstStep, SgdStep s, double[] stats) {
        float wd = s.wd();
        float mom = s.mom();
        float keep = s.keep();
        float negLr = s.negLr();
        boolean decay = s.decay();
        boolean nesterov = s.nesterov();
        FloatVector wds = FloatVector.broadcast(F, wd);
        FloatVector keeps = FloatVector.broadcast(F, keep);
        FloatVector moms = FloatVector.broadcast(F, mom);
        FloatVector negLrs = FloatVector.broadcast(F, negLr);
        FloatVector w = FloatVector.zero(F);
        FloatVector d = FloatVector.zero(F);
        int i = 0;
        for (; i <= p.length - 8; i += 8) {
            FloatVector old = FloatVector.fromArray(F, p, i);
            FloatVector step = FloatVector.fromArray(F, g, go + i);
            if (decay) {
                step = wds.fma(old, step);
            }
            if (buf != null) {
                FloatVector b = firstStep
                        ? step
                        : keeps.fma(step, FloatVector.fromArray(F, buf, i).mul(mom));
                b.intoArray(buf, i);
                step = nesterov ? moms.fma(b, step) : b;
            }
            FloatVector fresh = negLrs.fma(step, old);
            fresh.intoArray(p, i);
            FloatVector e = fresh.sub(old);
            w = w.add(fresh.mul(fresh));
            d = d.add(e.mul(e));
        }
        double tailW = 0;
        double tailD = 0;
        for (; i < p.length; i++) {
            float old = p[i];
            sgdRange(p, g, go, buf, i, i + 1, firstStep, s);
            double e = (double) p[i] - old;
            tailW += (double) p[i] * p[i];
            tailD += e * e;
        }
        // lanes read here: a vector passed to a method that is not inlined is boxed, and the loop with it
        double ww = pairwise(w.lane(0), w.lane(1), w.lane(2), w.lane(3), w.lane(4), w.lane(5), w.lane(6), w.lane(7));
        double dd = pairwise(d.lane(0), d.lane(1), d.lane(2), d.lane(3), d.lane(4), d.lane(5), d.lane(6), d.lane(7));
        stats[0] += finish(p, 0, p.length, ww + tailW);
        stats[1] += dd + tailD;
    }

    @Override
    public void addActivationStats(float[] y, int units, float shift, float lo, float hi, double[] out, int[] alive) {
        if (units % 8 != 0 || units == 0) {
            super.addActivationStats(y, units, shift, lo, hi, out, alive); // the same lanes, in plain Java
            return;
        }
        // whole rows of whole groups of eight: one flat loop (C2 keeps vectors in registers in a single loop, not
        // across nested ones), the column wrapping around at the end of each row
        FloatVector s = FloatVector.zero(F);
        FloatVector q = FloatVector.zero(F);
        long outside = 0;
        int n = y.length - y.length % units;
        int column = 0;
        for (int i = 0; i < n; i += 8) {
            FloatVector v = FloatVector.fromArray(F, y, i);
            FloatVector d = v.sub(shift);
            s = s.add(d);
            q = q.add(d.mul(d));
            outside += v.compare(VectorOperators.LT, lo)
                    .or(v.compare(VectorOperators.GT, hi))
                    .trueCount();
            if (alive != null) {
                IntVector.fromArray(IntVector.SPECIES_256, alive, column)
                        .or(v.reinterpretAsInts().and(0x7fffffff))
                        .intoArray(alive, column);
            }
            column += 8;
            if (column == units) {
                column = 0;
            }
        }
        out[0] += pairwise(s.lane(0), s.lane(1), s.lane(2), s.lane(3), s.lane(4), s.lane(5), s.lane(6), s.lane(7));
        out[1] += pairwise(q.lane(0), q.lane(1), q.lane(2), q.lane(3), q.lane(4), q.lane(5), q.lane(6), q.lane(7));
        out[2] += outside;
    }
}
