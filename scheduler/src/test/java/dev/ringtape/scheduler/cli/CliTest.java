package dev.ringtape.scheduler.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.telemetry.Rule;
import dev.ringtape.telemetry.Rules;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CliTest {
    private record Out(int exit, String out, String err) {}

    private static Out run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = Ringtape.run(
                args,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Out(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldExplainEveryCodeFromTheRulesOwnText() {
        for (Rule rule : Rules.all()) {
            Out o = run("explain", rule.code());
            assertEquals(0, o.exit(), rule.code() + ": " + o.err());
            assertTrue(o.out().startsWith(rule.code() + " (" + rule.severity() + ")"), o.out());
            assertTrue(o.out().contains(rule.explanation()), "the explanation: " + o.out());
            assertTrue(o.out().contains(rule.hint()), "the same hint the diagnosis prints: " + o.out());
            for (String threshold : rule.thresholds()) {
                assertTrue(o.out().contains("  " + threshold + " = "), threshold + " in " + o.out());
            }
        }
        assertEquals(0, run("explain", "dead_relu").exit(), "codes in any case");
    }

    @Test
    void shouldListTheKnownCodesForAnUnknownOne() {
        Out o = run("explain", "DEAD_NEURON");
        assertEquals(2, o.exit());
        assertTrue(
                o.err().startsWith("ringtape explain: unknown code 'DEAD_NEURON'; the codes are NONFINITE,"), o.err());
        assertTrue(o.err().contains("DEAD_RELU"), o.err());
    }

    @Test
    void shouldSuggestTheNearCommandForAMistypedOne() {
        Out o = run("trian", "deploy/jobs/digits-mlp.yaml");
        assertEquals(2, o.exit());
        assertTrue(o.err().startsWith("ringtape: unknown command 'trian' (did you mean 'train'?)\n"), o.err());
        assertTrue(run("replya").err().contains("(did you mean 'replay'?)"), "a swap of two letters");
        assertTrue(run("doktor").err().contains("(did you mean 'doctor'?)"));
        Out far = run("compile");
        assertTrue(far.err().startsWith("ringtape: unknown command 'compile'\n"), "nothing near: " + far.err());
    }

    @Test
    void shouldAnswerHelpOnEveryCommandAndVersion() {
        for (String command :
                new String[] {"train", "gradcheck", "gradients", "watch", "report", "explain", "doctor", "bench"}) {
            Out o = run(command, "--help");
            assertEquals(0, o.exit(), command);
            assertTrue(o.out().startsWith("usage: ringtape " + command), o.out());
        }
        Out v = run("--version");
        assertEquals(0, v.exit());
        assertTrue(v.out().startsWith("ringtape "), v.out());
        Out top = run("--help");
        assertEquals(0, top.exit());
        assertTrue(top.err().contains("explain CODE"), top.err());
    }
}
