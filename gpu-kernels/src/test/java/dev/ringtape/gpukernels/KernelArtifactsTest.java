package dev.ringtape.gpukernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The kernels the jar carries are what the loading strategy needs (build-kernels.sh): a cubin per architecture,
 * each an ELF for the CUDA machine built for that SM, and PTX a CUDA 12.0 driver's JIT accepts (ISA 8.0), each with
 * every kernel {@code kernels.cu} defines; and the copies checked in for builds without nvcc are the ones these
 * sources give.
 */
class KernelArtifactsTest {
    private static final int EM_CUDA = 190;

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = KernelArtifactsTest.class.getResourceAsStream("/kernels/" + name)) {
            assertNotNull(in, "kernels/" + name + " is not in the jar's resources");
            return in.readAllBytes();
        }
    }

    /** The kernels {@code kernels.cu} defines. */
    private static List<String> kernelNames() throws IOException {
        String src = Files.readString(Path.of("src/main/cuda/kernels.cu"));
        Matcher m = Pattern.compile("__global__ void (rt_\\w+)\\(").matcher(src);
        List<String> names = new ArrayList<>();
        while (m.find()) {
            names.add(m.group(1));
        }
        assertTrue(names.size() >= 15, "kernels.cu defines " + names);
        return names;
    }

    @Test
    void shouldCarryACubinForEachArchitecture() throws IOException {
        for (int sm : new int[] {80, 90}) {
            byte[] elf = resource("sm_" + sm + ".cubin");
            ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(0x464c457f, b.getInt(0), "sm_" + sm + ".cubin is not an ELF file");
            assertEquals(2, elf[4], "a 64-bit ELF");
            assertEquals(EM_CUDA, b.getShort(18), "an ELF for the CUDA machine");
            int flags = b.getInt(48);
            assertEquals(sm, (flags >> 8) & 0xff, "sm_" + sm + ".cubin is built for sm_" + ((flags >> 8) & 0xff));
            String symbols = new String(elf, StandardCharsets.ISO_8859_1);
            for (String k : kernelNames()) {
                assertTrue(symbols.contains(k + "\0"), "sm_" + sm + ".cubin lacks " + k);
            }
        }
    }

    @Test
    void shouldCarryPtxACuda12DriverAccepts() throws IOException {
        String ptx = new String(resource("compute_80.ptx"), StandardCharsets.US_ASCII);
        Matcher version = Pattern.compile("(?m)^\\.version (\\d+)\\.(\\d+)$").matcher(ptx);
        assertTrue(version.find(), "no .version line");
        int isa = Integer.parseInt(version.group(1)) * 10 + Integer.parseInt(version.group(2));
        assertTrue(
                isa <= 80, "PTX ISA " + version.group(1) + "." + version.group(2) + " is newer than CUDA 12.0's 8.0");
        assertTrue(Pattern.compile("(?m)^\\.target sm_80$").matcher(ptx).find(), "PTX for sm_80 and up");
        assertTrue(ptx.contains(".address_size 64"));
        for (String k : kernelNames()) {
            assertTrue(ptx.contains(".entry " + k + "("), "the PTX lacks " + k);
        }
    }

    @Test
    void shouldCheckInTheKernelsTheseSourcesGive() throws IOException {
        Path built = Path.of("target/classes/kernels");
        Path checkedIn = Path.of("src/main/kernels");
        String builtBy = Files.readString(built.resolve("BUILD-INFO")).trim();
        String checkedInBy = Files.readString(checkedIn.resolve("BUILD-INFO")).trim();
        assumeTrue(
                builtBy.equals(checkedInBy),
                "this build's kernels came from '" + builtBy + "', the checked-in ones from '" + checkedInBy
                        + "': byte comparison needs the same nvcc");
        for (String f : List.of("sm_80.cubin", "sm_90.cubin", "compute_80.ptx")) {
            assertArrayEquals(
                    Files.readAllBytes(checkedIn.resolve(f)),
                    Files.readAllBytes(built.resolve(f)),
                    "src/main/kernels/" + f + " is stale: copy target/classes/kernels/" + f + " over it");
        }
    }

    @Test
    void shouldLoadTheCubinOfTheDevicesArchitectureAndElseThePtx() throws IOException {
        assertEquals(List.of("sm_80.cubin", "compute_80.ptx"), KernelImage.candidates(8, 0));
        assertEquals(List.of("sm_80.cubin", "compute_80.ptx"), KernelImage.candidates(8, 9)); // L4, RTX 4090
        assertEquals(List.of("sm_90.cubin", "compute_80.ptx"), KernelImage.candidates(9, 0));
        assertEquals(List.of("compute_80.ptx"), KernelImage.candidates(10, 0)); // Blackwell: the JIT
        assertEquals(List.of(), KernelImage.candidates(7, 5)); // Turing: below what the kernels are built for
        for (String name : List.of("sm_80.cubin", "sm_90.cubin", "compute_80.ptx")) {
            byte[] image = KernelImage.load(name);
            assertTrue(image.length > 1000, name);
            if (name.endsWith(".ptx")) {
                assertEquals(0, image[image.length - 1], "PTX handed to the driver ends with NUL");
            }
        }
    }
}
