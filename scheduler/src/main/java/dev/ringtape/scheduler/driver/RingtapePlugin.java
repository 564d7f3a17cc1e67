package dev.ringtape.scheduler.driver;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.fasterxml.jackson.databind.JsonNode;
import dev.ringtape.telemetry.Schema;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;

/**
 * The run in Spark's metrics system ({@code spark.plugins}, which the driver sets): gauges of the driver, kept
 * current from the records every rank sends it, so any sink Spark is configured with shows them while the run goes,
 * Prometheus's among them (README, "Telemetry in Spark's metrics"). Under the plugin's namespace ({@code
 * plugin.dev.ringtape.scheduler.driver.RingtapePlugin}): {@code step}, {@code loss}, {@code samples_per_s}, {@code
 * loss_scale}, {@code skipped_steps}, {@code allreduce_busbw_gbps} (rank 0's step records), and {@code
 * open_diagnoses_error}, {@code _warn}, {@code _info}.
 */
public final class RingtapePlugin implements SparkPlugin {
    /** What the gauges read: the newest values of this driver's run. */
    static final class Values {
        private static final Map<String, Double> NOW = new ConcurrentHashMap<>();
        private static final Map<String, String> OPEN = new ConcurrentHashMap<>();

        private Values() {}

        /** Forgets the previous run's values (a driver JVM may run several jobs one after another). */
        static void reset() {
            NOW.clear();
            OPEN.clear();
        }

        static double get(String name) {
            return NOW.getOrDefault(name, Double.NaN);
        }

        /** Takes in one record as the driver receives it. */
        static void record(JsonNode r) {
            String type = r.path(Schema.TYPE).asText();
            if (type.equals(Schema.Type.STEP) && r.path(Schema.RANK).asInt(0) == 0) {
                NOW.put("step", r.path(Schema.STEP).asDouble());
                put("loss", r.path(Schema.LOSS));
                put("loss_scale", r.path(Schema.LOSS_SCALE));
                put("allreduce_busbw_gbps", r.path(Schema.ALLREDUCE_BUSBW_GBPS));
                double rate = dev.ringtape.telemetry.Records.samplesPerSecond(r);
                if (!Double.isNaN(rate)) {
                    NOW.put("samples_per_s", rate);
                }
                NOW.merge("skipped_steps", r.path(Schema.SKIPPED).asBoolean() ? 1.0 : 0.0, Double::sum);
            } else if (type.equals(Schema.Type.DIAGNOSIS)) {
                String key = r.path(Schema.CODE).asText() + "@"
                        + r.path(Schema.LAYER).asText();
                if (r.path(Schema.STATE).asText().equals(Schema.OPEN)) {
                    OPEN.put(key, r.path(Schema.SEVERITY).asText());
                } else {
                    OPEN.remove(key);
                }
            }
        }

        private static void put(String name, JsonNode v) {
            if (v.isNumber()) {
                NOW.put(name, v.asDouble());
            }
        }

        static long open(String severity) {
            return OPEN.values().stream().filter(severity::equals).count();
        }
    }

    @Override
    public DriverPlugin driverPlugin() {
        return new DriverPlugin() {
            @Override
            public void registerMetrics(String appId, PluginContext ctx) {
                MetricRegistry m = ctx.metricRegistry();
                for (String name : new String[] {
                    "step", "loss", "samples_per_s", "loss_scale", "skipped_steps", "allreduce_busbw_gbps"
                }) {
                    m.register(name, (Gauge<Double>) () -> Values.get(name));
                }
                for (String severity : new String[] {"error", "warn", "info"}) {
                    m.register("open_diagnoses_" + severity, (Gauge<Long>) () -> Values.open(severity));
                }
            }
        };
    }

    @Override
    public ExecutorPlugin executorPlugin() {
        return null;
    }
}
