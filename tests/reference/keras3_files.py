#!/usr/bin/python3
"""Writes model files in the layouts Keras 3.x and Keras 2.x write them (keras3_layouts.py), with
weights of a numpy reference model, and that model's outputs (float64) on fixed inputs.

Layer names differ from Keras's automatic names on purpose: Keras 3 addresses weights by class
name and position, not by layer name.

Usage: keras3_files.py OUT_DIR  ->  the files and OUT_DIR/reference.json
"""
import json
import os
import sys
import zipfile

import h5py
import numpy as np

from keras3_layouts import (batch_norm, compile_config, conv2d, conv_config, dense_config,
                            initializer, k3_input, k3_layer, keras_tensor, max_pool, policy, relu,
                            softmax, weights_h5_bytes, write_keras, write_keras2_layers,
                            write_keras2_weights, write_vars)

out = sys.argv[1]
rng = np.random.default_rng(15)


def uniform(shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, shape).astype(np.float32)


reference = {}

# ---- 1. A CNN, Keras 3 Sequential with an InputLayer: conv -> pool -> flatten -> dense -> dense
cnn = {"features": [uniform((3, 3, 1, 4)), uniform((4,))],
       "hidden": [uniform((36, 8)), uniform((8,))],
       "head": [uniform((8, 5)), uniform((5,))]}
x_cnn = uniform((2, 8, 8, 1), 0.0, 1.0)
y = relu(conv2d(x_cnn.astype(np.float64), *cnn["features"], "valid"))
y = max_pool(y, 2).reshape(2, -1)
y = relu(y @ cnn["hidden"][0] + cnn["hidden"][1])
reference["cnn"] = {"x": x_cnn.reshape(-1).tolist(), "x_shape": list(x_cnn.shape),
                    "y": softmax(y @ cnn["head"][0] + cnn["head"][1]).reshape(-1).tolist()}
cnn_layers = [
    k3_input([None, 8, 8, 1]),
    k3_layer("Conv2D", "features", [None, 8, 8, 1], **conv_config(4, 3, "valid", "relu")),
    k3_layer("MaxPooling2D", "pool", [None, 6, 6, 4], pool_size=[2, 2], padding="valid",
             strides=[2, 2], data_format="channels_last"),
    k3_layer("Flatten", "flat", [None, 3, 3, 4], data_format="channels_last"),
    k3_layer("Dense", "hidden", [None, 36], **dense_config(8, "relu")),
    k3_layer("Dense", "head", [None, 8], **dense_config(5, "softmax")),
]
cnn_config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "cnn", "trainable": True, "dtype": policy(), "layers": cnn_layers},
              "registered_name": None, "build_config": {"input_shape": [None, 8, 8, 1]},
              "compile_config": compile_config("categorical_crossentropy")}
cnn_paths = [("conv2d", cnn["features"]), ("max_pooling2d", []), ("flatten", []),
             ("dense", cnn["hidden"]), ("dense_1", cnn["head"])]
write_keras(out + "/cnn.keras", cnn_config, cnn_paths)
# Keras 3 save_weights + to_json of the same model.
with h5py.File(out + "/cnn.weights.h5", "w") as h5:
    write_vars(h5, "layers", cnn_paths)
arch3 = dict(cnn_config)
del arch3["compile_config"]
with open(out + "/cnn_arch_keras3.json", "w") as f:
    json.dump(arch3, f)
