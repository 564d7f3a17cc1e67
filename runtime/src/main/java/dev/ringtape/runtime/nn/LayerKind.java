package dev.ringtape.runtime.nn;

import java.util.List;
import java.util.Set;

/**
 * One layer type of the job schema: its name, the keys it accepts besides {@code type}, and how it builds from its
 * spec and the per-sample input shape (checking what it needs and naming the layer when it cannot). Each layer of
 * {@link Layers} declares its kind beside its forward; {@link ModelBuilder#KINDS} lists them. Adding a layer type is
 * adding a layer there, with its kind, and a line to that list.
 */
public record LayerKind(String type, Set<String> keys, Builder builder) {
    /** Builds one layer of this kind into {@code into}; returns its per-sample output shape. */
    @FunctionalInterface
    public interface Builder {
        int[] build(ModelBuilder b, SpecNode spec, String name, int[] in, List<Layer> into) throws SpecException;
    }
}
