package dev.ringtape.gpukernels;

import java.util.ArrayList;
import java.util.List;
import jcuda.CudaException;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

/**
 * What this machine's CUDA can do, probed once per JVM and kept: JCuda's driver class fails to load once (a catchable
 * {@link UnsatisfiedLinkError} where {@code libcuda.so.1} is missing) and every later touch of it throws {@link
 * NoClassDefFoundError}, so nothing may touch it twice.
 */
public final class CudaProbe {
    private CudaProbe() {}

    /** A device: its ordinal, name, memory and compute capability. */
    public record Device(int ordinal, String name, long memoryBytes, int major, int minor) {
        /** {@code NVIDIA A100 80GB (sm_80, 79.2 GiB)}. */
        public String describe() {
            return name + " (sm_" + major + minor + ", " + String.format("%.1f GiB", memoryBytes / (double) (1L << 30))
                    + ")";
        }
    }

    /**
     * @param driverVersion the driver's CUDA version as {@code cuDriverGetVersion} gives it (12040 for 12.4; 0: no
     *     driver)
     * @param devices the devices the driver sees (empty without a driver)
     * @param problem why CUDA cannot run here, in one line (null when it can)
     */
    public record State(int driverVersion, List<Device> devices, String problem) {
        public boolean usable() {
            return problem == null;
        }

        /** One line for {@code doctor}: the driver and its devices, or what is missing. */
        public String describe() {
            if (driverVersion == 0) {
                return problem;
            }
            String driver = "CUDA driver " + version(driverVersion);
            if (devices.isEmpty()) {
                return driver + ", no device" + (problem == null ? "" : ": " + problem);
            }
            List<String> names = new ArrayList<>();
            for (Device d : devices) {
                names.add(d.ordinal() + ": " + d.describe());
            }
            return driver + ", " + devices.size() + " device(s): " + String.join(", ", names)
                    + (problem == null ? "" : "; " + problem);
        }
    }

    private static final class Holder {
        static final State STATE = probe();
    }

    /** The probe's answer, computed on first call. */
    public static State state() {
        return Holder.STATE;
    }

    static String version(int v) {
        return v / 1000 + "." + (v % 1000) / 10;
    }

    private static State probe() {
        try {
            JCudaDriver.setExceptionsEnabled(true);
            JCudaDriver.cuInit(0);
            int[] version = new int[1];
            JCudaDriver.cuDriverGetVersion(version);
            int[] count = new int[1];
            JCudaDriver.cuDeviceGetCount(count);
            List<Device> devices = new ArrayList<>();
            for (int i = 0; i < count[0]; i++) {
                CUdevice dev = new CUdevice();
                JCudaDriver.cuDeviceGet(dev, i);
                byte[] name = new byte[256];
                JCudaDriver.cuDeviceGetName(name, name.length, dev);
                long[] memory = new long[1];
                JCudaDriver.cuDeviceTotalMem(memory, dev);
                int[] major = new int[1];
                int[] minor = new int[1];
                JCudaDriver.cuDeviceGetAttribute(
                        major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
                JCudaDriver.cuDeviceGetAttribute(
                        minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
                devices.add(new Device(i, cString(name), memory[0], major[0], minor[0]));
            }
            return new State(version[0], List.copyOf(devices), devices.isEmpty() ? "no CUDA device" : null);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            return new State(0, List.of(), "no CUDA driver: " + missingLibrary(e));
        } catch (CudaException e) {
            return new State(0, List.of(), "the CUDA driver did not start: " + e.getMessage());
        }
    }

    /**
     * The one line that matters in JCuda's report of a failed load (which lists every attempt with its stack trace):
     * the shared object the dynamic linker did not find, e.g. {@code libcuda.so.1: cannot open shared object file}.
     */
    static String missingLibrary(Throwable e) {
        String m = String.valueOf(e.getMessage());
        for (String line : m.split("\n")) {
            int at = line.indexOf(": cannot open shared object file");
            if (at >= 0) {
                int start = line.lastIndexOf(": ", at - 1);
                return line.substring(start < 0 ? 0 : start + 2, at + ": cannot open shared object file".length());
            }
        }
        String first = m.split("\n", 2)[0];
        return first.length() > 200 ? first.substring(0, 200) + "..." : first;
    }

    private static String cString(byte[] b) {
        int n = 0;
        while (n < b.length && b[n] != 0) {
            n++;
        }
        return new String(b, 0, n, java.nio.charset.StandardCharsets.UTF_8);
    }
}
