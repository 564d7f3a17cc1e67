package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The run's gauges in Spark's metrics system (RingtapePlugin), scraped over HTTP from the driver's Prometheus
 * endpoint while the run goes, with the two lines README gives for it in the job's {@code spark.conf}.
 */
class MetricsTest {
    @TempDir
    Path tmp;

    private static final Pattern GAUGE = Pattern.compile(
            "metrics_\\S+_driver_plugin_dev_ringtape_scheduler_driver_RingtapePlugin_(\\w+)_Value\\{type=\"gauges\"} (\\S+)");

    @Test
    void shouldServeTheRunsGaugesOnSparksPrometheusEndpointMidRun() throws Exception {
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        Path job = tmp.resolve("job.yaml");
        String digits = Launcher.root().resolve("deploy/data/digits.csv.gz").toString();
        Files.writeString(
                job,
                "name: metrics-digits\n"
                        + "data:\n  train: {format: csv, path: " + digits + ", label: last}\n  eval: {split: 0.2}\n"
                        + "model:\n  input: [64]\n  layers: [{type: linear, out: 128}, {type: relu},"
                        + " {type: linear, out: 10}]\n  loss: {type: softmax_cross_entropy}\n"
                        + "train:\n  epochs: 150\n  global_batch: 64\n  optimizer: {type: adam, lr: 1.0e-3}\n"
                        + "telemetry: {out: " + tmp.resolve("t.jsonl") + "}\n"
                        + "export: {path: " + tmp.resolve("m.safetensors") + "}\n"
                        + "spark:\n  conf:\n    spark.ui.port: \"" + port + "\"\n"
                        + "    spark.metrics.conf.*.sink.prometheusServlet.class:"
                        + " org.apache.spark.metrics.sink.PrometheusServlet\n"
                        + "    spark.metrics.conf.*.sink.prometheusServlet.path: /metrics/prometheus\n");
        Process p = new ProcessBuilder(
                        Launcher.root().resolve("deploy/bin/ringtape").toString(), "train", "--fresh", job.toString())
                .directory(Launcher.root().toFile())
                .redirectErrorStream(true)
                .redirectOutput(tmp.resolve("out.txt").toFile())
                .start();
        List<Double> steps = new ArrayList<>();
        String seen = "";
        try {
            long deadline = System.nanoTime() + 240_000_000_000L;
            while (p.isAlive() && steps.size() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(100);
                String text = scrape("http://127.0.0.1:" + port + "/metrics/prometheus/");
                if (text == null) {
                    continue;
                }
                Matcher m = GAUGE.matcher(text);
                double step = Double.NaN;
                double loss = Double.NaN;
                while (m.find()) {
                    if (m.group(1).equals("step")) {
                        step = Double.parseDouble(m.group(2));
                    } else if (m.group(1).equals("loss")) {
                        loss = Double.parseDouble(m.group(2));
                    }
                }
                if (step > 0 && (steps.isEmpty() || step > steps.get(steps.size() - 1))) {
                    assertTrue(loss > 0 && loss < 10, "a cross-entropy loss: " + loss);
                    assertTrue(text.contains("RingtapePlugin_samples_per_s_Value"), text);
                    assertTrue(text.contains("RingtapePlugin_open_diagnoses_error_Value{type=\"gauges\"} 0"), text);
                    steps.add(step);
                    seen = text;
                }
            }
            assertTrue(
                    steps.size() >= 2,
                    "two scrapes mid-run, the step moving on: " + steps + Files.readString(tmp.resolve("out.txt")));
            assertTrue(p.waitFor(240, TimeUnit.SECONDS), "the run ends");
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("out.txt")));
        assertTrue(steps.get(steps.size() - 1) < 3300, "scraped before the last of 3,300 steps: " + steps + seen);
    }

    /** The page at {@code url}, or null while nothing answers there. */
    private static String scrape(String url) {
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
            c.setConnectTimeout(1_000);
            c.setReadTimeout(5_000);
            if (c.getResponseCode() != 200) {
                return null;
            }
            try (InputStream in = c.getInputStream()) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
        } catch (java.io.IOException e) {
            return null;
        }
    }
}
