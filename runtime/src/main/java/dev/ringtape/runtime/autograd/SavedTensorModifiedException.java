package dev.ringtape.runtime.autograd;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.Arrays;

/** A tensor saved for backward was written in place after it was saved. */
public final class SavedTensorModifiedException extends IllegalStateException {
    private final transient Tensor tensor;
    private final int savedVersion;

    SavedTensorModifiedException(Tensor tensor, int savedVersion) {
        super(message(tensor, savedVersion, null, null));
        this.tensor = tensor;
        this.savedVersion = savedVersion;
    }

    private SavedTensorModifiedException(Tensor tensor, int savedVersion, String op, String layer) {
        super(message(tensor, savedVersion, op, layer));
        this.tensor = tensor;
        this.savedVersion = savedVersion;
    }

    SavedTensorModifiedException in(String op, String layer) {
        return new SavedTensorModifiedException(tensor, savedVersion, op, layer);
    }

    private static String message(Tensor t, int savedVersion, String op, String layer) {
        String where = op == null ? "" : " of " + op + (layer == null || layer.isEmpty() ? "" : " in " + layer);
        return "a tensor needed for the gradient" + where + " (shape " + Arrays.toString(t.shape())
                + (t.name() == null ? "" : ", " + t.name()) + ") was modified in place after it was saved: version "
                + t.version() + ", saved at version " + savedVersion;
    }
}
