#!/usr/bin/python3
"""Writes TF.js layers models (model.json + binary shards) of a small MobileNet-like CNN in each
weight encoding, and the outputs a numpy model with the same (dequantised) weights gives.

Usage: /usr/bin/python3 tfjs_layers_files.py OUT_DIR   (Debian's python3-numpy)

OUT_DIR/x.bin               input (2, 8, 8, 3) float32, C order
OUT_DIR/<encoding>/model.json + shards, for encoding in float32, float16, uint8, uint16
OUT_DIR/ref.json            {"<encoding>": [outputs (2, 3), flattened]}

The layout follows tfjs-core io/types.ts and io_utils.ts: a group's shards are concatenated, its
weights lie back to back, little-endian; uint8/uint16 values are q * scale + min, float16 IEEE
half. The manifest lists the weights in alphabetical order (as tensorflowjs_converter does), not in
the model's order, so a reader must pair them by name. float32 splits its one group over two
shards (the cut inside a weight); uint8 puts the dense layer's weights in a second group;
float16 and uint16 use the TF.js-native topology (modelTopology = the model config, trainingConfig
beside it, in TF.js's spelling), float32 and uint8 the converter's (modelTopology.model_config,
.training_config, in Keras 2.2's).
"""
import json
import os
import sys

import numpy as np

EPS = 1e-3


def layer(name, class_name, inbound, **config):
    config["name"] = name
    nodes = [[[source, 0, 0, {}] for source in inbound]] if inbound else []
    return {"name": name, "class_name": class_name, "config": config, "inbound_nodes": nodes}


def model_config():
    layers = [
        layer("input_1", "InputLayer", [], batch_input_shape=[None, 8, 8, 3], dtype="float32"),
        layer("pad", "ZeroPadding2D", ["input_1"], padding=[[0, 1], [0, 1]], data_format="channels_last"),
        layer("conv", "Conv2D", ["pad"], filters=4, kernel_size=[3, 3], strides=[2, 2], padding="valid",
              data_format="channels_last", dilation_rate=[1, 1], activation="linear", use_bias=False),
        layer("bn1", "BatchNormalization", ["conv"], axis=-1, momentum=0.999, epsilon=EPS, center=True, scale=True),
        layer("relu1", "ReLU", ["bn1"], max_value=6.0),
        layer("dw", "DepthwiseConv2D", ["relu1"], kernel_size=[3, 3], strides=[1, 1], padding="same",
              depth_multiplier=1, data_format="channels_last", dilation_rate=[1, 1], activation="linear",
              use_bias=True),
        layer("bn2", "BatchNormalization", ["dw"], axis=-1, momentum=0.999, epsilon=EPS, center=True, scale=True),
        layer("relu2", "ReLU", ["bn2"], max_value=6.0),
        layer("add", "Add", ["relu1", "relu2"]),
        layer("gap", "GlobalAveragePooling2D", ["add"], data_format="channels_last"),
        layer("dense", "Dense", ["gap"], units=3, activation="softmax", use_bias=True),
    ]
    return {"class_name": "Model", "config": {"name": "tiny_mobilenet", "layers": layers,
                                              "input_layers": [["input_1", 0, 0]],
                                              "output_layers": [["dense", 0, 0]]}}


# Keras 2.2's spelling (the converter copies it) and TF.js's (LayersModel.getTrainingConfig).
KERAS_TRAINING_CONFIG = {"loss": "categorical_crossentropy", "metrics": ["accuracy"],
                         "optimizer_config": {"class_name": "SGD", "config": {"lr": 0.01, "momentum": 0.9}}}
TFJS_TRAINING_CONFIG = {"loss": "categoricalCrossentropy", "metrics": ["accuracy"],
                        "optimizer_config": {"class_name": "Adam", "config": {"learningRate": 0.005, "beta1": 0.8,
                                                                              "beta2": 0.99, "epsilon": 1e-6}}}


def random_weights(rng):
    def bn(c):
        return {"gamma": rng.uniform(0.5, 1.5, c), "beta": rng.uniform(-0.5, 0.5, c),
                "moving_mean": rng.uniform(-0.5, 0.5, c), "moving_variance": rng.uniform(0.2, 2.0, c)}
    w = {"conv/kernel": rng.normal(0, 0.5, (3, 3, 3, 4)),
         "dw/depthwise_kernel": rng.normal(0, 0.5, (3, 3, 4, 1)), "dw/bias": rng.normal(0, 0.2, 4),
         "dense/kernel": rng.normal(0, 0.4, (4, 3)), "dense/bias": rng.normal(0, 0.2, 3)}
    for name, c in (("bn1", 4), ("bn2", 4)):
        for key, value in bn(c).items():
            w[name + "/" + key] = value
    return {k: np.asarray(v, dtype=np.float32) for k, v in w.items()}


