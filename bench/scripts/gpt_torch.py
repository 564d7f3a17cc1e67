#!/usr/bin/python3
"""The PyTorch version of a Ringtape GPT job (deploy/jobs/gpt-licenses.yaml and the zoo's GPT jobs), for StepBench
and bench/RESULTS.md: the same byte-level model, data windows, held-out tail, optimizer and schedule.

Usage (Debian's python3-torch, PyTorch 1.13):
  /usr/bin/python3 gpt_torch.py step  JOB.yaml [--threads T] [--steps S]
      prints ms_per_step=<float>: a training step (forward, backward, AdamW) on batches of the job's data
  /usr/bin/python3 gpt_torch.py train JOB.yaml [--threads T] [--set key=value ...] [--seed N]
      trains the job's steps and prints one JSON line per 10 steps ({"step", "loss", "max_logit", "min_entropy",
      "log_z"}) and a last line {"bits_per_byte", "loss", "seconds", "ms_per_step"}

Reads from the job: data.train (format text: path, context, stride), data.eval.split, model (embedding, positional,
residual blocks of layernorm + attention or layernorm + linear/gelu/linear, layernorm, linear head; init normal std),
loss.z_loss, train (steps, global_batch, optimizer adamw/adam lr/betas/eps/weight_decay, lr_schedule constant or
cosine with warmup_steps, clip_grad_norm). Anything else in the model is an error: this script is not a general
interpreter of the job schema.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

# One thread means one: Debian's PyTorch calls OpenBLAS's pthreads build (libblas.so.3), whose own threads
# torch.set_num_threads does not limit; its GEMMs would run on every core. Set before torch loads OpenBLAS.
_threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
os.environ["OPENBLAS_NUM_THREADS"] = _threads
os.environ["OMP_NUM_THREADS"] = _threads

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402


def load(path, sets):
    with open(path) as f:
        job = yaml.safe_load(f)
    for s in sets:
        key, value = s.split("=", 1)
        node = job
        parts = key.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return job


def init_of(spec, default_std):
    init = spec.get("init")
    if init is None:
        return default_std
    if isinstance(init, dict) and "normal" in init:
        return init["normal"]["std"]
    raise SystemExit(f"unsupported init {init!r}")


class Attention(nn.Module):
    def __init__(self, spec, d):
        super().__init__()
        self.h = spec["heads"]
        self.causal = spec.get("causal", True)
        bias = spec.get("bias", True)
        self.qkv = nn.Linear(d, 3 * d, bias=bias)
        self.proj = nn.Linear(d, d, bias=bias)
        std = init_of(spec, None)
        for lin in (self.qkv, self.proj):
            if std is not None:
                nn.init.normal_(lin.weight, 0.0, std)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        hd = d // self.h
        self.q_norm = nn.LayerNorm(hd) if spec.get("qk_layernorm", False) else None
        self.k_norm = nn.LayerNorm(hd) if spec.get("qk_layernorm", False) else None
        self.stats = None

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(n, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.h))
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool)) if self.causal else None
        if mask is not None:
            att = att.masked_fill(~mask, float("-inf"))
        w = F.softmax(att, dim=-1)
        if self.record:
            with torch.no_grad():
                logits = att.masked_fill(~mask, 0.0) if mask is not None else att
                ent = -(w * torch.log(w.clamp_min(1e-30))).sum(-1).mean(dim=(0, 2))  # per head
                self.stats = (logits.abs().amax().item(), ent.min().item())
        y = (w @ v).transpose(1, 2).contiguous().view(n, t, d)
        return self.proj(y)

    record = False


class Residual(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = nn.Sequential(*body)

    def forward(self, x):
        return x + self.body(x)


def build(model, shape):
    layers = []
    for spec in model:
        t = spec["type"]
        if t == "embedding":
            e = nn.Embedding(spec["vocab"], spec["dim"])
            nn.init.normal_(e.weight, 0.0, init_of(spec, 1.0))
            layers.append(e)
            shape = shape + [spec["dim"]]
        elif t == "positional":
            p = nn.Parameter(torch.empty(spec["max_len"], shape[-1]))
            nn.init.normal_(p, 0.0, init_of(spec, 1.0))
            mod = Positional(p)
            layers.append(mod)
        elif t == "layernorm":
            layers.append(nn.LayerNorm(shape[-1], eps=spec.get("eps", 1e-5)))
        elif t == "attention":
            layers.append(Attention(spec, shape[-1]))
        elif t == "linear":
            lin = nn.Linear(shape[-1], spec["out"], bias=spec.get("bias", True))
            std = init_of(spec, None)
            if std is not None:
                nn.init.normal_(lin.weight, 0.0, std)
            if lin.bias is not None:
                nn.init.constant_(lin.bias, spec.get("bias_init", 0.0))
            layers.append(lin)
            shape = shape[:-1] + [spec["out"]]
        elif t == "gelu":
            layers.append(nn.GELU(approximate=spec.get("approximate", "none")))
        elif t == "residual":
            body, _ = build(spec["layers"], shape)
            layers.append(Residual(body))
        else:
            raise SystemExit(f"gpt_torch.py does not build layer type {t!r}")
    return layers, shape


class Positional(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.weight = p

    def forward(self, x):
        return x + self.weight[: x.shape[1]]


def windows(data, context, stride):
    count = (len(data) - (context + 1)) // stride + 1
    idx = torch.arange(count)[:, None] * stride + torch.arange(context + 1)[None, :]
    w = data[idx]
    return w[:, :-1].contiguous(), w[:, 1:].contiguous()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["step", "train"])
    ap.add_argument("job")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    job = load(a.job, a.set)
    src = job["data"]["train"]
    if src["format"] != "text":
        raise SystemExit("gpt_torch.py reads format text only")
    raw = open(src["path"], "rb").read()
    if src["path"].endswith(".gz"):
        raw = gzip.decompress(raw)
    data = torch.tensor(list(raw), dtype=torch.long)
    context = src["context"]
    stride = src.get("stride", context)
    split = job["data"].get("eval", {}).get("split", 0.0)
    cut = round(len(data) * (1 - split))
    xtr, ytr = windows(data[:cut], context, stride)
    xev, yev = windows(data[cut:], context, stride) if split > 0 else (None, None)

    layers, _ = build(job["model"]["layers"], [context])
    model = nn.Sequential(*layers)
    z_loss = job["model"]["loss"].get("z_loss", 0.0)
    tr = job["train"]
    opt_spec = tr["optimizer"]
    betas = tuple(opt_spec.get("betas", [0.9, 0.999]))
    kind = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[opt_spec["type"]]
    opt = kind(model.parameters(), lr=opt_spec["lr"], betas=betas, eps=opt_spec.get("eps", 1e-8),
               weight_decay=opt_spec.get("weight_decay", 0.01 if opt_spec["type"] == "adamw" else 0.0))
    sched = tr.get("lr_schedule", {"type": "constant"})
    warm = sched.get("warmup_steps", 0)
    total = tr["steps"]

    def lr_factor(s):
        if s < warm:
            return s / warm
        if sched["type"] == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, total - warm))))
        return 1.0

    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    clip = tr.get("clip_grad_norm")
    batch = tr["global_batch"]
    attentions = [m for m in model.modules() if isinstance(m, Attention)]

    def objective(x, y):
        logits = model(x)
        flat = logits.reshape(-1, logits.shape[-1])
        loss = F.cross_entropy(flat, y.reshape(-1))
        lz = torch.logsumexp(flat.detach(), dim=-1).mean().item()
        if z_loss:
            loss = loss + z_loss * torch.logsumexp(flat, dim=-1).pow(2).mean()
        return loss, lz

    gen = torch.Generator().manual_seed(a.seed)
    order = torch.randperm(len(xtr), generator=gen)
    at = 0

    def next_batch():
        nonlocal order, at
        if at + batch > len(order):
            order = torch.randperm(len(xtr), generator=gen)
            at = 0
        i = order[at:at + batch]
        at += batch
        return xtr[i], ytr[i]

    def step(s, record=False):
        for m in attentions:
            m.record = record
        x, y = next_batch()
        opt.zero_grad(set_to_none=True)
        loss, lz = objective(x, y)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        scheduler.step()
        return loss.item(), lz

    if a.mode == "step":
        for s in range(10):
            step(s)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for s in range(a.steps):
                step(s)
            best = min(best, (time.perf_counter() - t) / a.steps)
        print(f"ms_per_step={best * 1e3:.4f}")
        return

    t0 = time.perf_counter()
    for s in range(total):
        record = (s + 1) % 10 == 0
        loss, lz = step(s, record)
        if record:
            stats = [m.stats for m in attentions]
            print(json.dumps({"step": s + 1, "loss": loss, "log_z": lz,
                              "max_logit": max(st[0] for st in stats), "min_entropy": min(st[1] for st in stats)}))
            sys.stdout.flush()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        total_loss = 0.0
        for i in range(0, len(xev), 512):
            logits = model(xev[i:i + 512])
            total_loss += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yev[i:i + 512].reshape(-1),
                                          reduction="sum").item()
        held = total_loss / (len(xev) * context)
    print(json.dumps({"bits_per_byte": held / math.log(2), "loss": held, "seconds": seconds,
                      "ms_per_step": seconds / total * 1e3}))


if __name__ == "__main__":
    main()
