/**
 * Telemetry: the record schema, per-layer statistics, diagnosis rules, sinks and readers.
 *
 * <p>Skeleton only: the records and rules arrive with the telemetry issue.
 */
package dev.ringtape.telemetry;
