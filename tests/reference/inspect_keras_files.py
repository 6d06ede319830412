#!/usr/bin/python3
"""Reads files kiln wrote with Python's zipfile and h5py only, and reports what Keras would find.

Usage: inspect_keras_files.py MODEL.keras MODEL.h5 OUT.json
  .keras: the members and their compression, metadata.json, config.json, and every dataset of
          model.weights.h5 by path (shape and values)
  .h5:    the root attributes, and optimizer_weights: weight_names, each dataset's dtype, shape
          and values
"""
import io
import json
import sys
import zipfile

import h5py
import numpy as np

keras_path, h5_path, out = sys.argv[1:4]


def datasets(group):
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            value = np.asarray(obj[()])
            found[name] = {"dtype": str(value.dtype), "shape": list(value.shape),
                           "values": value.reshape(-1).astype(np.float64).tolist()}
    group.visititems(visit)
    return found


def text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


report = {}
with zipfile.ZipFile(keras_path) as zf:
    report["members"] = zf.namelist()
    report["stored"] = all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
    report["metadata"] = json.loads(zf.read("metadata.json"))
    report["config"] = json.loads(zf.read("config.json"))
    with h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as h5:
        report["groups"] = sorted(name for name, obj in h5.items())
        report["weights"] = datasets(h5)

with h5py.File(h5_path, "r") as h5:
    report["h5_attrs"] = {key: text(h5.attrs[key]) for key in h5.attrs}
    if "optimizer_weights" in h5:
        group = h5["optimizer_weights"]
        report["optimizer_weight_names"] = [text(n) for n in group.attrs["weight_names"]]
        report["optimizer_weights"] = datasets(group)

with open(out, "w") as f:
    json.dump(report, f)
