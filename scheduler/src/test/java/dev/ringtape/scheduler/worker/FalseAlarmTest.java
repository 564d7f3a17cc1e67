package dev.ringtape.scheduler.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A diagnosis that fires on a healthy run teaches users to ignore diagnoses: every healthy zoo job, sampled every
 * step and every 10th, at global batches of 16 and 64 and with 1 or 4 micro-batches, raises no warning or error.
 * (A representative subset of the matrix; {@code ringtape bench diagnose false-alarms} runs all of it, two workers
 * included, and telemetry/README.md has its result.)
 */
class FalseAlarmTest {
    static Stream<Arguments> runs() throws Exception {
        List<Arguments> out = new ArrayList<>();
        List<List<String>> layouts = List.of(
                List.of("telemetry.every_steps=1", "train.global_batch=16", "train.micro_batches=1"),
                List.of("telemetry.every_steps=1", "train.global_batch=64", "train.micro_batches=4"),
                List.of("telemetry.every_steps=10", "train.global_batch=16", "train.micro_batches=4"));
        try (Stream<Path> jobs = Files.list(Path.of("../deploy/jobs/zoo"))) {
            for (Path job : jobs.filter(p -> p.getFileName().toString().startsWith("healthy-"))
                    .sorted()
                    .toList()) {
                for (List<String> layout : layouts) {
                    out.add(Arguments.of(job, layout));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("runs")
    void shouldRaiseNoWarningOnAHealthyJob(Path file, List<String> layout) throws Exception {
        List<String> raised = ZooTest.train(file, layout).stream()
                .filter(r -> r.get("type").asText().equals("diagnosis")
                        && r.get("state").asText().equals("open")
                        && !r.get("severity").asText().equals("info"))
                .map(r -> r.get("code").asText() + "@" + r.get("layer").asText() + " step "
                        + r.get("step").asLong())
                .toList();
        assertEquals(List.of(), raised, "false alarms");
    }
}
