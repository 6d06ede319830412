"""The seed model in PyTorch, timed like kiln_bench_seed_step: ms per training step at batch 1024
(forward, backward, Adam), images/s, inference of 10,000 images, peak resident memory and, on a
GPU, peak device memory (torch.cuda.max_memory_allocated, over training and inference, as kiln's
peak_allocated_mb covers both).

Same architecture, Glorot-uniform kernels, zero biases, Adam(lr 1e-3, eps 1e-7), sparse
categorical cross-entropy, synthetic inputs. Threads: torch.set_num_threads(--threads).
--compile MODE runs the model and its loss through torch.compile (PyTorch 2; MODE is torch's:
default, reduce-overhead, max-autotune, ...); the optimizer step stays eager. Compilation happens
in the --warmup steps and the inference warm-up pass, outside the timed part.

Also, as kiln_bench_seed_step: the seconds from process start to the first finished training step,
and with --epoch N the wall time of a steady epoch over N samples (the second of two: a shuffled
order, the batches gathered on the device, the epoch's loss read once at its end).

    pytorch_seed_step.py [--device cpu|cuda] [--steps N] [--batch B] [--threads T]
                         [--warmup W] [--compile MODE] [--epoch N]
"""
import argparse
import os
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Seed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 3)
        self.conv2 = nn.Conv2d(64, 128, 3)
        self.fc1 = nn.Linear(3200, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_since_process_start():
    """From /proc/self/stat's start time (field 22, clock ticks since boot) to CLOCK_BOOTTIME."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    start_ticks = int(fields[19])  # field 22; fields[0] is field 3
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--warmup", type=int, default=0, help="untimed steps first (default 1, 3 compiled)")
    p.add_argument("--compile", default="", metavar="MODE", help="torch.compile mode; empty: eager")
    p.add_argument("--epoch", type=int, default=0, help="samples of the timed epoch (0: none)")
    a = p.parse_args()
    if a.compile and not hasattr(torch, "compile"):
        raise SystemExit(f"pytorch_seed_step.py: --compile needs PyTorch 2 (this is {torch.__version__})")
    warmup = a.warmup if a.warmup > 0 else (3 if a.compile else 1)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    model = Seed().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = torch.rand(a.batch, 1, 28, 28, device=device)
    y = (torch.arange(a.batch, device=device) % 10)

    def loss_of(inputs, labels):
        return F.cross_entropy(model(inputs), labels)

    forward = model
    if a.compile:
        loss_of = torch.compile(loss_of, mode=a.compile)
        forward = torch.compile(model, mode=a.compile)

    def step(inputs=x, labels=y):
        opt.zero_grad(set_to_none=True)
        loss = loss_of(inputs, labels)
        loss.backward()
        opt.step()
        return loss.detach()

    for _ in range(warmup):
        step()
    sync(device)
    first_step_s = seconds_since_process_start()
    start = time.perf_counter()
    for _ in range(a.steps):
        last_loss = step()
    sync(device)
    step_s = (time.perf_counter() - start) / a.steps
    final_loss = last_loss.item()  # now: a later CUDA-graph replay (reduce-overhead) reuses its memory

    epoch_s = -1.0
    if a.epoch > 0:
        x_all = torch.rand(a.epoch, 1, 28, 28, device=device)
        y_all = torch.arange(a.epoch, device=device) % 10
        for epoch in range(2):
            start = time.perf_counter()
            order = torch.randperm(a.epoch, device=device)
            total = torch.zeros((), device=device)
            for first in range(0, a.epoch, a.batch):
                idx = order[first:first + a.batch]
                total += step(x_all[idx], y_all[idx]) * idx.numel()
            mean_loss = total.item() / a.epoch  # the epoch's one read, as fit's
            epoch_s = time.perf_counter() - start
        del x_all, y_all

    test = torch.rand(10000, 1, 28, 28, device=device)
    with torch.no_grad():
        for _ in range(2 if a.compile else 1):  # compiled: the no-grad graph is built here
            for chunk in test.split(1000):
                forward(chunk)
        sync(device)
        start = time.perf_counter()
        for chunk in test.split(1000):
            forward(chunk)
        sync(device)
    infer_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mode = f"torch.compile(mode={a.compile})" if a.compile else "eager"
    print(f"device {a.device}, batch {a.batch}, {a.steps} timed steps, {torch.get_num_threads()} threads, "
          f"PyTorch {torch.__version__} {mode}")
    print(f"final_loss {final_loss:.4f}")
    print(f"train_step_ms {step_s * 1e3:.1f}\nimages_per_s {a.batch / step_s:.0f}\n"
          f"inference_10k_ms {infer_s * 1e3:.1f}\npeak_rss_mb {peak_mb:.1f}\n"
          f"first_step_s {first_step_s:.2f}")
    if epoch_s >= 0:
        print(f"epoch_ms {epoch_s * 1e3:.1f}")
    if device.type == "cuda":
        print(f"peak_allocated_mb {torch.cuda.max_memory_allocated(device) / 2**20:.1f}\n"
              f"peak_reserved_mb {torch.cuda.max_memory_reserved(device) / 2**20:.1f}")


if __name__ == "__main__":
    main()
