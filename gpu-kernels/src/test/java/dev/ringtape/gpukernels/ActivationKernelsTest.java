package dev.ringtape.gpukernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ringtape.runtime.backend.Activation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend passes an {@link Activation}'s ordinal to the kernels, which switch on {@code rt::ActKind}: the two
 * must list the same names in the same order, and the kernels must have a case for each (their default gives NaN),
 * or a new activation would run another's math on a GPU. Read from the source, so it holds where nvcc is missing.
 */
class ActivationKernelsTest {
    @Test
    void shouldListEveryJavaActivationInTheKernelsEnumInTheSameOrderWithItsOwnCases() throws Exception {
        String cuh = Files.readString(Path.of("src/main/cuda/ringtape_math.cuh"));
        Matcher m = Pattern.compile("enum ActKind \\{([^}]*)\\}").matcher(cuh);
        assertTrue(m.find(), "rt::ActKind in ringtape_math.cuh");
        List<String> kernels = Arrays.stream(m.group(1).split(","))
                .map(String::strip)
                .filter(x -> !x.isEmpty())
                .toList();
        List<String> java = Arrays.stream(Activation.values()).map(Enum::name).toList();
        assertEquals(java, kernels, "Activation (Java) and ActKind (CUDA), in order");
        // forward and backward each switch on the kind, each with a case per kind (the default gives NaN), and
        // act_derivative has one for each kind that saves its derivative
        for (Activation act : Activation.values()) {
            int cases = act.saves() == Activation.Saves.DERIVATIVE ? 3 : 2;
            assertEquals(cases, count(cuh, "case " + act.name() + ":"), act + "'s cases in ringtape_math.cuh");
        }
        Matcher saves = Pattern.compile("act_saves_derivative\\(int kind\\) \\{ return ([^;]*);")
                .matcher(cuh);
        assertTrue(saves.find(), "rt::act_saves_derivative in ringtape_math.cuh");
        List<String> derivative = Arrays.stream(Activation.values())
                .filter(a -> a.saves() == Activation.Saves.DERIVATIVE)
                .map(a -> "kind == " + a.name())
                .toList();
        assertEquals(String.join(" || ", derivative), saves.group(1), "the kinds that save their derivative");
    }

    private static int count(String text, String what) {
        int n = 0;
        for (int at = text.indexOf(what); at >= 0; at = text.indexOf(what, at + 1)) {
            n++;
        }
        return n;
    }
}