# Keras 2.13-2.15 .keras: Keras 2 configs, _layer_checkpoint_dependencies/ paths.
keras2_layers = [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 8, 8, 1], "dtype": "float32",
                                            "sparse": False, "ragged": False, "name": "input_1"}},
    {"class_name": "Conv2D", "config": dict(conv_config(4, 3, "valid", "relu"), name="features",
                                            trainable=True, dtype="float32")},
    {"class_name": "MaxPooling2D", "config": {"name": "pool", "trainable": True, "dtype": "float32",
                                              "pool_size": [2, 2], "padding": "valid",
                                              "strides": [2, 2], "data_format": "channels_last"}},
    {"class_name": "Flatten", "config": {"name": "flat", "trainable": True, "dtype": "float32",
                                         "data_format": "channels_last"}},
    {"class_name": "Dense", "config": dict(dense_config(8, "relu"), name="hidden", trainable=True,
                                           dtype="float32")},
    {"class_name": "Dense", "config": dict(dense_config(5, "softmax"), name="head", trainable=True,
                                           dtype="float32")},
]
for entry in keras2_layers[1:]:
    for key in ("kernel_initializer", "bias_initializer"):
        if key in entry["config"]:
            entry["config"][key] = {"class_name": entry["config"][key]["class_name"],
                                    "config": entry["config"][key]["config"]}
keras2_config = {"class_name": "Sequential", "config": {"name": "cnn", "layers": keras2_layers}}
write_keras(out + "/cnn_keras213.keras", dict(keras2_config, keras_version="2.13.1", backend="tensorflow"),
            cnn_paths, keras_version="2.13.1", prefix="_layer_checkpoint_dependencies")

# ---- 2. An MLP, Keras 3 Sequential built without an Input (build_input_shape), with Dropout,
# and the same as a Keras 2 to_json() + save_weights pair.
mlp = {"dense": [uniform((12, 16)), uniform((16,))], "dense_1": [uniform((16, 3)), uniform((3,))]}
x_mlp = uniform((3, 12))
y = relu(x_mlp.astype(np.float64) @ mlp["dense"][0] + mlp["dense"][1])
reference["mlp"] = {"x": x_mlp.reshape(-1).tolist(), "x_shape": list(x_mlp.shape),
                    "y": softmax(y @ mlp["dense_1"][0] + mlp["dense_1"][1]).reshape(-1).tolist()}
mlp_config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "mlp", "trainable": True, "dtype": policy(),
                         "layers": [k3_layer("Dense", "dense", [None, 12], **dense_config(16, "relu")),
                                    k3_layer("Dropout", "dropout", [None, 16], rate=0.5, seed=None,
                                             noise_shape=None),
                                    k3_layer("Dense", "dense_1", [None, 16], **dense_config(3, "softmax"))],
                         "build_input_shape": [None, 12]},
              "registered_name": None, "build_config": {"input_shape": [None, 12]},
              "compile_config": compile_config("huber_loss_kiln_lacks")}
write_keras(out + "/mlp.keras", mlp_config,
            [("dense", mlp["dense"]), ("dropout", []), ("dense_1", mlp["dense_1"])])
mlp_keras2 = {"class_name": "Sequential", "config": {"name": "mlp", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 12], "dtype": "float32",
                                            "sparse": False, "ragged": False, "name": "dense_input"}},
    {"class_name": "Dense", "config": dict(dense_config(16, "relu"), name="dense", trainable=True,
                                           dtype="float32")},
    {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True, "dtype": "float32",
                                         "rate": 0.5, "noise_shape": None, "seed": None}},
    {"class_name": "Dense", "config": dict(dense_config(3, "softmax"), name="dense_1", trainable=True,
                                           dtype="float32")}]},
    "keras_version": "2.15.0", "backend": "tensorflow"}
for entry in mlp_keras2["config"]["layers"]:
    for key in ("kernel_initializer", "bias_initializer"):
        if key in entry["config"]:
            entry["config"][key] = {"class_name": entry["config"][key]["class_name"],
                                    "config": entry["config"][key]["config"]}
with open(out + "/mlp_arch_keras2.json", "w") as f:
    json.dump(mlp_keras2, f)
write_keras2_weights(out + "/mlp_keras2_weights.h5", ["dense", "dropout", "dense_1"],
                     {"dense": [("kernel", mlp["dense"][0]), ("bias", mlp["dense"][1])],
                      "dense_1": [("kernel", mlp["dense_1"][0]), ("bias", mlp["dense_1"][1])]})

