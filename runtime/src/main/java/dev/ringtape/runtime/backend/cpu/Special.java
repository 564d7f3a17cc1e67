package dev.ringtape.runtime.backend.cpu;

/** Special functions the JDK lacks, in double precision. */
final class Special {
    static final double INV_SQRT2 = 0.7071067811865476;
    static final double INV_SQRT_2PI = 0.3989422804014327;

    /** Coefficients of the Chebyshev fit of Numerical Recipes (2nd ed., section 6.2), lowest order first. */
    static final double[] ERFC = {
        -1.26551223,
        1.00002368,
        0.37409196,
        0.09678418,
        -0.18628806,
        0.27886807,
        -1.13520398,
        1.48851587,
        -0.82215223,
        0.17087277
    };

    private Special() {}

    /**
     * The complementary error function with fractional error below 1.2e-7 everywhere, so it stays accurate in the
     * tails where {@code 1 - erf} would cancel.
     */
    static double erfc(double x) {
        double z = Math.abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double p = ERFC[ERFC.length - 1];
        for (int i = ERFC.length - 2; i >= 0; i--) {
            p = ERFC[i] + t * p;
        }
        double r = t * Math.exp(-z * z + p);
        return x >= 0 ? r : 2.0 - r;
    }

    /** The standard normal CDF, {@code 0.5 * erfc(-x / sqrt 2)}, accurate in relative terms in both tails. */
    static double normalCdf(double x) {
        return 0.5 * erfc(-x * INV_SQRT2);
    }
}
