package dev.ringtape.runtime.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Numeric CSV (optionally gzipped, by the {@code .gz} suffix), no header, one sample a line, the label in the first
 * column, the last, or at a given index. A bad row fails with the file and line. NaN values are kept: the trainer's
 * non-finite check reports them with their origin instead of this reader hiding them.
 */
public final class CsvReader {
    private CsvReader() {}

    /** Where the label is: {@code "first"}, {@code "last"} or a 0-based column index. */
    public static Dataset read(Path file, String label) throws DataException {
        return read(file.toString(), label, DataFiles.LOCAL);
    }

    /** Reads {@code file} through {@code files}; the label as in {@link #read(Path, String)}. */
    public static Dataset read(String file, String label, DataFiles files) throws DataException {
        FloatList x = new FloatList();
        FloatList y = new FloatList();
        int columns = -1;
        int lineNo = 0;
        try (InputStream in = files.openGunzipped(file);
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            String line;
            int labelAt = -1;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                String[] cells = line.split(",", -1);
                if (columns < 0) {
                    columns = cells.length;
                    labelAt = labelColumn(label, columns, file, lineNo);
                } else if (cells.length != columns) {
                    throw new DataException(
                            file + ":" + lineNo + ": " + cells.length + " columns, the first row has " + columns);
                }
                for (int c = 0; c < cells.length; c++) {
                    float v = number(cells[c].trim());
                    if (v != v && !isNaN(cells[c].trim())) {
                        throw new DataException(file + ":" + lineNo + ": column " + (c + 1) + " is '" + cells[c].trim()
                                + "', not a number");
                    }
                    if (c == labelAt) {
                        y.add(v);
                    } else {
                        x.add(v);
                    }
                }
            }
        } catch (java.nio.file.NoSuchFileException | java.io.FileNotFoundException e) {
            throw new DataException(file + ": no such file");
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage());
        }
        if (y.size() == 0) {
            throw new DataException(file + ": no samples");
        }
        return new Dataset(x.toArray(), y.toArray(), new int[] {columns - 1});
    }

    /** The shape of one sample of {@code file}, from its first row alone (the driver checks it against the model). */
    public static int[] sampleShape(String file, String label, DataFiles files) throws DataException {
        int lineNo = 0;
        try (InputStream in = files.openGunzipped(file);
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (!line.isBlank()) {
                    int columns = line.split(",", -1).length;
                    labelColumn(label, columns, file, lineNo);
                    return new int[] {columns - 1};
                }
            }
        } catch (java.nio.file.NoSuchFileException | java.io.FileNotFoundException e) {
            throw new DataException(file + ": no such file");
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage());
        }
        throw new DataException(file + ": no samples");
    }

    /**
     * A cell as numpy and pandas write numbers: decimals, exponents, and {@code nan}, {@code inf}, {@code -inf},
     * {@code Infinity} in any case. Anything else is NaN, which the caller tells from a written NaN by {@link
     * #isNaN}.
     */
    static float number(String cell) {
        switch (cell.toLowerCase(java.util.Locale.ROOT)) {
            case "nan", "+nan", "-nan" -> {
                return Float.NaN;
            }
            case "inf", "+inf", "infinity", "+infinity" -> {
                return Float.POSITIVE_INFINITY;
            }
            case "-inf", "-infinity" -> {
                return Float.NEGATIVE_INFINITY;
            }
            default -> {}
        }
        char last = cell.isEmpty() ? ' ' : Character.toLowerCase(cell.charAt(cell.length() - 1));
        if (last == 'f' || last == 'd' || cell.startsWith("0x") || cell.startsWith("-0x") || cell.contains("p")) {
            return Float.NaN; // Java's float syntax beyond what numpy and pandas write
        }
        try {
            return Float.parseFloat(cell);
        } catch (NumberFormatException e) {
            return Float.NaN;
        }
    }

    private static boolean isNaN(String cell) {
        String c = cell.toLowerCase(java.util.Locale.ROOT);
        return c.equals("nan") || c.equals("+nan") || c.equals("-nan");
    }

    private static int labelColumn(String label, int columns, String file, int lineNo) throws DataException {
        if (columns < 2) {
            throw new DataException(file + ":" + lineNo + ": needs at least one feature column and a label");
        }
        return switch (label) {
            case "first" -> 0;
            case "last" -> columns - 1;
            default -> {
                try {
                    int i = Integer.parseInt(label);
                    if (i < 0 || i >= columns) {
                        throw new DataException(
                                file + ": label column " + i + " is outside the " + columns + " columns");
                    }
                    yield i;
                } catch (NumberFormatException e) {
                    throw new DataException("label must be first, last or a column index, got '" + label + "'");
                }
            }
        };
    }

    /** A growable float array. */
    private static final class FloatList {
        private float[] a = new float[1024];
        private int n;

        void add(float v) {
            if (n == a.length) {
                a = java.util.Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        int size() {
            return n;
        }

        float[] toArray() {
            return java.util.Arrays.copyOf(a, n);
        }
    }
}
