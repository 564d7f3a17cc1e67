package dev.ringtape.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** Which rank the link probe's rates (into each rank, from the previous one) name as the straggler. */
class LinksTest {
    @Test
    void shouldNameTheHostWhoseLinkIsSlowBothWays() {
        // rank 2 at 100 Mbit/s both ways: the links into rank 2 and into rank 3 are slow
        assertEquals(
                new Links.Straggler(2, true, 12.5e6, 118e6),
                Links.straggler(new double[] {118e6, 117e6, 12.4e6, 12.5e6}));
        // wrapping round: rank 3 of 4 slows the links into 3 and into 0
        assertEquals(3, Links.straggler(new double[] {12e6, 118e6, 117e6, 12e6}).rank());
        // three ranks, two of their three links slow
        Links.Straggler s = Links.straggler(new double[] {117e6, 11.9e6, 12e6});
        assertEquals(1, s.rank());
        assertEquals(true, s.bothWays());
    }

    @Test
    void shouldNameTheRankBehindOneSlowLink() {
        Links.Straggler s = Links.straggler(new double[] {118e6, 118e6, 40e6});
        assertEquals(2, s.rank());
        assertEquals(false, s.bothWays());
        assertEquals(new Links.Straggler(1, false, 12e6, 118e6), Links.straggler(new double[] {118e6, 12e6}));
    }

    @Test
    void shouldNameNobodyWhereNothingOrEverythingIsSlowOrTheHostCannotBeTold() {
        assertNull(Links.straggler(new double[] {118e6, 100e6, 90e6}), "within 2x of the fastest");
        assertNull(Links.straggler(new double[] {12e6, 12.1e6}), "two ranks, a host slow both ways: either host");
        assertNull(Links.straggler(new double[] {118e6, 12e6, 118e6, 12e6}), "two slow links of two hosts");
        assertNull(Links.straggler(new double[] {118e6, 12e6, 12e6, 12e6}), "three slow links");
    }
}
