/**
 * Telemetry: the record schema ({@link dev.ringtape.telemetry.Records}) and sinks ({@link
 * dev.ringtape.telemetry.TelemetrySink}). Per-layer statistics and diagnosis rules arrive with the telemetry issue.
 */
package dev.ringtape.telemetry;
