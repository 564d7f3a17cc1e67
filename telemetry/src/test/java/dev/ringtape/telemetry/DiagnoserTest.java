package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DiagnoserTest {

    static Sample sample(long step, double deadFrac) {
        return new Sample(
                step,
                0.5,
                64,
                1e-3,
                1e-3,
                1,
                false,
                false,
                1.0,
                List.of(new Sample.Param("layers.0.weight", "layers.0", true, 0.1, 1, 1e-3, 0.01, 0, 0, Double.NaN)),
                List.of(new Sample.Activation("layers.1", "relu", 0.3, 0.5, 0, deadFrac)));
    }

    @Test
    void shouldRaiseOnceWhenItStartsAndOnceWhenItClears() {
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 0);
        assertEquals(List.of(), d.feed(sample(0, 0.0)));
        assertEquals(List.of(), d.feed(sample(5, 0.4)), "one dead window is not yet a diagnosis: DEAD_RELU persists 2");
        assertEquals(List.of(), d.feed(sample(8, 0.0)), "and a healthy one in between starts the count again");
        assertEquals(List.of(), d.feed(sample(9, 0.4)));
        List<Diagnoser.Diagnosis> opened = d.feed(sample(10, 0.4));
        assertEquals(1, opened.size());
        assertEquals("DEAD_RELU", opened.get(0).code());
        assertEquals("layers.1", opened.get(0).layer());
        assertEquals("open", opened.get(0).state());
        assertEquals(0.4, opened.get(0).evidence().get("dead_frac"));
        assertEquals(List.of(), d.feed(sample(20, 0.5)), "still dead: not raised again");
        assertEquals(List.of(), d.feed(sample(30, 0.0)));
        assertEquals(List.of(), d.feed(sample(40, 0.0)));
        List<Diagnoser.Diagnosis> cleared = d.feed(sample(50, 0.0));
        assertEquals(1, cleared.size(), "cleared after three healthy samples");
        assertEquals("cleared", cleared.get(0).state());
        assertEquals(50, cleared.get(0).step());
        assertEquals(List.of(), d.openDiagnoses());
    }

    @Test
    void shouldNotCallUnitsThatFallSilentForAWhileAndReviveDead() {
        // layers.3 of the Fashion-MNIST benchmark job (784-256-256-10, Adam 1e-3, batch 128, 86.4 % test accuracy),
        // steps 30-290, every 10th: up to 12.5 % of its units silent over 512+ samples, reviving as training goes on
        // (1.2 % at the end); with a 10 % threshold this opened DEAD_RELU at step 60 and cleared it at step 190
        double[] recorded = {
            0.0273, 0.0977, 0.1133, 0.1172, 0.125, 0.1211, 0.1172, 0.1133, 0.1133, 0.1094, 0.1055, 0.1055, 0.1055,
            0.1016, 0.0938, 0.0898, 0.0938, 0.0859, 0.0781, 0.0742, 0.0742, 0.0742, 0.0781, 0.0781, 0.0781, 0.0859,
            0.0859
        };
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 0);
        for (int i = 0; i < recorded.length; i++) {
            List<String> codes = d.feed(sample(30 + 10L * i, recorded[i])).stream()
                    .map(Diagnoser.Diagnosis::code)
                    .toList();
            assertTrue(!codes.contains("DEAD_RELU"), "step " + (30 + 10 * i) + ": " + codes);
        }
        // the zoo's dying layer (SGD at lr 3): every unit silent from step 80 on
        Diagnoser dying = new Diagnoser(Thresholds.defaults(), "job", 0);
        assertEquals(List.of(), dying.feed(sample(70, 0.0156)));
        assertEquals(List.of(), dying.feed(sample(80, 1.0)));
        assertEquals("DEAD_RELU", dying.feed(sample(90, 1.0)).get(0).code());
    }

    @Test
    void shouldHoldADeadReluDiagnosisWhileItsFractionCreepsAlongTheThreshold() {
        // Fashion-MNIST's layers.1 at batch 16, sampled every step, steps 6,500-7,500: 0.24-0.26 against 0.25;
        // opened and cleared a dozen times before the hysteresis
        double[] hovering = {0.254, 0.258, 0.246, 0.242, 0.238, 0.254, 0.246, 0.262, 0.242, 0.238, 0.25, 0.258};
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 0);
        List<String> events = new java.util.ArrayList<>();
        long step = 0;
        for (double f : hovering) {
            for (Diagnoser.Diagnosis x : d.feed(sample(step++, f))) {
                events.add(x.code() + " " + x.state() + " " + x.step());
            }
        }
        assertEquals(List.of("DEAD_RELU open 1"), events, "opened once, held while above 0.8 x the threshold");
        for (int i = 0; i < 3; i++) {
            for (Diagnoser.Diagnosis x : d.feed(sample(step++, 0.19))) {
                events.add(x.code() + " " + x.state() + " " + x.step());
            }
        }
        assertEquals(List.of("DEAD_RELU open 1", "DEAD_RELU cleared 14"), events, "cleared below 0.2");
    }

    /** Which codes open over {@code losses}, sampled every step, each loss the mean over {@code examples}. */
    private static List<String> opened(double[] losses, long examples) {
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 0);
        List<String> out = new java.util.ArrayList<>();
        for (int i = 0; i < losses.length; i++) {
            Sample s = new Sample(i, losses[i], examples, 1e-3, 1e-3, 1, false, false, 1.0, List.of(), List.of());
            for (Diagnoser.Diagnosis x : d.feed(s)) {
                if (x.state().equals("open")) {
                    out.add(x.code() + " s" + i);
                }
            }
        }
        return out;
    }

    @Test
    void shouldJudgeDivergenceOverExamplesSoSmallBatchesDoNotCryWolf() {
        // a converged loss of 0.38 measured on batches of 16: each sample skewed, as cross-entropy losses are
        java.util.Random r = new java.util.Random(3);
        double[] flat = new double[7500];
        for (int i = 0; i < flat.length; i++) {
            flat[i] = 0.38 * Math.exp(0.6 * r.nextGaussian() - 0.18);
        }
        List<String> asIfBatch64 = opened(flat, 64);
        assertTrue(
                asIfBatch64.stream().anyMatch(c -> c.startsWith("LOSS_DIVERGING")),
                "five samples of 16 examples averaged as if of 64: the lowest average is a chance dip: " + asIfBatch64);
        List<String> batch16 = opened(flat, 16);
        assertTrue(batch16.stream().noneMatch(c -> c.startsWith("LOSS_DIVERGING")), batch16.toString());
        // and a loss that really climbs is still named at that batch size
        double[] climbing = flat.clone();
        for (int i = 3000; i < climbing.length; i++) {
            climbing[i] *= 1 + (i - 3000) / 100.0;
        }
        List<String> diverging = opened(climbing, 16);
        assertTrue(diverging.stream().anyMatch(c -> c.startsWith("LOSS_DIVERGING")), diverging.toString());
    }

    @Test
    void shouldHonourOverriddenThresholdsAndRejectUnknownOnes() {
        Diagnoser strict = new Diagnoser(Thresholds.of(Map.of("dead_frac", 0.5)), "job", 0);
        assertEquals(List.of(), strict.feed(sample(0, 0.4)), "40 % dead is under a 50 % threshold");
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Thresholds.of(Map.of("dead", 0.5)));
        assertTrue(e.getMessage().contains("dead_frac"), e.getMessage());
    }

    @Test
    void shouldWriteADiagnosisRecordWithEvidenceAndHint() {
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 3);
        d.feed(sample(0, 0.9));
        var record = d.record(d.feed(sample(10, 0.9)).get(0));
        assertEquals("diagnosis", record.get("type").asText());
        assertEquals(3, record.get("rank").asInt());
        assertEquals("warn", record.get("severity").asText());
        assertEquals(0.9, record.get("evidence").get("dead_frac").asDouble());
        assertTrue(record.get("hint").asText().contains("learning rate"));
    }

    @Test
    void shouldJudgeSmallUpdatesAgainstTheScheduledRateNotTheBaseOne() {
        // an update ratio of 5e-6 is too low at the base rate, and what a decay to a hundredth of it gives
        Sample.Param w = new Sample.Param("layers.0.weight", "layers.0", true, 0.1, 1, 5e-6, 0.01, 0, 0, Double.NaN);
        Diagnoser atBase = new Diagnoser(Thresholds.defaults(), "job", 0);
        List<Diagnoser.Diagnosis> raised = List.of();
        for (long step : new long[] {20, 30, 40}) { // past grace_steps, three samples in a row
            raised = atBase.feed(new Sample(step, 0.5, 64, 1e-3, 1e-3, 1, false, false, 1.0, List.of(w), List.of()));
        }
        assertEquals(
                List.of("UPDATE_RATIO_LOW"),
                raised.stream().map(Diagnoser.Diagnosis::code).toList());
        Diagnoser decayed = new Diagnoser(Thresholds.defaults(), "job", 0);
        for (long step : new long[] {20, 30, 40}) {
            assertEquals(
                    List.of(),
                    decayed.feed(new Sample(step, 0.5, 64, 1e-5, 1e-3, 1, false, false, 1.0, List.of(w), List.of())));
        }
        Diagnoser young = new Diagnoser(Thresholds.defaults(), "job", 0);
        for (long step : new long[] {0, 1, 2, 3}) {
            assertEquals(
                    List.of(),
                    young.feed(new Sample(step, 0.5, 64, 1e-3, 1e-3, 1, false, false, 1.0, List.of(w), List.of())),
                    "not judged within grace_steps");
        }
    }

    /** A sample of the weights of three layers with these update ratios, and these losses before it. */
    static Sample updates(long step, double loss, double[] before, double... ratios) {
        List<Sample.Param> ws = new java.util.ArrayList<>();
        for (int i = 0; i < ratios.length; i++) {
            ws.add(new Sample.Param(
                    "layers." + 2 * i + ".weight", "layers." + 2 * i, true, 1, 10, ratios[i], 0.1, 0, 0, Double.NaN));
        }
        return new Sample(step, loss, 64, 3.0, 3.0, 1, false, false, 1.0, ws, List.of(), before);
    }

    @Test
    void shouldNameABlowUpAtTheFirstSampleEvenWhenItHappensBetweenSamples() {
        // the zoo's SGD at lr 3 (recorded): update ratios 0.28, 0.53, 2.53 at step 0, 51x the band's top
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 0);
        List<Diagnoser.Diagnosis> raised = d.feed(updates(0, 2.888, new double[0], 0.284, 0.534, 2.534));
        assertEquals(
                List.of("BLOWUP"),
                raised.stream().map(Diagnoser.Diagnosis::code).toList());
        assertEquals(0, raised.get(0).step());
        assertEquals(2.534 / 0.05, (double) raised.get(0).evidence().get("times_band_top"), 1e-9);
        // the same run sampled so its first sample misses the ratios: the losses of steps 1-9 carry the blow-up, and
        // the sample at step 10 sees a loss back near chance and update ratios of zero (the units died)
        Diagnoser late = new Diagnoser(Thresholds.defaults(), "job", 0);
        assertEquals(List.of(), late.feed(updates(0, 2.888, new double[0], 0.01, 0.01, 0.01)));
        double[] steps1to9 = {25.4, 112.1, 100.2, 19135.3, 1481781.1, 1.637e11, 3.022e15, 8.186e11, 2.556};
        List<Diagnoser.Diagnosis> seen = late.feed(updates(10, 2.628, steps1to9, 0, 0, 0));
        assertEquals(
                List.of("BLOWUP"), seen.stream().map(Diagnoser.Diagnosis::code).toList());
        assertEquals("4-8", seen.get(0).evidence().get("loss_above_factor_at_steps"));
        assertEquals(3.022e15, (double) seen.get(0).evidence().get("peak_loss"));
        // healthy SGD with momentum brushes the band's top in its first steps (0.05-0.08), and its loss wanders: no
        // blow-up (nor UPDATE_RATIO_HIGH, which waits for grace_steps)
        Diagnoser healthy = new Diagnoser(Thresholds.defaults(), "job", 0);
        for (long step = 0; step < 20; step += 10) {
            assertEquals(
                    List.of(),
                    healthy.feed(updates(step, 2.3 - step / 40.0, new double[] {2.5, 3.1, 2.2}, 0.08, 0.06, 0.05)));
        }
    }

    static Sample norm(long step, double gradNorm) {
        return new Sample(step, 0.5, 64, 1e-3, 1e-3, 1, false, false, gradNorm, List.of(), List.of());
    }

    @Test
    void shouldRaiseExplodingGradientWhenTheNormGrowsTenfoldPerSampleBelowTheBound() {
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 0);
        assertEquals(List.of(), d.feed(norm(0, 0.01)));
        assertEquals(List.of(), d.feed(norm(10, 0.1)));
        assertEquals(List.of(), d.feed(norm(20, 1.0)));
        List<Diagnoser.Diagnosis> raised = d.feed(norm(30, 10.0)); // three tenfold jumps in a row, all below 1e3
        assertEquals(1, raised.size());
        assertEquals("EXPLODING_GRADIENT", raised.get(0).code());
        Diagnoser calm = new Diagnoser(Thresholds.defaults(), "job", 0);
        for (double n : new double[] {0.01, 0.1, 0.5, 5.0, 6.0}) {
            assertEquals(List.of(), calm.feed(norm(0, n)), "growth that pauses is not exponential");
        }
    }

    /** A GPT's sampled step: one attention layer of two heads, the step's mean log Z, the losses since the last. */
    static Sample gpt(long step, double loss, double[] lossesBefore, double maxLogit, double entropy, double logZ) {
        return new Sample(
                step,
                loss,
                32,
                1e-3,
                1e-3,
                1,
                false,
                false,
                1.0,
                List.of(new Sample.Param(
                        "layers.2.qkv.weight", "layers.2", true, 0.1, 1, 1e-3, 0.01, 0, 0, Double.NaN)),
                List.of(),
                lossesBefore,
                List.of(
                        new Sample.Attention("layers.2", 0, 2.5, 3.0),
                        new Sample.Attention("layers.2", 1, entropy, maxLogit)),
                logZ);
    }

    private static List<String> opened(Diagnoser d, Sample s) {
        return d.feed(s).stream()
                .filter(x -> x.state().equals("open"))
                .map(x -> x.code() + "@" + x.layer())
                .toList();
    }

    @Test
    void shouldNameAttentionLogitGrowthAndEntropyCollapseOnTheLayerOverTwoSamples() {
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 0);
        double[] none = new double[0];
        assertEquals(List.of(), opened(d, gpt(0, 5.5, none, 0.3, 3.2, 5.5)));
        assertEquals(List.of(), opened(d, gpt(10, 3.3, none, 200, 0.05, 6.8)), "one sample is not yet a diagnosis");
        assertEquals(
                List.of("ATTENTION_LOGIT_GROWTH@layers.2", "ATTENTION_ENTROPY_COLLAPSE@layers.2"),
                opened(d, gpt(20, 3.2, none, 1000, 0.01, 7.3)));
        Diagnoser healthy = new Diagnoser(Thresholds.defaults(), "job", 0);
        for (int s = 0; s < 10; s++) {
            // the healthy GPT's worst: logits of 15, entropy 2.3 nats
            assertEquals(List.of(), opened(healthy, gpt(10L * s, 3.0 - 0.05 * s, none, 15, 2.3, 6.5)));
        }
    }

    @Test
    void shouldNameOutputLogitDivergenceWhenLogZLeavesItsRangeButNotWithoutASoftmax() {
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 0);
        double[] none = new double[0];
        assertEquals(List.of(), opened(d, gpt(0, 5.5, none, 1, 3, 5.5)));
        assertEquals(List.of(), opened(d, gpt(10, 4.1, none, 1, 3, 11.5)), "an early peak of 11.5 is healthy");
        assertEquals(List.of(), opened(d, gpt(20, 6.6, none, 1, 3, 25.1)));
        assertEquals(List.of("OUTPUT_LOGIT_DIVERGENCE@"), opened(d, gpt(30, 16.0, none, 1, 3, 25.4)));
        Diagnoser mse = new Diagnoser(Thresholds.defaults(), "job", 0);
        for (int s = 0; s < 5; s++) {
            assertEquals(List.of(), opened(mse, gpt(10L * s, 1.0, none, 1, 3, Double.NaN)));
        }
    }

    @Test
    void shouldNameAOneStepLossSpikeBetweenSamplesAboveTheFirstLossOnly() {
        // the zoo's loss-spike GPT, steps 0-19: a steep descent, then step 11 jumps to 10.5 and falls back
        double[] first = {5.57, 5.05, 4.62, 4.31, 4.13, 3.98, 3.79, 3.61, 3.52, 3.41};
        double[] second = {3.38, 10.51, 3.91, 3.55, 3.40, 3.36, 3.33, 3.31, 3.30, 3.29};
        Diagnoser d = new Diagnoser(Thresholds.defaults(), "job", 0);
        assertEquals(List.of(), opened(d, gpt(10, 3.35, first, 1, 3, 6)));
        List<Diagnoser.Diagnosis> spike = d.feed(gpt(20, 3.28, second, 1, 3, 6));
        assertEquals(1, spike.size(), spike.toString());
        assertEquals("LOSS_SPIKE", spike.get(0).code());
        assertEquals(11L, ((Number) spike.get(0).evidence().get("at_step")).longValue());
        // a small batch's hard draw late in training: 0.4 -> 1.6 (z 5.8 here too) stays below the first loss, 2.3
        Diagnoser digits = new Diagnoser(Thresholds.defaults(), "job", 0);
        double[] early = {2.30, 1.80, 1.20, 0.90, 0.70, 0.60, 0.50, 0.45, 0.42, 0.40};
        double[] later = {0.41, 0.39, 1.58, 0.40, 0.43, 0.38, 0.41, 0.37, 0.44, 0.40};
        assertEquals(List.of(), opened(digits, gpt(10, 0.41, early, 1, 3, Double.NaN)));
        assertEquals(List.of(), opened(digits, gpt(20, 0.39, later, 1, 3, Double.NaN)));
    }
}
