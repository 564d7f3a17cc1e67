/**
 * Ring all-reduce over Aeron on Agrona buffers: sums float32 ranges of a pre-allocated buffer across ranks.
 *
 * <p>Skeleton only: the ring arrives with the all-reduce issue.
 */
package dev.ringtape.allreduce;
