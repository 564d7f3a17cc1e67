package dev.ringtape.scheduler.cli;

import dev.ringtape.runtime.autograd.GradCheck;
import dev.ringtape.runtime.data.DataException;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.nn.ForwardContext;
import dev.ringtape.runtime.nn.ModelBuilder;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.nn.SpecException;
import dev.ringtape.runtime.tensor.Tensor;
import dev.ringtape.scheduler.job.JobException;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import dev.ringtape.scheduler.worker.Worker;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;

/**
 * {@code ringtape gradcheck JOB.yaml}: centred finite differences and a Taylor test on the job's own model, on one
 * small micro-batch of its training data, parameter tensor by parameter tensor.
 */
final class Gradcheck {
    private static final int SAMPLES = 4;

    private Gradcheck() {}

    static int run(String[] argv, PrintStream out, PrintStream err) {
        Train.Args args = Train.Args.parse("gradcheck", argv, err);
        if (args == null) {
            return 2;
        }
        JobFile file = null;
        try {
            file = JobFile.load(args.job(), args.overrides());
            JobSpec job = JobSpec.from(file);
            Sequential model = ModelBuilder.build(job.model(), job.seed());
            Dataset train = Worker.data(job, args.jobDir(), model.inputShape()).train();
            int[] first = new int[Math.min(SAMPLES, train.size())];
            for (int i = 0; i < first.length; i++) {
                first[i] = i;
            }
            Tensor[] xy = train.batch(first, 0, first.length);
            ForwardContext ctx = ForwardContext.training(job.seed()); // dropout on, with one fixed mask
            out.printf(
                    "%s: gradcheck on %d samples (step 1e-3, |analytic - numeric| <= 2e-3 + 2e-2 |numeric|)%n",
                    job.name(), first.length);
            int failed = 0;
            for (Map.Entry<String, Tensor> p : model.parameters().entrySet()) {
                GradCheck.Result r = GradCheck.defaults()
                        .eps(1e-3)
                        .tolerance(2e-2, 2e-3)
                        .maxElements(24)
                        .taylorStep(0.02)
                        .check(() -> model.objective(model.forward(xy[0], ctx), xy[1]), List.of(p.getValue()));
                out.printf(
                        "  %-28s %-6s %3d elements, worst at %.2f of the tolerance%s%n",
                        p.getKey(),
                        r.ok() ? "ok" : "FAILED",
                        r.checked(),
                        r.worstError(),
                        r.ok() ? "" : ": " + r.failure());
                failed += r.ok() ? 0 : 1;
            }
            if (failed > 0) {
                out.printf(
                        "%d of %d parameter tensors failed (an input within the step of a ReLU or max-pool kink"
                                + " can fail spuriously; rerun with another seed to tell)%n",
                        failed, model.parameters().size());
                return 1;
            }
            out.println("all parameter gradients agree with finite differences");
            return 0;
        } catch (JobException | DataException e) {
            err.println("ringtape gradcheck: " + e.getMessage());
            return 1;
        } catch (SpecException e) {
            err.println("ringtape gradcheck: " + file.error(e).getMessage());
            return 1;
        }
    }
}
