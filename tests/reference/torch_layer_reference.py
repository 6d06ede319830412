#!/usr/bin/python3
"""Reference outputs of the Keras layers kiln added, from PyTorch (float64, CPU).

Usage: torch_layer_reference.py DIR. DIR/cases.json lists cases {"name", "op", "params",
"inputs": [{"file", "shape"}]} whose inputs are raw little-endian float32 files in DIR (NHWC, as
kiln and Keras lay them out); writes DIR/ref.json: {name: {output: [values, row-major NHWC]}}.
Keras's semantics are written here with PyTorch's own ops: TensorFlow's 'same' padding (the odd
pixel at the bottom / right), windows that ignore padding in averages, BatchNormalization's
biased batch variance (Keras 3) for the moving statistics.
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def same_padding(size, window, stride):
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def pool_same(x, params):
    (ph, pw), (sh, sw) = params["pool_size"], params["strides"]
    t, b = same_padding(x.shape[1], ph, sh)
    l, r = same_padding(x.shape[2], pw, sw)
    img = nchw(x)
    if params["mode"] == "max":
        padded = F.pad(img, (l, r, t, b), value=-math.inf)
        return nhwc(F.max_pool2d(padded, (ph, pw), (sh, sw)))
    sums = F.avg_pool2d(F.pad(img, (l, r, t, b)), (ph, pw), (sh, sw), divisor_override=1)
    ones = F.pad(torch.ones_like(img), (l, r, t, b))
    counts = F.avg_pool2d(ones, (ph, pw), (sh, sw), divisor_override=1)
    return nhwc(sums / counts)


def tf_pad(img, kernel, strides, padding):
    """img NCHW; pads as TensorFlow does for 'same' (the odd pixel at the bottom / right)."""
    if padding != "same":
        return img
    t, b = same_padding(img.shape[2], kernel[0], strides[0])
    l, r = same_padding(img.shape[3], kernel[1], strides[1])
    return F.pad(img, (l, r, t, b))


def depthwise(x, kernel, p):
    """x NHWC, kernel (kh, kw, c, m) -> NHWC with output channel k * m + j."""
    kh, kw, c, m = kernel.shape
    weight = kernel.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
    img = tf_pad(nchw(x), (kh, kw), p["strides"], p["padding"])
    return nhwc(F.conv2d(img, weight, stride=tuple(p["strides"]), groups=c))


def general_relu(x, p):
    slope, threshold = p["negative_slope"], p["threshold"]
    top = math.inf if p["max_value"] is None else p["max_value"]
    above = torch.clamp(torch.where(x > threshold, x, torch.zeros_like(x)), max=top)
    return torch.where(x > threshold, above, slope * (x - threshold))


def batch_norm(inputs, p):
    x, gamma, beta, moving_mean, moving_var = inputs
    c = x.shape[-1]
    flat = x.reshape(-1, c)
    if p["training"]:
        mean, var = flat.mean(0), flat.var(0, unbiased=False)
        y = F.batch_norm(flat, None, None, gamma, beta, training=True, eps=p["epsilon"])
        m = p["momentum"]
        return {"y": y.reshape(x.shape), "moving_mean": moving_mean * m + mean * (1 - m),
                "moving_variance": moving_var * m + var * (1 - m)}
    y = F.batch_norm(flat, moving_mean, moving_var, gamma, beta, training=False, eps=p["epsilon"])
    return {"y": y.reshape(x.shape)}


def merge(inputs, kind):
    out = inputs[0]
    for x in inputs[1:]:
        out = {"add": out + x, "average": out + x, "subtract": out - x, "multiply": out * x,
               "maximum": torch.maximum(out, x)}[kind]
    return out / len(inputs) if kind == "average" else out


def activation(x, name):
    """Keras 3's activations by name, in PyTorch's functions (hard_sigmoid: relu6(x + 3) / 6)."""
    return {"relu6": F.relu6, "leaky_relu": lambda v: F.leaky_relu(v, 0.2), "swish": F.silu,
            "silu": F.silu, "hard_sigmoid": F.hardsigmoid, "hard_swish": F.hardswish,
            "hard_silu": F.hardswish, "elu": F.elu, "selu": F.selu, "softplus": F.softplus,
            "softsign": F.softsign, "gelu": F.gelu, "exponential": torch.exp,
            "mish": F.mish}[name](x)


def run(case, inputs):
    op, p, x = case["op"], case.get("params", {}), inputs[0]
    if op == "relu":
        return {"y": general_relu(x, p)}
    if op == "softmax":
        return {"y": F.softmax(x, dim=-1)}
    if op == "activation":
        return {"y": activation(x, p["name"])}
    if op == "batch_norm":
        return batch_norm(inputs, p)
    if op == "zero_pad":
        t, b, l, r = p["amounts"]
        return {"y": nhwc(F.pad(nchw(x), (l, r, t, b)))}
    if op == "upsample_nearest":
        return {"y": nhwc(F.interpolate(nchw(x), scale_factor=tuple(p["size"]), mode="nearest"))}
    if op == "global_avg":
        return {"y": x.mean(dim=(1, 2))}
    if op == "global_max":
        return {"y": x.amax(dim=(1, 2))}
    if op == "upsample_bilinear":
        size = (x.shape[1] * p["size"][0], x.shape[2] * p["size"][1])
        return {"y": nhwc(F.interpolate(nchw(x), size=size, mode="bilinear", align_corners=False))}
    if op == "depthwise":
        return {"y": depthwise(x, inputs[1], p) + inputs[2]}
    if op == "separable":
        spread = depthwise(x, inputs[1], p)
        pointwise = inputs[2][0, 0]  # (c * m, filters)
        return {"y": spread @ pointwise + inputs[3]}
    if op == "merge":
        return {"y": merge(inputs, p["kind"])}
    if op == "pool_same":
        return {"y": pool_same(x, p)}
    raise ValueError("unknown op " + op)


def main():
    folder = sys.argv[1]
    with open(folder + "/cases.json") as f:
        cases = json.load(f)
    result = {}
    for case in cases:
        inputs = []
        for spec in case["inputs"]:
            values = np.fromfile(folder + "/" + spec["file"], dtype="<f4").astype(np.float64)
            inputs.append(torch.from_numpy(values.reshape(spec["shape"])))
        outputs = run(case, inputs)
        result[case["name"]] = {k: v.contiguous().reshape(-1).tolist() for k, v in outputs.items()}
    with open(folder + "/ref.json", "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
