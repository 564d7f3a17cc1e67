package dev.ringtape.runtime.autograd;

import dev.ringtape.runtime.tensor.Mask;
import dev.ringtape.runtime.tensor.Storage;
import dev.ringtape.runtime.tensor.Tensor;
import java.util.IdentityHashMap;

/**
 * Bytes held for backward on this thread: every activation tensor, mask and index array that recorded ops keep
 * alive (parameters, alive anyway, are not counted), counted once however many ops share it, from when it is saved until its last op has run backward (or the tape closes).
 * The peak is what activation recompute reduces.
 */
public final class ActivationMemory {
    private static final ThreadLocal<ActivationMemory> CURRENT = ThreadLocal.withInitial(ActivationMemory::new);

    private final IdentityHashMap<Object, int[]> refs = new IdentityHashMap<>();
    private long live;
    private long peak;

    private ActivationMemory() {}

    /** This thread's account. */
    public static ActivationMemory current() {
        return CURRENT.get();
    }

    /** Bytes held now. */
    public long liveBytes() {
        return live;
    }

    /** The most bytes held at once since the last {@link #resetPeak()}. */
    public long peakBytes() {
        return peak;
    }

    public void resetPeak() {
        peak = live;
    }

    void retain(Object[] saved) {
        for (Object o : saved) {
            if (o instanceof Saved s && s.isParameter()) {
                continue;
            }
            Object key = storage(o);
            int[] n = refs.get(key);
            if (n == null) {
                refs.put(key, new int[] {1});
                live += bytes(key);
            } else {
                n[0]++;
            }
        }
        peak = Math.max(peak, live);
    }

    void release(Object[] saved) {
        for (Object o : saved) {
            if (o instanceof Saved s && s.isParameter()) {
                continue;
            }
            Object key = storage(o);
            int[] n = refs.get(key);
            if (n != null && --n[0] == 0) {
                refs.remove(key);
                live -= bytes(key);
            }
        }
    }

    private static Object storage(Object o) {
        if (o instanceof Saved s) {
            return s.storage();
        }
        if (o instanceof Tensor t) {
            return t.storage();
        }
        if (o instanceof Mask m) {
            return m.words();
        }
        return o;
    }

    private static long bytes(Object o) {
        if (o instanceof Storage st) {
            return 4L * st.length();
        }
        if (o instanceof float[] f) {
            return 4L * f.length;
        }
        if (o instanceof int[] i) {
            return 4L * i.length;
        }
        if (o instanceof long[] l) {
            return 8L * l.length;
        }
        throw new IllegalArgumentException("cannot account for " + o.getClass());
    }
}
