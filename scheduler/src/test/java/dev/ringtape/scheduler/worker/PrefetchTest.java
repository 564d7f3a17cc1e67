package dev.ringtape.scheduler.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.ringtape.runtime.data.DataException;
import dev.ringtape.runtime.data.Dataset;
import dev.ringtape.scheduler.job.JobFile;
import dev.ringtape.scheduler.job.JobSpec;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the driver reads while Spark starts is what a rank would have read, handed over once. */
class PrefetchTest {
    private static final Path JOB = Path.of("../deploy/jobs/digits-mlp.yaml");

    @Test
    void shouldHandTheFirstRankWhatItWouldHaveReadAndTheNextNothing() throws Exception {
        JobSpec job = JobSpec.from(JobFile.load(JOB, List.of()));
        Path dir = Path.of("..").toAbsolutePath();
        Prefetch.start(job, dir);
        Dataset[] taken = Prefetch.take(job);
        Dataset[] read = Worker.read(job, dir);
        assertArrayEquals(read[0].features(), taken[0].features());
        assertArrayEquals(read[1].labels(), taken[1].labels());
        assertEquals(read[0].size(), taken[0].size());
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
