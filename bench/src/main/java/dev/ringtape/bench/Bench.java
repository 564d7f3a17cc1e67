package dev.ringtape.bench;

import java.util.Arrays;

/**
 * Entry point of the benchmark programs: {@code deploy/bin/ringtape bench NAME [args]}. Each prints
 * its figures next to a reference measured in the same run.
 */
public final class Bench {
    private Bench() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: ringtape bench sgemm [--size N] [--reps R]\n"
                    + "       ringtape bench step [--threads T] [--steps S]\n"
                    + "       ringtape bench allreduce --ranks N [--mb S] --transport ipc|udp [--json] [--no-spark]");
            System.exit(2);
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        switch (args[0]) {
            case "sgemm" -> SgemmBench.main(rest);
            case "step" -> StepBench.main(rest);
            case "allreduce" -> AllReduceBench.main(rest);
            default -> {
                System.err.println("unknown benchmark '" + args[0] + "'");
                System.exit(2);
            }
        }
    }
}
