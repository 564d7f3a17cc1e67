package dev.ringtape.runtime.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
    @Test
    void shouldFollowHuggingFacesCosineScheduleWithWarmup() {
        // transformers' lr_lambda: s / max(1, W) during warm-up, then 0.5 * (1 + cos(pi * (s - W) / max(1, T - W)))
        LrSchedule s = LrSchedule.cosine(1.0, 10, 110);
        assertEquals(0.0, s.lr(0), 1e-12, "the first step's rate is 0, as in Hugging Face's schedule");
        assertEquals(0.1, s.lr(1), 1e-12);
        assertEquals(0.9, s.lr(9), 1e-12);
        assertEquals(0.5 * (1 + Math.cos(Math.PI * 15 / 100)), s.lr(25), 1e-12);
        assertEquals(1.0, s.lr(10), 1e-12);
        assertEquals(0.5, s.lr(60), 1e-12);
        assertEquals(0.0, s.lr(110), 1e-12);
        assertEquals(0.0, s.lr(500), 1e-12, "stays at zero past the end");
    }

    @Test
    void shouldDecayByGammaEveryStepSizeLikeStepLr() {
        LrSchedule s = LrSchedule.step(0.1, 30, 0.1);
        assertEquals(0.1, s.lr(29), 1e-12);
        assertEquals(0.01, s.lr(30), 1e-12);
        assertEquals(0.001, s.lr(61), 1e-12);
    }

    @Test
    void shouldWarmUpLinearlyThenHoldLikeHuggingFacesConstantScheduleWithWarmup() {
        LrSchedule s = LrSchedule.constant(2.0, 4);
        assertEquals(0.0, s.lr(0), 1e-12);
        assertEquals(1.0, s.lr(2), 1e-12);
        assertEquals(2.0, s.lr(4), 1e-12);
        assertEquals(2.0, s.lr(1000), 1e-12);
        assertEquals(2.0, LrSchedule.constant(2.0).lr(0), 1e-12, "no warm-up: the rate from the first step");
    }
}
