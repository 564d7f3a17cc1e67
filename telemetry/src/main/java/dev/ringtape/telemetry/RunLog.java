package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What a report shows, gathered from a telemetry log record by record: the series of each chart, the diagnoses. */
final class RunLog {
    String job = "";
    final List<double[]> loss = new ArrayList<>();
    final List<double[]> lossScale = new ArrayList<>();
    final List<Long> skipped = new ArrayList<>();
    final Map<String, List<double[]>> gradNorms = new LinkedHashMap<>();
    final Map<String, List<double[]>> updateRatios = new LinkedHashMap<>();
    final Map<String, List<double[]>> dead = new LinkedHashMap<>();
    final Map<String, List<double[]>> saturated = new LinkedHashMap<>();
    /** Per attention layer, each sample's largest logit over its heads and its heads' lowest entropy. */
    final Map<String, List<double[]>> attentionMaxLogit = new LinkedHashMap<>();

    final Map<String, List<double[]>> attentionMinEntropy = new LinkedHashMap<>();
    final List<double[]> logZ = new ArrayList<>();
    final List<JsonNode> diagnoses = new ArrayList<>();
    JsonNode end;

    double firstStep = Double.POSITIVE_INFINITY;
    double lastStep = Double.NEGATIVE_INFINITY;

    void add(JsonNode r) {
        long step = r.path(Schema.STEP).asLong();
        switch (r.path(Schema.TYPE).asText()) {
            case Schema.Type.RUN -> job = r.path(Schema.JOB).asText();
            case Schema.Type.STEP -> {
                if (r.path(Schema.RANK).asInt(0) != 0) {
                    return; // every rank reports the same all-reduced loss: chart rank 0's
                }
                firstStep = Math.min(firstStep, step);
                lastStep = Math.max(lastStep, step);
                if (r.path(Schema.LOSS).isNumber()) {
                    loss.add(new double[] {step, r.path(Schema.LOSS).asDouble()});
                }
                lossScale.add(new double[] {step, r.path(Schema.LOSS_SCALE).asDouble()});
                if (r.path(Schema.LOG_Z).isNumber()) {
                    logZ.add(new double[] {step, r.path(Schema.LOG_Z).asDouble()});
                }
                if (r.path(Schema.SKIPPED).asBoolean()) {
                    skipped.add(step);
                }
            }
            case Schema.Type.LAYER -> {
                if (r.has(Schema.PARAM)) {
                    String p = r.path(Schema.PARAM).asText();
                    if (r.path(Schema.GRAD_NORM).isNumber()) {
                        gradNorms.computeIfAbsent(p, k -> new ArrayList<>()).add(new double[] {
                            step, r.path(Schema.GRAD_NORM).asDouble()
                        });
                    }
                    if (p.endsWith(".weight") && r.path(Schema.UPDATE_RATIO).isNumber()) {
                        updateRatios.computeIfAbsent(p, k -> new ArrayList<>()).add(new double[] {
                            step, r.path(Schema.UPDATE_RATIO).asDouble()
                        });
                    }
                } else if (r.has(Schema.HEAD)) {
                    String l = r.path(Schema.LAYER).asText();
                    extreme(attentionMaxLogit, l, step, r.path(Schema.ATTENTION_MAX_LOGIT), true);
                    extreme(attentionMinEntropy, l, step, r.path(Schema.ATTENTION_ENTROPY), false);
                } else {
                    String l = r.path(Schema.LAYER).asText() + " "
                            + r.path(Schema.ACTIVATION).asText();
                    // each is null where the activation cannot die or has no bounds (dead_frac also until its
                    // window is full)
                    if (r.path(Schema.DEAD_FRAC).isNumber()) {
                        dead.computeIfAbsent(l, k -> new ArrayList<>()).add(new double[] {
                            step, r.path(Schema.DEAD_FRAC).asDouble()
                        });
                    }
                    if (r.path(Schema.SATURATED_FRAC).isNumber()) {
                        saturated.computeIfAbsent(l, k -> new ArrayList<>()).add(new double[] {
                            step, r.path(Schema.SATURATED_FRAC).asDouble()
                        });
                    }
                }
            }
            case Schema.Type.DIAGNOSIS -> diagnoses.add(r);
            case Schema.Type.END -> end = r;
            default -> {}
        }
    }

    /** Folds one head's value into its layer's point at {@code step}: the largest ({@code max}) or the smallest. */
    private static void extreme(Map<String, List<double[]>> series, String layer, long step, JsonNode v, boolean max) {
        if (!v.isNumber()) {
            return;
        }
        List<double[]> points = series.computeIfAbsent(layer, k -> new ArrayList<>());
        double[] last = points.isEmpty() ? null : points.get(points.size() - 1);
        if (last != null && last[0] == step) {
            last[1] = max ? Math.max(last[1], v.asDouble()) : Math.min(last[1], v.asDouble());
        } else {
            points.add(new double[] {step, v.asDouble()});
        }
    }
}
