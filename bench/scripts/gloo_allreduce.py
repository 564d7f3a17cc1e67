#!/usr/bin/python3
"""The PyTorch side of `ringtape bench cluster`: one rank of a gloo all_reduce of a float32 tensor, one process per
emulated host (started by the bench with `ip netns exec`), rendezvous through a TCP store on rank 0's address. One
all_reduce to warm up, then REPS timed ones, each after a barrier that lines the ranks up (as the Ringtape ranks do).

    GLOO_SOCKET_IFNAME=eth0 /usr/bin/python3 bench/scripts/gloo_allreduce.py RANK WORLD MASTER_ADDR PORT MIB REPS
Prints one line per timed all_reduce: seconds <float>
"""
import sys
import time

import torch
import torch.distributed as dist


def main():
    rank, world, master, port, mib, reps = sys.argv[1:7]
    rank, world, reps = int(rank), int(world), int(reps)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://{master}:{port}", rank=rank, world_size=world)
    x = torch.empty(int(float(mib) * (1 << 20)) // 4, dtype=torch.float32)
    want = world * (world + 1) / 2
    for rep in range(-1, reps):
        x.fill_(rank + 1)
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(x)
        seconds = time.perf_counter() - t0
        if x[0].item() != want or x[-1].item() != want:
            raise SystemExit(f"gloo summed to {x[0].item()}, expected {want}")
        if rep >= 0:
            print(f"seconds {seconds:.6f}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
