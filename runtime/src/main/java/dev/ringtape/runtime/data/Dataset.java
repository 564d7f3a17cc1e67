package dev.ringtape.runtime.data;

import dev.ringtape.runtime.tensor.Shapes;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * Samples in memory: features row-major ({@code n x prod(sampleShape)}) and labels of {@code labelShape} per sample
 * (one value, {@code []}, for a class or a target; one per position, {@code [T]}, for next-token prediction).
 *
 * <p>Features are floats, or the unsigned bytes an image file stores ({@link #ofBytes}): a quarter of the memory
 * (Fashion-MNIST's training images are 47 MB instead of 188), turned into floats a batch at a time. Normalization of
 * byte-held features is kept as its per-feature shift and scale and applied to each batch, with the same float
 * operations as in place on floats, so both give the same bits.
 */
public final class Dataset {
    /** Null when the features are held as bytes. */
    private final float[] features;
    /** The features as unsigned bytes, or null. */
    private final byte[] bytes;
    /** Byte-held features' normalization, {@code (x - shift) * scale}, or null (none yet). */
    private float[] shift;

    private float[] scale;
    private final float[] labels;
    private final int[] sampleShape;
    private final int[] labelShape;
    private final int n;

    public Dataset(float[] features, float[] labels, int[] sampleShape) {
        this(features, labels, sampleShape, new int[0]);
    }

    public Dataset(float[] features, float[] labels, int[] sampleShape, int[] labelShape) {
        this(features, null, labels, sampleShape, labelShape);
    }

    /** Samples whose features are unsigned bytes (0-255), held as such: what an IDX image file stores. */
    public static Dataset ofBytes(byte[] features, float[] labels, int[] sampleShape) {
        return new Dataset(null, features, labels, sampleShape, new int[0]);
    }

    private Dataset(float[] features, byte[] bytes, float[] labels, int[] sampleShape, int[] labelShape) {
        this.sampleShape = sampleShape.clone();
        this.labelShape = labelShape.clone();
        int per = Shapes.size(sampleShape);
        int labelsPer = Shapes.size(labelShape);
        int values = features != null ? features.length : bytes.length;
        if (labels.length % labelsPer != 0 || values != labels.length / labelsPer * per) {
            throw new IllegalArgumentException(labels.length / labelsPer + " samples of " + Shapes.str(sampleShape)
                    + " need " + labels.length / labelsPer * per + " feature values, got " + values);
        }
        this.features = features;
        this.bytes = bytes;
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
        return Shapes.size(sampleShape);
    }

    /** The same samples seen with another per-sample shape of the same size (e.g. [784] as [1, 28, 28]). */
    public Dataset reshaped(int[] shape) {
        if (Shapes.size(shape) != Shapes.size(sampleShape)) {
            throw new IllegalArgumentException(
                    "samples of " + Shapes.str(sampleShape) + " cannot be seen as " + Shapes.str(shape));
        }
        Dataset d = new Dataset(features, bytes, labels, shape, labelShape);
        d.shift = shift;
        d.scale = scale;
        return d;
    }

    /** Whether the features are held as bytes ({@link #ofBytes}). */
    public boolean byteHeld() {
        return bytes != null;
    }

    /**
     * The features as floats, normalized if they have been: the array itself, or for byte-held features a new one
     * (tests and small data; the training path reads batches and rows).
     */
    public float[] features() {
        if (features != null) {
            return features;
        }
        int per = featuresPerSample();
        float[] x = new float[bytes.length];
        for (int i = 0; i < n; i++) {
            convert(i, x, i * per);
        }
        return x;
    }

    /** Sample {@code i}'s features as floats (normalized if they have been) into {@code into} from 0; returned. */
    public float[] row(int i, float[] into) {
        int per = featuresPerSample();
        if (features != null) {
            System.arraycopy(features, i * per, into, 0, per);
        } else {
            convert(i, into, 0);
        }
        return into;
    }

    /** Byte-held sample {@code i} as floats at {@code at}: the value, or {@code (value - shift) * scale}. */
    private void convert(int i, float[] into, int at) {
        int per = featuresPerSample();
        int from = i * per;
        if (shift == null) {
            for (int j = 0; j < per; j++) {
                into[at + j] = bytes[from + j] & 0xff;
            }
        } else {
            float[] sh = shift;
            float[] sc = scale;
            for (int j = 0; j < per; j++) {
                into[at + j] = ((bytes[from + j] & 0xff) - sh[j]) * sc[j];
            }
        }
    }

    /**
     * Normalizes every feature: {@code x = (x - shift[j]) * scale[j]}, in place on floats, and on byte-held features
     * as each batch is made (once: they cannot be normalized twice).
     */
    public void normalize(float[] shift, float[] scale) {
        int d = featuresPerSample();
        if (shift.length != d || scale.length != d) {
            throw new IllegalArgumentException("a normalizer of " + shift.length + " features for samples of " + d);
        }
        if (features != null) {
            for (int at = 0; at < features.length; at += d) {
                for (int j = 0; j < d; j++) {
                    features[at + j] = (features[at + j] - shift[j]) * scale[j];
                }
            }
            return;
        }
        if (this.shift != null) {
            throw new IllegalStateException("byte-held features are normalized once");
        }
        this.shift = shift.clone();
        this.scale = scale.clone();
    }

    public float[] labels() {
        return labels;
    }

    /** The samples at {@code indices[from .. from+count)} as an input batch and a label vector. */
    public Tensor[] batch(int[] indices, int from, int count) {
        Dataset picked = subset(indices, from, count);
        return new Tensor[] {
            Tensor.of(picked.features(), Shapes.batched(count, sampleShape)),
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
            if (features != null) {
                System.arraycopy(features, s * per, x, i * per, per);
            } else {
                convert(s, x, i * per);
            }
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

    /** The samples at {@code indices[from .. from+count)}, copied (byte-held ones stay bytes, with their normalizer). */
    private Dataset subset(int[] indices, int from, int count) {
        int per = Shapes.size(sampleShape);
        int labelsPer = Shapes.size(labelShape);
        float[] x = features != null ? new float[count * per] : null;
        byte[] b = features != null ? null : new byte[count * per];
        float[] y = new float[count * labelsPer];
        for (int i = 0; i < count; i++) {
            int s = indices[from + i];
            if (x != null) {
                System.arraycopy(features, s * per, x, i * per, per);
            } else {
                System.arraycopy(bytes, s * per, b, i * per, per);
            }
            System.arraycopy(labels, s * labelsPer, y, i * labelsPer, labelsPer);
        }
        Dataset d = new Dataset(x, b, y, sampleShape, labelShape);
        d.shift = shift;
        d.scale = scale;
        return d;
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
