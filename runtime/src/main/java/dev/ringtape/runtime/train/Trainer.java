package dev.ringtape.runtime.train;

import dev.ringtape.runtime.autograd.Tape;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.runtime.nn.ForwardContext;
import dev.ringtape.runtime.nn.Loss;
import dev.ringtape.runtime.nn.Sequential;
import dev.ringtape.runtime.optim.LrSchedule;
import dev.ringtape.runtime.optim.Optimizer;
import dev.ringtape.runtime.tensor.Tensor;
import java.io.PrintStream;

/**
 * The single-worker training loop: seeded shuffling per epoch, one optimizer step per batch, evaluation on the
 * held-out data at the end of each epoch, a progress line as it goes.
 */
public final class Trainer {
    private final Sequential model;
    private final Optimizer optimizer;
    private final LrSchedule schedule;
    private final int batch;
    private final long seed;
    private final PrintStream progress;

    public Trainer(
            Sequential model, Optimizer optimizer, LrSchedule schedule, int batch, long seed, PrintStream progress) {
        this.model = model;
        this.optimizer = optimizer;
        this.schedule = schedule;
        this.batch = batch;
        this.seed = seed;
        this.progress = progress;
    }

    /** Steps per epoch over {@code n} samples (the last batch may be smaller). */
    public static long stepsPerEpoch(int n, int batch) {
        return (n + batch - 1) / batch;
    }

    /** Trains for {@code epochs}; returns the last evaluation. */
    public Metrics fit(Dataset train, Dataset eval, int epochs) {
        long total = stepsPerEpoch(train.size(), batch) * epochs;
        long step = 0;
        long start = System.nanoTime();
        Metrics last = null;
        for (int epoch = 1; epoch <= epochs; epoch++) {
            int[] order = Dataset.permutation(train.size(), seed * 1_000_003L + epoch);
            double lossSum = 0;
            int lossCount = 0;
            for (int from = 0; from < order.length; from += batch) {
                int count = Math.min(batch, order.length - from);
                Tensor[] xy = train.batch(order, from, count);
                model.zeroGrad();
                float loss;
                try (Tape tape = Tape.record()) {
                    Tensor out = model.forward(xy[0], ForwardContext.training(seed ^ (step * 0x9E3779B97F4A7C15L)));
                    Tensor l = model.loss().apply(out, xy[1]);
                    loss = l.item();
                    tape.backward(l);
                }
                optimizer.step(schedule.lr(step));
                step++;
                lossSum += loss;
                lossCount++;
                if (step % 50 == 0 || step == total) {
                    double secs = (System.nanoTime() - start) / 1e9;
                    double rate = step * (double) batch / secs;
                    progress.printf(
                            "step %d  epoch %d/%d  loss %.4f  %.0f samples/s  ETA %.0fs%n",
                            step, epoch, epochs, lossSum / lossCount, rate, (total - step) * batch / rate);
                }
            }
            last = evaluate(eval);
            progress.printf(
                    "epoch %d/%d  train loss %.4f  eval loss %.4f%s%n",
                    epoch,
                    epochs,
                    lossSum / lossCount,
                    last.loss(),
                    Double.isNaN(last.accuracy())
                            ? ""
                            : String.format("  eval accuracy %.2f%%", 100 * last.accuracy()));
        }
        return last;
    }

    /** Mean loss and, for classification, accuracy on {@code data} (no tape, dropout off). */
    public Metrics evaluate(Dataset data) {
        if (data == null || data.size() == 0) {
            return new Metrics(Double.NaN, Double.NaN, 0);
        }
        int[] all = new int[data.size()];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        double lossSum = 0;
        int correct = 0;
        for (int from = 0; from < all.length; from += 512) {
            int count = Math.min(512, all.length - from);
            Tensor[] xy = data.batch(all, from, count);
            Tensor out = model.forward(xy[0], ForwardContext.EVAL);
            lossSum += model.loss().apply(out, xy[1]).item() * count;
            if (model.loss() == Loss.SOFTMAX_CROSS_ENTROPY) {
                int c = out.dim(1);
                float[] o = out.data();
                for (int i = 0; i < count; i++) {
                    int best = 0;
                    for (int j = 1; j < c; j++) {
                        if (o[i * c + j] > o[i * c + best]) {
                            best = j;
                        }
                    }
                    correct += best == (int) xy[1].data()[i] ? 1 : 0;
                }
            }
        }
        double accuracy = model.loss() == Loss.SOFTMAX_CROSS_ENTROPY ? (double) correct / data.size() : Double.NaN;
        return new Metrics(lossSum / data.size(), accuracy, data.size());
    }

    /** An evaluation: mean loss, accuracy (NaN when not classifying), sample count. */
    public record Metrics(double loss, double accuracy, int samples) {}
}
