#!/usr/bin/python3
"""Writes model files in the layouts Keras 3.x and Keras 2.x write them, with weights of a numpy
reference model, and that model's outputs (float64) on fixed inputs.

Layouts (keras/src/saving/saving_lib.py, Keras 3; keras/saving/legacy/hdf5_format.py, Keras 2):
  .keras       zip (stored): metadata.json {"keras_version", "date_saved"}, config.json
               (serialize_keras_object: module / class_name / config / registered_name,
               build_config, compile_config), model.weights.h5 with the root group vars/ and
               layers/<snake_case class name>[_<n>]/vars/<i> per layer (Keras 2.13-2.15:
               _layer_checkpoint_dependencies/ in place of layers/)
  .weights.h5  (Keras 3 save_weights) the same HDF5 layout as model.weights.h5
  .h5 weights  (Keras 2 save_weights) root attrs layer_names, backend, keras_version; a group per
               layer with attr weight_names and datasets <layer>/<weight>:0
  arch.json    model.to_json(): {"class_name", "config", "keras_version", "backend"} (Keras 2) or
               the serialize_keras_object dict (Keras 3)

Layer names differ from Keras's automatic names on purpose: Keras 3 addresses weights by class
name and position, not by layer name.

Usage: keras3_files.py OUT_DIR  ->  the files above and OUT_DIR/reference.json
"""
import io
import json
import os
import sys
import zipfile

import h5py
import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(15)


def uniform(shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, shape).astype(np.float32)


# ---- numpy reference layers (float64, NHWC, HWIO kernels, Keras semantics)

def same_pads(size, window, stride):
    total = max((-(-size // stride) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, bias, padding):
    kh, kw, _, f = kernel.shape
    if padding == "same":
        x = np.pad(x, ((0, 0), same_pads(x.shape[1], kh, 1), same_pads(x.shape[2], kw, 1), (0, 0)))
    n, h, w, _ = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    y = np.zeros((n, oh, ow, f))
    for ky in range(kh):
        for kx in range(kw):
            y += x[:, ky:ky + oh, kx:kx + ow, :] @ kernel[ky, kx].astype(np.float64)
    return y + bias


def max_pool(x, size):
    n, h, w, c = x.shape
    oh, ow = h // size, w // size
    return x[:, :oh * size, :ow * size].reshape(n, oh, size, ow, size, c).max(axis=(2, 4))


def relu(x):
    return np.maximum(x, 0.0)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def batch_norm(x, gamma, beta, mean, variance):
    inv = gamma / np.sqrt(variance.astype(np.float64) + 1e-3)
    return x * inv + (beta - mean * inv)


# ---- Keras 3 config pieces

def policy():
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}


def initializer(name):
    return {"module": "keras.initializers", "class_name": name,
            "config": {"seed": None} if name == "GlorotUniform" else {}, "registered_name": None}


def k3_layer(class_name, name, input_shape=None, **config):
    entry = {"module": "keras.layers", "class_name": class_name,
             "config": dict({"name": name, "trainable": True, "dtype": policy()}, **config),
             "registered_name": None}
    if input_shape is not None:
        entry["build_config"] = {"input_shape": input_shape}
    return entry


def k3_input(shape, name="input_layer"):
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": shape, "dtype": "float32", "sparse": False, "name": name},
            "registered_name": None}


def conv_config(filters, size, padding, activation):
    return dict(filters=filters, kernel_size=[size, size], strides=[1, 1], padding=padding,
                data_format="channels_last", dilation_rate=[1, 1], groups=1, activation=activation,
                use_bias=True, kernel_initializer=initializer("GlorotUniform"),
                bias_initializer=initializer("Zeros"), kernel_regularizer=None,
                bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                bias_constraint=None)


def dense_config(units, activation):
    return dict(units=units, activation=activation, use_bias=True,
                kernel_initializer=initializer("GlorotUniform"),
                bias_initializer=initializer("Zeros"), kernel_regularizer=None,
                bias_regularizer=None, kernel_constraint=None, bias_constraint=None)


def compile_config(loss):
    return {"optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                          "config": {"name": "adam", "learning_rate": 0.0005, "weight_decay": None,
                                     "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                                     "use_ema": False, "ema_momentum": 0.99,
                                     "ema_overwrite_frequency": None, "loss_scale_factor": None,
                                     "gradient_accumulation_steps": None, "beta_1": 0.9,
                                     "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False},
                          "registered_name": None},
            "loss": loss, "loss_weights": None, "metrics": ["accuracy"], "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def keras_tensor(shape, layer):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, 0, 0]}}


# ---- writers

def write_vars(h5, prefix, paths_and_weights):
    h5.create_group("vars")
    for path, weights in paths_and_weights:
        group = h5.create_group(f"{prefix}/{path}/vars")
        for i, value in enumerate(weights):
            group.create_dataset(str(i), data=value)


def weights_h5_bytes(paths_and_weights, prefix="layers"):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        write_vars(h5, prefix, paths_and_weights)
    return buffer.getvalue()


def write_keras(path, config, paths_and_weights, keras_version="3.3.3", prefix="layers"):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": keras_version,
                                                 "date_saved": "2024-05-20@14:50:37"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", weights_h5_bytes(paths_and_weights, prefix))


def write_keras2_weights(path, layer_names, weights):
    """Keras 2 model.save_weights("x.h5"): weights by layer name, in order."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode("utf8") for n in layer_names]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for name in layer_names:
            g = f.create_group(name)
            stored = [f"{name}/{short}:0" for short, _ in weights.get(name, [])]
            g.attrs["weight_names"] = [s.encode("utf8") for s in stored] if stored else np.zeros((0,), "float64")
            for stored_name, (_, value) in zip(stored, weights.get(name, [])):
                g.create_dataset(stored_name, data=value)


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
