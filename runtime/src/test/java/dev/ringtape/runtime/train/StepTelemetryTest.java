package dev.ringtape.runtime.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.precision.Precision;
import dev.ringtape.telemetry.Thresholds;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The step's telemetry on its own: what the step record says, and what a non-finite step adds to it. */
class StepTelemetryTest {
    private static StepTelemetry telemetry(int every, List<ObjectNode> records) throws Exception {
        Sequential m = StepLoopTest.model(StepLoopTest.MLP, 1);
        return new StepTelemetry(
                "t", Precision.FP32, every, Thresholds.defaults(), 0, m.parameterList(), StepLoopTest.sink(records));
    }

    private static StepLoop.Result result(long step, NonFiniteTracer.NonFinite n) {
        return new StepLoop.Result(
                step,
                0.5,
                1e-3,
                1f,
                n != null,
                n != null ? Double.NaN : 2.0,
                false,
                64,
                n,
                1.0,
                2.0,
                0.5,
                0.75,
                0.25,
                0.125,
                Double.NaN);
    }

    @Test
    void shouldSampleEveryNthStepAndNoneWhenOff() throws Exception {
        StepTelemetry t = telemetry(10, new ArrayList<>());
        assertTrue(t.sampled(0));
        assertFalse(t.sampled(5));
        assertTrue(t.sampled(20));
        assertFalse(telemetry(0, new ArrayList<>()).sampled(0));
    }

    @Test
    void shouldReportTheAllreducesBusBandwidthOnlyWithSeveralWorkers() throws Exception {
        List<ObjectNode> records = new ArrayList<>();
        StepTelemetry t = telemetry(0, records);
        t.report(result(3, null), 1, 4_000_000, 0);
        t.report(result(4, null), 4, 4_000_000, 3_000_960);
        assertEquals(2, records.size());
        ObjectNode one = records.get(0);
        assertEquals("step", one.path("type").asText());
        assertEquals(2.0, one.path("grad_norm").asDouble());
        assertEquals(0.5, one.path("phase_ms").path("allreduce").asDouble());
        assertEquals(0.125, one.path("phase_ms").path("telemetry").asDouble(), "the sampled step's own phase");
        assertFalse(one.has("allreduce_bytes"), "one worker sends nothing");
        ObjectNode four = records.get(1);
        assertEquals(4_000_000, four.path("allreduce_bytes").asLong());
        assertEquals(3_000_960, four.path("allreduce_sent_bytes").asLong());
        // nccl-tests: busbw = 2 (n-1)/n * bytes / time = 1.5 * 4e6 B / 0.5 ms = 12 GB/s
        assertEquals(12.0, four.path("allreduce_busbw_gbps").asDouble(), 1e-9);
        assertEquals(0.75, four.path("allreduce_hidden_ms").asDouble(), "the part backward hid");
        assertFalse(one.has("allreduce_hidden_ms"));
    }

    @Test
    void shouldFollowANonFiniteStepWithItsOriginAndDiagnoseIt() throws Exception {
        List<ObjectNode> records = new ArrayList<>();
        telemetry(0, records)
                .report(
                        result(7, new NonFiniteTracer.NonFinite(7, 0, 1, "forward", "linear", "layers.2", true)),
                        1,
                        0,
                        0);
        List<String> types = records.stream().map(r -> r.path("type").asText()).toList();
        assertEquals(List.of("diagnosis", "step", "nonfinite"), types);
        assertEquals("layers.2", records.get(0).path("layer").asText());
        assertTrue(records.get(1).path("skipped").asBoolean());
        assertEquals("linear", records.get(2).path("op").asText());
        assertEquals(1, records.get(2).path("micro_batch").asInt());
    }
}
