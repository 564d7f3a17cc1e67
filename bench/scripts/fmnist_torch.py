#!/usr/bin/python3
"""The PyTorch side of `ringtape bench fmnist`: the training of bench/jobs/fashion-mnist-mlp.yaml written in PyTorch
(Debian's python3-torch 1.13, CPU): the same gzipped IDX files read from disk, min-max scaling (x / 255), a
784-256-256-10 ReLU MLP with PyTorch's default init, Adam 1e-3, batch 128, 2 epochs of a fresh shuffle each, then
the test-set accuracy. The whole process is what is timed (interpreter start, imports and data reading included),
as the Ringtape run is timed from its launcher's start.

    /usr/bin/python3 bench/scripts/fmnist_torch.py [DATA_DIR]
Prints: first_step_unix=<float> (the wall clock when the first step is done, for the time from process start to the
first step) and accuracy=<float> train_seconds=<float>
"""
import gzip
import sys
import time

import numpy as np
import torch

root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"


def idx(name, offset):
    with gzip.open(f"{root}/{name}", "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


x_train = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0)
y_train = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
x_test = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0)
y_test = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))

torch.manual_seed(1)
model = torch.nn.Sequential(
    torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
start = time.perf_counter()
steps = len(x_train) // 128  # whole batches only, as the Ringtape job
for epoch in range(2):
    order = torch.randperm(len(x_train))
    for s in range(steps):
        i = order[s * 128:(s + 1) * 128]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x_train[i]), y_train[i]).backward()
        opt.step()
        if epoch == 0 and s == 0:
            print(f"first_step_unix={time.time():.3f}", flush=True)
train_seconds = time.perf_counter() - start
with torch.no_grad():
    accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
print(f"accuracy={accuracy:.4f} train_seconds={train_seconds:.3f}")
