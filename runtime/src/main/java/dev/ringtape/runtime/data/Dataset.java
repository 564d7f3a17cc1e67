package dev.ringtape.runtime.data;

import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * Samples in memory: features row-major ({@code n x prod(sampleShape)}) and labels of {@code labelShape} per sample
 * (one value, {@code []}, for a class or a target; one per position, {@code [T]}, for next-token prediction).
 */
public final class Dataset {
    private final float[] features;
    private final float[] labels;
    private final int[] sampleShape;
    private final int[] labelShape;
    private final int n;

    public Dataset(float[] features, float[] labels, int[] sampleShape) {
        this(features, labels, sampleShape, new int[0]);
    }

    public Dataset(float[] features, float[] labels, int[] sampleShape, int[] labelShape) {
        this.sampleShape = sampleShape.clone();
        this.labelShape = labelShape.clone();
        int per = Shapes.size(sampleShape);
        int labelsPer = Shapes.size(labelShape);
        if (labels.length % labelsPer != 0 || features.length != labels.length / labelsPer * per) {
            throw new IllegalArgumentException(labels.length / labelsPer + " samples of " + Shapes.str(sampleShape)
                    + " need " + labels.length / labelsPer * per + " feature values, got " + features.length);
        }
        this.features = features;
        this.labels = labels;
        this.n = labels.length / labelsPer;
    }

    /** The labels of one sample: {@code []} for one value, {@code [T]} for one per position. */
    public int[] labelShape() {
        return labelShape.clone();
    }

    public int size() {
        return n;
    }

    public int[] sampleShape() {
        return sampleShape.clone();
    }

    public int featuresPerSample() {
        return features.length / Math.max(n, 1);
    }

    /** The same samples seen with another per-sample shape of the same size (e.g. [784] as [1, 28, 28]). */
    public Dataset reshaped(int[] shape) {
        if (Shapes.size(shape) != Shapes.size(sampleShape)) {
            throw new IllegalArgumentException(
                    "samples of " + Shapes.str(sampleShape) + " cannot be seen as " + Shapes.str(shape));
        }
        return new Dataset(features, labels, shape, labelShape);
    }

    public float[] features() {
        return features;
    }

    public float[] labels() {
        return labels;
    }

    /** The samples at {@code indices[from .. from+count)} as an input batch and a label vector. */
    public Tensor[] batch(int[] indices, int from, int count) {
        Dataset picked = subset(indices, from, count);
        return new Tensor[] {
            Tensor.of(picked.features, Shapes.batched(count, sampleShape)),
            Tensor.of(picked.labels, Shapes.batched(count, labelShape))
        };
    }

    /**
     * {@link #batch}, written into {@code into} (a batch of the same size from before; null: new tensors) and
     * returned: the training loop's batches reuse two sets of arrays instead of allocating one a step.
     */
    public Tensor[] batchInto(int[] indices, int from, int count, Tensor[] into) {
        int per = Shapes.size(sampleShape);
        int labelsPer = Shapes.size(labelShape);
        if (into == null || into[0].size() != count * per || into[1].size() != count * labelsPer) {
            return batch(indices, from, count);
        }
        float[] x = into[0].data();
        float[] y = into[1].data();
        for (int i = 0; i < count; i++) {
            int s = indices[from + i];
            System.arraycopy(features, s * per, x, i * per, per);
            System.arraycopy(labels, s * labelsPer, y, i * labelsPer, labelsPer);
        }
        into[0].markModified();
        into[1].markModified();
        return into;
    }

    /** Splits off a seeded random {@code fraction} as the held-out part: {train, held-out}. */
    public Dataset[] split(double fraction, long seed) {
        int[] order = permutation(n, seed);
        int held = (int) Math.round(n * fraction);
        return new Dataset[] {subset(order, held, n - held), subset(order, 0, held)};
    }

    /** The samples at {@code indices[from .. from+count)}, copied. */
    private Dataset subset(int[] indices, int from, int count) {
        int per = Shapes.size(sampleShape);
        int labelsPer = Shapes.size(labelShape);
        float[] x = new float[count * per];
        float[] y = new float[count * labelsPer];
        for (int i = 0; i < count; i++) {
            int s = indices[from + i];
            System.arraycopy(features, s * per, x, i * per, per);
            System.arraycopy(labels, s * labelsPer, y, i * labelsPer, labelsPer);
        }
        return new Dataset(x, y, sampleShape, labelShape);
    }

    /** A seeded Fisher-Yates permutation of {@code 0 .. n-1}. */
    public static int[] permutation(int n, long seed) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
