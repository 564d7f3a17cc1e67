package dev.ringtape.runtime.data;

import java.io.Serializable;

/**
 * Per-feature normalization with statistics of the training split only, applied alike to every split:
 * {@code standard} (mean 0, std 1) or {@code minmax} (to [0, 1]); a feature that is constant in training is only
 * shifted. Statistics are gathered by {@link Stats} (Welford's update, Chan's merge), so data held in pieces, one
 * per Spark partition, gets the same normalizer as the whole.
 */
public final class Normalizer {
    /** A feature whose spread is below this fraction of its magnitude is float rounding: constant. */
    static final double CONSTANT_SPREAD = 1e-6;

    private final float[] shift;
    private final float[] scale;

    private Normalizer(float[] shift, float[] scale) {
        this.shift = shift;
        this.scale = scale;
    }

    /** Fits {@code kind} ({@code standard}, {@code minmax} or {@code none}) on {@code train}. */
    public static Normalizer fit(String kind, Dataset train) {
        // only standard needs the moments: their update divides by the count for every value (most of a fit's time)
        Stats s = new Stats(train.featuresPerSample(), "standard".equals(kind));
        float[] row = new float[train.featuresPerSample()];
        for (int i = 0; i < train.size(); i++) {
            s.add(train.row(i, row), 0);
        }
        return s.normalizer(kind);
    }

    /**
     * Running per-feature statistics: count, mean and sum of squared deviations (Welford), minimum, maximum and
     * largest magnitude. Mergeable, and serializable so partial statistics can travel.
     */
    public static final class Stats implements Serializable {
        private final int d;
        private final boolean moments;
        private long n;
        private final double[] mean;
        private final double[] m2;
        private final double[] min;
        private final double[] max;

        public Stats(int features) {
            this(features, true);
        }

        /** Without {@code moments}, only the count, minimum and maximum: enough for {@code minmax} and {@code none}. */
        Stats(int features, boolean moments) {
            this.d = features;
            this.moments = moments;
            this.mean = new double[features];
            this.m2 = new double[features];
            this.min = new double[features];
            this.max = new double[features];
            java.util.Arrays.fill(min, Double.POSITIVE_INFINITY);
            java.util.Arrays.fill(max, Double.NEGATIVE_INFINITY);
        }

        /** Adds the sample {@code x[at, at + features)}. */
        public void add(float[] x, int at) {
            n++;
            if (!moments) {
                for (int j = 0; j < d; j++) {
                    double v = x[at + j];
                    min[j] = Math.min(min[j], v);
                    max[j] = Math.max(max[j], v);
                }
                return;
            }
            for (int j = 0; j < d; j++) {
                double v = x[at + j];
                double delta = v - mean[j];
                mean[j] += delta / n;
                m2[j] += delta * (v - mean[j]);
                min[j] = Math.min(min[j], v);
                max[j] = Math.max(max[j], v);
            }
        }

        /** Adds another part's statistics to these (Chan et al.'s pairwise update). */
        public Stats merge(Stats o) {
            if (o.d != d || o.moments != moments) {
                throw new IllegalArgumentException(o.d + " features" + (o.moments ? "" : " (no moments)")
                        + " merged into " + d + (moments ? "" : " (no moments)"));
            }
            if (o.n == 0) {
                return this;
            }
            long total = n + o.n;
            for (int j = 0; j < d; j++) {
                double delta = o.mean[j] - mean[j];
                mean[j] += delta * o.n / total;
                m2[j] += o.m2[j] + delta * delta * ((double) n * o.n / total);
                min[j] = Math.min(min[j], o.min[j]);
                max[j] = Math.max(max[j], o.max[j]);
            }
            n = total;
            return this;
        }

        public long count() {
            return n;
        }

        public int features() {
            return d;
        }

        /** The normalizer of {@code kind} these statistics give. */
        public Normalizer normalizer(String kind) {
            float[] shift = new float[d];
            float[] scale = new float[d];
            java.util.Arrays.fill(scale, 1f);
            switch (kind) {
                case "none" -> {}
                case "standard" -> {
                    if (!moments) {
                        throw new IllegalStateException("standard normalization needs statistics with moments");
                    }
                    for (int j = 0; j < d; j++) {
                        double std = n == 0 ? 0 : Math.sqrt(m2[j] / n);
                        shift[j] = (float) mean[j];
                        scale[j] = constant(std, j) ? 1f : (float) (1.0 / std);
                    }
                }
                case "minmax" -> {
                    for (int j = 0; j < d; j++) {
                        double range = max[j] - min[j];
                        shift[j] = n == 0 ? 0 : (float) min[j];
                        scale[j] = n == 0 || constant(range, j) ? 1f : (float) (1.0 / range);
                    }
                }
                default -> throw new IllegalArgumentException(
                        "unknown normalization '" + kind + "' (expected standard, minmax or none)");
            }
            return new Normalizer(shift, scale);
        }

        private boolean constant(double spread, int j) {
            double magnitude = Math.max(Math.abs(min[j]), Math.abs(max[j]));
            return !(spread > CONSTANT_SPREAD * magnitude) || !Double.isFinite(spread);
        }
    }

    /** What is subtracted from each feature. */
    public float[] shift() {
        return shift.clone();
    }

    /** What each shifted feature is divided by: the model's input is {@code (x - shift()) / divisor()}. */
    public float[] divisor() {
        float[] d = new float[scale.length];
        for (int j = 0; j < d.length; j++) {
            d[j] = (float) (1.0 / scale[j]);
        }
        return d;
    }

    /** Normalizes {@code data}'s features: in place, or as its batches are made for byte-held ones. */
    public void apply(Dataset data) {
        data.normalize(shift, scale);
    }
}
