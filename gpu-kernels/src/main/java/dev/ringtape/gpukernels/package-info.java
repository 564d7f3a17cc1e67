/**
 * The CUDA path: kernels in {@code src/main/cuda} built by {@code build-kernels.sh} into the jar (per-architecture
 * cubins and PTX for the JIT), the probe of this machine's CUDA ({@link dev.ringtape.gpukernels.CudaProbe}), and the
 * {@code cuda} backend found by {@code ServiceLoader} ({@link dev.ringtape.gpukernels.CudaBackend}).
 */
package dev.ringtape.gpukernels;
