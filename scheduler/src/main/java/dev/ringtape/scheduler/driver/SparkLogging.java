package dev.ringtape.scheduler.driver;

import org.apache.spark.SparkConf;

/**
 * Spark logs everything at INFO when nobody configured its logging (a distribution without conf/log4j2.properties,
 * as spark-submit runs it by default), which buries a run's progress lines. In that one case the job runs with
 * {@code spark.log.level=WARN}; a user's log4j2 configuration, or their own {@code spark.log.level}, is left alone.
 * Under the launcher, log4j finds Ringtape's log4j2.properties on the classpath by itself.
 */
final class SparkLogging {
    private SparkLogging() {}

    static void quietDefaults(SparkConf conf) {
        try {
            // Spark logs through the context of the loader that loaded Spark, which may be a parent of ours
            var ctx = (org.apache.logging.log4j.core.LoggerContext)
                    org.apache.logging.log4j.LogManager.getContext(SparkConf.class.getClassLoader(), false);
            var config = ctx.getConfiguration();
            var source = config.getConfigurationSource();
            boolean sparkDefaults = config instanceof org.apache.logging.log4j.core.config.DefaultConfiguration
                    || (source != null && String.valueOf(source.getLocation()).endsWith("log4j2-defaults.properties"));
            if (sparkDefaults) {
                conf.setIfMissing("spark.log.level", "WARN");
            }
        } catch (RuntimeException | LinkageError e) {
            // another logging backend: leave it as it is configured
        }
    }
}
