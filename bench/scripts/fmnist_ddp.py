#!/usr/bin/python3
"""The PyTorch DDP side of `ringtape bench scaling`: the training of bench/jobs/fashion-mnist-mlp.yaml (784-256-256-10
ReLU MLP, Adam 1e-3, global batch 128, 2 epochs, min-max scaled inputs) with torch.nn.parallel.DistributedDataParallel
over gloo, RANKS processes on this machine, one thread each, each rank taking 128 / RANKS samples of every step from
a DistributedSampler. Times the training loop only (from a barrier after the data is read to a barrier after the
last step), as Ringtape's `end` record does.

    /usr/bin/python3 bench/scripts/fmnist_ddp.py RANKS [DATA_DIR]
Prints: ranks=<n> train_seconds=<float> accuracy=<float>
"""
import gzip
import os
import sys
import time

import os  # noqa: E402

# one thread each: Debian's PyTorch calls OpenBLAS's pthreads build, whose threads torch.set_num_threads does not
# limit (before 2026-12-07 these references ran their GEMMs on every core)
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist
import torch.multiprocessing as mp

ROOT = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"


def idx(name, offset):
    with gzip.open(f"{ROOT}/{name}", "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def run(rank, world, port, out):
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    x = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0)
    y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-3)
    per_rank = 128 // world
    steps = len(x) // 128
    dist.barrier()
    start = time.perf_counter()
    for epoch in range(2):
        g = torch.Generator()
        g.manual_seed(epoch)
        order = torch.randperm(len(x), generator=g)
        for s in range(steps):
            i = order[s * 128 + rank * per_rank:s * 128 + (rank + 1) * per_rank]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(ddp(x[i]), y[i]).backward()
            opt.step()
    dist.barrier()
    seconds = time.perf_counter() - start
    if rank == 0:
        xt = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0)
        yt = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
        with torch.no_grad():
            accuracy = (model(xt).argmax(1) == yt).float().mean().item()
        out.put((seconds, accuracy))
    dist.destroy_process_group()


if __name__ == "__main__":
    world = int(sys.argv[1])
    port = 29500 + os.getpid() % 1000
    ctx = mp.get_context("spawn")
    q = ctx.SimpleQueue()
    mp.start_processes(run, args=(world, port, q), nprocs=world, join=True, start_method="spawn")
    seconds, accuracy = q.get()
    print(f"ranks={world} train_seconds={seconds:.3f} accuracy={accuracy:.4f}")
