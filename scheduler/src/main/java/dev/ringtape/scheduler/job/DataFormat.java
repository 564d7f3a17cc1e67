package dev.ringtape.scheduler.job;

import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The data formats of a job's sources ({@code data.train.format}), each named once: its name in the job file, the
 * keys its source takes besides {@code format}, and whether Spark reads it on the driver and hands each rank its
 * shard (rather than every rank reading the file). Readers switch over this enum without a default (the worker's
 * {@code DataSources}, the driver's {@code ShardedData}), so a new row does not compile until it can be read.
 */
public enum DataFormat {
    CSV("csv", false, "path", "label"),
    IDX("idx", false, "path", "labels"),
    PARQUET("parquet", true, "path", "label", "features"),
    LIBSVM("libsvm", true, "path"),
    SYNTHETIC("synthetic", false, "kind", "samples", "features", "classes", "seed"),
    TEXT("text", false, "path", "context", "stride");

    private final String key;
    private final boolean sharded;
    private final Set<String> keys;

    DataFormat(String key, boolean sharded, String... keys) {
        this.key = key;
        this.sharded = sharded;
        java.util.Set<String> all = new java.util.HashSet<>(List.of(keys));
        all.add("format");
        this.keys = Set.copyOf(all);
    }

    /** The name in the job file. */
    public String key() {
        return key;
    }

    /** Whether Spark reads the source on the driver and each rank gets only its shard. */
    public boolean sharded() {
        return sharded;
    }

    /** The keys a source of this format takes, {@code format} among them. */
    public Set<String> keys() {
        return keys;
    }

    /** The format named {@code key} in a job file, or null. */
    public static DataFormat of(String key) {
        return Arrays.stream(values())
                .filter(f -> f.key.equals(key))
                .findFirst()
                .orElse(null);
    }

    /** Every name in the job file. */
    public static List<String> names() {
        return Arrays.stream(values()).map(DataFormat::key).toList();
    }
}
