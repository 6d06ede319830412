#!/usr/bin/env bash
# --input-scale on evaluate / predict, against numpy. Two nearest-class-mean classifiers (kernel =
# each class's mean image, bias = -|mean|^2 / 2, computed here from MNIST's training images):
#   raw.h5:       Dense on (None, 784), built from raw 0..255 pixels (a model trained on raw pixels)
#   rescaling.h5: InputLayer (28, 28, 1) -> Rescaling(1/255) -> Flatten -> Dense, built from
#                 pixels in [0, 1] (a model that scales its input itself)
# numpy scores each on the same test images fed raw and fed / 255; kiln must give the same
# accuracy for each --input-scale: 1 and auto read raw pixels where the model wants them, the
# default 1/255 scores what numpy scores for pixels / 255 (poorly: the same mistake a user makes).
source "$(dirname "$0")/common.sh"
require_mnist
OUT="$WORK/input_scale"
fresh_dir "$OUT"
N=300

"$PYTHON" - "$DATA/mnist" "$OUT" "$N" <<'PY'
import json, sys
import h5py
import numpy as np
import mnist_idx

data, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

def idx(name):
    return mnist_idx.idx(data, name)

def nearest_mean(x, y):
    means = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    return means.T.astype(np.float32), (-0.5 * (means ** 2).sum(axis=1)).astype(np.float32)

def dense_weights(group, name, kernel, bias):
    g = group.create_group(name)
    g.attrs["weight_names"] = [(name + "/kernel:0").encode(), (name + "/bias:0").encode()]
    g.create_dataset(name + "/kernel:0", data=kernel)
    g.create_dataset(name + "/bias:0", data=bias)

def write(path, config, version, layer_names, dense_name, kernel, bias):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [name.encode() for name in layer_names]
        for name in layer_names:
            if name == dense_name:
                dense_weights(group, name, kernel, bias)
            else:
                group.create_group(name).attrs["weight_names"] = np.array([], dtype="S1")

x_train = idx("train-images-idx3-ubyte")[:6000].reshape(-1, 784).astype(np.float64)
y_train = idx("train-labels-idx1-ubyte")[:6000]
x_raw = idx("t10k-images-idx3-ubyte")[:n].reshape(-1, 784).astype(np.float32)
x_unit = x_raw / np.float32(255)
y_test = idx("t10k-labels-idx1-ubyte")[:n]

def accuracy(x, kernel, bias):
    return "%.4f" % ((x @ kernel + bias).argmax(axis=1) == y_test).mean()

def first(x, kernel, bias):
    return str((x[:1] @ kernel + bias).argmax())

# raw.h5: Keras 2.2's Sequential (the config is the list of layers).
kernel, bias = nearest_mean(x_train, y_train)
dense = {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True,
         "batch_input_shape": [None, 784], "dtype": "float32", "units": 10,
         "activation": "softmax", "use_bias": True}}
write(out + "/raw.h5", {"class_name": "Sequential", "config": [dense]}, "2.2.4",
      ["dense_1"], "dense_1", kernel, bias)
reference = {"raw_1": accuracy(x_raw, kernel, bias), "raw_255": accuracy(x_unit, kernel, bias),
             "raw_first": first(x_raw, kernel, bias)}

# rescaling.h5: tf.keras 2.x's Sequential with a leading Rescaling layer.
kernel, bias = nearest_mean(x_train / 255.0, y_train)
layers = [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 28, 28, 1],
     "dtype": "float32", "sparse": False, "ragged": False, "name": "input_1"}},
    {"class_name": "Rescaling", "config": {"name": "rescaling", "trainable": True,
     "dtype": "float32", "scale": 1.0 / 255, "offset": 0.0}},
    {"class_name": "Flatten", "config": {"name": "flatten", "trainable": True,
     "dtype": "float32", "data_format": "channels_last"}},
    {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32",
     "units": 10, "activation": "softmax", "use_bias": True}}]
config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
write(out + "/rescaling.h5", config, "2.9.0", ["rescaling", "flatten", "dense"], "dense",
      kernel, bias)
