#!/usr/bin/env bash
# An MLP whose input is (None, 784), saved as Keras <= 2.2 writes a Sequential (its config is the
# list of layers itself): kiln evaluate / predict on MNIST reshape the 28x28x1 images to its input,
# say so once, and score what numpy scores. The weights make it a nearest-class-mean classifier
# (kernel = each class's mean image, bias = -|mean|^2 / 2), computed here from MNIST's training
# images; numpy gives the reference accuracy on the same test images.
source "$(dirname "$0")/common.sh"
require_mnist
OUT="$WORK/mlp_input"
fresh_dir "$OUT"

"$PYTHON" - "$DATA/mnist" "$OUT" <<'PY'
import json, sys
import h5py
import numpy as np
import mnist_idx

data, out = sys.argv[1], sys.argv[2]

def idx(name):
    return mnist_idx.idx(data, name)

x_train = idx("train-images-idx3-ubyte")[:6000].reshape(-1, 784) / 255.0
y_train = idx("train-labels-idx1-ubyte")[:6000]
means = np.stack([x_train[y_train == c].mean(axis=0) for c in range(10)])
kernel = means.T.astype(np.float32)  # (784, 10)
bias = (-0.5 * (means ** 2).sum(axis=1)).astype(np.float32)
x_test = idx("t10k-images-idx3-ubyte")[:300].reshape(-1, 784).astype(np.float32) / np.float32(255)
y_test = idx("t10k-labels-idx1-ubyte")[:300]
predicted = (x_test @ kernel + bias).argmax(axis=1)
layers = [{"class_name": "Dense", "config": {"name": "dense_1", "trainable": True,
           "batch_input_shape": [None, 784], "dtype": "float32", "units": 10,
           "activation": "softmax", "use_bias": True}}]
with h5py.File(out + "/mlp.h5", "w") as f:
    f.attrs["keras_version"] = "2.2.4"
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": layers}).encode()
    group = f.create_group("model_weights")
    group.attrs["layer_names"] = [b"dense_1"]
    g = group.create_group("dense_1")
    g.attrs["weight_names"] = [b"dense_1/kernel:0", b"dense_1/bias:0"]
    g.create_dataset("dense_1/kernel:0", data=kernel)
    g.create_dataset("dense_1/bias:0", data=bias)
with open(out + "/reference.txt", "w") as f:
    f.write("%.4f %d\n" % ((predicted == y_test).mean(), predicted[0]))
PY
read -r accuracy first <"$OUT/reference.txt"

"$KILN" evaluate --model "$OUT/mlp.h5" --dataset mnist --limit 300 --device cpu >"$OUT/evaluate.txt" ||
  fail "kiln evaluate failed: $(cat "$OUT/evaluate.txt")"
expect_in "$OUT/evaluate.txt" "note: the model's input is (None, 784); each 28x28x1 image is reshaped to it"
expect_in "$OUT/evaluate.txt" "Test accuracy: $accuracy"
[[ $(grep -c "^note: " "$OUT/evaluate.txt") -eq 1 ]] || fail "the reshape is noted more than once"

"$KILN" predict --model "$OUT/mlp.h5" --dataset mnist --index 0 --device cpu >"$OUT/predict.txt" ||
  fail "kiln predict failed: $(cat "$OUT/predict.txt")"
expect_in "$OUT/predict.txt" "Predicted class: $first "
echo "nearest-mean MLP: test accuracy $accuracy on 300 images, as numpy's; first image predicted $first"
