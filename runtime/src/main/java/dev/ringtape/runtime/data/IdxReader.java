package dev.ringtape.runtime.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * The IDX format of MNIST and Fashion-MNIST (gzipped or not, told by its magic bytes): an images file of N samples
 * of any shape and a labels file of N values. Pixel values are read as they are stored (0-255 for unsigned bytes);
 * normalization is the job's {@code data.normalize}.
 */
public final class IdxReader {
    private IdxReader() {}

    public static Dataset read(Path images, Path labels) throws DataException {
        return read(images.toString(), labels.toString(), DataFiles.LOCAL);
    }

    /** Reads the two files through {@code files}. */
    public static Dataset read(String images, String labels, DataFiles files) throws DataException {
        Array x = readArray(images, files, false, false);
        Array y = readArray(labels, files, false, true);
        if (y.dims.length != 1) {
            throw new DataException(labels + ": a labels file has one dimension, this one has " + y.dims.length);
        }
        if (x.dims[0] != y.dims[0]) {
            throw new DataException(
                    images + " has " + x.dims[0] + " samples but " + labels + " has " + y.dims[0] + " labels");
        }
        if (x.bytes != null) {
            return Dataset.ofBytes(x.bytes, y.values, sample(x.dims));
        }
        return new Dataset(x.values, y.values, sample(x.dims));
    }

    /** The shape of one sample of {@code images}, from its header alone (the driver checks it against the model). */
    public static int[] sampleShape(String images, DataFiles files) throws DataException {
        return sample(readArray(images, files, true, false).dims);
    }

    private static int[] sample(int[] dims) {
        return dims.length == 1 ? new int[] {1} : Arrays.copyOfRange(dims, 1, dims.length);
    }

    /** An IDX file's dimensions and values: as floats, or (unsigned bytes, every image file of MNIST's kind) bytes. */
    private record Array(int[] dims, float[] values, byte[] bytes) {}

    /** An IDX file's dimensions and values ({@code headerOnly}: its dimensions alone); labels are always floats. */
    private static Array readArray(String file, DataFiles files, boolean headerOnly, boolean labelsFile)
            throws DataException {
        try (InputStream raw = new BufferedInputStream(files.open(file))) {
            raw.mark(2);
            int b0 = raw.read();
            int b1 = raw.read();
            raw.reset();
            InputStream in = b0 == 0x1f && b1 == 0x8b ? new GZIPInputStream(raw, 1 << 16) : raw;
            DataInputStream d = new DataInputStream(new BufferedInputStream(in, 1 << 16));
            int magic = d.readInt();
            if ((magic >>> 16) != 0) {
                throw new DataException(file + ": not an IDX file (magic 0x" + Integer.toHexString(magic) + ")");
            }
            int type = (magic >>> 8) & 0xff;
            int ndims = magic & 0xff;
            if (ndims < 1) {
                throw new DataException(file + ": an IDX file needs at least one dimension");
            }
            int[] dims = new int[ndims];
            long n = 1;
            for (int i = 0; i < ndims; i++) {
                dims[i] = d.readInt();
                if (dims[i] < 0) {
                    throw new DataException(file + ": dimension " + i + " is negative");
                }
                n *= dims[i];
            }
            if (n > Integer.MAX_VALUE) {
                throw new DataException(file + ": " + n + " values are more than this reader holds");
            }
            if (headerOnly) {
                return new Array(dims, null, null);
            }
            if (type == 0x08 && !labelsFile) {
                // images stay bytes: a quarter of the memory, made floats a batch at a time (Dataset.ofBytes)
                byte[] v = new byte[(int) n];
                d.readFully(v);
                return new Array(dims, null, v);
            }
            float[] v = new float[(int) n];
            if (type == 0x08 || type == 0x09) {
                // bytes (every image file of MNIST's kind) in blocks: one call per value was 0.4-0.6 s of
                // Fashion-MNIST's 47 million pixels
                byte[] block = new byte[1 << 16];
                for (int at = 0; at < v.length; ) {
                    int len = Math.min(block.length, v.length - at);
                    d.readFully(block, 0, len);
                    int mask = type == 0x08 ? 0xff : -1;
                    for (int i = 0; i < len; i++) {
                        v[at + i] = block[i] & mask;
                    }
                    at += len;
                }
                return new Array(dims, v, null);
            }
            for (int i = 0; i < v.length; i++) {
                v[i] = switch (type) {
                    case 0x08 -> d.readUnsignedByte();
                    case 0x09 -> d.readByte();
                    case 0x0B -> d.readShort();
                    case 0x0C -> d.readInt();
                    case 0x0D -> d.readFloat();
                    case 0x0E -> (float) d.readDouble();
                    default -> throw new DataException(
                            file + ": unknown IDX element type 0x" + Integer.toHexString(type));
                };
            }
            return new Array(dims, v, null);
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new DataException(file + ": no such file");
        } catch (EOFException e) {
            throw new DataException(file + ": truncated: the header promises more values than the file holds");
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage());
        }
    }
}
