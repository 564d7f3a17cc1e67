#!/usr/bin/env bash
# Stops the cluster start-cluster.sh started: exactly the processes it recorded, and their executors.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="$here/target/cluster"
[ -f "$state/pids" ] || exit 0
pids=$(cat "$state/pids")
children=""
for pid in $pids; do
  children="$children $(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')" # executors a worker launched
done
kill -TERM $pids $children 2>/dev/null
for _ in $(seq 1 100); do
  alive=""
  for pid in $pids $children; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
  [ -z "$alive" ] && break
  sleep 0.1
done
[ -n "${alive:-}" ] && kill -KILL $alive 2>/dev/null
rm -f "$state/pids"
exit 0
