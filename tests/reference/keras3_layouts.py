"""Keras file layouts and a numpy reference for them, shared by tests/reference/keras3_files.py
and tests/e2e/keras_files.sh.

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
"""
import io
import json
import zipfile

import h5py
import numpy as np


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


def write_keras2_layers(group, layer_names, weights):
    """Keras 2's weights layout in `group`: a save_weights file's root, or a model file's
    model_weights. `weights`: {layer name: [(short name, values)]}, in Keras's weight order."""
    group.attrs["layer_names"] = [n.encode("utf8") for n in layer_names]
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.15.0"
    for name in layer_names:
        g = group.create_group(name)
        stored = [f"{name}/{short}:0" for short, _ in weights.get(name, [])]
        g.attrs["weight_names"] = [s.encode("utf8") for s in stored] if stored else np.zeros((0,), "float64")
        for stored_name, (_, value) in zip(stored, weights.get(name, [])):
            g.create_dataset(stored_name, data=value)


def write_keras2_weights(path, layer_names, weights):
    """Keras 2 model.save_weights("x.h5"): weights by layer name, in order."""
    with h5py.File(path, "w") as f:
        write_keras2_layers(f, layer_names, weights)
