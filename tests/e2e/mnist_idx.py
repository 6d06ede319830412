"""MNIST's IDX files (raw or gzip-compressed) as numpy arrays, for the e2e tests' Python parts.

common.sh puts this folder on PYTHONPATH: `from mnist_idx import idx`.
"""
import gzip
import os

import numpy as np


def idx(folder, name):
    """The array in folder/name (or folder/name.gz): uint8, shaped as the file's dimensions."""
    path = os.path.join(folder, name)
    opener = open if os.path.exists(path) else gzip.open
    with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)
