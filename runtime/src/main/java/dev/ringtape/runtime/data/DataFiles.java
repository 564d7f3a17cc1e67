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
}
