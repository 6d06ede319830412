#!/usr/bin/python3
"""Reference outputs of kiln's graph ops (kiln/graph_ops.h) and detection NMS, from PyTorch 1.13
(float64) and torchvision's nms.

Usage: torch_graph_ops_reference.py DIR. DIR/cases.json lists cases {"name", "op", "params",
"inputs": [{"file", "shape", "dtype": "float32" | "int32"}]} whose inputs are raw little-endian
files in DIR (NHWC); writes DIR/ref.json: {name: [output values, row-major], ...}.
TensorFlow's semantics are written here in PyTorch's ops: floor division / modulo round toward
minus infinity (torch.div(rounding_mode="floor"), torch.remainder); TF1's asymmetric bilinear
resize (source = o * in / out) has no PyTorch mode, so it is computed from its definition with
plain indexing; the other two modes are F.interpolate's.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision


def load(directory, spec):
    dtype = np.float32 if spec["dtype"] == "float32" else np.int32
    data = np.fromfile(f"{directory}/{spec['file']}", dtype=dtype).reshape(spec["shape"])
    t = torch.from_numpy(data.copy())
    return t.double() if spec["dtype"] == "float32" else t


def binary(a, b, p):
    kind = p["kind"]
    if kind == "add":
        return a + b
    if kind == "subtract":
        return a - b
    if kind == "multiply":
        return a * b
    if kind == "floor_divide":
        return torch.div(a, b, rounding_mode="floor")
    if kind == "floor_mod":
        return torch.remainder(a, b)
    if kind == "equal":
        return (a == b).int()
    raise ValueError(kind)


def resize_asymmetric(x, oh, ow):
    """TF1 resize_bilinear, align_corners=False, half_pixel_centers=False."""
    n, h, w, c = x.shape

    def axis(inp, out):
        pos = torch.arange(out, dtype=torch.float64) * (inp / out)
        lower = torch.floor(pos).long().clamp(min=0)
        upper = torch.ceil(pos).long().clamp(max=inp - 1)
        return lower, upper, pos - torch.floor(pos)

    ry0, ry1, ly = axis(h, oh)
    rx0, rx1, lx = axis(w, ow)
    lx = lx.view(1, 1, ow, 1)
    ly = ly.view(1, oh, 1, 1)
    top = x[:, ry0][:, :, rx0] + (x[:, ry0][:, :, rx1] - x[:, ry0][:, :, rx0]) * lx
    bottom = x[:, ry1][:, :, rx0] + (x[:, ry1][:, :, rx1] - x[:, ry1][:, :, rx0]) * lx
    return top + (bottom - top) * ly


def resize(x, p):
    oh, ow = p["size"]
    if not p["align_corners"] and not p["half_pixel_centers"]:
        return resize_asymmetric(x, oh, ow)
    y = F.interpolate(x.permute(0, 3, 1, 2), size=(oh, ow), mode="bilinear",
                      align_corners=p["align_corners"])
    return y.permute(0, 2, 3, 1)


def strided_slice(x, p):
    out = x
    for axis, (b, s, n) in enumerate(zip(p["begin"], p["strides"], p["sizes"])):
        idx = torch.tensor([b + i * s for i in range(n)], dtype=torch.long)
        out = out.index_select(axis, idx)
    return out


def run(case, inputs):
    op, p = case["op"], case.get("params", {})
    if op == "binary":
        return [binary(inputs[0], inputs[1], p)]
    if op == "spatial_mean":
        return [inputs[0].mean(dim=(1, 2), keepdim=True)]
    if op == "resize":
        return [resize(inputs[0], p)]
    if op == "top_k":
        values, indices = torch.topk(inputs[0], p["k"], dim=-1, largest=True, sorted=True)
        return [values, indices]
    if op == "gather":
        return [inputs[0][inputs[1].long()]]
    if op == "strided_slice":
        return [strided_slice(inputs[0], p)]
    if op == "nms":
        keep = torchvision.ops.nms(inputs[0].view(-1, 4), inputs[1].view(-1), p["iou_threshold"])
        return [keep]
    raise ValueError(op)


def main():
    directory = sys.argv[1]
    with open(f"{directory}/cases.json") as f:
        cases = json.load(f)
    result = {}
    for case in cases:
        inputs = [load(directory, spec) for spec in case["inputs"]]
        outputs = run(case, inputs)
        result[case["name"]] = [o.reshape(-1).double().tolist() for o in outputs]
    with open(f"{directory}/ref.json", "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
