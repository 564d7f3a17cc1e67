package dev.ringtape.allreduce;

import java.util.logging.Logger;
import org.agrona.UnsafeApi;

/**
 * Adds a received fragment into the caller's array, {@code data[at + i] += theirs[i]}: the reduce-scatter's hot
 * loop. As written, C2 compiles that loop to slow code (64 MiB all-reduces, four alternated pairs: 0 to 26 % slower; likely because it
 * cannot rule out that the two arrays are one, at another offset, so it does not vectorize it), so this plain Java
 * version copies the fragment of {@code data} into a scratch array, adds there with both arrays
 * indexed alike, which C2 vectorizes, and copies it back; {@link #get()} returns a subclass on the incubating Vector
 * API, which adds in place, when the JVM runs with {@code --add-modules jdk.incubator.vector}. Both give the same
 * bits: each element is one float addition.
 */
class Adder {
    private static final Logger LOG = Logger.getLogger(Adder.class.getName());
    private static final String VECTOR_MODULE = "jdk.incubator.vector";
    private static final long FLOAT_ARRAY_BASE = UnsafeApi.arrayBaseOffset(float[].class);
    private static final Adder INSTANCE = load();

    Adder() {}

    /** The plain Java implementation (tests compare the two). */
    static Adder scalar() {
        return new Adder();
    }

    static Adder get() {
        return INSTANCE;
    }

    String implementation() {
        return "plain Java";
    }

    private static Adder load() {
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) {
            LOG.fine("all-reduce adds in plain Java: start the JVM with --add-modules " + VECTOR_MODULE);
            return new Adder();
        }
        try {
            return (Adder) Class.forName(Adder.class.getPackageName() + ".VectorAdder")
                    .getDeclaredConstructor()
                    .newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            LOG.info("all-reduce adds in plain Java: the vector ones failed to load (" + e + ")");
            return new Adder();
        }
    }

    /** {@code data[at + i] += theirs[i]} for {@code i < count}; {@code scratch} holds at least {@code count}. */
    void add(float[] data, int at, float[] theirs, int count, float[] scratch) {
        UnsafeApi.copyMemory(data, FLOAT_ARRAY_BASE + 4L * at, scratch, FLOAT_ARRAY_BASE, 4L * count);
        for (int i = 0; i < count; i++) {
            scratch[i] += theirs[i];
        }
        UnsafeApi.copyMemory(scratch, FLOAT_ARRAY_BASE, data, FLOAT_ARRAY_BASE + 4L * at, 4L * count);
    }
}
