package dev.ringtape.runtime.backend;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;
import java.util.logging.Logger;

/** Finds backends with {@link ServiceLoader} and holds the one in use. */
public final class Backends {
    private static final Logger LOG = Logger.getLogger(Backends.class.getName());
    private static volatile Backend current;

    private Backends() {}

    /** The backend in use; {@code auto} is chosen on first call. */
    public static Backend current() {
        Backend b = current;
        if (b == null) {
            synchronized (Backends.class) {
                if (current == null) {
                    current = select("auto");
                }
                b = current;
            }
        }
        return b;
    }

    /**
     * The backend named {@code cpu} or {@code cuda}, or with {@code auto} the available one of highest priority. A
     * named backend that is not available is an error; {@code auto} falls back to the CPU with one log line.
     */
    public static Backend select(String name) {
        List<Backend> all = new ArrayList<>();
        ServiceLoader.load(Backend.class).forEach(all::add);
        all.sort(Comparator.comparingInt(Backend::priority).reversed());
        if ("auto".equals(name)) {
            for (Backend b : all) {
                if (b.available()) {
                    if (!"cpu".equals(b.name())) {
                        LOG.info("backend: " + b.name());
                    }
                    return b;
                }
                LOG.info("backend " + b.name() + " is not available here; falling back");
            }
            throw new IllegalStateException("no backend is available");
        }
        List<String> names = new ArrayList<>();
        for (Backend b : all) {
            names.add(b.name());
            if (b.name().equals(name)) {
                if (!b.available()) {
                    throw new IllegalStateException("backend '" + name + "' is not available on this machine");
                }
                return b;
            }
        }
        throw new IllegalArgumentException("unknown backend '" + name + "' (have " + names + ", or auto)");
    }
}
