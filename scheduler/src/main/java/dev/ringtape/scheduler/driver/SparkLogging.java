package dev.ringtape.scheduler.driver;

import org.apache.spark.SparkConf;

/**
 * Spark logs everything at INFO when nobody configured its logging (a distribution without conf/log4j2.properties,
 * as spark-submit runs it by default), which buries a run's progress lines. In that one case the job runs with
 * {@code spark.log.level=WARN}, and the loggers Ringtape's own log4j2.properties quiets are quieted too: Spark's
 * transport, which logs a stack trace for every connection that speaks no Spark RPC (a port scan, a stranger), and
 * the executor's and task set's reports of a rank's failure, which the driver reports itself in one line. A user's
 * log4j2 configuration, or their own {@code spark.log.level}, is left alone. Under the launcher, log4j finds
 * Ringtape's log4j2.properties on the classpath by itself.
 */
final class SparkLogging {
    private SparkLogging() {}

    private static void level(org.apache.logging.log4j.core.config.Configuration config, String logger, String level) {
        var l = org.apache.logging.log4j.Level.getLevel(level);
        var existing = config.getLoggerConfig(logger);
        if (existing.getName().equals(logger)) {
            existing.setLevel(l);
        } else {
            config.addLogger(logger, new org.apache.logging.log4j.core.config.LoggerConfig(logger, l, true));
        }
    }

    /** Spark's logging context, and whether it runs on Spark's defaults (nobody configured it); null if not log4j. */
    private static org.apache.logging.log4j.core.LoggerContext sparkDefaults() {
        // Spark logs through the context of the loader that loaded Spark, which may be a parent of ours
        var ctx = (org.apache.logging.log4j.core.LoggerContext)
                org.apache.logging.log4j.LogManager.getContext(SparkConf.class.getClassLoader(), false);
        var config = ctx.getConfiguration();
        var source = config.getConfigurationSource();
        boolean defaults = config instanceof org.apache.logging.log4j.core.config.DefaultConfiguration
                || (source != null && String.valueOf(source.getLocation()).endsWith("log4j2-defaults.properties"));
        return defaults ? ctx : null;
    }

    /**
     * Before the context starts: WARN and above, where Spark's defaults would log INFO, and the loggers Ringtape's
     * log4j2.properties quiets, quieted the same way. Spark sets its default configuration up the first time it logs
     * (which would drop levels set before), so that is made to happen here, before its ports open.
     */
    static void quietDefaults(SparkConf conf) {
        try {
            conf.initializeLogIfNecessary(false);
            var ctx = sparkDefaults();
            if (ctx != null) {
                conf.setIfMissing("spark.log.level", "WARN");
                var config = ctx.getConfiguration();
                level(config, "org.apache.spark.network.server.TransportChannelHandler", "ERROR");
                level(config, "org.apache.spark.executor.Executor", "OFF");
                level(config, "org.apache.spark.scheduler.TaskSetManager", "ERROR");
                ctx.updateLoggers();
            }
        } catch (RuntimeException | LinkageError e) {
            // another logging backend: leave it as it is configured
        }
    }
}
