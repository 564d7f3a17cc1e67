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
    /** Each command's usage line and what it does; {@code ringtape COMMAND --help} prints its entry. */
    private static final java.util.Map<String, String[]> COMMANDS = new java.util.LinkedHashMap<>();

    static {
        COMMANDS.put("train", new String[] {
            "train JOB.yaml [--set key=value ...] [--quiet] [--fresh]",
            "train the job through Spark (embedded local Spark, or spark-submit's cluster); prints progress and each"
                    + " diagnosis as it opens and clears; --quiet keeps errors only; resumes from the newest good"
                    + " snapshot in checkpoint.dir unless --fresh"
        });
        COMMANDS.put("gradcheck", new String[] {
            "gradcheck JOB.yaml [--set key=value ...]", "check the job model's gradients by finite differences"
        });
        COMMANDS.put(
                "gradients", new String[] {"gradients CASE.json ...", "run golden-gradient cases, one JSON line each"});
        COMMANDS.put("watch", new String[] {
            "watch LOG [--fail-on warn|error] [--timeout S]",
            "follow a telemetry log; exit 1 as soon as a diagnosis of that severity opens"
        });
        COMMANDS.put("report", new String[] {"report LOG -o report.html", "one self-contained HTML report of a log"});
        COMMANDS.put("tensorboard", new String[] {
            "tensorboard LOG -o DIR",
            "a finished log as a TensorBoard event file in DIR (a run writes one as it goes with"
                    + " telemetry.tensorboard: DIR); then: tensorboard --logdir DIR"
        });
        COMMANDS.put("explain", new String[] {
            "explain CODE", "what a diagnosis means, how it shows in the numbers, its thresholds, causes and fixes"
        });
        COMMANDS.put("replay", new String[] {
            "replay JOB.yaml --step N [--set key=value ...]",
            "re-run the steps up to N from the newest snapshot before it, in one process, and say what happened at"
                    + " step N (loss, loss scale, largest gradients, the first non-finite value, diagnoses)"
        });
        COMMANDS.put("doctor", new String[] {
            "doctor [JOB.yaml]", "preflight: Java and its flags, /dev/shm, UDP loopback, CUDA, BLAS, Spark"
        });
        COMMANDS.put(
                "bench",
                new String[] {"bench sgemm|step|allreduce|diagnose ...", "benchmark programs (see bench/RESULTS.md)"});
    }

    private static final String USAGE = usage();

    private static String usage() {
        StringBuilder b =
                new StringBuilder("usage: ringtape <command> [args]   (ringtape <command> --help; --version)");
        COMMANDS.values().forEach(c -> b.append(String.format("%n  %-46s %s", c[0], c[1].replaceAll(";.*", ""))));
        return b.toString();
    }

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
        if (args[0].equals("--version")) {
            out.println(
                    "ringtape " + dev.ringtape.scheduler.driver.Version.get() + " (Java " + Runtime.version() + ")");
            return 0;
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        if (COMMANDS.containsKey(args[0]) && Arrays.asList(rest).contains("--help")
                || COMMANDS.containsKey(args[0]) && Arrays.asList(rest).contains("-h")) {
            String[] c = COMMANDS.get(args[0]);
            out.println("usage: ringtape " + c[0] + "\n" + c[1]);
            return 0;
        }
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
            case "tensorboard" -> tensorboard(rest, out, err);
            case "doctor" -> Doctor.run(rest, out, err);
            case "replay" -> Replay.run(rest, out, err);
            case "explain" -> explain(rest, out, err);
            default -> {
                String near = dev.ringtape.runtime.nn.SpecException.closest(name, COMMANDS.keySet());
                err.println("ringtape: unknown command '" + name + "'"
                        + (near == null ? "" : " (did you mean '" + near + "'?)"));
                err.println(USAGE);
                yield 2;
            }
        };
    }

    private static int explain(String[] args, PrintStream out, PrintStream err) {
        java.util.List<String> codes = dev.ringtape.telemetry.Rules.all().stream()
                .map(dev.ringtape.telemetry.Rule::code)
                .toList();
        if (args.length != 1) {
            err.println("usage: ringtape explain CODE   (one of " + String.join(", ", codes) + ")");
            return 2;
        }
        dev.ringtape.telemetry.Rule rule = dev.ringtape.telemetry.Rules.of(args[0].toUpperCase(java.util.Locale.ROOT));
        if (rule == null) {
            err.println("ringtape explain: unknown code '" + args[0] + "'; the codes are " + String.join(", ", codes));
            return 2;
        }
        out.println(rule.code() + " (" + rule.severity() + ")");
        out.println();
        out.println(rule.explanation());
        out.println();
        out.println("Hint printed with it: " + rule.hint());
        if (!rule.thresholds().isEmpty()) {
            out.println();
            out.println("Thresholds (override under telemetry.thresholds):");
            for (String name : rule.thresholds()) {
                var th = dev.ringtape.telemetry.Thresholds.DEFAULTS.get(name);
                out.printf("  %s = %s: %s%n", name, th.value(), th.meaning());
            }
        }
        if (rule.persist() > 1) {
            out.println();
            out.println("Opens after " + rule.persist() + " tripping samples in a row; clears after clear_after ("
                    + dev.ringtape.telemetry.Thresholds.DEFAULTS
                            .get("clear_after")
                            .value() + ") healthy ones.");
        }
        return 0;
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

    private static int tensorboard(String[] args, PrintStream out, PrintStream err) {
        if (args.length != 3 || !args[1].equals("-o")) {
            err.println("usage: ringtape tensorboard LOG -o DIR");
            return 2;
        }
        try {
            Path file = dev.ringtape.telemetry.TensorBoard.convert(Path.of(args[0]), Path.of(args[2]));
            out.println("wrote " + file + "; view it with: tensorboard --logdir " + args[2]);
            return 0;
        } catch (java.nio.file.NoSuchFileException e) {
            err.println("ringtape tensorboard: " + e.getFile() + ": no such file");
            return 1;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            err.println("ringtape tensorboard: " + args[0] + ": a line is not JSON: " + e.getOriginalMessage());
            return 1;
        } catch (java.io.IOException | java.io.UncheckedIOException e) {
            err.println("ringtape tensorboard: " + e.getMessage());
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
