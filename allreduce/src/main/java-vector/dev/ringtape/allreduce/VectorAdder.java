package dev.ringtape.allreduce;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Adder} on the incubating Vector API: adds in place, eight floats at a time, without the scratch copies.
 * Compiled apart from the rest of the module (it needs {@code --add-modules jdk.incubator.vector}) and loaded by
 * {@link Adder#get()} only when the JVM has that module.
 */
final class VectorAdder extends Adder {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;

    @Override
    String implementation() {
        return "Vector API, 8 x float";
    }

    @Override
    void add(float[] data, int at, float[] theirs, int count, float[] scratch) {
        int i = 0;
        for (; i <= count - 8; i += 8) {
            FloatVector.fromArray(F, data, at + i)
                    .add(FloatVector.fromArray(F, theirs, i))
                    .intoArray(data, at + i);
        }
        for (; i < count; i++) {
            data[at + i] += theirs[i];
        }
    }
}
