package dev.ringtape.gpukernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Without a device, a kernel launch with its arguments in the wrong number or of the wrong width would pass every
 * other test and read garbage on a GPU. This reads both sides: each {@code __global__} kernel's parameters in
 * kernels.cu, and each launch in CudaBackend.java (its arguments made by {@code p(..)} a device pointer, {@code i(..)}
 * an int, {@code l(..)} a 64-bit integer, {@code f(..)} a float, {@code d(..)} a double, {@code Pointer.to(s.array())}
 * a struct by value), and checks that they match kind for kind, and that every kernel is launched; then the same
 * launches against the entry points of the PTX the jar carries, parameter type for parameter type, a struct's bytes
 * against the buffer the backend packs.
 */
class KernelCallsTest {
    /** Kernel name to the kinds of its parameters: ptr, int, long, float, double, struct. */
    private static Map<String, List<String>> kernels() throws IOException {
        String src = Files.readString(Path.of("src/main/cuda/kernels.cu"));
        Matcher m = Pattern.compile("__global__ void (rt_\\w+)\\(([^)]*)\\)").matcher(src);
        Map<String, List<String>> out = new LinkedHashMap<>();
        while (m.find()) {
            List<String> kinds = new ArrayList<>();
            for (String param : m.group(2).split(",")) {
                String p = param.strip().replaceAll("\\s+", " ");
                kinds.add(
                        p.contains("*")
                                ? "ptr"
                                : p.startsWith("rt::")
                                        ? "struct"
                                        : p.startsWith("long long") || p.startsWith("unsigned long long")
                                                ? "long"
                                                : p.startsWith("int ")
                                                        ? "int"
                                                        : p.startsWith("float ")
                                                                ? "float"
                                                                : p.startsWith("double ") ? "double" : "unknown: " + p);
            }
            out.put(m.group(1), kinds);
        }
        return out;
    }

    /** Every launch in the backend: the kernel and the kinds of its arguments (after the element or block count). */
    private static List<Map.Entry<String, List<String>>> launches() throws IOException {
        String src = Files.readString(Path.of("src/main/java/dev/ringtape/gpukernels/CudaBackend.java"));
        List<Map.Entry<String, List<String>>> out = new ArrayList<>();
        Matcher m = Pattern.compile("launch(?:Blocks)?\\(\\s*\"(rt_\\w+)\",").matcher(src);
        while (m.find()) {
            // the arguments up to the parenthesis that closes the call
            int depth = 1;
            int at = m.end();
            StringBuilder args = new StringBuilder();
            while (depth > 0) {
                char c = src.charAt(at++);
                depth += c == '(' ? 1 : c == ')' ? -1 : 0;
                if (depth > 0) {
                    args.append(c);
                }
            }
            List<String> parts = splitTopLevel(args.toString());
            List<String> kinds = new ArrayList<>();
            for (String a : parts.subList(1, parts.size())) { // the first is the count
                String s = a.strip();
                kinds.add(
                        s.startsWith("p(")
                                ? "ptr"
                                : s.startsWith("i(")
                                        ? "int"
                                        : s.startsWith("l(")
                                                ? "long"
                                                : s.startsWith("f(")
                                                        ? "float"
                                                        : s.startsWith("d(")
                                                                ? "double"
                                                                : s.startsWith("Pointer.to(s.array())")
                                                                        ? "struct"
                                                                        : "? " + s);
            }
            out.add(Map.entry(m.group(1), kinds));
        }
        return out;
    }

    private static List<String> splitTopLevel(String s) {
        List<String> out = new ArrayList<>();
        int depth = 0;
        int start = 0;
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            depth += c == '(' ? 1 : c == ')' ? -1 : 0;
            if (c == ',' && depth == 0) {
                out.add(s.substring(start, k));
                start = k + 1;
            }
        }
        out.add(s.substring(start));
        return out;
    }

    /** Entry point to its parameters' PTX types ({@code .u64}, {@code .f32}, ..., a struct as {@code .b8[bytes]}). */
    private static Map<String, List<String>> ptxEntries() throws IOException {
        String ptx;
        try (InputStream in = KernelCallsTest.class.getResourceAsStream("/kernels/compute_80.ptx")) {
            assertNotNull(in, "kernels/compute_80.ptx is not in the jar's resources");
            ptx = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
        Map<String, List<String>> out = new LinkedHashMap<>();
        Matcher m = Pattern.compile("\\.entry (rt_\\w+)\\(([^)]*)\\)").matcher(ptx);
        Pattern param = Pattern.compile("\\.param (?:\\.align \\d+ )?(\\.[a-z]+\\d+) \\w+(\\[\\d+\\])?");
        while (m.find()) {
            List<String> types = new ArrayList<>();
            for (String p : m.group(2).split(",")) {
                Matcher t = param.matcher(p.strip());
                assertTrue(t.matches(), "a parameter of " + m.group(1) + " in the PTX: " + p.strip());
                types.add(t.group(1) + (t.group(2) == null ? "" : t.group(2)));
            }
            out.put(m.group(1), types);
        }
        return out;
    }

    /** The bytes of the struct each kernel takes by value, as the backend packs it. */
    private static final Map<String, Integer> STRUCT_BYTES = Map.of(
            "rt_adam",
            CudaBackend.ADAM_BYTES,
            "rt_sgd",
            CudaBackend.SGD_BYTES,
            "rt_permute",
            CudaBackend.PERMUTE_BYTES);

    @Test
    void shouldLaunchEveryKernelWithItsParametersKindForKind() throws IOException {
        Map<String, List<String>> kernels = kernels();
        List<Map.Entry<String, List<String>>> launches = launches();
        assertTrue(launches.size() >= 36, "launches found: " + launches.size());
        java.util.Set<String> launched = new java.util.HashSet<>();
        for (Map.Entry<String, List<String>> l : launches) {
            assertTrue(kernels.containsKey(l.getKey()), l.getKey() + " is launched but kernels.cu has no such kernel");
            assertEquals(kernels.get(l.getKey()), l.getValue(), "the arguments of a launch of " + l.getKey());
            launched.add(l.getKey());
        }
        java.util.Set<String> unused = new java.util.TreeSet<>(kernels.keySet());
        unused.removeAll(launched);
        assertEquals(java.util.Set.of(), unused, "kernels the backend never launches");
    }

    @Test
    void shouldLaunchEveryKernelAsTheJarsPtxDeclaresIt() throws IOException {
        Map<String, List<String>> entries = ptxEntries();
        for (Map.Entry<String, List<String>> l : launches()) {
            List<String> want = new ArrayList<>();
            for (String kind : l.getValue()) {
                want.add(
                        switch (kind) {
                            case "ptr", "long" -> ".u64";
                            case "int" -> ".u32";
                            case "float" -> ".f32";
                            case "double" -> ".f64";
                            case "struct" -> ".b8[" + STRUCT_BYTES.get(l.getKey()) + "]";
                            default -> kind;
                        });
            }
            assertTrue(entries.containsKey(l.getKey()), l.getKey() + " is launched but the PTX has no such entry");
            assertEquals(want, entries.get(l.getKey()), "the PTX parameters of " + l.getKey() + " as launched");
        }
    }
}
