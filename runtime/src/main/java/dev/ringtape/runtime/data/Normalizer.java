package dev.ringtape.runtime.data;

/**
 * Per-feature normalization with statistics of the training split only, applied alike to every split:
 * {@code standard} (mean 0, std 1; a constant feature is only centred) or {@code minmax} (to [0, 1]).
 */
public final class Normalizer {
    private final float[] shift;
    private final float[] scale;

    private Normalizer(float[] shift, float[] scale) {
        this.shift = shift;
        this.scale = scale;
    }

    /** Fits {@code kind} ({@code standard}, {@code minmax} or {@code none}) on {@code train}. */
    public static Normalizer fit(String kind, Dataset train) {
        int d = train.featuresPerSample();
        float[] shift = new float[d];
        float[] scale = new float[d];
        java.util.Arrays.fill(scale, 1f);
        float[] x = train.features();
        int n = train.size();
        switch (kind) {
            case "none" -> {}
            case "standard" -> {
                double[] sum = new double[d];
                double[] sq = new double[d];
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < d; j++) {
                        double v = x[i * d + j];
                        sum[j] += v;
                        sq[j] += v * v;
                    }
                }
                for (int j = 0; j < d; j++) {
                    double mean = sum[j] / n;
                    double std = Math.sqrt(Math.max(sq[j] / n - mean * mean, 0));
                    shift[j] = (float) mean;
                    scale[j] = std > 1e-12 ? (float) (1.0 / std) : 1f;
                }
            }
            case "minmax" -> {
                for (int j = 0; j < d; j++) {
                    float lo = Float.POSITIVE_INFINITY;
                    float hi = Float.NEGATIVE_INFINITY;
                    for (int i = 0; i < n; i++) {
                        lo = Math.min(lo, x[i * d + j]);
                        hi = Math.max(hi, x[i * d + j]);
                    }
                    shift[j] = lo;
                    scale[j] = hi > lo ? 1f / (hi - lo) : 1f;
                }
            }
            default -> throw new IllegalArgumentException(
                    "unknown normalization '" + kind + "' (expected standard, minmax or none)");
        }
        return new Normalizer(shift, scale);
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

    /** Normalizes {@code data}'s features in place. */
    public void apply(Dataset data) {
        float[] x = data.features();
        int d = shift.length;
        for (int i = 0; i < x.length; i++) {
            int j = i % d;
            x[i] = (x[i] - shift[j]) * scale[j];
        }
    }
}
