#!/usr/bin/env bash
# Spark's GPU discovery script for standalone workers (spark.worker.resource.gpu.discoveryScript; start-cluster.sh
# --gpus sets it): prints this machine's GPUs as Spark's resource JSON, {"name": "gpu", "addresses": ["0", "1"]}.
# Spark then hands each task its own address (spark.task.resource.gpu.amount=1) and every Ringtape rank computes on
# the GPU it was given (the run record's "gpu"), not on device 0.
set -euo pipefail
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu-discovery: nvidia-smi not found: no GPUs to offer" >&2
  echo '{"name": "gpu", "addresses": []}'
  exit 0
fi
addresses=$(nvidia-smi --query-gpu=index --format=csv,noheader | sed 's/^ *\(.*[^ ]\) *$/"\1"/' | paste -sd, -)
echo "{\"name\": \"gpu\", \"addresses\": [$addresses]}"
