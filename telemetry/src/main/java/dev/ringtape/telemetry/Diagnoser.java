package dev.ringtape.telemetry;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs the rules of {@link Rules} on one {@link Sample} at a time and keeps one state per (code, layer): a diagnosis
 * opens ({@code state: open}) once its rule has tripped on {@link Rule#persist()} consecutive samples, and clears
 * ({@code state: cleared}) after {@code clear_after} consecutive samples where it does not trip. Each event carries
 * the evidence that tripped the rule and its one-line hint.
 */
public final class Diagnoser {
    /** One raised or cleared diagnosis. */
    public record Diagnosis(
            String code,
            String severity,
            String layer,
            long step,
            String state,
            Map<String, Object> evidence,
            String hint) {}

    private final Thresholds t;
    private final String job;
    private final int rank;
    private final List<Rule> rules = Rules.all();
    private final Map<String, Open> open = new LinkedHashMap<>();
    /** Consecutive tripping samples of each (code, layer) not yet open. */
    private final Map<String, Integer> pending = new HashMap<>();

    private static final class Open {
        final Diagnosis raised;
        int healthy;

        Open(Diagnosis raised) {
            this.raised = raised;
        }
    }

    private record Trip(Rule rule, String layer, Map<String, Object> evidence) {}

    public Diagnoser(Thresholds thresholds, String job, int rank) {
        this.t = thresholds;
        this.job = job;
        this.rank = rank;
    }

    /** The diagnoses that open or clear with this sample, in a stable order. */
    public List<Diagnosis> feed(Sample s) {
        Map<String, Trip> tripped = new LinkedHashMap<>();
        Rule.Trips trips = new Rule.Trips() {
            @Override
            public void trip(Rule rule, String layer, Map<String, Object> evidence) {
                tripped.putIfAbsent(rule.code() + "@" + layer, new Trip(rule, layer, evidence));
            }

            @Override
            public boolean open(Rule rule, String layer) {
                return open.containsKey(rule.code() + "@" + layer);
            }
        };
        for (Rule r : rules) {
            r.check(s, t, trips);
        }
        List<Diagnosis> events = new ArrayList<>();
        pending.keySet().retainAll(tripped.keySet());
        for (Map.Entry<String, Trip> e : tripped.entrySet()) {
            Open o = open.get(e.getKey());
            if (o != null) {
                o.healthy = 0;
                continue;
            }
            Trip trip = e.getValue();
            if (pending.merge(e.getKey(), 1, Integer::sum) >= trip.rule().persist()) {
                pending.remove(e.getKey());
                Diagnosis d = new Diagnosis(
                        trip.rule().code(),
                        trip.rule().severity(),
                        trip.layer(),
                        s.step(),
                        Schema.OPEN,
                        trip.evidence(),
                        trip.rule().hint());
                open.put(e.getKey(), new Open(d));
                events.add(d);
            }
        }
        double clearAfter = t.get("clear_after");
        for (var it = open.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Open> e = it.next();
            if (!tripped.containsKey(e.getKey()) && ++e.getValue().healthy >= clearAfter) {
                Diagnosis r = e.getValue().raised;
                events.add(
                        new Diagnosis(r.code(), r.severity(), r.layer(), s.step(), Schema.CLEARED, Map.of(), r.hint()));
                it.remove();
            }
        }
        return events;
    }

    /** The diagnoses open now. */
    public List<Diagnosis> openDiagnoses() {
        List<Diagnosis> out = new ArrayList<>();
        open.values().forEach(o -> out.add(o.raised));
        return out;
    }

    /** A non-finite value traced to its origin by the trainer: raised at once, on the origin's layer. */
    public List<Diagnosis> nonFinite(long step, String layer, String op, String phase) {
        String key = "NONFINITE@" + layer;
        if (open.containsKey(key)) {
            open.get(key).healthy = 0;
            return List.of();
        }
        Rule rule = Rules.of("NONFINITE");
        Diagnosis d = new Diagnosis(
                rule.code(),
                rule.severity(),
                layer,
                step,
                Schema.OPEN,
                Rules.evidence("op", op, "phase", phase),
                rule.hint());
        open.put(key, new Open(d));
        return List.of(d);
    }

    /** The {@code diagnosis} record of {@code d}. */
    public ObjectNode record(Diagnosis d) {
        ObjectNode o = Records.of(Schema.Type.DIAGNOSIS, job, d.step());
        o.put(Schema.CODE, d.code());
        o.put(Schema.SEVERITY, d.severity());
        o.put(Schema.LAYER, d.layer());
        o.put(Schema.RANK, rank);
        o.put(Schema.STATE, d.state());
        ObjectNode ev = o.putObject(Schema.EVIDENCE);
        new java.util.TreeMap<>(d.evidence()).forEach((k, v) -> {
            if (v instanceof Number n) {
                Records.putNumber(ev, k, n.doubleValue());
            } else {
                ev.put(k, String.valueOf(v));
            }
        });
        o.put(Schema.HINT, d.hint());
        return o;
    }
}
