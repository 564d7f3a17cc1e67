#!/usr/bin/env python3
"""Runs a job through deploy/bin/ringtape with 1 and 2 workers, alternated, and prints what the merged telemetry
says: samples/s of training (steps x global batch / the end record's seconds), the phase times per rank (median
over steps after the first 20), the all-reduce's share of a step, and start-up (launcher start to the first step
record, split at the run record: Spark and data before it, ring rendezvous and the first step after).

    bench/scripts/spark_train.py bench/jobs/fashion-mnist-mlp.yaml [--runs 2]
"""
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time


def ts(r):
    return datetime.datetime.fromisoformat(r["ts"].replace("Z", "+00:00")[:26] + "+00:00").timestamp()


def run(job, workers, out):
    log = f"{out}/w{workers}-{time.time_ns()}.jsonl"
    start = time.time()
    subprocess.run(
        ["deploy/bin/ringtape", "train", "--fresh", job, "--set", f"workers={workers}", "--set", f"telemetry.out={log}",
         "--set", f"export.path={out}/model.safetensors"],
        check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - start
    recs = [json.loads(l) for l in open(log)]
    run_rec = next(r for r in recs if r["type"] == "run")
    steps = [r for r in recs if r["type"] == "step"]
    end = next(r for r in recs if r["type"] == "end")
    batch = run_rec["config"]["train"]["global_batch"]
    first = min(ts(r) for r in steps)
    phases = {}
    for rank in sorted({r["rank"] for r in steps}):
        mine = [r for r in steps if r["rank"] == rank][20:]
        phases[rank] = {k: statistics.median(r["phase_ms"][k] for r in mine) for k in mine[0]["phase_ms"]}
    return {
        "workers": workers,
        "wall_s": wall,
        "train_s": end["seconds"],
        "samples_per_s": end["steps"] * batch / end["seconds"],
        "accuracy": end["eval"]["accuracy"],
        "startup_s": first - start,
        "to_run_record_s": ts(run_rec) - start,
        "phases_ms": phases,
    }


def main():
    job = sys.argv[1]
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 2
    with tempfile.TemporaryDirectory() as out:
        run(job, 1, out)  # builds the jar if needed and warms the page cache
        for i in range(runs):
            for w in (1, 2):
                r = run(job, w, out)
                print(json.dumps(r))


if __name__ == "__main__":
    main()
