package dev.ringtape.telemetry;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;

/**
 * The one home of the telemetry schema: every record type and every key, as the writers (the step loop, the
 * trainer, the diagnoser, the driver's merger) and the readers ({@code watch}, {@code report}, the console) spell
 * them. telemetry/README.md documents each of them, which {@code SchemaTest} checks.
 */
public final class Schema {
    private Schema() {}

    /** Record types: the {@code type} of a record. */
    public static final class Type {
        private Type() {}

        public static final String RUN = "run";
        public static final String STEP = "step";
        public static final String LAYER = "layer";
        public static final String DIAGNOSIS = "diagnosis";
        public static final String NONFINITE = "nonfinite";
        public static final String EVENT = "event";
        public static final String CHECKPOINT = "checkpoint";
        public static final String END = "end";
    }

    // every record
    public static final String TYPE = "type";
    public static final String TS = "ts";
    public static final String JOB = "job";
    public static final String STEP = "step";
    public static final String RANK = "rank";

    // run
    /** The version of this schema a log was written in ({@link #VERSION}), so readers can tell what to expect. */
    public static final String SCHEMA_VERSION = "schema_version";
    /**
     * This schema's version: 2 since the {@code schema_version} key itself and BLOWUP (sixth session); logs without
     * the key are version 1.
     */
    public static final int VERSION = 2;

    public static final String WORLD_SIZE = "world_size";
    public static final String THREADS = "threads";
    public static final String THREADS_WHY = "threads_why";
    public static final String BACKEND = "backend";
    public static final String BACKEND_WHY = "backend_why";
    public static final String GPU = "gpu";
    public static final String CONFIG = "config";
    public static final String LAYERS = "layers";
    public static final String NAME = "name";
    public static final String PARAMS = "params";

    // step
    public static final String LOSS = "loss";
    public static final String LR = "lr";
    public static final String LOSS_SCALE = "loss_scale";
    public static final String SKIPPED = "skipped";
    public static final String GRAD_NORM = "grad_norm";
    public static final String CLIPPED = "clipped";
    public static final String SAMPLES = "samples";
    public static final String PHASE_MS = "phase_ms";
    public static final String FORWARD = "forward";
    public static final String BACKWARD = "backward";
    public static final String ALLREDUCE = "allreduce";
    public static final String OPTIMIZER = "optimizer";
    public static final String TELEMETRY = "telemetry";
    public static final String ALLREDUCE_BYTES = "allreduce_bytes";
    public static final String ALLREDUCE_HIDDEN_MS = "allreduce_hidden_ms";
    public static final String ALLREDUCE_BUSBW_GBPS = "allreduce_busbw_gbps";

    // layer: a parameter tensor, or an activation
    public static final String LAYER = "layer";
    public static final String PARAM = "param";
    public static final String WEIGHT_NORM = "weight_norm";
    public static final String UPDATE_RATIO = "update_ratio";
    public static final String GRAD_MAX_ABS = "grad_max_abs";
    public static final String NONFINITE_COUNT = "nonfinite";
    public static final String ZERO_FRAC = "zero_frac";
    public static final String UNDERFLOW_FRAC = "underflow_frac";
    public static final String ACTIVATION = "activation";
    public static final String MEAN = "mean";
    public static final String STD = "std";
    public static final String SATURATED_FRAC = "saturated_frac";
    public static final String DEAD_FRAC = "dead_frac";
    public static final String RANKS_REPORTING = "ranks_reporting";
    public static final String RANKS = "ranks";
    public static final String OUTLIER_RANK = "outlier_rank";

    // diagnosis
    public static final String CODE = "code";
    public static final String SEVERITY = "severity";
    public static final String STATE = "state";
    public static final String EVIDENCE = "evidence";
    public static final String HINT = "hint";
    public static final String OPEN = "open";
    public static final String CLEARED = "cleared";

    // nonfinite
    public static final String MICRO_BATCH = "micro_batch";
    public static final String PHASE = "phase";
    public static final String OP = "op";
    public static final String BEFORE_ALLREDUCE = "before_allreduce";

    // event
    public static final String EVENT = "event";
    public static final String EXECUTOR = "executor";
    public static final String TRANSPORT = "transport";
    public static final String ENDPOINT = "endpoint";

    // checkpoint (and resume events)
    public static final String PATH = "path";
    public static final String BYTES = "bytes";
    public static final String ERROR = "error";
    public static final String ATTEMPT = "attempt";

    // end
    public static final String EVAL = "eval";
    public static final String ACCURACY = "accuracy";
    public static final String STEPS = "steps";
    public static final String SKIPPED_STEPS = "skipped_steps";
    public static final String SECONDS = "seconds";

    /** Every key and record type this class names (for the documentation check). */
    public static List<String> all() {
        List<String> out = new ArrayList<>();
        for (Class<?> c : new Class<?>[] {Schema.class, Type.class}) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
                    try {
                        out.add((String) f.get(null));
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        }
        return out;
    }
}
