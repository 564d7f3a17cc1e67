package dev.ringtape.bench;

import java.util.Arrays;

/**
 * Entry point of the benchmark programs: {@code deploy/bin/ringtape bench NAME [args]}. Each prints
 * its figures next to a reference measured in the same run.
 */
public final class Bench {
    private Bench() {}

    private static final String USAGE = "usage: ringtape bench sgemm [--size N] [--reps R]\n"
            + "       ringtape bench step [--threads T] [--steps S] [--part all|step|telemetry|recompute] [--json]\n"
            + "       ringtape bench allreduce --ranks N [--mb S] --transport ipc|udp [--window B] [--json] [--no-spark]\n"
            + "       ringtape bench cluster --hosts N --rate R [--slow-rate R] [--link-mtu B] [--mb 64] [--reps 3] [--no-gloo]"
            + " [--no-spark] [--ring k=v]\n"
            + "       ringtape bench diagnose sweep JOB [--factors F,...] [--set k=v] | false-alarms JOB...\n"
            + "       ringtape bench fmnist [--runs 3]\n"
            + "       ringtape bench scaling [--runs 2]\n"
            + "       ringtape bench controlplane [--connects 300]\n"
            + "       ringtape bench snapshot [--mb 100] [--reps 3] | --cost JOB [--every 50] [--reps 3]";

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println(USAGE);
            System.exit(2);
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        try {
            switch (args[0]) {
                case "sgemm" -> SgemmBench.main(rest);
                case "step" -> StepBench.main(rest);
                case "allreduce" -> AllReduceBench.main(rest);
                case "cluster" -> ClusterBench.main(rest);
                case "diagnose" -> DiagnoseBench.main(rest);
                case "snapshot" -> SnapshotBench.main(rest);
                case "fmnist" -> FmnistBench.main(rest);
                case "scaling" -> ScalingBench.main(rest);
                case "controlplane" -> ControlPlaneBench.main(rest);
                default -> throw new IllegalArgumentException("unknown benchmark '" + args[0] + "'");
            }
        } catch (NumberFormatException e) {
            usage(args[0] + ": not a number (" + e.getMessage() + ")");
        } catch (ArrayIndexOutOfBoundsException e) {
            usage(args[0] + ": " + args[args.length - 1] + " needs a value");
        } catch (IllegalArgumentException e) {
            usage(args[0] + ": " + e.getMessage());
        }
    }

    private static void usage(String problem) {
        System.err.println("ringtape bench " + problem + "\n" + USAGE);
        System.exit(2);
    }
}
