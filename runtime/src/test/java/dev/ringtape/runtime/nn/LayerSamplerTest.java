package dev.ringtape.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.telemetry.Sample;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LayerSamplerTest {
    /** One sampled step: {@code passes} micro-batches of relu outputs, then the step's end. */
    private static double deadAfter(LayerSampler s, List<Tensor> passes, long samples, LayerSampler.Summer ranks) {
        for (int m = 0; m < passes.size(); m++) {
            s.open(m == 0);
            try {
                s.activation("layers.1", dev.ringtape.runtime.backend.Activation.RELU, passes.get(m));
            } finally {
                s.close();
            }
        }
        s.finishStep(samples, ranks);
        return s.collected().get(0).deadFrac();
    }

    @Test
    void shouldCountChannelsOfAConvActivationAsItsUnits() {
        // NCHW, 16 channels of 4x4: only channel 3 ever fires (at one position); the image width is 4
        float[] y = new float[8 * 16 * 16];
        for (int n = 0; n < 8; n++) {
            y[n * 256 + 3 * 16 + 5] = 1f;
        }
        LayerSampler s = new LayerSampler(1e-3, 1, 8);
        double dead = deadAfter(s, List.of(Tensor.of(y, 8, 16, 4, 4)), 8, v -> {});
        assertEquals(15.0 / 16, dead, 1e-12, "15 of 16 channels are silent");
    }

    @Test
    void shouldJudgeTheSameSamplesAlikeHoweverTheBatchIsSplit() {
        // 64 samples of 32 units, each unit firing on one or two samples: units 0-7 only in the first half, 8-15
        // only in the second, 16-23 in both, 24-31 never
        float[] all = new float[64 * 32];
        for (int i = 0; i < 64; i++) {
            for (int j = 0; j < 32; j++) {
                boolean fires =
                        (j < 8 && i == j) || (j >= 8 && j < 16 && i == j + 32) || (j >= 16 && j < 24 && i % 32 == j);
                all[i * 32 + j] = fires ? 1f : 0f;
            }
        }
        double whole = deadAfter(new LayerSampler(1e-3, 1, 64), List.of(Tensor.of(all, 64, 32)), 64, v -> {});
        // four micro-batches of 16
        List<Tensor> quarters = new java.util.ArrayList<>();
        for (int q = 0; q < 4; q++) {
            quarters.add(Tensor.of(java.util.Arrays.copyOfRange(all, q * 16 * 32, (q + 1) * 16 * 32), 16, 32));
        }
        double micro = deadAfter(new LayerSampler(1e-3, 1, 64), quarters, 64, v -> {});
        // two ranks of 32 samples each, summed: rank 0's sampler sees rank 1's activity through the sum
        float[] rankOne = new float[32];
        for (int i = 32; i < 64; i++) {
            for (int j = 0; j < 32; j++) {
                rankOne[j] += all[i * 32 + j] != 0 ? 1 : 0;
            }
        }
        double ranks = deadAfter(
                new LayerSampler(1e-3, 1, 64),
                List.of(Tensor.of(java.util.Arrays.copyOf(all, 32 * 32), 32, 32)),
                64,
                v -> {
                    for (int j = 0; j < v.length; j++) {
                        v[j] += rankOne[j];
                    }
                });
        assertEquals(0.25, whole, 1e-12, "units 24-31 never fire");
        assertEquals(whole, micro, "micro-batches");
        assertEquals(whole, ranks, "ranks");
    }

    @Test
    void shouldWaitForEnoughSamplesBeforeCallingAUnitDead() {
        LayerSampler s = new LayerSampler(1e-3, 2, 100);
        Random r = new Random(1);
        float[] y = new float[16 * 8];
        for (int i = 0; i < y.length; i++) {
            y[i] = r.nextFloat() < 0.5 ? 0 : 1;
        }
        double dead = Double.NaN;
        int steps = 0;
        while (Double.isNaN(dead)) {
            dead = deadAfter(s, List.of(Tensor.of(y.clone(), 16, 8)), 16, v -> {});
            steps++;
        }
        assertEquals(7, steps, "7 steps of 16 samples are the first window of at least 100");
        List<Sample.Activation> c = s.collected();
        assertEquals("relu", c.get(0).type());
    }
}
