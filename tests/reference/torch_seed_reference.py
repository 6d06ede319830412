"""Independent reference for the seed model, in PyTorch float64.

Reads the weights kiln saved (Keras 2 HDF5 layout, via h5py) and a batch (x.bin: float32 NHWC
images, y.bin: int32 labels), then writes ref.json with the softmax outputs, the gradients of the
first conv kernel and the last dense kernel, and the losses of three Adam steps computed with
Keras's Adam formula. Used by tests/unit/test_torch_reference.cpp.

    torch_seed_reference.py DIR BATCH
"""
import json
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F


def load_weights(path):
    weights = {}
    with h5py.File(path, "r") as f:
        for layer in f.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            names = [n.decode() if isinstance(n, bytes) else n for n in f[layer].attrs["weight_names"]]
            weights[layer] = [torch.tensor(np.array(f[layer][n]), dtype=torch.float64) for n in names]
    return weights


def forward(params, x):
    """Seed model on NHWC x, with Keras's layouts: conv kernels HWIO, dense kernels (in, out)."""
    h = x.permute(0, 3, 1, 2)
    for kernel, bias in (params[0:2], params[2:4]):
        h = F.relu(F.conv2d(h, kernel.permute(3, 2, 0, 1), bias))
        h = F.max_pool2d(h, 2)
    h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # flatten in NHWC order, as Keras does
    h = F.relu(h @ params[4] + params[5])
    h = F.relu(h @ params[6] + params[7])
    return h @ params[8] + params[9]


def main():
    directory, batch = sys.argv[1], int(sys.argv[2])
    w = load_weights(f"{directory}/weights.h5")
    params = [t.clone().requires_grad_(True) for layer in ("conv2d", "conv2d_1", "dense", "dense_1", "dense_2")
              for t in w[layer]]
    x = torch.tensor(np.fromfile(f"{directory}/x.bin", dtype=np.float32).reshape(batch, 28, 28, 1),
                     dtype=torch.float64)
    y = torch.tensor(np.fromfile(f"{directory}/y.bin", dtype=np.int32).astype(np.int64))

    logits = forward(params, x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    out = {"probs": F.softmax(logits, dim=1).detach().numpy().ravel().tolist(),
           "loss": loss.item(),
           "grad_conv2d_kernel": params[0].grad.numpy().ravel().tolist(),
           "grad_dense_2_kernel": params[8].grad.numpy().ravel().tolist()}

    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    losses = []
    for t in range(1, 4):
        for p in params:
            p.grad = None
        loss = F.cross_entropy(forward(params, x), y)
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            lr_t = lr * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t)
            for p, mi, vi in zip(params, m, v):
                mi.mul_(b1).add_((1 - b1) * p.grad)
                vi.mul_(b2).add_((1 - b2) * p.grad * p.grad)
                p.sub_(lr_t * mi / (vi.sqrt() + eps))
    out["adam_losses"] = losses
    with open(f"{directory}/ref.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
