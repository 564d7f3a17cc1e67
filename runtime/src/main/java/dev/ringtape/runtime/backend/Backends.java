package dev.ringtape.runtime.backend;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;

/**
 * Finds backends ({@link BackendProvider}s) with {@link ServiceLoader} and holds the one in use: a worker chooses its
 * backend once ({@link #select}) and runs with it on its thread ({@link #use}); code outside any worker (tests,
 * benchmarks, the CLI) gets the CPU backend.
 */
public final class Backends {
    private static final ThreadLocal<Backend> IN_USE = new ThreadLocal<>();
    private static volatile Backend cpu;

    private Backends() {}

    /** The backend in use on this thread: the one {@link #use} set, or else the CPU backend. */
    public static Backend current() {
        Backend b = IN_USE.get();
        return b != null ? b : cpu();
    }

    private static Backend cpu() {
        Backend b = cpu;
        if (b == null) {
            b = all().stream()
                    .filter(x -> "cpu".equals(x.name()))
                    .findFirst()
                    .orElseThrow(() -> new IllegalStateException("no CPU backend on the class path"))
                    .open(null);
            cpu = b;
        }
        return b;
    }

    /**
     * Makes {@code backend} the one in use on this thread until the scope closes: its kernels, and its memory for the
     * tensors made meanwhile (the model's parameters, gradients and optimizer state, the step's outputs).
     */
    public static Scope use(Backend backend) {
        Backend before = IN_USE.get();
        IN_USE.set(backend);
        dev.ringtape.runtime.tensor.BufferPool.Scope memory = Tensor.allocateWith(backend::allocate);
        return () -> {
            memory.close();
            if (before == null) {
                IN_USE.remove();
            } else {
                IN_USE.set(before);
            }
        };
    }

    /** The scope of {@link #use}. */
    @FunctionalInterface
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * The backend chosen for the job's {@code backend:} key; {@code why} says so in one line (for the run record
     * and, when {@code auto} passed a backend over, the console: {@code fellBack}).
     */
    public record Selection(Backend backend, String why, boolean fellBack) {}

    /**
     * The backend named {@code cpu} or {@code cuda}, or with {@code auto} the one of highest priority that can run
     * here, on {@code device} (a GPU address Spark assigned to the task; null: none). A named backend that cannot run
     * here is an {@link Unavailable} error naming what is missing; {@code auto} falls back and says why.
     */
    public static Selection select(String name, String device) {
        List<BackendProvider> all = all();
        if ("auto".equals(name)) {
            List<String> passed = new ArrayList<>();
            for (BackendProvider b : all) {
                String problem = b.unavailableReason();
                if (problem == null) {
                    String why = passed.isEmpty()
                            ? "auto: " + b.name() + (device == null ? "" : ", device " + device)
                            : "auto: " + String.join("; ", passed) + "; training on the "
                                    + b.name().toUpperCase();
                    return new Selection(b.open(device), why, !passed.isEmpty());
                }
                passed.add(b.name() + " not available (" + problem + ")");
            }
            throw new Unavailable("no backend can run here: " + String.join("; ", passed));
        }
        List<String> names = new ArrayList<>();
        for (BackendProvider b : all) {
            names.add(b.name());
            if (b.name().equals(name)) {
                String problem = b.unavailableReason();
                if (problem != null) {
                    throw new Unavailable("backend " + name + " cannot run here: " + problem
                            + " (backend: auto trains on the CPU instead)");
                }
                return new Selection(b.open(device), name + (device == null ? "" : ", device " + device), false);
            }
        }
        throw new Unavailable("unknown backend '" + name + "' (have " + names + ", or auto)");
    }

    /** The name of the backend {@link #select} would choose for {@code name}, opening none; null when none can run. */
    public static String chosen(String name) {
        for (BackendProvider b : all()) {
            if (("auto".equals(name) || b.name().equals(name)) && b.unavailableReason() == null) {
                return b.name();
            }
        }
        return null;
    }

    /** Every backend on the class path, the highest priority first. */
    public static List<BackendProvider> all() {
        List<BackendProvider> all = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class).forEach(all::add);
        all.sort(Comparator.comparingInt(BackendProvider::priority).reversed());
        return all;
    }

    /** The backend asked for cannot run here: a configuration error, with what is missing. */
    public static final class Unavailable extends RuntimeException {
        public Unavailable(String message) {
            super(message);
        }
    }
}
