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
}
