#!/usr/bin/env bash
# Starts a Spark standalone cluster on 127.0.0.1 from the Maven-resolved Spark jars: one master and N workers,
# each worker offering CORES cores (and with --gpus, G GPUs found by a discovery script: deploy/bin/gpu-discovery.sh,
# which asks nvidia-smi, unless --gpu-discovery names another). Prints the master URL; stop-cluster.sh stops exactly
# what this started.
#   deploy/standalone/start-cluster.sh [--workers N] [--cores C] [--memory 2g] [--port 7077] [--gpus G]
#                                      [--gpu-discovery script]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workers=2 cores=1 memory=2g port=7077 gpus=0
discovery="$(cd "$here/../bin" && pwd)/gpu-discovery.sh"
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --cores) cores="$2"; shift 2 ;;
    --memory) memory="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --gpus) gpus="$2"; shift 2 ;;
    --gpu-discovery) discovery="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    *) echo "usage: $0 [--workers N] [--cores C] [--memory 2g] [--port 7077] [--gpus G] [--gpu-discovery script]" >&2
       exit 2 ;;
  esac
done
state="$here/target/cluster"
if [ -f "$state/pids" ]; then
  echo "start-cluster: a cluster started from here is still recorded in $state/pids; run stop-cluster.sh first" >&2
  exit 1
fi
export SPARK_HOME="$("$here/spark-home.sh")"
export SPARK_LOCAL_IP=127.0.0.1 SPARK_SCALA_VERSION=2.13
mkdir -p "$state"
: > "$state/pids"
master="spark://127.0.0.1:$port"
"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
  --host 127.0.0.1 --port "$port" --webui-port 0 > "$state/master.log" 2>&1 &
echo $! >> "$state/pids"
# the master is up once it logs that it is the leader (or the port answers)
for _ in $(seq 1 300); do
  grep -q "I have been elected leader" "$state/master.log" 2>/dev/null && break
  kill -0 "$(head -1 "$state/pids")" 2>/dev/null || { cat "$state/master.log" >&2; exit 1; }
  sleep 0.1
done
if [ "$gpus" -gt 0 ]; then
  # each worker offers its GPUs as the resource "gpu"; jobs ask with spark.executor/task.resource.gpu.amount
  export SPARK_WORKER_OPTS="${SPARK_WORKER_OPTS:-} -Dspark.worker.resource.gpu.amount=$gpus"
  export SPARK_WORKER_OPTS="$SPARK_WORKER_OPTS -Dspark.worker.resource.gpu.discoveryScript=$discovery"
fi
for i in $(seq 1 "$workers"); do
  mkdir -p "$state/worker-$i"
  "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --host 127.0.0.1 --cores "$cores" --memory "$memory" --webui-port 0 --work-dir "$state/worker-$i" \
    "$master" > "$state/worker-$i.log" 2>&1 &
  echo $! >> "$state/pids"
done
# ready once every worker has registered
for _ in $(seq 1 600); do
  n=$(cat "$state"/worker-*.log 2>/dev/null | grep -c "Successfully registered with master" || true)
  [ "$n" -ge "$workers" ] && { echo "$master"; exit 0; }
  sleep 0.1
done
echo "start-cluster: the workers did not register within 60 s (logs in $state)" >&2
exit 1
