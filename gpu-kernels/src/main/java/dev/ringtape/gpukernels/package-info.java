/**
 * CUDA kernels compiled to PTX at build time and the JCuda backend, found by {@code ServiceLoader}.
 *
 * <p>Skeleton only: the kernels arrive with the CUDA issue.
 */
package dev.ringtape.gpukernels;
