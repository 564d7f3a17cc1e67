package dev.ringtape.scheduler.worker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ringtape.runtime.data.CsvReader;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.runtime.data.DataFiles;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.data.IdxReader;
import dev.ringtape.runtime.data.Synthetic;
import dev.ringtape.runtime.data.TextReader;
import dev.ringtape.scheduler.job.JobSpec;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads a job's data sources; relative paths are looked up from the working directory, then beside the job file.
 * Paths with a scheme are Hadoop FileSystem URIs, read where the task runs.
 */
public final class DataSources {
    private DataSources() {}

    public static Dataset read(JobSpec.Source source, Path jobDir, String key) throws DataException {
        return open(source, jobDir, key).read();
    }

    /**
     * {@code source} split into {training, held-out}, the held-out part {@code fraction} of it: a seeded random
     * subset of the samples, or the tail of a text (whose windows overlap, so a random subset would score the model
     * on bytes it trained on).
     */
    public static Dataset[] readSplit(JobSpec.Source source, Path jobDir, String key, double fraction, long seed)
            throws DataException {
        return open(source, jobDir, key).readSplit(fraction, seed);
    }

    /**
     * The shape of one sample of {@code source}, read from its header or first row only: what the driver checks
     * against the model's input before any executor starts.
     */
    public static int[] sampleShape(JobSpec.Source source, Path jobDir, String key) throws DataException {
        return open(source, jobDir, key).sampleShape();
    }

    /** A file source, opened for either question. */
    private interface Opened {
        Dataset read() throws DataException;

        int[] sampleShape() throws DataException;

        default Dataset[] readSplit(double fraction, long seed) throws DataException {
            return read().split(fraction, seed);
        }
    }

    private static Opened open(JobSpec.Source source, Path jobDir, String key) throws DataException {
        JsonNode o = source.options();
        return switch (source.kind()) {
            case CSV -> {
                String file = resolve(source.path(), jobDir);
                yield new Opened() {
                    @Override
                    public Dataset read() throws DataException {
                        return CsvReader.read(file, source.label(), FILES);
                    }

                    @Override
                    public int[] sampleShape() throws DataException {
                        return CsvReader.sampleShape(file, source.label(), FILES);
                    }
                };
            }
            case IDX -> {
                if (!o.hasNonNull("labels")) {
                    throw new DataException(
                            key + ".labels: an idx source needs the labels file beside its images" + " path");
                }
                String images = resolve(source.path(), jobDir);
                String labels = resolve(o.get("labels").asText(), jobDir);
                yield new Opened() {
                    @Override
                    public Dataset read() throws DataException {
                        return IdxReader.read(images, labels, FILES);
                    }

                    @Override
                    public int[] sampleShape() throws DataException {
                        return IdxReader.sampleShape(images, FILES);
                    }
                };
            }
            case SYNTHETIC -> {
                String kind = o.path("kind").asText("teacher");
                int samples = o.path("samples").asInt(2048);
                int classes = o.path("classes").asInt(kind.equals("spirals") ? 3 : 10);
                long seed = o.path("seed").asLong(1);
                int features = o.path("features").asInt(32);
                if (samples < 1 || classes < 2) {
                    throw new DataException(key + ": synthetic data needs samples >= 1 and classes >= 2");
                }
                if (!java.util.List.of("teacher", "spirals", "reversal").contains(kind)) {
                    throw new DataException(key + ".kind: unknown synthetic kind '" + kind
                            + "' (expected teacher, spirals or reversal)");
                }
                if (kind.equals("reversal") && (features < 2 || features % 2 != 0)) {
                    throw new DataException(
                            key + ".features: reversal needs an even context of at least 2, got " + features);
                }
                yield new Opened() {
                    @Override
                    public Dataset read() {
                        return switch (kind) {
                            case "teacher" -> Synthetic.teacher(samples, features, classes, seed);
                            case "spirals" -> Synthetic.spirals(samples, classes, seed);
                            default -> Synthetic.reversal(samples, features, classes, seed);
                        };
                    }

                    @Override
                    public int[] sampleShape() {
                        return new int[] {kind.equals("spirals") ? 2 : features};
                    }
                };
            }
            case TEXT -> {
                String file = resolve(source.path(), jobDir);
                int context = o.path("context").asInt(0);
                int stride = o.path("stride").asInt(context);
                if (context < 1 || stride < 1) {
                    throw new DataException(key + (context < 1 ? ".context" : ".stride")
                            + ": a text source needs a context (the model's input length) and a stride of at"
                            + " least 1 byte");
                }
                yield new Opened() {
                    @Override
                    public Dataset read() throws DataException {
                        return TextReader.read(file, FILES, context, stride, 0)[0];
                    }

                    @Override
                    public int[] sampleShape() {
                        return new int[] {context};
                    }

                    @Override
                    public Dataset[] readSplit(double fraction, long seed) throws DataException {
                        return TextReader.read(file, FILES, context, stride, fraction);
                    }
                };
            }
            case PARQUET, LIBSVM -> throw new DataException(key + ".format: a " + source.format()
                    + " source is read by Spark on the driver, which hands each" + " rank its shard");
        };
    }

    /** Local paths through java.nio; a path with a scheme ({@code hdfs://}, {@code s3a://}, ...) through Hadoop. */
    static final DataFiles FILES = path -> {
        if (!HadoopFiles.hasScheme(path)) {
            return DataFiles.LOCAL.open(path);
        }
        return HadoopFiles.open(path);
    };

    /** A path looked up from the working directory, then beside the job file; a Hadoop URI as it is. */
    static String resolve(String path, Path jobDir) {
        if (HadoopFiles.hasScheme(path)) {
            return path;
        }
        Path p = Path.of(path);
        if (p.isAbsolute() || Files.exists(p) || jobDir == null) {
            return path;
        }
        Path beside = jobDir.resolve(p);
        return Files.exists(beside) ? beside.toString() : path;
    }
}
