package dev.ringtape.scheduler.worker;

import java.io.IOException;
import java.io.InputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;

/**
 * Data paths as Hadoop FileSystem URIs ({@code file://}, {@code hdfs://}, {@code s3a://}, ...), with the Hadoop
 * configuration of the process (core-site.xml and friends on the classpath, as Spark sets it up on executors).
 */
public final class HadoopFiles {
    private HadoopFiles() {}

    /** Whether {@code path} names a file system ({@code scheme://...}); plain paths are local. */
    public static boolean hasScheme(String path) {
        return path.matches("[A-Za-z][A-Za-z0-9+.-]*://.*");
    }

    public static InputStream open(String uri) throws IOException {
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(uri);
        FileSystem fs = p.getFileSystem(new Configuration());
        return fs.open(p);
    }

    public static boolean exists(String uri) throws IOException {
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(uri);
        return p.getFileSystem(new Configuration()).exists(p);
    }
}
