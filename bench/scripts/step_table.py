#!/usr/bin/python3
"""Summarises a Ringtape telemetry log of a multi-worker run for bench/RESULTS.md ("Over emulated links"): from the
step records after the first WARM steps (default 20), the medians over steps of the wall time between rank 0's step
records and, per rank, of the phases, the all-reduce time backward hid, and the bytes sent; the link bound of one
all-reduce (the gradient x 2(N-1)/N over the link rate, or the bytes a rank sent over it) and the end's accuracy.

    /usr/bin/python3 bench/scripts/step_table.py LOG.jsonl LINK_BITS_PER_SECOND [WARM]
"""
import json
import statistics
import sys
from datetime import datetime


def main():
    log, rate = sys.argv[1], float(sys.argv[2])
    warm = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    steps, end, world = {}, None, 1
    for line in open(log):
        r = json.loads(line)
        if r["type"] == "run":
            world = r["world_size"]
        elif r["type"] == "step" and r["step"] >= warm:
            steps.setdefault(r.get("rank", 0), []).append(r)
        elif r["type"] == "end":
            end = r
    zero = sorted(steps[0], key=lambda r: r["step"])
    ts = [datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp() for r in zero]
    wall = statistics.median(b - a for a, b in zip(ts, ts[1:])) * 1e3
    med = lambda rank, f: statistics.median(f(r) for r in steps[rank])
    print(f"workers {world}, steps {zero[0]['step']}-{zero[-1]['step']}, wall ms/step (rank 0) {wall:.1f}")
    for rank in sorted(steps):
        ph = lambda k: med(rank, lambda r: r["phase_ms"][k])
        sent = med(rank, lambda r: r.get("allreduce_sent_bytes", 0))
        print(f"  rank {rank}: forward {ph('forward'):.1f} backward {ph('backward'):.1f} "
              f"allreduce exposed {ph('allreduce'):.1f} hidden {med(rank, lambda r: r.get('allreduce_hidden_ms', 0)):.1f} "
              f"optimizer {ph('optimizer'):.1f} telemetry {ph('telemetry'):.1f} ms; sent {sent / 1e6:.2f} MB "
              f"= {sent * 8 / rate * 1e3:.1f} ms at the link rate")
    grad = zero[0].get("allreduce_bytes", 0)
    print(f"link bound of the float32 all-reduce: {grad * 2 * (world - 1) / world * 8 / rate * 1e3:.1f} ms "
          f"({grad / 1e6:.1f} MB of gradients)")
    if end:
        print(f"end: accuracy {end['eval'].get('accuracy')}, loss {end['eval']['loss']:.4f}, steps {end['steps']}, "
              f"seconds {end['seconds']:.1f}")


if __name__ == "__main__":
    main()