rescaled = x_raw * np.float32(1.0 / 255)
twice = x_unit * np.float32(1.0 / 255)
reference.update({"rescaling_1": accuracy(rescaled, kernel, bias),
                  "rescaling_255": accuracy(twice, kernel, bias),
                  "rescaling_first": first(rescaled, kernel, bias)})
with open(out + "/reference.txt", "w") as f:
    for key, value in reference.items():
        f.write("%s %s\n" % (key, value))
PY
declare -A ref
while read -r key value; do ref[$key]=$value; done <"$OUT/reference.txt"

# evaluate_with MODEL SCALE_OPTION... : kiln evaluate's output in $OUT/evaluate.txt.
evaluate_with() {
  local model="$1"
  shift
  "$KILN" evaluate --model "$OUT/$model" --dataset mnist --limit "$N" --device cpu "$@" \
    >"$OUT/evaluate.txt" || fail "kiln evaluate $model $* failed: $(cat "$OUT/evaluate.txt")"
}

# expect_header_scale TEXT: evaluate's header line ends with "input scale TEXT".
expect_header_scale() {
  grep -q "test set ($N images), input scale $1\$" "$OUT/evaluate.txt" ||
    fail "evaluate's header should end with 'input scale $1': $(head -3 "$OUT/evaluate.txt")"
}

evaluate_with raw.h5
expect_header_scale 1/255
expect_in "$OUT/evaluate.txt" "Test accuracy: ${ref[raw_255]}"
evaluate_with raw.h5 --input-scale 1
expect_header_scale 1
expect_in "$OUT/evaluate.txt" "Test accuracy: ${ref[raw_1]}"
evaluate_with raw.h5 --input-scale auto
expect_header_scale "1/255 (auto: no leading Rescaling layer)"
expect_in "$OUT/evaluate.txt" "Test accuracy: ${ref[raw_255]}"

evaluate_with rescaling.h5
expect_header_scale 1/255
expect_in "$OUT/evaluate.txt" "Test accuracy: ${ref[rescaling_255]}"
evaluate_with rescaling.h5 --input-scale auto
expect_header_scale "1 (auto: the model starts with Rescaling layer 'rescaling')"
expect_in "$OUT/evaluate.txt" "Test accuracy: ${ref[rescaling_1]}"
evaluate_with rescaling.h5 --input-scale 1
expect_in "$OUT/evaluate.txt" "Test accuracy: ${ref[rescaling_1]}"

# The scales must matter: a well-fed model scores far above a mis-fed one.
"$PYTHON" -c "import sys; a = sys.argv[1:]; assert float(a[0]) > 0.7 and float(a[1]) > 0.7 \
  and float(a[2]) < 0.5 and float(a[3]) < 0.5, a" \
  "${ref[raw_1]}" "${ref[rescaling_1]}" "${ref[raw_255]}" "${ref[rescaling_255]}" ||
  fail "the references do not separate the scales"

"$KILN" predict --model "$OUT/raw.h5" --dataset mnist --index 0 --device cpu --input-scale 1 \
  >"$OUT/predict.txt" || fail "kiln predict failed: $(cat "$OUT/predict.txt")"
grep -q "input scale 1\$" "$OUT/predict.txt" || fail "predict should say 'input scale 1'"
expect_in "$OUT/predict.txt" "Predicted class: ${ref[raw_first]} "
"$KILN" predict --model "$OUT/rescaling.h5" --dataset mnist --index 0 --device cpu \
  --input-scale auto >"$OUT/predict.txt" || fail "kiln predict failed: $(cat "$OUT/predict.txt")"
expect_in "$OUT/predict.txt" "Predicted class: ${ref[rescaling_first]} "

expect_usage_error "$OUT/err" "$KILN" evaluate --model "$OUT/raw.h5" --input-scale 2
echo "raw-pixel model: accuracy ${ref[raw_1]} with --input-scale 1, ${ref[raw_255]} with 1/255;" \
  "Rescaling model: ${ref[rescaling_1]} with auto, ${ref[rescaling_255]} with 1/255 (as numpy's)"
