package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Merges the records of every rank into the one log of a run, at the driver. Each rank's records arrive in step
 * order; a step is written once every rank has gone past it (or finished), so the log stays in step order:
 *
 * <ul>
 *   <li>{@code run} and {@code end}: rank 0's, once;
 *   <li>{@code step}, {@code nonfinite} and everything else: every rank's, each with its {@code rank};
 *   <li>{@code layer}: one record per parameter or activation, aggregated over the ranks: each statistic is the
 *       median over ranks ({@code nonfinite} the sum), {@code ranks} gives {@code min}/{@code max} per statistic and
 *       {@code outlier_rank} names the one rank that alone looks different (the only one with non-finite values,
 *       or a statistic over 10x or under 0.1x the others' median while those agree within 2x);
 *   <li>{@code diagnosis}: one record per code, layer and state at a step, {@code ranks} listing every rank that
 *       raised it and {@code rank} the first.
 * </ul>
 *
 * With one rank, records pass through unchanged (but for the {@code rank} tag).
 */
public final class RankMerger {
    private final int world;
    private final TelemetrySink out;
    private final long[] watermark;
    private final TreeMap<Long, List<ObjectNode>> pending = new TreeMap<>();
    private boolean runWritten;

    public RankMerger(int world, TelemetrySink out) {
        this.world = world;
        this.out = out;
        this.watermark = new long[world];
        Arrays.fill(watermark, Long.MIN_VALUE);
    }

    /** Takes one record of {@code rank}. */
    public synchronized void accept(int rank, ObjectNode record) {
        if (rank < 0 || rank >= world) {
            return;
        }
        String type = record.path(Schema.TYPE).asText();
        if ((type.equals(Schema.Type.RUN) || type.equals(Schema.Type.END)) && rank != 0) {
            return;
        }
        if (type.equals(Schema.Type.RUN)) {
            if (runWritten) {
                return;
            }
            runWritten = true;
            record.remove(Schema.RANK);
            out.emit(record);
            return;
        }
        if (type.equals(Schema.Type.END)) {
            record.remove(Schema.RANK);
        }
        long step = record.path(Schema.STEP).asLong();
        pending.computeIfAbsent(step, s -> new ArrayList<>()).add(record);
        watermark[rank] = Math.max(watermark[rank], step);
        drain(Arrays.stream(watermark).min().orElse(Long.MIN_VALUE));
    }

    /** {@code rank} sent its last record. */
    public synchronized void rankDone(int rank) {
        if (rank >= 0 && rank < world) {
            watermark[rank] = Long.MAX_VALUE;
            drain(Arrays.stream(watermark).min().orElse(Long.MIN_VALUE));
        }
    }

    /** Writes everything still buffered (the run is over). */
    public synchronized void flush() {
        drain(Long.MAX_VALUE);
    }

    /** Writes every step below {@code upTo} (all steps when it is {@code Long.MAX_VALUE}). */
    private void drain(long upTo) {
        while (!pending.isEmpty() && (upTo == Long.MAX_VALUE || pending.firstKey() < upTo)) {
            write(pending.pollFirstEntry().getValue());
        }
    }

    private void write(List<ObjectNode> records) {
        Map<String, List<ObjectNode>> layers = new LinkedHashMap<>();
        Map<String, List<ObjectNode>> diagnoses = new LinkedHashMap<>();
        List<ObjectNode> rest = new ArrayList<>();
        for (ObjectNode r : records) {
            switch (r.path(Schema.TYPE).asText()) {
                case Schema.Type.LAYER -> layers.computeIfAbsent(
                                r.path(Schema.LAYER).asText() + "|"
                                        + r.path(Schema.PARAM).asText() + "|"
                                        + r.path(Schema.ACTIVATION).asText() + "|"
                                        + r.path(Schema.HEAD).asText(),
                                k -> new ArrayList<>())
                        .add(r);
                case Schema.Type.DIAGNOSIS -> diagnoses
                        .computeIfAbsent(
                                r.path(Schema.CODE).asText() + "|"
                                        + r.path(Schema.LAYER).asText() + "|"
                                        + r.path(Schema.STATE).asText(),
                                k -> new ArrayList<>())
                        .add(r);
                default -> rest.add(r);
            }
        }
        List<ObjectNode> steps = new ArrayList<>();
        List<ObjectNode> others = new ArrayList<>();
        for (ObjectNode r : rest) {
            (r.path(Schema.TYPE).asText().equals(Schema.Type.STEP) ? steps : others).add(r);
        }
        steps.sort((a, b) ->
                Integer.compare(a.path(Schema.RANK).asInt(), b.path(Schema.RANK).asInt()));
        steps.forEach(out::emit);
        layers.values().forEach(group -> out.emit(aggregate(group)));
        diagnoses.values().forEach(group -> out.emit(world == 1 ? group.get(0) : mergeDiagnosis(group)));
        others.forEach(out::emit);
    }

    private ObjectNode aggregate(List<ObjectNode> group) {
        if (world == 1 || group.size() == 1) {
            ObjectNode one = group.get(0);
            if (world > 1) {
                one.put(Schema.RANKS_REPORTING, 1);
            }
            one.remove(Schema.RANK);
            return one;
        }
        group.sort((a, b) ->
                Integer.compare(a.path(Schema.RANK).asInt(), b.path(Schema.RANK).asInt()));
        ObjectNode merged = group.get(0).deepCopy();
        merged.remove(Schema.RANK);
        ObjectNode spread = Records.JSON.createObjectNode();
        int outlier = -1;
        for (Map.Entry<String, JsonNode> field : group.get(0).properties()) {
            String key = field.getKey();
            if (key.equals(Schema.STEP)
                    || key.equals(Schema.HEAD)
                    || key.equals(Schema.RANK)
                    || !(field.getValue().isNumber() || field.getValue().isNull())) {
                continue;
            }
            double[] v = new double[group.size()];
            int[] ranks = new int[group.size()];
            for (int i = 0; i < v.length; i++) {
                JsonNode x = group.get(i).path(key);
                v[i] = x.isNumber() ? x.asDouble() : Double.NaN;
                ranks[i] = group.get(i).path(Schema.RANK).asInt();
            }
            if (key.equals("nonfinite")) {
                long sum = 0;
                int with = 0;
                int at = -1;
                for (int i = 0; i < v.length; i++) {
                    sum += (long) v[i];
                    if (v[i] > 0) {
                        with++;
                        at = ranks[i];
                    }
                }
                merged.put(key, sum);
                if (with == 1 && v.length > 1) {
                    outlier = at;
                }
                continue;
            }
            double[] sorted = v.clone();
            Arrays.sort(sorted); // NaN last
            int finite = 0;
            while (finite < sorted.length && !Double.isNaN(sorted[finite])) {
                finite++;
            }
            if (finite == 0) {
                continue;
            }
            double median = finite % 2 == 1 ? sorted[finite / 2] : (sorted[finite / 2 - 1] + sorted[finite / 2]) / 2;
            Records.putNumber(merged, key, median);
            ObjectNode s = spread.putObject(key);
            Records.putNumber(s, "min", sorted[0]);
            Records.putNumber(s, "max", sorted[finite - 1]);
            int odd = loneOutlier(v);
            if (odd >= 0 && outlier < 0) {
                outlier = ranks[odd];
            }
        }
        merged.put(Schema.RANKS_REPORTING, group.size());
        merged.set(Schema.RANKS, spread);
        if (outlier >= 0) {
            merged.put(Schema.OUTLIER_RANK, outlier);
        }
        return merged;
    }

    /** The index of the one value far from the others' median while the others agree, or -1. */
    static int loneOutlier(double[] v) {
        if (v.length < 3) {
            return -1;
        }
        int found = -1;
        for (int i = 0; i < v.length; i++) {
            double[] others = new double[v.length - 1];
            for (int j = 0, k = 0; j < v.length; j++) {
                if (j != i) {
                    others[k++] = v[j];
                }
            }
            Arrays.sort(others);
            double med = others[others.length / 2];
            if (!(med > 0) || Double.isNaN(others[others.length - 1])) {
                continue;
            }
            boolean agree = others[0] >= med / 2 && others[others.length - 1] <= med * 2;
            boolean far = Double.isNaN(v[i]) || v[i] > 10 * med || v[i] < med / 10;
            if (agree && far) {
                if (found >= 0) {
                    return -1;
                }
                found = i;
            }
        }
        return found;
    }

    private static ObjectNode mergeDiagnosis(List<ObjectNode> group) {
        group.sort((a, b) ->
                Integer.compare(a.path(Schema.RANK).asInt(), b.path(Schema.RANK).asInt()));
        ObjectNode first = group.get(0);
        ArrayNode ranks = first.putArray(Schema.RANKS);
        for (ObjectNode d : group) {
            ranks.add(d.path(Schema.RANK).asInt());
        }
        return first;
    }
}
