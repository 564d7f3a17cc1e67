package dev.ringtape.scheduler.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ringtape.runtime.conformance.GradientCase;
import dev.ringtape.scheduler.driver.Failures;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;

/** The {@code ringtape} command line (DESIGN.md, "Command line"). */
public final class Ringtape {
    private static final String USAGE = String.join(
            "\n",
            "usage: ringtape <command> [args]",
            "  train JOB.yaml [--set key=value ...]      train the job",
            "  gradcheck JOB.yaml [--set key=value ...]  check the job model's gradients by finite differences",
            "  gradients CASE.json ...                   run golden-gradient cases, one JSON line each",
            "  watch LOG [--fail-on warn|error] [--timeout S]  follow a telemetry log, exit 1 on a failing diagnosis",
            "  report LOG -o report.html                 one self-contained HTML report of a telemetry log",
            "  doctor [JOB.yaml]                         preflight: Java, /dev/shm, UDP, CUDA, BLAS, Spark",
            "  bench sgemm|step|allreduce ...            benchmark programs (see bench/RESULTS.md)");

    private Ringtape() {}

    public static void main(String[] args) {
        exportInternalMisc();
        System.exit(run(args, System.out, System.err));
    }

    /**
     * Agrona (under Aeron) needs {@code jdk.internal.misc}. The launcher passes {@code --add-exports}; a JVM that
     * spark-submit started has only Spark's {@code --add-opens} of {@code java.lang}, which is enough to export the
     * package from here, so a plain {@code spark-submit} needs no extra option. Executors get the flag through
     * {@code spark.executor.extraJavaOptions}.
     */
    private static void exportInternalMisc() {
        Module base = Object.class.getModule();
        if (base.isExported("jdk.internal.misc", Ringtape.class.getModule())) {
            return;
        }
        try {
            java.lang.reflect.Method add = Module.class.getDeclaredMethod("implAddExportsToAllUnnamed", String.class);
            add.setAccessible(true);
            add.invoke(base, "jdk.internal.misc");
        } catch (ReflectiveOperationException | RuntimeException e) {
            // java.lang is not open to us either: Aeron will say what it misses when it starts
        }
    }

    /** Runs a command, returning its exit status. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help")) {
            err.println(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        try {
            return command(args[0], rest, out, err);
        } catch (RuntimeException | LinkageError e) {
            err.println("ringtape " + args[0] + ": " + Failures.describe(null, e));
            return 1;
        }
    }

    private static int command(String name, String[] rest, PrintStream out, PrintStream err) {
        return switch (name) {
            case "gradients" -> gradients(rest, out, err);
            case "train" -> Train.run(rest, out, err);
            case "gradcheck" -> Gradcheck.run(rest, out, err);
            case "watch" -> watch(rest, out, err);
            case "report" -> report(rest, out, err);
            case "doctor" -> Doctor.run(rest, out, err);
            default -> {
                err.println("ringtape: unknown command '" + name + "'");
                err.println(USAGE);
                yield 2;
            }
        };
    }

    private static int watch(String[] args, PrintStream out, PrintStream err) {
        String log = null;
        String failOn = null;
        long timeoutS = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--fail-on" -> failOn = i + 1 < args.length ? args[++i] : "";
                case "--timeout" -> timeoutS = i + 1 < args.length ? Long.parseLong(args[++i]) : 0;
                default -> {
                    if (log != null || args[i].startsWith("-")) {
                        err.println("usage: ringtape watch LOG [--fail-on warn|error] [--timeout SECONDS]");
                        return 2;
                    }
                    log = args[i];
                }
            }
        }
        if (log == null) {
            err.println("usage: ringtape watch LOG [--fail-on warn|error] [--timeout SECONDS]");
            return 2;
        }
        try {
            return new dev.ringtape.telemetry.Watch(Path.of(log), out, failOn, 200).run(timeoutS * 1000);
        } catch (IllegalArgumentException e) {
            err.println("ringtape watch: " + e.getMessage());
            return 2;
        } catch (java.io.IOException e) {
            err.println("ringtape watch: cannot read " + log + ": " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
    }

    private static int report(String[] args, PrintStream out, PrintStream err) {
        if (args.length != 3 || !args[1].equals("-o")) {
            err.println("usage: ringtape report LOG -o report.html");
            return 2;
        }
        try {
            int n = dev.ringtape.telemetry.Report.write(Path.of(args[0]), Path.of(args[2]));
            out.println("wrote " + args[2] + " from " + n + " records");
            return 0;
        } catch (java.nio.file.NoSuchFileException e) {
            err.println("ringtape report: " + args[0] + ": no such file");
            return 1;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            err.println("ringtape report: " + args[0] + ": a line is not JSON: " + e.getOriginalMessage());
            return 1;
        } catch (java.io.IOException e) {
            err.println("ringtape report: " + e.getMessage());
            return 1;
        }
    }

    private static int gradients(String[] files, PrintStream out, PrintStream err) {
        if (files.length == 0) {
            err.println("ringtape gradients: name one or more CASE.json files");
            return 2;
        }
        ObjectMapper json = new ObjectMapper();
        int failed = 0;
        for (String f : files) {
            ObjectNode result = GradientCase.run(Path.of(f));
            if (result.has("error")) {
                failed++;
            }
            try {
                out.println(json.writeValueAsString(result));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
        if (failed > 0) {
            err.println("ringtape gradients: " + failed + " of " + files.length + " cases could not run");
            return 1;
        }
        return 0;
    }
}
