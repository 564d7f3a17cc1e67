package dev.ringtape.runtime.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where data readers get their bytes: local files, or whatever file system the scheduler plugs in (Hadoop's, so
 * {@code hdfs://} and {@code s3a://} paths read the same way). A missing file is a {@link
 * java.nio.file.NoSuchFileException} or a {@link java.io.FileNotFoundException}.
 */
@FunctionalInterface
public interface DataFiles {
    /** Local paths through java.nio. */
    DataFiles LOCAL = path -> Files.newInputStream(Path.of(path));

    InputStream open(String path) throws IOException;

    /** {@link #open}, gunzipped when the name ends in {@code .gz}; closing it closes the file. */
    default InputStream openGunzipped(String path) throws IOException {
        InputStream raw = open(path);
        if (!path.endsWith(".gz")) {
            return raw;
        }
        try {
            return new java.util.zip.GZIPInputStream(raw);
        } catch (IOException e) {
            raw.close();
            throw e;
        }
    }
}
