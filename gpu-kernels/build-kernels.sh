#!/usr/bin/env bash
# Builds the CUDA kernels into the jar's resources (called by Maven, generate-resources):
#   kernels/sm_80.cubin, kernels/sm_90.cubin  per-architecture machine code (A100 and the 8.x GPUs; H100)
#   kernels/compute_80.ptx                    PTX at ISA 8.0, which a CUDA 12.0 driver's JIT accepts, for GPUs
#                                             without a cubin here (Blackwell and newer)
# nvcc 13 writes PTX ISA 9.0, which JCuda 12.6's CUDA 12.0 natives reject; the kernels use no feature newer than
# ISA 8.0, so the PTX is declared 8.0 and ptxas then checks every instruction against that version, for every
# architecture it may be JIT-compiled for. Kernels are compiled with --fmad=false: a multiply-add is fused only where
# the Java CPU backend fuses it (fmaf), so results match it.
#
# Without nvcc (a laptop), the kernels checked in under src/main/kernels are packed instead, so the jar runs on a GPU
# host either way; with nvcc, KernelArtifactsTest checks that the checked-in PTX is the one these sources give.
set -euo pipefail
src="$1/src/main/cuda"
out="$2/kernels"
checked_in="$1/src/main/kernels"
mkdir -p "$out"
if ! command -v nvcc >/dev/null 2>&1 || ! command -v ptxas >/dev/null 2>&1; then
  echo "[gpu-kernels] nvcc/ptxas not on the PATH: packing the checked-in kernels from src/main/kernels (not rebuilt)"
  cp "$checked_in"/* "$out"/
  echo "checked in (no nvcc at build time), built by $(cat "$checked_in/BUILD-INFO")" > "$out/BUILD-INFO"
  exit 0
fi
flags=(--fmad=false -std=c++17 -I"$src")
for sm in 80 90; do
  nvcc "${flags[@]}" -arch=sm_$sm -cubin -o "$out/sm_$sm.cubin" "$src/kernels.cu"
done
nvcc "${flags[@]}" -arch=compute_80 -ptx -o "$out/compute_80.ptx.tmp" "$src/kernels.cu"
sed -E 's/^\.version [0-9]+\.[0-9]+$/.version 8.0/' "$out/compute_80.ptx.tmp" > "$out/compute_80.ptx"
rm "$out/compute_80.ptx.tmp"
for sm in 80 86 89 90 100 120; do
  ptxas -arch=sm_$sm -o /dev/null "$out/compute_80.ptx"
done
nvcc --version | tail -1 > "$out/BUILD-INFO"
echo "[gpu-kernels] built with $(cat "$out/BUILD-INFO"): cubins for sm_80 and sm_90, PTX ISA 8.0 (ptxas-checked for sm_80 to sm_120)"
