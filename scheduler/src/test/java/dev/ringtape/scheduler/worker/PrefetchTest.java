package dev.ringtape.scheduler.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.ringtape.runtime.data.DataException;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the driver reads and fits while Spark starts is what a rank would have, handed over once. */
class PrefetchTest {
    private static final Path JOB = Path.of("../deploy/jobs/digits-mlp.yaml");

    @Test
    void shouldHandTheFirstRankWhatItWouldHaveReadAndTheNextNothing() throws Exception {
        JobSpec job = JobSpec.from(JobFile.load(JOB, List.of()));
        Path dir = Path.of("..").toAbsolutePath();
        Prefetch.start(job, dir);
        Worker.Read taken = Prefetch.take(job);
        Worker.Read read = Worker.read(job, dir);
        assertArrayEquals(read.train().features(), taken.train().features());
        assertArrayEquals(read.eval().labels(), taken.eval().labels());
        assertEquals(read.train().size(), taken.train().size());
        assertArrayEquals(read.normalizer().shift(), taken.normalizer().shift());
        assertArrayEquals(read.normalizer().divisor(), taken.normalizer().divisor());
        assertNull(Prefetch.take(job), "taken once: a rank normalizes its data in place");
        assertNull(Prefetch.take(JobSpec.from(JobFile.load(JOB, List.of("seed=7")))), "another split is another read");
    }

    @Test
    void shouldGiveTheRankTheReadsErrorAsItsOwn() throws Exception {
        JobSpec job = JobSpec.from(JobFile.load(JOB, List.of("data.train.path=/nonexistent/digits.csv")));
        Prefetch.start(job, null);
        DataException e = assertThrows(DataException.class, () -> Prefetch.take(job));
        assertEquals("/nonexistent/digits.csv: no such file", e.getMessage());
        Prefetch.clear();
    }
}
