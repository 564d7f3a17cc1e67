package dev.ringtape.scheduler.cli;

import dev.ringtape.runtime.backend.cpu.CpuBackend;
import dev.ringtape.scheduler.job.JobException;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import java.io.File;
import java.io.PrintStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code ringtape doctor [JOB.yaml]}: a preflight of what a job needs, one verdict line each ({@code ok},
 * {@code warn}, {@code FAIL}); exit 1 if something would stop a job.
 */
final class Doctor {
    private Doctor() {}

    private enum Verdict {
        ok,
        warn,
        FAIL
    }

    private record Check(Verdict verdict, String what, String detail) {}

    static int run(String[] args, PrintStream out, PrintStream err) {
        JobSpec job = null;
        if (args.length > 1 || (args.length == 1 && args[0].startsWith("-"))) {
            err.println("usage: ringtape doctor [JOB.yaml]");
            return 2;
        }
        if (args.length == 1) {
            try {
                job = JobSpec.from(JobFile.load(Path.of(args[0]), List.of()));
            } catch (JobException e) {
                err.println("ringtape doctor: " + e.getMessage());
                return 1;
            }
        }
        List<Check> checks = new ArrayList<>();
        checks.add(java());
        checks.add(shm(job));
        checks.add(udp());
        checks.add(cuda());
        checks.add(blas());
        checks.add(threads(job));
        checks.add(spark(job));
        boolean failed = false;
        for (Check c : checks) {
            out.printf("%-4s %-8s %s%n", c.verdict(), c.what(), c.detail());
            failed |= c.verdict() == Verdict.FAIL;
        }
        return failed ? 1 : 0;
    }

    private static Check java() {
        int feature = Runtime.version().feature();
        boolean exported = Object.class.getModule().isExported("jdk.internal.misc", Doctor.class.getModule());
        boolean vector = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        String detail = "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + "); jdk.internal.misc "
                + (exported ? "exported" : "NOT exported") + "; Vector API " + (vector ? "on" : "off");
        if (feature < 17 || !exported) {
            return new Check(
                    Verdict.FAIL,
                    "java",
                    detail
                            + (feature < 17 ? "; Ringtape needs Java 17 or newer" : "")
                            + (exported ? "" : "; Aeron needs --add-exports java.base/jdk.internal.misc=ALL-UNNAMED"));
        }
        return new Check(
                vector ? Verdict.ok : Verdict.warn,
                "java",
                detail + (vector ? "" : " (add --add-modules jdk.incubator.vector for the fast loops)"));
    }

    /** Aeron IPC keeps each rank's publication log (3 terms) under /dev/shm. */
    private static Check shm(JobSpec job) {
        File shm = new File("/dev/shm");
        if (!shm.isDirectory()) {
            return new Check(
                    Verdict.warn, "shm", "no /dev/shm; Aeron's files go to " + System.getProperty("java.io.tmpdir"));
        }
        int workers = job == null ? 2 : job.workers();
        long termBytes = 4L << 20; // the ring's IPC term length
        long need = workers * 3 * termBytes + (16L << 20);
        long free = shm.getUsableSpace();
        String detail = String.format(
                "/dev/shm has %d MiB free; %d rank(s) over IPC need about %d MiB", free >> 20, workers, need >> 20);
        return new Check(free >= need ? Verdict.ok : Verdict.FAIL, "shm", detail);
    }

    private static Check udp() {
        try (DatagramSocket rx = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
                DatagramSocket tx = new DatagramSocket()) {
            rx.setSoTimeout(2000);
            byte[] ping = "ringtape".getBytes(StandardCharsets.UTF_8);
            tx.send(new DatagramPacket(ping, ping.length, rx.getLocalSocketAddress()));
            DatagramPacket got = new DatagramPacket(new byte[64], 64);
            rx.receive(got);
            return new Check(Verdict.ok, "udp", "loopback datagrams arrive (port " + rx.getLocalPort() + ")");
        } catch (java.io.IOException e) {
            return new Check(
                    Verdict.FAIL,
                    "udp",
                    "a datagram to 127.0.0.1 did not arrive: " + e.getMessage() + "; aeron-udp cannot work here");
        }
    }

    /** The CUDA driver and its devices as the cuda backend's probe sees them, and what backend auto does. */
    private static Check cuda() {
        dev.ringtape.runtime.backend.BackendProvider cuda = dev.ringtape.runtime.backend.Backends.all().stream()
                .filter(b -> b.name().equals("cuda"))
                .findFirst()
                .orElse(null);
        if (cuda == null) {
            return new Check(Verdict.ok, "cuda", "no cuda backend on the class path: backend auto trains on the CPU");
        }
        String problem = cuda.unavailableReason();
        return new Check(
                Verdict.ok,
                "cuda",
                problem == null
                        ? dev.ringtape.gpukernels.CudaProbe.state().describe() + "; backend auto trains on the GPU"
                        : problem + "; backend auto trains on the CPU");
    }

    private static Check blas() {
        try {
            return new Check(Verdict.ok, "blas", CpuBackend.describe());
        } catch (RuntimeException | LinkageError e) {
            return new Check(Verdict.FAIL, "blas", "OpenBLAS did not load: " + e);
        }
    }

    /**
     * The compute threads each worker of the job would run in local mode on this machine (on a cluster: {@code
     * spark.task.cpus}), and whether that oversubscribes the cores.
     */
    private static Check threads(JobSpec job) {
        int workers = job == null ? 1 : job.workers();
        int cores = Runtime.getRuntime().availableProcessors();
        dev.ringtape.scheduler.worker.Threads t =
                dev.ringtape.scheduler.worker.Threads.choose(job == null ? 0 : job.threads(), 1, workers, cores, true);
        String detail = t.count() + " compute thread(s) per worker in local mode (" + t.why() + ")";
        return t.oversubscribed()
                ? new Check(Verdict.warn, "threads", detail + ": more threads than cores")
                : new Check(Verdict.ok, "threads", detail);
    }

    private static Check spark(JobSpec job) {
        try {
            String version = org.apache.spark.package$.MODULE$.SPARK_VERSION();
            String submitted = System.getProperty("spark.master");
            String master = submitted != null
                    ? submitted + " (spark-submit)"
                    : (job == null ? "local[workers]" : job.spark().master()) + " (embedded)";
            return new Check(Verdict.ok, "spark", "Spark " + version + ", master " + master);
        } catch (LinkageError e) {
            return new Check(
                    Verdict.FAIL,
                    "spark",
                    "Spark is not on the classpath (run through deploy/bin/ringtape or spark-submit)");
        }
    }
}
