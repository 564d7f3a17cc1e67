#!/usr/bin/env bash
# Builds the JNI shim that hands Java arrays to OpenBLAS in place (src/main/c/ringtape_blas.c) into the jar's
# classes (called by Maven, compile): dev/ringtape/runtime/backend/cpu/native/<os>-<arch>/libringtape_blas.so.
# Without gcc or JNI headers the shim is left out and the CPU backend calls OpenBLAS through JavaCPP, which copies
# the operands (it says so in `ringtape doctor`); the build does not fail for it.
set -euo pipefail
src="$1/src/main/c/ringtape_blas.c"
java_home="$2"
out="$3/dev/ringtape/runtime/backend/cpu/native/linux-x86_64"
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ] || ! command -v gcc >/dev/null 2>&1 \
    || [ ! -f "$java_home/include/jni.h" ]; then
  echo "[runtime] no gcc or JNI headers for Linux x86-64 here: GEMMs will copy their operands (JavaCPP's binding)"
  exit 0
fi
mkdir -p "$out"
gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$java_home/include" -I"$java_home/include/linux" \
  -o "$out/libringtape_blas.so" "$src" -ldl
