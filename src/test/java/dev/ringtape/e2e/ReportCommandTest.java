package dev.ringtape.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ringtape report} on a real run's log, opened in real headless Chromium (Debian's {@code chromium}, which
 * .ci/run installs; without it this test is skipped, saying so).
 */
class ReportCommandTest {
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");

    @TempDir
    Path tmp;

    Path report() throws Exception {
        Path log = tmp.resolve("run.jsonl");
        Launcher.Outcome train = Launcher.run(
                300, "train", "--fresh", "deploy/jobs/zoo/dead-relu-sgd-high-lr.yaml", "--set", "telemetry.out=" + log);
        assertEquals(0, train.exit(), train.stderr());
        Path html = tmp.resolve("report.html");
        Launcher.Outcome r = Launcher.run(120, "report", log.toString(), "-o", html.toString());
        assertEquals(0, r.exit(), r.stderr());
        return html;
    }

    static String chromium(Path dir, List<String> extra, Path page) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                CHROMIUM.toString(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                "--user-data-dir=" + dir.resolve("profile-" + System.nanoTime())));
        cmd.addAll(extra);
        cmd.add(page.toUri().toString());
        Path out = dir.resolve("chromium-out-" + System.nanoTime() + ".txt");
        Path err = dir.resolve("chromium-err-" + System.nanoTime() + ".txt");
        Process p = new ProcessBuilder(cmd)
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish in 120 s");
        }
        String stderr = Files.readString(err, StandardCharsets.UTF_8);
        for (String line : stderr.split("\n")) {
            assertFalse(line.contains(":CONSOLE(") || line.contains("Uncaught"), "console error: " + line);
        }
        return Files.readString(out, StandardCharsets.UTF_8);
    }

    @Test
    void shouldWriteOneSelfContainedFile() throws Exception {
        String html = Files.readString(report(), StandardCharsets.UTF_8);
        assertFalse(html.contains("<script"), "no script at all");
        assertFalse(html.contains("<link"), "no external style sheet");
        assertFalse(Pattern.compile("(src|href)\\s*=").matcher(html).find(), "nothing fetched when opened");
        for (String id : List.of("verdict", "loss", "grad-heatmap", "update-ratio", "dead", "diagnoses")) {
            assertTrue(html.contains("id=\"" + id + "\""), "has the " + id + " section");
        }
        int verdict = html.indexOf("id=\"verdict\"");
        assertTrue(verdict < html.indexOf("<svg class=\"chart\""), "the verdict comes before the first chart");
        String v = html.substring(verdict, html.indexOf("</section>", verdict));
        assertTrue(v.contains("<b>DEAD_RELU</b> in layers.3"), "the verdict names the pathology and layer: " + v);
        assertTrue(
                v.contains("First cause: <b>BLOWUP</b> at step 0") && v.indexOf("BLOWUP") < v.indexOf("DEAD_RELU"),
                "the blow-up that caused the rest comes first: " + v);
        assertTrue(v.contains("What to try: "), v);
        assertTrue(v.contains("Evidence: dead frac "), "evidence in words and numbers: " + v);
        assertFalse(html.contains("id=\"loss-scale\""), "no loss-scale chart for a run without loss scaling");
        assertTrue(html.contains("Left out: the run used no loss scaling"), "and one line saying why");
        assertTrue(html.contains("class=\"mark\""), "diagnoses annotate the loss timeline");
        assertTrue(html.contains("class=\"band\""), "the healthy update-ratio band is shaded");
    }

    @Test
    void shouldRenderItsChartsInHeadlessChromium() throws Exception {
        Assumptions.assumeTrue(
                Files.isExecutable(CHROMIUM),
                "Debian's chromium is not installed (apt-get install chromium; .ci/run does)");
        Path html = report();
        String dom = chromium(tmp, List.of("--dump-dom"), html);
        Matcher charts = Pattern.compile("<svg class=\"chart\"").matcher(dom);
        int count = 0;
        while (charts.find()) {
            count++;
        }
        assertEquals(
                5, count, "loss, heat map, update ratio, dead fraction and the output's log Z in the rendered DOM");
        assertTrue(dom.indexOf("id=\"verdict\"") < dom.indexOf("<svg class=\"chart\""), "verdict first");
        assertTrue(dom.contains("<polyline class=\"series\""), "line series rendered");
        assertTrue(dom.contains("<rect class=\"cell\""), "heat-map cells rendered");

        Path png = tmp.resolve("shot.png");
        chromium(tmp, List.of("--window-size=1150,1600", "--screenshot=" + png), html);
        BufferedImage img = ImageIO.read(png.toFile());
        assertTrue(img.getWidth() >= 1000 && img.getHeight() >= 1000, img.getWidth() + "x" + img.getHeight());
        Set<Integer> colours = new HashSet<>();
        long inked = 0;
        for (int y = 0; y < img.getHeight(); y += 2) {
            for (int x = 0; x < img.getWidth(); x += 2) {
                int rgb = img.getRGB(x, y) & 0xffffff;
                colours.add(rgb);
                inked += rgb == 0xffffff ? 0 : 1;
            }
        }
        assertTrue(colours.size() > 50, "a blank page has few colours; got " + colours.size());
        assertTrue(inked > img.getWidth() * img.getHeight() / 4 / 20, "more than 5 % of the page is drawn on");
    }

    @Test
    void shouldSayPlainlyThatNoRuleFiredOnAHealthyRun() throws Exception {
        Assumptions.assumeTrue(
                Files.isExecutable(CHROMIUM),
                "Debian's chromium is not installed (apt-get install chromium; .ci/run does)");
        Path log = tmp.resolve("healthy.jsonl");
        Launcher.Outcome train = Launcher.run(
                300, "train", "--fresh", "deploy/jobs/zoo/healthy-digits-mlp.yaml", "--set", "telemetry.out=" + log);
        assertEquals(0, train.exit(), train.stderr());
        Path html = tmp.resolve("healthy.html");
        assertEquals(
                0,
                Launcher.run(120, "report", log.toString(), "-o", html.toString())
                        .exit());
        String dom = chromium(tmp, List.of("--dump-dom"), html);
        int verdict = dom.indexOf("id=\"verdict\"");
        assertTrue(verdict >= 0 && verdict < dom.indexOf("<svg class=\"chart\""), "the verdict comes first");
        assertTrue(
                dom.contains("No rule fired: this run shows none of the pathologies Ringtape checks (NONFINITE,"),
                "a plain statement, naming what was checked");
        assertTrue(dom.contains("id=\"no-diagnoses\""), dom);
    }
}
