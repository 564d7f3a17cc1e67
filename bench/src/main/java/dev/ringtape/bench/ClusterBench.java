package dev.ringtape.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * {@code ringtape bench cluster --hosts N --rate R [--slow-rate R] [--link-mtu 1500] [--mb 64] [--reps 3] [--no-gloo]
 * [--no-spark] [--ring k=v]...}: the ring all-reduce across N emulated hosts (deploy/testbed: a network namespace each, links
 * shaped to R), next to PyTorch's gloo {@code all_reduce} (one process per host) and Spark's {@code treeAggregate}
 * (one executor per host) in the same run and the same namespaces. Each system sums MB MiB of float32 once to warm
 * up, then REPS times; the figure is the median of the slowest rank's times, and busbw is algbw x 2(N-1)/N as
 * nccl-tests define it, against the slowest link's rate. treeAggregate leaves the sum at the driver only (it is
 * half of an all-reduce), so it has seconds and no busbw. {@code --ring window=262144} passes
 * {@code -Dringtape.window=262144} to the ranks (see {@link ClusterRank}) for tuning runs.
 */
final class ClusterBench {
    private ClusterBench() {}

    private static final long RANK_TIMEOUT_S = 900;

    public static void main(String[] args) throws Exception {
        int hosts = 2;
        String rate = "1gbit";
        String slow = null;
        String linkMtu = "1500";
        double mb = 64;
        int reps = 3;
        boolean gloo = true;
        boolean spark = true;
        boolean inner = false;
        List<String> ringProps = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--hosts" -> hosts = Integer.parseInt(args[++i]);
                case "--rate" -> rate = args[++i];
                case "--slow-rate" -> slow = args[++i];
                case "--link-mtu" -> linkMtu = args[++i];
                case "--mb" -> mb = Double.parseDouble(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--no-gloo" -> gloo = false;
                case "--no-spark" -> spark = false;
                case "--ring" -> ringProps.add("-Dringtape." + args[++i]);
                case "--inner" -> inner = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        bitsPerSecond(rate);
        if (slow != null) {
            bitsPerSecond(slow);
        }
        if (hosts < 2 || reps < 1 || mb <= 0) {
            throw new IllegalArgumentException("--hosts must be at least 2, --reps at least 1, --mb positive");
        }
        if (!inner) {
            System.exit(outer(args, hosts, rate, slow, linkMtu));
        }
        double link = bitsPerSecond(slow != null ? slow : rate) / 8 / 1e9;
        long bytes = (long) (mb * (1 << 20));
        System.out.printf(
                "bench cluster: %d hosts at %s%s, link MTU %s, %s of float32, %d cores; median of %d after one to warm"
                        + " up%n",
                hosts,
                rate,
                slow == null ? "" : " (the last at " + slow + ")",
                linkMtu,
                AllReduceBench.human(bytes),
                Runtime.getRuntime().availableProcessors(),
                reps);
        System.out.printf("%-22s %10s %12s %12s %10s%n", "system", "seconds", "algbw GB/s", "busbw GB/s", "of link");
        List<String> addresses =
                Arrays.asList(System.getenv("TESTBED_HOSTS").trim().split("\\s+"));
        Path dir = Files.createTempDirectory("ringtape-cluster");
        try {
            row("ringtape ring (aeron)", ringtape(addresses, dir, mb, reps, ringProps), bytes, hosts, link);
            if (gloo) {
                row("gloo all_reduce", gloo(addresses, dir, mb, reps), bytes, hosts, link);
            }
            if (spark) {
                double t = treeAggregate(hosts, (int) (bytes / 4), reps);
                System.out.printf(
                        "%-22s %10.3f %12.3f %12s %10s   (the sum at the driver only)%n",
                        "spark treeAggregate", t, bytes / t / 1e9, "-", "-");
            }
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder())
                        .forEach(f -> f.toFile().delete());
            }
        }
        System.out.printf("link: %.4f GB/s (%s)%n", link, slow != null ? slow : rate);
    }

    /** Runs this benchmark again inside the testbed; returns its exit status (77: the machine refuses it). */
    private static int outer(String[] args, int hosts, String rate, String slow, String linkMtu) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                "deploy/testbed/testbed.sh",
                "--hosts",
                "" + hosts,
                "--rate",
                rate,
                "--memory",
                "1g",
                "--mtu",
                linkMtu));
        if (slow != null) {
            cmd.addAll(List.of("--slow-rate", slow));
        }
        cmd.add("--");
        cmd.add(javaCommand());
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Bench.class.getName(), "cluster"));
        cmd.addAll(Arrays.asList(args));
        cmd.add("--inner");
        int status = new ProcessBuilder(cmd).inheritIO().start().waitFor();
        if (status == 77) {
            System.err.println("bench cluster: skipped, this machine cannot build the testbed (above)");
        }
        return status;
    }

    private static String javaCommand() {
        return ProcessHandle.current().info().command().orElse("java");
    }

    /** The rank JVMs, one per host, through {@link ClusterRank}. */
    private static double ringtape(List<String> addresses, Path dir, double mb, int reps, List<String> props)
            throws Exception {
        Path meet = Files.createDirectories(dir.resolve("ring"));
        List<List<String>> cmds = new ArrayList<>();
        for (int r = 0; r < addresses.size(); r++) {
            List<String> cmd = new ArrayList<>(List.of(
                    javaCommand(),
                    "@deploy/conf/jvm.options",
                    "-Xmx1g",
                    "-XX:MaxDirectMemorySize=1g",
                    "-XX:+UseSerialGC"));
            cmd.addAll(props);
            cmd.addAll(List.of(
                    "-cp",
                    System.getProperty("java.class.path"),
                    ClusterRank.class.getName(),
                    "" + r,
                    "" + addresses.size(),
                    addresses.get(r),
                    meet.toString(),
                    "" + mb,
                    "" + reps));
            cmds.add(cmd);
        }
        return median(run("ringtape", cmds, dir, reps));
    }

    /** One bench/scripts/gloo_allreduce.py per host; rank 0's address holds the TCP store. */
    private static double gloo(List<String> addresses, Path dir, double mb, int reps) throws Exception {
        List<List<String>> cmds = new ArrayList<>();
        for (int r = 0; r < addresses.size(); r++) {
            cmds.add(List.of(
                    "env",
                    "GLOO_SOCKET_IFNAME=eth0",
                    "OMP_NUM_THREADS=1",
                    "/usr/bin/python3",
                    "bench/scripts/gloo_allreduce.py",
                    "" + r,
                    "" + addresses.size(),
                    addresses.get(0),
                    "29500",
                    "" + mb,
                    "" + reps));
        }
        return median(run("gloo", cmds, dir, reps));
    }

    /**
     * Starts one command per host ({@code ip netns exec hR ...}), waits for all, and returns for each timed round
     * the slowest rank's seconds. A rank that fails or times out fails the benchmark with the tail of its output.
     */
    private static double[] run(String what, List<List<String>> cmds, Path dir, int reps) throws Exception {
        List<Process> procs = new ArrayList<>();
        List<Path> outs = new ArrayList<>();
        for (int r = 0; r < cmds.size(); r++) {
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", "h" + (r + 1)));
            cmd.addAll(cmds.get(r));
            Path out = dir.resolve(what + "-" + r + ".out");
            outs.add(out);
            procs.add(new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(out.toFile())
                    .start());
        }
        double[] slowest = new double[reps];
        try {
            for (int r = 0; r < procs.size(); r++) {
                Process p = procs.get(r);
                if (!p.waitFor(RANK_TIMEOUT_S, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    throw new IllegalStateException(what + " rank " + r + " "
                            + (p.isAlive() ? "ran past " + RANK_TIMEOUT_S + " s" : "exited " + p.exitValue())
                            + "; its output ends:\n" + tail(outs.get(r)));
                }
                List<String> output = Files.readAllLines(outs.get(r));
                List<String> lines =
                        output.stream().filter(l -> l.startsWith("seconds ")).toList();
                if (lines.size() != reps) {
                    throw new IllegalStateException(what + " rank " + r + " timed " + lines.size() + " rounds, not "
                            + reps + ":\n" + tail(outs.get(r)));
                }
                for (int i = 0; i < reps; i++) {
                    slowest[i] =
                            Math.max(slowest[i], Double.parseDouble(lines.get(i).substring(8)));
                }
                String counters = output.stream()
                        .filter(l -> l.startsWith("counters ") && l.length() > 9)
                        .findFirst()
                        .orElse(null);
                if (counters != null) {
                    System.out.println("  " + what + " rank " + r + " " + counters);
                }
            }
        } finally {
            procs.forEach(Process::destroyForcibly);
        }
        return slowest;
    }

    private static String tail(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
    }

    /** Median seconds of treeAggregate over one executor per host (one core each), the arrays cached first. */
    private static double treeAggregate(int hosts, int floats, int reps) throws Exception {
        SparkConf conf = new SparkConf()
                .setMaster(System.getenv("TESTBED_MASTER"))
                .setAppName("ringtape-bench-cluster")
                .set("spark.ui.enabled", "false")
                .set("spark.executor.cores", "1")
                .set("spark.cores.max", "" + hosts)
                .set("spark.executor.memory", "768m")
                .set("spark.driver.maxResultSize", "0")
                // the emulated hosts share this file system: the executors load the benchmark's classes from it
                .set(
                        "spark.executor.extraClassPath",
                        Path.of("bench/target/classes").toAbsolutePath().toString());
        JavaSparkContext sc = new JavaSparkContext(conf);
        try {
            sc.setLogLevel("WARN");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (sc.sc().statusTracker().getExecutorInfos().length < hosts + 1) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("fewer than " + hosts + " executors within 120 s");
                }
                Thread.sleep(100);
            }
            double[] times = SparkSum.treeAggregateTimes(sc, hosts, floats, reps + 1);
            return median(Arrays.copyOfRange(times, 1, times.length)); // the first warms up
        } finally {
            sc.stop();
        }
    }

    private static void row(String name, double seconds, long bytes, int n, double link) {
        double alg = bytes / seconds / 1e9;
        double bus = alg * 2 * (n - 1) / n;
        System.out.printf("%-22s %10.3f %12.3f %12.3f %9.1f %%%n", name, seconds, alg, bus, 100 * bus / link);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** A tc rate (kbit, mbit or gbit; decimals allowed) in bits per second. */
    static double bitsPerSecond(String rate) {
        String r = rate.toLowerCase(Locale.ROOT);
        for (String[] unit : new String[][] {{"gbit", "1e9"}, {"mbit", "1e6"}, {"kbit", "1e3"}}) {
            if (r.endsWith(unit[0])) {
                try {
                    return Double.parseDouble(r.substring(0, r.length() - unit[0].length()))
                            * Double.parseDouble(unit[1]);
                } catch (NumberFormatException e) {
                    break;
                }
            }
        }
        throw new IllegalArgumentException("rate '" + rate + "': expected a number with kbit, mbit or gbit");
    }
}
