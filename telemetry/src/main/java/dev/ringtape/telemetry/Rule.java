package dev.ringtape.telemetry;

import java.util.List;
import java.util.Map;

/**
 * One diagnosis rule (a row of {@link Rules#all()}): its code and severity, the thresholds it reads, the text that
 * explains it (the one-line hint printed with each diagnosis and what {@code ringtape explain CODE} says), how many
 * consecutive samples must trip it before it opens, and its check, which may keep state across samples.
 */
public abstract class Rule {
    private final String code;
    private final String severity;
    private final int persist;
    private final List<String> thresholds;

    protected Rule(String code, String severity, int persist, String... thresholds) {
        this.code = code;
        this.severity = severity;
        this.persist = persist;
        this.thresholds = List.of(thresholds);
    }

    public final String code() {
        return code;
    }

    /** {@code info}, {@code warn} or {@code error}. */
    public final String severity() {
        return severity;
    }

    /** Consecutive tripping samples before the diagnosis opens (1: at once). */
    public final int persist() {
        return persist;
    }

    /** The names of the thresholds the rule reads (see {@link Thresholds#DEFAULTS}). */
    public final List<String> thresholds() {
        return thresholds;
    }

    /** The one line printed with the diagnosis: the usual cause and the first thing to try. */
    public abstract String hint();

    /** What the pathology is, how it shows in the numbers, and its common causes and fixes. */
    public abstract String explanation();

    /** Trips the rule for {@code s} (on a layer, or "" for the whole model) into {@code out}. */
    abstract void check(Sample s, Thresholds t, Trips out);

    /** Where a check reports what tripped it. */
    interface Trips {
        void trip(Rule rule, String layer, Map<String, Object> evidence);

        /** Whether {@code rule}'s diagnosis on {@code layer} is open (a rule may hold one with a lower bar). */
        boolean open(Rule rule, String layer);
    }
}
