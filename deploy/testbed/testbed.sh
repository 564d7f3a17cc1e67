#!/usr/bin/env bash
# An emulated cluster on this machine: N hosts, each a network namespace with a link of a given rate to a bridge,
# a Spark standalone master on the bridge and one worker per host; runs a command there and tears down exactly
# what it built. Everything lives in a private user, network and mount namespace this script makes for itself
# (unshare), so nothing of it is seen outside, nothing outside is reached, and it all goes when the command ends.
#
#   deploy/testbed/testbed.sh [--hosts 2] [--rate 1gbit] [--slow-rate R] [--spare 0] [--cores 1] [--memory 2g] \
#     [--mtu 1500] -- COMMAND...
#
# Addresses are 198.18.0.0/24 (RFC 2544's benchmarking range) only: the bridge (where the master and COMMAND run)
# is 198.18.0.1, host i is 198.18.0.(10+i). Each link is shaped in both directions with tbf (rate R, 256 KB burst,
# 20 ms queue) and has an MTU of 1500 bytes (--mtu 9000: jumbo frames); --slow-rate gives the last host that rate
# instead. The last --spare hosts run no Spark worker (a client, or a stranger, on a host of its own: ip netns exec
# hN ...). COMMAND sees TESTBED_MASTER (the master URL), TESTBED_HOSTS (the hosts' addresses), SPARK_HOME and
# SPARK_LOCAL_IP=198.18.0.1; its exit status is the script's.
# Exit 77 (and one line saying why) where this machine refuses user or network namespaces.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
hosts=2 rate=1gbit slow="" spare=0 cores=1 memory=2g mtu=1500
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) hosts="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --slow-rate) slow="$2"; shift 2 ;;
    --spare) spare="$2"; shift 2 ;;
    --cores) cores="$2"; shift 2 ;;
    --memory) memory="$2"; shift 2 ;;
    --mtu) mtu="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--hosts N] [--rate R] [--slow-rate R] [--spare S] [--cores C] [--memory M] [--mtu B] -- COMMAND..." >&2
       exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "testbed: no command (usage: $0 [options] -- COMMAND...)" >&2; exit 2; }
if [ "$hosts" -lt 1 ] || [ "$hosts" -gt 200 ] || [ "$spare" -lt 0 ] || [ "$spare" -ge "$hosts" ]; then
  echo "testbed: --hosts must be 1 to 200 and --spare below it, got $hosts and $spare" >&2
  exit 2
fi
workers=$((hosts - spare))

if [ -z "${TESTBED_INNER:-}" ]; then
  # the Spark jars first (Maven resolves them), outside: the private namespace has no network
  spark_home="$("$root/deploy/standalone/spark-home.sh")"
  for tool in unshare ip tc; do
    command -v "$tool" >/dev/null 2>&1 || { echo "testbed: $tool is not installed (Debian: util-linux, iproute2)" >&2; exit 77; }
  done
  if ! why="$(unshare --user --map-root-user --net --mount true 2>&1)"; then
    echo "testbed: this machine refuses user and network namespaces: $why" >&2
    exit 77
  fi
  exec unshare --user --map-root-user --net --mount --fork \
    env TESTBED_INNER=1 TESTBED_SPARK_HOME="$spark_home" "$0" "${args[@]}"
fi

# inside: a private network namespace (the bridge's) and mount namespace (a /run of its own for ip netns)
mount -t tmpfs tmpfs /run
mkdir -p /run/netns
state="$(mktemp -d "${TMPDIR:-/tmp}/ringtape-testbed.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

shape() { # namespace ("" for the bridge's), device, rate
  local ns=(); [ -n "$1" ] && ns=(-n "$1")
  tc "${ns[@]}" qdisc add dev "$2" root tbf rate "$3" burst 256kb latency 20ms
}
ip link set lo up
ip link add br0 type bridge
ip addr add 198.18.0.1/24 dev br0
ip link set br0 up
addresses=()
for i in $(seq 1 "$hosts"); do
  h="h$i" addr="198.18.0.$((10 + i))" r="$rate"
  [ -n "$slow" ] && [ "$i" -eq "$hosts" ] && r="$slow"
  ip netns add "$h"
  ip link add "v$i" mtu "$mtu" type veth peer name eth0 netns "$h" mtu "$mtu"
  ip link set "v$i" master br0
  ip link set "v$i" up
  ip -n "$h" link set lo up
  ip -n "$h" addr add "$addr/24" dev eth0
  ip -n "$h" link set eth0 up
  shape "$h" eth0 "$r" # host to bridge
  shape "" "v$i" "$r"  # bridge to host
  addresses+=("$addr")
done

export SPARK_HOME="$TESTBED_SPARK_HOME" SPARK_SCALA_VERSION=2.13
master="spark://198.18.0.1:7077"
SPARK_LOCAL_IP=198.18.0.1 "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
  --host 198.18.0.1 --port 7077 --webui-port 0 > "$state/master.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  grep -q "I have been elected leader" "$state/master.log" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$state/master.log" >&2; exit 1; }
  sleep 0.1
done
for i in $(seq 1 "$workers"); do
  addr="${addresses[$((i - 1))]}"
  mkdir -p "$state/worker-$i"
  ip netns exec "h$i" env SPARK_LOCAL_IP="$addr" "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --host "$addr" --cores "$cores" --memory "$memory" --webui-port 0 --work-dir "$state/worker-$i" \
    "$master" > "$state/worker-$i.log" 2>&1 &
  pids+=($!)
done
registered=0
for _ in $(seq 1 600); do
  registered=$(cat "$state"/worker-*.log 2>/dev/null | grep -c "Successfully registered with master" || true)
  [ "$registered" -ge "$workers" ] && break
  sleep 0.1
done
if [ "$registered" -lt "$workers" ]; then
  echo "testbed: $registered of $workers workers registered within 60 s; their logs:" >&2
  tail -n 20 "$state"/worker-*.log >&2
  exit 1
fi
echo "testbed: $hosts host(s) at ${rate}${slow:+ (the last at $slow)}, $workers with a worker, master $master" >&2
status=0
TESTBED_MASTER="$master" TESTBED_HOSTS="${addresses[*]}" SPARK_LOCAL_IP=198.18.0.1 "$@" || status=$?
exit "$status"