# ---- 3. A functional model with two branches merged by Add, then BatchNormalization:
# input -> conv2d "wide" (3x3 same) -+-> add -> batch_normalization -> GAP -> dense
#       -> conv2d "narrow" (1x1)   -+
fn = {"wide": [uniform((3, 3, 2, 3)), uniform((3,))], "narrow": [uniform((1, 1, 2, 3)), uniform((3,))],
      "norm": [uniform((3,), 0.5, 1.5), uniform((3,)), uniform((3,)), uniform((3,), 0.5, 2.0)],
      "out": [uniform((3, 4)), uniform((4,))]}
x_fn = uniform((2, 6, 6, 2))
x64 = x_fn.astype(np.float64)
y = conv2d(x64, *fn["wide"], "same") + conv2d(x64, *fn["narrow"], "valid")
y = batch_norm(y, *fn["norm"]).mean(axis=(1, 2))
reference["functional"] = {"x": x_fn.reshape(-1).tolist(), "x_shape": list(x_fn.shape),
                           "y": softmax(y @ fn["out"][0] + fn["out"][1]).reshape(-1).tolist()}
image = [None, 6, 6, 2]
maps = [None, 6, 6, 3]


def node(*tensors):
    return [{"args": [tensors[0]] if len(tensors) == 1 else [list(tensors)], "kwargs": {}}]


fn_layers = [
    dict(k3_input(image, "pixels"), name="pixels", inbound_nodes=[]),
    dict(k3_layer("Conv2D", "wide", image, **conv_config(3, 3, "same", "linear")), name="wide",
         inbound_nodes=node(keras_tensor(image, "pixels"))),
    dict(k3_layer("Conv2D", "narrow", image, **conv_config(3, 1, "valid", "linear")), name="narrow",
         inbound_nodes=node(keras_tensor(image, "pixels"))),
    dict(k3_layer("Add", "sum", [maps, maps]), name="sum",
         inbound_nodes=node(keras_tensor(maps, "wide"), keras_tensor(maps, "narrow"))),
    dict(k3_layer("BatchNormalization", "norm", maps, axis=-1, momentum=0.99, epsilon=0.001,
                  center=True, scale=True, beta_initializer=initializer("Zeros"),
                  gamma_initializer=initializer("Ones"),
                  moving_mean_initializer=initializer("Zeros"),
                  moving_variance_initializer=initializer("Ones"), beta_regularizer=None,
                  gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                  synchronized=False), name="norm", inbound_nodes=node(keras_tensor(maps, "sum"))),
    dict(k3_layer("GlobalAveragePooling2D", "gap", maps, data_format="channels_last", keepdims=False),
         name="gap", inbound_nodes=node(keras_tensor(maps, "norm"))),
    dict(k3_layer("Dense", "out", [None, 3], **dense_config(4, "softmax")), name="out",
         inbound_nodes=node(keras_tensor([None, 3], "gap"))),
]
fn_config = {"module": "keras.src.models.functional", "class_name": "Functional",
             "config": {"name": "branches", "trainable": True, "layers": fn_layers,
                        "input_layers": [["pixels", 0, 0]], "output_layers": [["out", 0, 0]]},
             "registered_name": "Functional", "build_config": {"input_shape": None},
             "compile_config": compile_config("categorical_crossentropy")}
write_keras(out + "/functional.keras", fn_config,
            [("input_layer", []), ("conv2d", fn["wide"]), ("conv2d_1", fn["narrow"]), ("add", []),
             ("batch_normalization", fn["norm"]), ("global_average_pooling2d", []),
             ("dense", fn["out"])])

