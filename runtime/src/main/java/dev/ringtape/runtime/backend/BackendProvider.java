package dev.ringtape.runtime.backend;

/**
 * A backend as {@link java.util.ServiceLoader} finds it (listed in {@code
 * META-INF/services/dev.ringtape.runtime.backend.BackendProvider}): whether it can run on this machine, and if so a
 * {@link Backend} on a device. Probing is the provider's, kernels are the backend's, so a backend that cannot run
 * here can still say why.
 */
public interface BackendProvider {
    /** The name the {@code backend:} key uses: {@code cpu}, {@code cuda}. */
    String name();

    /** Higher wins when {@code backend: auto}. */
    int priority();

    /** Why this backend cannot run here, in one line; null when it can. */
    String unavailableReason();

    /**
     * The backend on the device with the given address (a GPU's ordinal, as Spark's resource scheduling assigns it
     * to a task; null: the provider's default); called only when {@link #unavailableReason()} is null.
     */
    Backend open(String device);
}
