#!/usr/bin/python3
"""Writes a model file the way tf.keras 2.x does (h5py; model_config JSON, weights at
model_weights/<layer>/<layer>/<weight>:0 in Keras's weight order) with the layers kiln added for
Keras files, and the model's outputs on a fixed input computed with numpy (float64).

Usage: keras2_layer_file.py OUT_DIR  ->  OUT_DIR/model.h5, OUT_DIR/x.bin (float32), OUT_DIR/ref.json
"""
import json
import sys

import h5py
import numpy as np

from keras3_layouts import write_keras2_layers

out = sys.argv[1]
rng = np.random.default_rng(7)


def uniform(shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, shape).astype(np.float32)


def same_pads(size, window, stride):
    total = max((-(-size // stride) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def depthwise_same(x, kernel, bias):
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    t, b = same_pads(h, kh, 1)
    l, r = same_pads(w, kw, 1)
    padded = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
    y = np.zeros((n, h, w, c * m))
    for k in range(c):
        for j in range(m):
            for ky in range(kh):
                for kx in range(kw):
                    y[..., k * m + j] += padded[:, ky:ky + h, kx:kx + w, k] * kernel[ky, kx, k, j]
    return y + bias


def layer(class_name, config):
    return {"class_name": class_name, "config": dict(config, trainable=True, dtype="float32")}


x = uniform((2, 5, 4, 3))
weights = {
    "depthwise_conv2d": [("depthwise_kernel", uniform((3, 3, 3, 2))), ("bias", uniform((6,)))],
    "batch_normalization": [("gamma", uniform((6,), 0.5, 1.5)), ("beta", uniform((6,))),
                            ("moving_mean", uniform((6,))), ("moving_variance", uniform((6,), 0.5, 2.0))],
    "dense": [("kernel", uniform((6, 3))), ("bias", uniform((3,)))],
}
w = {name: dict(ws) for name, ws in weights.items()}

# The numpy reference: Keras's inference arithmetic.
y = depthwise_same(x.astype(np.float64), w["depthwise_conv2d"]["depthwise_kernel"], w["depthwise_conv2d"]["bias"])
bn = w["batch_normalization"]
inv = bn["gamma"] / np.sqrt(bn["moving_variance"].astype(np.float64) + 1e-3)
y = y * inv + (bn["beta"] - bn["moving_mean"] * inv)
y = np.where(y > 0, np.minimum(y, 6.0), 0.05 * y)              # ReLU(max_value=6, negative_slope=0.05)
y = np.where(y > 0, y, 0.1 * y)                                # LeakyReLU(alpha=0.1)
y = np.repeat(np.repeat(y, 2, axis=1), 1, axis=2)              # UpSampling2D((2, 1))
y = np.pad(y, ((0, 0), (1, 0), (0, 2), (0, 0)))                # ZeroPadding2D(((1, 0), (0, 2)))
y = y.mean(axis=(1, 2))                                        # GlobalAveragePooling2D
logits = y @ w["dense"]["kernel"] + w["dense"]["bias"]
e = np.exp(logits - logits.max(axis=1, keepdims=True))
probs = e / e.sum(axis=1, keepdims=True)

layers = [
    layer("InputLayer", {"batch_input_shape": [None, 5, 4, 3], "sparse": False, "ragged": False, "name": "input_1"}),
    layer("DepthwiseConv2D", {"name": "depthwise_conv2d", "kernel_size": [3, 3], "strides": [1, 1],
                              "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1],
                              "groups": 1, "activation": "linear", "use_bias": True, "depth_multiplier": 2,
                              "depthwise_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                              "bias_initializer": {"class_name": "Zeros", "config": {}},
                              "depthwise_regularizer": None, "bias_regularizer": None,
                              "activity_regularizer": None, "depthwise_constraint": None,
                              "bias_constraint": None}),
    layer("BatchNormalization", {"name": "batch_normalization", "axis": [3], "momentum": 0.99,
                                 "epsilon": 0.001, "center": True, "scale": True}),
    layer("ReLU", {"name": "re_lu", "max_value": 6.0, "negative_slope": 0.05, "threshold": 0.0}),
    layer("LeakyReLU", {"name": "leaky_re_lu", "alpha": 0.1}),
    layer("UpSampling2D", {"name": "up_sampling2d", "size": [2, 1], "data_format": "channels_last",
                           "interpolation": "nearest"}),
    layer("ZeroPadding2D", {"name": "zero_padding2d", "padding": [[1, 0], [0, 2]], "data_format": "channels_last"}),
    layer("GlobalAveragePooling2D", {"name": "global_average_pooling2d", "data_format": "channels_last",
                                     "keepdims": False}),
    layer("Dense", {"name": "dense", "units": 3, "activation": "softmax", "use_bias": True}),
]
config = {"class_name": "Functional", "config": {"name": "model", "layers": [], "input_layers": [["input_1", 0, 0]],
                                                 "output_layers": [["dense", 0, 0]]}}
previous = None
for entry in layers:
    name = entry["config"]["name"]
    entry["name"] = name
    entry["inbound_nodes"] = [] if previous is None else [[[previous, 0, 0, {}]]]
    config["config"]["layers"].append(entry)
    previous = name

with h5py.File(out + "/model.h5", "w") as f:
    f.attrs["keras_version"] = "2.15.0"
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = json.dumps(config).encode("utf8")
    names = [entry["config"]["name"] for entry in layers]
    write_keras2_layers(f.create_group("model_weights"), names, weights)

x.tofile(out + "/x.bin")
with open(out + "/ref.json", "w") as f:
    json.dump({"probs": probs.reshape(-1).tolist()}, f)