# ---- 5. A Keras 2.0-2.10 model file of a compiled softmax regression with Adam's state after 5
# steps (optimizer_weights: Adam/iter:0, then every m, then every v), and the weights after one
# more Adam step on a fixed batch, by numpy (mean categorical cross-entropy; Keras's Adam:
# lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), w -= lr_t m / (sqrt(v) + eps), t = iter + 1).
kernel, bias = uniform((4, 3)), uniform((3,))
m = [uniform((4, 3), -0.1, 0.1), uniform((3,), -0.1, 0.1)]
v = [uniform((4, 3), 0.001, 0.01), uniform((3,), 0.001, 0.01)]
x_adam = uniform((6, 4))
labels = np.array([0, 1, 2, 0, 1, 2])
y_adam = np.eye(3)[labels]
lr, b1, b2, eps, t = 0.01, 0.9, 0.999, 1e-7, 6
p = softmax(x_adam.astype(np.float64) @ kernel + bias)
grads = [x_adam.T.astype(np.float64) @ (p - y_adam) / len(x_adam), (p - y_adam).mean(axis=0)]
lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
after = []
for w, g, m_i, v_i in zip([kernel, bias], grads, m, v):
    m_new = b1 * m_i + (1 - b1) * g
    v_new = b2 * v_i + (1 - b2) * g * g
    after.append(w - lr_t * m_new / (np.sqrt(v_new) + eps))
reference["adam_resume"] = {"x": x_adam.reshape(-1).tolist(), "x_shape": list(x_adam.shape),
                            "y": y_adam.reshape(-1).tolist(),
                            "kernel": after[0].reshape(-1).tolist(), "bias": after[1].tolist()}
adam_config = {"class_name": "Sequential", "config": {"name": "softmax_regression", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                            "sparse": False, "ragged": False, "name": "dense_input"}},
    {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32",
                                       "units": 3, "activation": "softmax", "use_bias": True}}]}}
with h5py.File(out + "/adam_resume.h5", "w") as f:
    f.attrs["keras_version"] = "2.10.0"
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = json.dumps(adam_config).encode("utf8")
    f.attrs["training_config"] = json.dumps({
        "loss": "categorical_crossentropy", "metrics": ["accuracy"], "weighted_metrics": None,
        "loss_weights": None,
        "optimizer_config": {"class_name": "Adam", "config": {
            "name": "Adam", "learning_rate": lr, "decay": 0.0, "beta_1": b1, "beta_2": b2,
            "epsilon": eps, "amsgrad": False}}}).encode("utf8")
    write_keras2_layers(f.create_group("model_weights"), ["dense"],
                        {"dense": [("kernel", kernel), ("bias", bias)]})
    names = ["Adam/iter:0", "Adam/dense/kernel/m:0", "Adam/dense/bias/m:0",
             "Adam/dense/kernel/v:0", "Adam/dense/bias/v:0"]
    group = f.create_group("optimizer_weights")
    group.attrs["weight_names"] = [n.encode("utf8") for n in names]
    for name, value in zip(names, [np.int64(t - 1)] + m + v):
        group.create_dataset(name, data=value)

# ---- 4. Files that must be refused: a zip without config.json, weights of the wrong shape, an
# activation kiln lacks, and Keras 3's directory form.
with zipfile.ZipFile(out + "/no_config.keras", "w") as zf:
    zf.writestr("metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": "2024-05-20@14:50:37"}))
    zf.writestr("model.weights.h5", weights_h5_bytes(cnn_paths))
write_keras(out + "/bad_shape.keras", cnn_config,
            [(p, w) if p != "dense" else (p, [uniform((36, 9)), uniform((9,))]) for p, w in cnn_paths])
bad_activation = json.loads(json.dumps(cnn_config))
bad_activation["config"]["layers"][4]["config"]["activation"] = "sparse_plus_unknown"
write_keras(out + "/bad_activation.keras", bad_activation, cnn_paths)
os.makedirs(out + "/saved_dir.keras", exist_ok=True)
with open(out + "/saved_dir.keras/config.json", "w") as f:
    json.dump(cnn_config, f)

with open(out + "/reference.json", "w") as f:
    json.dump(reference, f)
