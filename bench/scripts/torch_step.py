#!/usr/bin/python3
"""The PyTorch reference for StepBench: ms per training step of the same MLP (Adam, fp32, CPU).

Usage: /usr/bin/python3 torch_step.py WIDTHS BATCH STEPS THREADS   (WIDTHS like 784,256,256,10)
Prints one line: ms_per_step=<float>
"""
import os
import sys
import time

# one thread means one: Debian's PyTorch calls OpenBLAS's pthreads build, whose threads torch.set_num_threads does
# not limit (before this line the "one thread" reference ran its GEMMs on every core)
os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[4]
os.environ["OMP_NUM_THREADS"] = sys.argv[4]

import torch  # noqa: E402

widths = [int(w) for w in sys.argv[1].split(",")]
batch, steps, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
layers = []
for i in range(len(widths) - 1):
    layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
    if i < len(widths) - 2:
        layers.append(torch.nn.ReLU())
model = torch.nn.Sequential(*layers)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.randn(batch, widths[0])
y = torch.randint(0, widths[-1], (batch,))


def step():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()


for _ in range(max(20, steps // 5)):
    step()
best = float("inf")
for _ in range(5):
    t = time.perf_counter()
    for _ in range(steps):
        step()
    best = min(best, (time.perf_counter() - t) / steps)
print(f"ms_per_step={best * 1e3:.4f}")
