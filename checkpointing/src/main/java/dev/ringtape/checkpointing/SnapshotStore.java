package dev.ringtape.checkpointing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FSError;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A directory of snapshots on any Hadoop file system ({@code file://} or a plain path, {@code hdfs://},
 * {@code s3a://}), {@code snapshot-<step>.rtsnap} each, the newest {@code keep} kept.
 *
 * <p>Commit protocol: the bytes go to a temporary name in the same directory, are flushed and synced, and the file is
 * renamed to its final name; on the local file system the directory is synced too. Nothing carries a snapshot's name
 * before its bytes are durable, so a crash leaves at most a temporary file, which the next write removes. On HDFS
 * the rename is atomic as well; on object stores (S3A) a rename is a copy and a delete, so a crash in it can leave a
 * partial final file, which the reader's checksums then refuse, falling back to the one before.
 */
public final class SnapshotStore {
    private static final Pattern NAME = Pattern.compile("snapshot-(\\d{12})\\.rtsnap");

    private final FileSystem fs;
    private final Path dir;
    private final int keep;
    private final boolean local;

    private SnapshotStore(FileSystem fs, Path dir, int keep, boolean local) {
        this.fs = fs;
        this.dir = dir;
        this.keep = keep;
        this.local = local;
    }

    /** Opens (creating) {@code dir}, checking now that it can be written: an unwritable one fails before training. */
    public static SnapshotStore open(String dir, int keep) throws CheckpointException {
        try {
            URI uri = dir.matches("[A-Za-z][A-Za-z0-9+.-]*://.*")
                    ? URI.create(dir)
                    : java.nio.file.Path.of(dir).toAbsolutePath().toUri();
            FileSystem fs = FileSystem.get(uri, new Configuration());
            boolean local = fs instanceof LocalFileSystem;
            if (fs instanceof LocalFileSystem lfs) {
                fs = lfs.getRawFileSystem(); // no .crc side files: the format checksums itself
            }
            Path p = new Path(uri);
            fs.mkdirs(p);
            Path probe = new Path(p, ".probe-" + ProcessHandle.current().pid());
            try (FSDataOutputStream out = fs.create(probe, true)) {
                out.write(0);
            } finally {
                fs.delete(probe, false);
            }
            return new SnapshotStore(fs, p, Math.max(1, keep), local);
        } catch (IOException | RuntimeException | FSError e) {
            throw new CheckpointException(
                    "checkpoint.dir: cannot write snapshots to " + dir + " (" + message(e) + ")", e);
        }
    }

    /**
     * What went wrong, in the file system's words. Hadoop's local file system reports a failed write (a full disk)
     * as an {@link FSError}, an {@code Error} around the {@code IOException}, where other file systems throw the
     * exception itself: both are a snapshot not written, never a reason to stop training.
     */
    private static String message(Throwable e) {
        return e instanceof FSError && e.getCause() != null ? e.getCause().getMessage() : e.getMessage();
    }

    /** A written snapshot: where, how many bytes, how long it took. */
    public record Written(String path, long bytes, double seconds) {}

    /** Writes {@code s} durably, then removes all but the newest {@code keep}. */
    public Written write(Snapshot s) throws CheckpointException {
        long t0 = System.nanoTime();
        byte[] bytes = SnapshotFormat.encode(s);
        String name = String.format("snapshot-%012d.rtsnap", s.step());
        Path target = new Path(dir, name);
        Path tmp = new Path(dir, "." + name + ".tmp-" + ProcessHandle.current().pid());
        try {
            try (FSDataOutputStream out = fs.create(tmp, true)) {
                out.write(bytes);
                out.hflush();
                out.hsync();
            }
            if (fs.exists(target)) {
                fs.delete(target, false);
            }
            if (!fs.rename(tmp, target)) {
                throw new IOException("rename of " + tmp + " to " + target + " failed");
            }
            syncDirectory();
        } catch (IOException | RuntimeException | FSError e) {
            try {
                fs.delete(tmp, false);
            } catch (IOException ignored) {
                // the next write sweeps it
            }
            throw new CheckpointException("cannot write snapshot " + target + ": " + message(e), e);
        }
        prune();
        return new Written(target.toString(), bytes.length, (System.nanoTime() - t0) / 1e9);
    }

    private void syncDirectory() throws IOException {
        if (local) {
            try (FileChannel d = FileChannel.open(java.nio.file.Path.of(dir.toUri()), StandardOpenOption.READ)) {
                d.force(true);
            } catch (IOException e) {
                // some file systems cannot sync a directory; the rename itself is done
            }
        }
    }

    private void prune() throws CheckpointException {
        List<Path> all = snapshots();
        try {
            for (int i = keep; i < all.size(); i++) {
                fs.delete(all.get(i), false);
            }
            for (FileStatus f : fs.listStatus(dir)) {
                String n = f.getPath().getName();
                if (n.startsWith(".snapshot-") && n.contains(".tmp-")) {
                    fs.delete(f.getPath(), false); // left by a crash mid-write
                }
            }
        } catch (IOException e) {
            throw new CheckpointException("cannot prune old snapshots in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The snapshot files, newest (highest step) first. */
    public List<Path> snapshots() throws CheckpointException {
        List<Path> out = new ArrayList<>();
        try {
            for (FileStatus f : fs.listStatus(dir)) {
                if (NAME.matcher(f.getPath().getName()).matches()) {
                    out.add(f.getPath());
                }
            }
        } catch (IOException e) {
            throw new CheckpointException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        out.sort(Comparator.comparingLong(SnapshotStore::stepOf).reversed());
        return out;
    }

    private static long stepOf(Path p) {
        Matcher m = NAME.matcher(p.getName());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** A snapshot found in the store, and where. */
    public record Found(String path, Snapshot snapshot) {}

    /**
     * The newest snapshot that verifies, each corrupt or truncated one before it named to {@code skipped} and passed
     * over; null if there is none. A snapshot of another job (its spec hash differs) is refused: that is an error,
     * which names the keys that changed with both values.
     */
    public Found newest(JobId job, Consumer<String> skipped) throws CheckpointException {
        for (Path p : snapshots()) {
            Snapshot s;
            try {
                s = SnapshotFormat.decode(read(p), p.toString());
            } catch (CheckpointException e) {
                skipped.accept("skipping " + e.getMessage());
                continue;
            }
            if (!s.jobHash().equals(job.hash())) {
                String changes = JobId.changes(s.jobSpec(), job.spec());
                throw new CheckpointException(p + " is a snapshot of another job: "
                        + (changes != null
                                ? changes
                                : s.jobSpec() == null
                                        ? "it was written before snapshots kept their job's spec"
                                        : "the spec differs")
                        + " (spec hash " + s.jobHash() + ", this job's is " + job.hash()
                        + "); use another checkpoint.dir, or --fresh");
            }
            return new Found(p.toString(), s);
        }
        return null;
    }

    /** Reads the snapshot at {@code path} (a rank loads what the driver chose). */
    public static Snapshot load(String path) throws CheckpointException {
        try {
            Path p = new Path(path);
            FileSystem fs = p.getFileSystem(new Configuration());
            try (InputStream in = fs.open(p)) {
                return SnapshotFormat.decode(in.readAllBytes(), path);
            }
        } catch (IOException e) {
            throw new CheckpointException(path + ": cannot read: " + e.getMessage(), e);
        }
    }

    private byte[] read(Path p) throws CheckpointException {
        try (InputStream in = fs.open(p)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.transferTo(out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new CheckpointException(p + ": cannot read: " + e.getMessage(), e);
        }
    }
}
