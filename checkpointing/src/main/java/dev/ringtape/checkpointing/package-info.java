/**
 * Kryo snapshots of the whole training state, written atomically through Hadoop {@code FileSystem}.
 *
 * <p>Skeleton only: snapshots arrive with the checkpoint issue.
 */
package dev.ringtape.checkpointing;
