package dev.ringtape.runtime.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.tensor.Tensor;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataTest {
    @TempDir
    Path dir;

    @Test
    void shouldReadCsvWithTheLabelFirstLastOrAtAnIndex() throws Exception {
        Path f = dir.resolve("d.csv");
        Files.writeString(f, "1,2,3\n4,5,6\n\n7,8,9\n");
        Dataset last = CsvReader.read(f, "last");
        assertEquals(3, last.size());
        assertArrayEquals(new float[] {1, 2, 4, 5, 7, 8}, last.features());
        assertArrayEquals(new float[] {3, 6, 9}, last.labels());
        assertArrayEquals(new float[] {1, 4, 7}, CsvReader.read(f, "first").labels());
        assertArrayEquals(new float[] {2, 5, 8}, CsvReader.read(f, "1").labels());
    }

    @Test
    void shouldReadTheBundledGzippedDigits() throws Exception {
        Dataset d = CsvReader.read(Path.of("../deploy/data/digits.csv.gz"), "last");
        assertEquals(1797, d.size());
        assertArrayEquals(new int[] {64}, d.sampleShape());
        Set<Float> classes = new HashSet<>();
        for (float v : d.labels()) {
            classes.add(v);
        }
        assertEquals(10, classes.size());
    }

    @Test
    void shouldNameTheFileAndLineOfABadRow() throws Exception {
        Path f = dir.resolve("bad.csv");
        Files.writeString(f, "1,2,3\n4,5\n");
        DataException e = assertThrows(DataException.class, () -> CsvReader.read(f, "last"));
        assertEquals(f + ":2: 2 columns, the first row has 3", e.getMessage());
        Files.writeString(f, "1,2,3\n4,x5,6\n");
        e = assertThrows(DataException.class, () -> CsvReader.read(f, "last"));
        assertEquals(f + ":2: column 2 is 'x5', not a number", e.getMessage());
        assertThrows(DataException.class, () -> CsvReader.read(dir.resolve("missing.csv"), "last"));
    }

    @Test
    void shouldReadNonFiniteValuesAsNumpyAndPandasWriteThem() throws Exception {
        Path f = dir.resolve("numpy.csv");
        Files.writeString(f, "nan,NaN,inf,-inf,Infinity,-Infinity,1.5e-3,0\n");
        Dataset d = CsvReader.read(f, "last");
        assertArrayEquals(
                new float[] {
                    Float.NaN,
                    Float.NaN,
                    Float.POSITIVE_INFINITY,
                    Float.NEGATIVE_INFINITY,
                    Float.POSITIVE_INFINITY,
                    Float.NEGATIVE_INFINITY,
                    1.5e-3f
                },
                d.features());
        for (String bad : new String[] {"abc", "", "1.5f", "0x10", "nan1"}) {
            Files.writeString(f, "1,2\n3," + bad + "\n");
            DataException e = assertThrows(DataException.class, () -> CsvReader.read(f, "first"));
            assertEquals(f + ":2: column 2 is '" + bad + "', not a number", e.getMessage());
        }
    }

    @Test
    void shouldKeepNaNsForTheNonFiniteCheckToFind() throws Exception {
        Path f = dir.resolve("nan.csv");
        Files.writeString(f, "1,NaN,0\n");
        assertTrue(Float.isNaN(CsvReader.read(f, "last").features()[1]));
    }

    private static void writeIdx(OutputStream raw, int type, int[] dims, int[] values) throws IOException {
        try (DataOutputStream out = new DataOutputStream(raw)) {
            out.writeInt((type << 8) | dims.length);
            for (int d : dims) {
                out.writeInt(d);
            }
            for (int v : values) {
                out.writeByte(v);
            }
        }
    }

    @Test
    void shouldReadIdxImagesAndLabelsGzippedOrNot() throws Exception {
        Path images = dir.resolve("images-idx3-ubyte.gz");
        Path labels = dir.resolve("labels-idx1-ubyte");
        writeIdx(new GZIPOutputStream(Files.newOutputStream(images)), 0x08, new int[] {2, 2, 3}, new int[] {
            0, 1, 2, 3, 4, 255, 6, 7, 8, 9, 10, 11
        });
        writeIdx(Files.newOutputStream(labels), 0x08, new int[] {2}, new int[] {7, 3});
        Dataset d = IdxReader.read(images, labels);
        assertEquals(2, d.size());
        assertArrayEquals(new int[] {2, 3}, d.sampleShape());
        assertEquals(255f, d.features()[5], "unsigned bytes");
        assertArrayEquals(new float[] {7, 3}, d.labels());
    }

    @Test
    void shouldReadByteFilesLargerThanOneBlockSignedOrNot() throws Exception {
        int n = 70_001; // more than one 64 KiB block, and not a multiple of it
        int[] values = new int[n];
        for (int i = 0; i < n; i++) {
            values[i] = (i * 37) & 0xff;
        }
        Path labels = dir.resolve("many-labels");
        writeIdx(Files.newOutputStream(labels), 0x08, new int[] {n}, new int[n]);
        for (int type : new int[] {0x08, 0x09}) {
            Path images = dir.resolve("many-" + type);
            writeIdx(Files.newOutputStream(images), type, new int[] {n, 1}, values);
            float[] got = IdxReader.read(images, labels).features();
            for (int i = 0; i < n; i++) {
                float want = type == 0x08 ? values[i] : (byte) values[i];
                assertEquals(want, got[i], "value " + i + " of type 0x0" + Integer.toHexString(type));
            }
        }
    }

    /**
     * IDX images stay bytes (a quarter of the memory) and become floats a batch at a time: split, normalized (minmax
     * and standard) and batched, they give the same bits as the same values held as floats and normalized in place.
     */
    @Test
    void shouldHoldIdxImagesAsBytesAndBatchThemAsTheFloatPathDoes() throws Exception {
        int n = 50;
        int[] pixels = new int[n * 6];
        float[] labels = new float[n];
        java.util.Random r = new java.util.Random(4);
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = i % 6 == 5 ? 17 : r.nextInt(256); // the last feature constant: only shifted
        }
        for (int i = 0; i < n; i++) {
            labels[i] = i % 3;
        }
        Path images = dir.resolve("b-images");
        Path labelFile = dir.resolve("b-labels");
        writeIdx(Files.newOutputStream(images), 0x08, new int[] {n, 2, 3}, pixels);
        int[] ints = new int[n];
        for (int i = 0; i < n; i++) {
            ints[i] = (int) labels[i];
        }
        writeIdx(Files.newOutputStream(labelFile), 0x08, new int[] {n}, ints);
        for (String kind : new String[] {"minmax", "standard"}) {
            Dataset bytes = IdxReader.read(images, labelFile);
            assertTrue(bytes.byteHeld());
            float[] values = new float[pixels.length];
            for (int i = 0; i < values.length; i++) {
                values[i] = pixels[i];
            }
            Dataset floats = new Dataset(values, labels.clone(), new int[] {2, 3});
            Dataset[] b = bytes.split(0.2, 9);
            Dataset[] f = floats.split(0.2, 9);
            Normalizer nb = Normalizer.fit(kind, b[0]);
            Normalizer nf = Normalizer.fit(kind, f[0]);
            assertArrayEquals(nf.shift(), nb.shift(), kind);
            for (int k = 0; k < 2; k++) {
                nb.apply(b[k]);
                nf.apply(f[k]);
                assertTrue(b[k].byteHeld());
                assertArrayEquals(f[k].features(), b[k].features(), kind + " split " + k);
                int[] order = Dataset.permutation(b[k].size(), 3);
                Tensor[] into = f[k].batch(order, 0, 4);
                assertArrayEquals(into[0].toArray(), b[k].batch(order, 0, 4)[0].toArray(), kind);
                Tensor[] again = b[k].batchInto(order, 4, 4, into);
                assertArrayEquals(f[k].batch(order, 4, 4)[0].toArray(), again[0].toArray(), kind + " batchInto");
                assertArrayEquals(f[k].batch(order, 4, 4)[1].toArray(), again[1].toArray(), kind + " labels");
            }
            assertThrows(IllegalStateException.class, () -> nb.apply(b[0]), "normalized once");
        }
    }

    @Test
    void shouldRejectATruncatedOrMismatchedIdxFile() throws Exception {
        Path images = dir.resolve("i");
        Path labels = dir.resolve("l");
        writeIdx(Files.newOutputStream(images), 0x08, new int[] {3, 2}, new int[] {1, 2, 3});
        writeIdx(Files.newOutputStream(labels), 0x08, new int[] {3}, new int[] {1, 2, 3});
        DataException e = assertThrows(DataException.class, () -> IdxReader.read(images, labels));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        writeIdx(Files.newOutputStream(images), 0x08, new int[] {2, 1}, new int[] {1, 2});
        e = assertThrows(DataException.class, () -> IdxReader.read(images, labels));
        assertTrue(e.getMessage().contains("has 2 samples but"), e.getMessage());
    }

    @Test
    void shouldShardEveryGlobalBatchExactlyOnceOverWorkersAndMicroBatches() {
        BatchPlan one = new BatchPlan(1000, 96, 1, 1, 5);
        BatchPlan many = new BatchPlan(1000, 96, 4, 3, 5);
        assertEquals(10, many.stepsPerEpoch(), "the last incomplete global batch is dropped");
        assertEquals(8, many.microBatchSize());
        int[] order = many.order(2);
        assertArrayEquals(one.order(2), order, "every worker sees the same permutation");
        for (int s = 0; s < many.stepsPerEpoch(); s++) {
            Set<Integer> seen = new HashSet<>();
            for (int r = 0; r < 4; r++) {
                for (int m = 0; m < 3; m++) {
                    for (int i = 0; i < 8; i++) {
                        assertTrue(seen.add(order[many.offset(s, r, m) + i]), "a sample seen twice in step " + s);
                    }
                }
            }
            Set<Integer> global = new HashSet<>();
            for (int i = 0; i < 96; i++) {
                global.add(order[one.offset(s, 0, 0) + i]);
            }
            assertEquals(global, seen, "N shards together are the global batch of one worker");
        }
        assertTrue(!java.util.Arrays.equals(many.order(1), many.order(2)), "a new shuffle every epoch");
    }

    @Test
    void shouldNormalizeWithTrainingStatisticsOnly() {
        Dataset train = new Dataset(new float[] {1, 10, 3, 10, 5, 10}, new float[] {0, 1, 0}, new int[] {2});
        Dataset eval = new Dataset(new float[] {7, 10}, new float[] {1}, new int[] {2});
        Normalizer n = Normalizer.fit("standard", train);
        n.apply(train);
        n.apply(eval);
        float std = (float) Math.sqrt(8.0 / 3);
        assertEquals(-2 / std, train.features()[0], 1e-6);
        assertEquals(0f, train.features()[1], "a constant feature is only centred");
        assertEquals(4 / std, eval.features()[0], 1e-6, "eval uses the training mean and std");
        Dataset m = new Dataset(new float[] {2, 4, 6}, new float[] {0, 0, 0}, new int[] {1});
        Normalizer.fit("minmax", m).apply(m);
        assertArrayEquals(new float[] {0, 0.5f, 1}, m.features());
    }

    @Test
    void shouldOnlyShiftAFeatureThatIsConstantInTraining() {
        // E[x^2] - E[x]^2 gave a constant 1.1 over 1,797 rows a std of 1.8e-7, so 1.11 became 5.4e4
        int n = 1797;
        float[] x = new float[2 * n];
        for (int i = 0; i < n; i++) {
            x[2 * i] = 1.1f;
            x[2 * i + 1] = i % 7;
        }
        Normalizer norm = Normalizer.fit("standard", new Dataset(x, new float[n], new int[] {2}));
        Dataset eval = new Dataset(new float[] {1.11f, 3}, new float[] {0}, new int[] {2});
        norm.apply(eval);
        assertEquals(1.11f - 1.1f, eval.features()[0], 1e-6, "shifted, not divided by a rounding error");
        assertEquals(1f, norm.divisor()[0]);
    }

    @Test
    void shouldGiveTheSameStatisticsFromPartsAsFromTheWhole() {
        Dataset all = Synthetic.teacher(1000, 6, 3, 5);
        int d = all.featuresPerSample();
        Normalizer.Stats whole = new Normalizer.Stats(d);
        Normalizer.Stats[] parts = {new Normalizer.Stats(d), new Normalizer.Stats(d), new Normalizer.Stats(d)};
        for (int i = 0; i < all.size(); i++) {
            whole.add(all.features(), i * d);
            parts[i % 3 == 0 ? 0 : i < 500 ? 1 : 2].add(all.features(), i * d);
        }
        Normalizer.Stats merged = parts[0].merge(parts[1]).merge(parts[2]);
        assertEquals(whole.count(), merged.count());
        for (String kind : new String[] {"standard", "minmax"}) {
            float[] a = whole.normalizer(kind).shift();
            float[] b = merged.normalizer(kind).shift();
            float[] sa = whole.normalizer(kind).divisor();
            float[] sb = merged.normalizer(kind).divisor();
            for (int j = 0; j < d; j++) {
                assertEquals(a[j], b[j], 1e-6 * Math.max(1, Math.abs(a[j])), kind + " shift " + j);
                assertEquals(sa[j], sb[j], 1e-6 * Math.abs(sa[j]), kind + " scale " + j);
            }
        }
    }

    @Test
    void shouldFitMinMaxWithoutMomentsAsWithThem() {
        Dataset all = Synthetic.teacher(700, 9, 3, 8);
        int d = all.featuresPerSample();
        Normalizer.Stats full = new Normalizer.Stats(d);
        for (int i = 0; i < all.size(); i++) {
            full.add(all.features(), i * d);
        }
        for (String kind : new String[] {"minmax", "none"}) {
            Normalizer fitted = Normalizer.fit(kind, all);
            assertArrayEquals(full.normalizer(kind).shift(), fitted.shift(), kind);
            assertArrayEquals(full.normalizer(kind).divisor(), fitted.divisor(), kind);
        }
        Normalizer standard = Normalizer.fit("standard", all);
        assertArrayEquals(full.normalizer("standard").shift(), standard.shift());
        assertArrayEquals(full.normalizer("standard").divisor(), standard.divisor());
    }

    @Test
    void shouldSplitAndGenerateDeterministically() {
        Dataset a = Synthetic.teacher(500, 8, 4, 11);
        Dataset b = Synthetic.teacher(500, 8, 4, 11);
        assertArrayEquals(a.features(), b.features());
        assertArrayEquals(a.labels(), b.labels());
        Set<Float> classes = new HashSet<>();
        for (float v : a.labels()) {
            classes.add(v);
        }
        assertEquals(4, classes.size(), "the teacher uses every class");
        Dataset[] parts = a.split(0.2, 3);
        assertEquals(400, parts[0].size());
        assertEquals(100, parts[1].size());
        assertArrayEquals(parts[1].labels(), b.split(0.2, 3)[1].labels());
        Dataset s = Synthetic.spirals(300, 3, 1);
        assertArrayEquals(new int[] {2}, s.sampleShape());
    }

    @Test
    void shouldCutATextIntoWindowsAndHoldOutItsTailWithNoWindowAcrossTheCut() throws Exception {
        byte[] text = new byte[1000];
        for (int i = 0; i < text.length; i++) {
            text[i] = (byte) (i * 7 + i / 256);
        }
        Path f = dir.resolve("t.bin.gz");
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(f))) {
            o.write(text);
        }
        Dataset[] parts = TextReader.read(f.toString(), DataFiles.LOCAL, 16, 16, 0.1);
        Dataset train = parts[0];
        Dataset held = parts[1];
        assertArrayEquals(new int[] {16}, train.sampleShape());
        assertArrayEquals(new int[] {16}, train.labelShape());
        // 900 bytes before the cut: windows of 17 bytes every 16 -> (900 - 17) / 16 + 1 = 56; after it, 100 bytes -> 6
        assertEquals(56, train.size());
        assertEquals(6, held.size());
        for (int w = 0; w < train.size(); w++) {
            for (int t = 0; t < 16; t++) {
                assertEquals(text[w * 16 + t] & 0xff, train.features()[w * 16 + t]);
                assertEquals(text[w * 16 + t + 1] & 0xff, train.labels()[w * 16 + t], "the label is the next byte");
            }
        }
        assertTrue(55 * 16 + 16 < 900, "the last training window's label ends before the cut");
        assertEquals(text[900] & 0xff, held.features()[0], "the held-out windows start at the cut");
        Tensor[] batch = held.batch(new int[] {5, 0}, 0, 2);
        assertArrayEquals(new int[] {2, 16}, batch[1].shape());
        assertEquals(text[900 + 5 * 16 + 1] & 0xff, batch[1].data()[0]);
        DataException small =
                assertThrows(DataException.class, () -> TextReader.read(f.toString(), DataFiles.LOCAL, 16, 16, 0.99));
        assertTrue(
                small.getMessage()
                        .endsWith(
                                ": 10 bytes before the held-out tail, fewer than one window of context + 1" + " = 17"),
                small.getMessage());
        DataException tail =
                assertThrows(DataException.class, () -> TextReader.read(f.toString(), DataFiles.LOCAL, 16, 16, 0.01));
        assertTrue(tail.getMessage().contains(": 10 bytes held out, fewer than one window"), tail.getMessage());
    }

    @Test
    void shouldMakeReversalSequencesWhoseSecondHalfFollowsFromTheFirst() {
        Dataset d = Synthetic.reversal(50, 8, 10, 3);
        float[] x = d.features();
        float[] y = d.labels();
        for (int s = 0; s < 50; s++) {
            assertEquals(0f, y[s * 8 + 3], "the separator follows the first half");
            for (int i = 0; i < 4; i++) {
                float token = x[s * 8 + i];
                assertTrue(token >= 1 && token < 10, "tokens are in [1, vocab)");
                assertEquals(token, y[s * 8 + 7 - i], "the labels end with the first half reversed");
            }
            for (int t = 0; t < 7; t++) {
                assertEquals(y[s * 8 + t], x[s * 8 + t + 1], "labels are the inputs shifted by one");
            }
        }
        assertArrayEquals(x, Synthetic.reversal(50, 8, 10, 3).features(), "seeded");
    }
}
