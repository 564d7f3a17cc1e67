package dev.ringtape.runtime.data;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.NoSuchFileException;

/**
 * Any file read as bytes (gunzipped by the {@code .gz} suffix), for next-token prediction over a vocabulary of 256: a
 * sample is a window of {@code context + 1} bytes, its input the first {@code context} and its labels the last
 * {@code context} (each position's next byte). Windows start every {@code stride} bytes. With a held-out fraction,
 * the file's tail is held out and no window crosses the cut, so no byte the model is scored on was trained on.
 */
public final class TextReader {
    /** Byte-level text: one token per byte value. */
    public static final int VOCAB = 256;

    private TextReader() {}

    /** The bytes of {@code file}. */
    public static byte[] bytes(String file, DataFiles files) throws DataException {
        try (InputStream in = files.openGunzipped(file)) {
            return in.readAllBytes();
        } catch (NoSuchFileException | FileNotFoundException e) {
            throw new DataException(file + ": no such file");
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage());
        }
    }

    /**
     * The windows of {@code file}: {training, held-out}, the held-out part the last {@code holdout} fraction of the
     * bytes (null when {@code holdout} is 0).
     */
    public static Dataset[] read(String file, DataFiles files, int context, int stride, double holdout)
            throws DataException {
        byte[] text = bytes(file, files);
        int cut = (int) Math.round(text.length * (1 - holdout));
        Dataset train = windows(
                file + ": " + cut + " bytes" + (holdout > 0 ? " before the held-out tail" : ""),
                text,
                0,
                cut,
                context,
                stride);
        Dataset held = holdout > 0
                ? windows(
                        file + ": " + (text.length - cut) + " bytes held out", text, cut, text.length, context, stride)
                : null;
        return new Dataset[] {train, held};
    }

    /** The windows of {@code context + 1} bytes that lie in {@code text[from, to)}, every {@code stride} bytes. */
    static Dataset windows(String part, byte[] text, int from, int to, int context, int stride) throws DataException {
        int span = to - from;
        if (span < context + 1) {
            throw new DataException(part + ", fewer than one window of context + 1 = " + (context + 1));
        }
        int count = (span - (context + 1)) / stride + 1;
        float[] x = new float[count * context];
        float[] y = new float[count * context];
        for (int w = 0; w < count; w++) {
            int start = from + w * stride;
            for (int t = 0; t < context; t++) {
                x[w * context + t] = text[start + t] & 0xff;
                y[w * context + t] = text[start + t + 1] & 0xff;
            }
        }
        return new Dataset(x, y, new int[] {context}, new int[] {context});
    }
}
