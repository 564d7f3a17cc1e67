package dev.ringtape.allreduce;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class AdderTest {
    @Test
    void shouldAddOnTheVectorApiInTheBuildsJvms() {
        // the surefire JVMs get --add-modules jdk.incubator.vector (pom.xml), as the launcher's do
        assertEquals("Vector API, 8 x float", Adder.get().implementation());
    }

    @Test
    void shouldAddEachElementOnceAtAnyOffsetAndLengthOnBothImplementations() {
        Random rnd = new Random(11);
        for (Adder adder : new Adder[] {Adder.get(), Adder.scalar()}) {
            for (int at : new int[] {0, 1, 3, 8, 13}) {
                for (int count : new int[] {0, 1, 7, 8, 9, 63, 16_360}) {
                    float[] data = new float[at + count + 5];
                    float[] theirs = new float[count + 3];
                    for (int i = 0; i < data.length; i++) {
                        data[i] = (float) rnd.nextGaussian() * 1e3f;
                    }
                    for (int i = 0; i < theirs.length; i++) {
                        theirs[i] = i % 17 == 0 ? Float.NaN : (float) rnd.nextGaussian();
                    }
                    float[] want = data.clone();
                    for (int i = 0; i < count; i++) {
                        want[at + i] = data[at + i] + theirs[i];
                    }
                    adder.add(data, at, theirs, count, new float[count]);
                    for (int i = 0; i < data.length; i++) {
                        assertEquals(
                                Float.floatToRawIntBits(want[i]),
                                Float.floatToRawIntBits(data[i]),
                                adder.implementation() + ": element " + i + " of at=" + at + " count=" + count);
                    }
                }
            }
        }
    }
}
