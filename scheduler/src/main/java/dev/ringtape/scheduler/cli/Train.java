package dev.ringtape.scheduler.cli;

import dev.ringtape.runtime.data.CsvReader;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.data.Normalizer;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.nn.SpecNode;
import dev.ringtape.runtime.optim.LrSchedule;
import dev.ringtape.runtime.optim.Optimizers;
import dev.ringtape.runtime.train.Trainer;
import dev.ringtape.scheduler.job.JobException;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code ringtape train JOB.yaml [--set k=v ...]}: for now, one worker in this process. */
final class Train {
    private Train() {}

    static int run(String[] args, PrintStream out, PrintStream err) {
        Path jobPath = null;
        List<String> overrides = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--set") && i + 1 < args.length) {
                overrides.add(args[++i]);
            } else if (args[i].startsWith("--set=")) {
                overrides.add(args[i].substring("--set=".length()));
            } else if (jobPath == null && !args[i].startsWith("-")) {
                jobPath = Path.of(args[i]);
            } else {
                err.println("ringtape train: unexpected argument '" + args[i] + "'");
                return 2;
            }
        }
        if (jobPath == null) {
            err.println("usage: ringtape train JOB.yaml [--set key.path=value ...]");
            return 2;
        }
        try {
            JobFile file = JobFile.load(jobPath, overrides);
            JobSpec job = JobSpec.from(file);
            return train(file, job, out);
        } catch (JobException | DataException e) {
            err.println("ringtape train: " + e.getMessage());
            return 1;
        }
    }

    private static int train(JobFile file, JobSpec job, PrintStream out) throws JobException, DataException {
        Dataset all = read(file, job.data().train(), "data.train");
        Dataset train = all;
        Dataset eval = null;
        if (job.data().eval() != null) {
            eval = read(file, job.data().eval(), "data.eval");
        } else if (job.data().evalSplit() > 0) {
            Dataset[] parts = all.split(job.data().evalSplit(), job.seed());
            train = parts[0];
            eval = parts[1];
        }
        Normalizer norm = Normalizer.fit(job.data().normalize(), train);
        norm.apply(train);
        if (eval != null) {
            norm.apply(eval);
        }
        try {
            Sequential model = ModelBuilder.build(job.model(), job.seed());
            if (!java.util.Arrays.equals(model.inputShape(), train.sampleShape())
                    && dev.ringtape.runtime.tensor.Shapes.size(model.inputShape()) != train.featuresPerSample()) {
                throw new SpecException(
                        "model.input",
                        dev.ringtape.runtime.tensor.Shapes.str(model.inputShape()) + " does not match the "
                                + train.featuresPerSample() + " features per sample of data.train");
            }
            Optimizers.Configured opt =
                    Optimizers.create(new SpecNode(job.train().optimizer(), "train.optimizer"), model.parameterList());
            int batch = job.train().globalBatch();
            int epochs = job.train().epochs() > 0
                    ? job.train().epochs()
                    : (int) Math.max(1, job.train().steps() / Trainer.stepsPerEpoch(train.size(), batch));
            long total = Trainer.stepsPerEpoch(train.size(), batch) * epochs;
            LrSchedule schedule = Optimizers.schedule(
                    job.train().lrSchedule() == null
                            ? null
                            : new SpecNode(job.train().lrSchedule(), "train.lr_schedule"),
                    opt.lr(),
                    total);
            out.printf(
                    "%s: %d training and %d held-out samples, %d parameters, %d epochs of %d steps (one worker, cpu)%n",
                    job.name(),
                    train.size(),
                    eval == null ? 0 : eval.size(),
                    model.parameterList().stream().mapToInt(t -> t.size()).sum(),
                    epochs,
                    Trainer.stepsPerEpoch(train.size(), batch));
            Trainer trainer = new Trainer(model, opt.optimizer(), schedule, batch, job.seed(), out);
            Trainer.Metrics m = trainer.fit(train, eval, epochs);
            if (m != null && !Double.isNaN(m.accuracy())) {
                out.printf(
                        "%s: final held-out accuracy %.2f%% on %d samples%n",
                        job.name(), 100 * m.accuracy(), m.samples());
            }
            return 0;
        } catch (SpecException e) {
            throw file.error(e);
        }
    }

    private static Dataset read(JobFile file, JobSpec.Source source, String key) throws JobException, DataException {
        if (!source.format().equals("csv")) {
            throw new JobException(file.where(key + ".format") + ": " + key + ".format: '" + source.format()
                    + "' is not readable by this build yet; use csv");
        }
        Path p = Path.of(source.path());
        if (!p.isAbsolute() && !Files.exists(p) && file.path().toAbsolutePath().getParent() != null) {
            Path besideJob = file.path().toAbsolutePath().getParent().resolve(p);
            if (Files.exists(besideJob)) {
                p = besideJob;
            }
        }
        return CsvReader.read(p, source.label());
    }
}
