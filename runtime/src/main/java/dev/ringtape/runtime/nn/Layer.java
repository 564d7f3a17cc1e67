package dev.ringtape.runtime.nn;

import dev.ringtape.runtime.tensor.Tensor;
import java.util.List;

/** One layer of a model, named {@code layers.<i>} (nested: {@code layers.<i>.layers.<j>}) as in DESIGN.md. */
public interface Layer {
    /** The layer's path name, e.g. {@code layers.3}. */
    String name();

    /** The YAML type, e.g. {@code linear}. */
    String type();

    /** The forward pass on a batch; records on the open tape. */
    Tensor forward(Tensor x, ForwardContext ctx);

    /** The parameters of this layer and of any nested layers, in declaration order, named. */
    List<Tensor> parameters();
}