# ---- encodings: (bytes, manifest entry extras, the float32 values a reader must decode)

def encode(values, encoding):
    if encoding == "float32":
        return values.astype("<f4").tobytes(), {}, values
    if encoding == "float16":
        half = values.astype("<f2")
        return half.tobytes(), {"quantization": {"dtype": "float16"}}, half.astype(np.float32)
    levels = 255 if encoding == "uint8" else 65535
    lo, hi = float(values.min()), float(values.max())
    scale = (hi - lo) / levels if hi > lo else 1.0
    q = np.round((values.astype(np.float64) - lo) / scale).astype("<u1" if encoding == "uint8" else "<u2")
    decoded = (q.astype(np.float64) * scale + lo).astype(np.float32)  # tfjs: double, then float32
    return q.tobytes(), {"quantization": {"dtype": encoding, "scale": scale, "min": lo}}, decoded


def write_model(out, encoding, weights):
    os.makedirs(out, exist_ok=True)
    names = sorted(weights)
    groups = [names] if encoding != "uint8" else [[n for n in names if not n.startswith("dense")],
                                                   [n for n in names if n.startswith("dense")]]
    manifest, decoded = [], {}
    for g, group in enumerate(groups, start=1):
        data, entries = b"", []
        for name in group:
            raw, extra, decoded[name] = encode(weights[name], encoding)
            entries.append(dict({"name": name, "shape": list(weights[name].shape), "dtype": "float32"}, **extra))
            data += raw
        cuts = [0, len(data)] if encoding != "float32" else [0, len(data) // 2 + 1, len(data)]
        paths = []
        for s in range(len(cuts) - 1):
            path = "group%d-shard%dof%d.bin" % (g, s + 1, len(cuts) - 1)
            with open(os.path.join(out, path), "wb") as f:
                f.write(data[cuts[s]:cuts[s + 1]])
            paths.append(path)
        manifest.append({"paths": paths, "weights": entries})
    if encoding in ("float32", "uint8"):
        root = {"format": "layers-model", "generatedBy": "keras v2.2.4", "convertedBy": "TensorFlow.js Converter",
                "modelTopology": {"keras_version": "2.2.4", "backend": "tensorflow",
                                  "model_config": model_config(), "training_config": KERAS_TRAINING_CONFIG},
                "weightsManifest": manifest}
    else:
        root = {"format": "layers-model", "generatedBy": "TensorFlow.js tfjs-layers v4.22.0", "convertedBy": None,
                "modelTopology": model_config(), "trainingConfig": TFJS_TRAINING_CONFIG, "weightsManifest": manifest}
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(root, f)
    return decoded


# ---- the numpy model, in float64

def conv2d(x, k, stride):  # valid padding; x (n, h, w, c), k (kh, kw, c, o)
    kh, kw = k.shape[:2]
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    y = np.zeros((x.shape[0], oh, ow, k.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            y[:, i, j, :] = np.tensordot(patch, k, axes=([1, 2, 3], [0, 1, 2]))
    return y


def depthwise_same(x, k):  # 3x3, stride 1, 'same'; k (3, 3, c, 1)
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    y = np.zeros_like(x)
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            y[:, i, j, :] = np.einsum("nabc,abc->nc", p[:, i:i + 3, j:j + 3, :], k[:, :, :, 0])
    return y


def batch_norm(x, w, name):
    g, b = w[name + "/gamma"], w[name + "/beta"]
    m, v = w[name + "/moving_mean"], w[name + "/moving_variance"]
    return (x - m) * (g / np.sqrt(v + EPS)) + b


def forward(x, w):
    w = {k: v.astype(np.float64) for k, v in w.items()}
    h = np.pad(x.astype(np.float64), ((0, 0), (0, 1), (0, 1), (0, 0)))
    a = np.clip(batch_norm(conv2d(h, w["conv/kernel"], 2), w, "bn1"), 0, 6)
    d = depthwise_same(a, w["dw/depthwise_kernel"]) + w["dw/bias"]
    r = np.clip(batch_norm(d, w, "bn2"), 0, 6)
    logits = (a + r).mean(axis=(1, 2)) @ w["dense/kernel"] + w["dense/bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(15)
    weights = random_weights(rng)
    x = rng.uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    os.makedirs(out, exist_ok=True)
    x.tofile(os.path.join(out, "x.bin"))
    ref = {}
    for encoding in ("float32", "float16", "uint8", "uint16"):
        decoded = write_model(os.path.join(out, encoding), encoding, weights)
        ref[encoding] = forward(x, decoded).ravel().tolist()
    with open(os.path.join(out, "ref.json"), "w") as f:
        json.dump(ref, f)


if __name__ == "__main__":
    main()
