package dev.ringtape.scheduler.driver;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.scheduler.worker.HadoopFiles;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Resolves a job's data paths on the driver, before the job is shipped: a relative path is looked up from the
 * working directory, then beside the job file, and becomes absolute (executors do not share the driver's working
 * directory); a file that is not there is an error now rather than on every executor. Paths with a scheme
 * ({@code file://}, {@code hdfs://}, {@code s3a://}, ...) are Hadoop FileSystem URIs, checked through Hadoop.
 */
final class DataPaths {
    private DataPaths() {}

    static JobSpec.Data resolve(JobSpec.Data data, Path jobDir) throws DataException {
        return new JobSpec.Data(
                resolve(data.train(), jobDir), resolve(data.eval(), jobDir), data.evalSplit(), data.normalize());
    }

    private static JobSpec.Source resolve(JobSpec.Source s, Path jobDir) throws DataException {
        if (s == null || s.path() == null) {
            return s;
        }
        ObjectNode options = s.options().deepCopy();
        String path = file(s.path(), jobDir);
        options.put("path", path);
        if (options.hasNonNull("labels")) {
            options.put("labels", file(options.get("labels").asText(), jobDir));
        }
        return new JobSpec.Source(s.format(), path, s.label(), options);
    }

    /** A path as executors must see it: absolute if local, as it is if it names a file system. */
    static String absolute(String path) {
        return HadoopFiles.hasScheme(path)
                ? path
                : Path.of(path).toAbsolutePath().normalize().toString();
    }

    /** The job with its paths as executors must see them: its data sources' and {@code train.init_from}'s. */
    static JobSpec resolve(JobSpec job, Path jobDir) throws DataException {
        JobSpec out = job.withData(resolve(job.data(), jobDir));
        String init = job.train().initFrom();
        return init == null ? out : out.withInitFrom(file(init, jobDir));
    }

    private static String file(String path, Path jobDir) throws DataException {
        if (HadoopFiles.hasScheme(path)) {
            boolean found;
            try {
                found = HadoopFiles.exists(path);
            } catch (java.io.IOException | RuntimeException e) {
                throw new DataException(path + ": cannot reach its file system: " + e.getMessage());
            }
            if (!found) {
                throw new DataException(path + ": no such file");
            }
            return path;
        }
        Path p = Path.of(path);
        if (Files.exists(p)) {
            return p.toAbsolutePath().normalize().toString();
        }
        if (!p.isAbsolute() && jobDir != null && Files.exists(jobDir.resolve(p))) {
            return jobDir.resolve(p).toAbsolutePath().normalize().toString();
        }
        throw new DataException(path + ": no such file");
    }
}
