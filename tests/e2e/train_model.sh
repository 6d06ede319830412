#!/usr/bin/env bash
# kiln train --model: fine-tunes a model read from a file, keeping its weights. The file is a
# pre-trained nearest-class-mean classifier (InputLayer -> Flatten -> Dense softmax, kernel = each
# class's mean image, bias = -|mean|^2 / 2, from MNIST's training images) in tf.keras 2.x's
# layout, with a training_config naming sparse_categorical_crossentropy and Adam. numpy gives its
# test accuracy and its mean cross-entropy on the training images:
# - with a learning rate of 1e-9 the weights barely move, so the first epoch's loss and the test
#   accuracy are the loaded model's (its weights were kept, not re-initialised);
# - three epochs at 1e-3 lower the loss every epoch and beat the loaded model's accuracy;
# - the saved model scores the same under kiln evaluate; bad models and options fail clearly.
source "$(dirname "$0")/common.sh"
require_mnist
OUT="$WORK/train_model"
fresh_dir "$OUT"
TRAIN=2000
TEST=500

"$PYTHON" - "$DATA/mnist" "$OUT" "$TRAIN" "$TEST" <<'PY'
import json, sys
import h5py
import numpy as np
import mnist_idx

data, out, n_train, n_test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def idx(name):
    return mnist_idx.idx(data, name)

def unit(images):
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)

x_all = unit(idx("train-images-idx3-ubyte"))
y_all = idx("train-labels-idx1-ubyte")
# The means come from images the fine-tuning does not see (after the first n_train).
x_means, y_means = x_all[10000:16000], y_all[10000:16000]
means = np.stack([x_means[y_means == c].mean(axis=0) for c in range(10)])
kernel = means.T.astype(np.float32)
bias = (-0.5 * (means ** 2).sum(axis=1)).astype(np.float32)
x_train, y_train = x_all[:n_train], y_all[:n_train]
x_test, y_test = unit(idx("t10k-images-idx3-ubyte")[:n_test]), idx("t10k-labels-idx1-ubyte")[:n_test]

def logits(x):
    return (x @ kernel + bias).astype(np.float64)

z = logits(x_train)
z -= z.max(axis=1, keepdims=True)
cross_entropy = (np.log(np.exp(z).sum(axis=1)) - z[np.arange(n_train), y_train]).mean()
accuracy = (logits(x_test).argmax(axis=1) == y_test).mean()

def layers(units):
    return [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 28, 28, 1],
         "dtype": "float32", "sparse": False, "ragged": False, "name": "input_1"}},
        {"class_name": "Flatten", "config": {"name": "flatten", "trainable": True,
         "dtype": "float32", "data_format": "channels_last"}},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True,
         "dtype": "float32", "units": units, "activation": "softmax", "use_bias": True}}]

def write(path, units, loss):
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers(units)}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.9.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        if loss is not None:
            f.attrs["training_config"] = json.dumps({
                "loss": loss, "metrics": ["accuracy"], "loss_weights": None,
                "optimizer_config": {"class_name": "Adam", "config": {
                    "name": "Adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                    "epsilon": 1e-07, "amsgrad": False}}}).encode()
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [b"flatten", b"dense"]
        group.create_group("flatten").attrs["weight_names"] = np.array([], dtype="S1")
        g = group.create_group("dense")
        g.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        g.create_dataset("dense/kernel:0", data=kernel[:, :units])
        g.create_dataset("dense/bias:0", data=bias[:units])

write(out + "/pretrained.h5", 10, "sparse_categorical_crossentropy")
write(out + "/no_loss.h5", 10, None)
write(out + "/mse.h5", 10, "mean_squared_error")
write(out + "/five.h5", 5, "sparse_categorical_crossentropy")
with open(out + "/reference.txt", "w") as f:
    f.write("%.4f %.6f\n" % (accuracy, cross_entropy))
PY
read -r accuracy cross_entropy <"$OUT/reference.txt"

# epoch_losses LOG: the loss at the end of each epoch of a fit's progress output, one a line.
epoch_losses() {
  "$PYTHON" - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for line in text.split("\n"):
    last = line.split("\r")[-1]
    found = re.search(r"\] .* - loss: ([0-9.e+-]+)", last)
    if found and re.match(r"\s*(\d+)/\1 \[", last):
        print(found.group(1))
PY
}

# kiln_train LOG ARGS...: kiln train --model on the MNIST subset, its stdout in LOG.
kiln_train() {
  local log="$1"
  shift
  "$KILN" train --dataset mnist --limit "$TRAIN" --test-limit "$TEST" --batch-size 100 \
    --device cpu --seed 7 "$@" >"$log" 2>"$log.err" ||
    fail "kiln train $* failed: $(cat "$log.err")"
}

# 1. A learning rate of 1e-9: the loaded weights are what is trained.
kiln_train "$OUT/kept.log" --model "$OUT/pretrained.h5" -o "$OUT/kept.h5" --lr 1e-9
expect_in "$OUT/kept.log" "loss sparse_categorical_crossentropy, Adam lr 1e-09"
expect_in "$OUT/kept.log" "Test accuracy: $accuracy"
first_loss=$(epoch_losses "$OUT/kept.log" | head -1)
"$PYTHON" -c "import sys; a, b = map(float, sys.argv[1:]); assert abs(a - b) <= 1e-4 + 1e-4 * b, (a, b)" \
  "$first_loss" "$cross_entropy" ||
  fail "first epoch's loss $first_loss is not the loaded model's cross-entropy $cross_entropy"

# 2. Three epochs at 1e-3 (the file's Adam): the loss falls every epoch, the accuracy rises.
kiln_train "$OUT/tuned.log" --model "$OUT/pretrained.h5" -o "$OUT/tuned.h5" --epochs 3
expect_in "$OUT/tuned.log" "loss sparse_categorical_crossentropy, Adam lr 0.001"
expect_in "$OUT/tuned.log" "Saved $OUT/tuned.h5"
mapfile -t losses < <(epoch_losses "$OUT/tuned.log")
[[ ${#losses[@]} -eq 3 ]] || fail "expected 3 epoch losses, found: ${losses[*]}"
tuned=$(sed -n 's/^Test accuracy: //p' "$OUT/tuned.log")
"$PYTHON" -c "
import sys
l = [float(v) for v in sys.argv[1:4]]
tuned, loaded, ce = map(float, sys.argv[4:])
assert l[0] < ce and l[1] < l[0] and l[2] < l[1], ('losses do not fall', ce, l)
assert tuned >= loaded + 0.02, ('accuracy', loaded, tuned)
" "${losses[@]}" "$tuned" "$accuracy" "$cross_entropy" || fail "fine-tuning did not improve the model"

"$KILN" evaluate --model "$OUT/tuned.h5" --dataset mnist --limit "$TEST" --device cpu \
  >"$OUT/evaluate.txt" || fail "kiln evaluate on the trained model failed"
expect_in "$OUT/evaluate.txt" "Test accuracy: $tuned"

# 3. The saved file carries its loss: it trains again with no --loss, SGD from the flags.
kiln_train "$OUT/again.log" --model "$OUT/tuned.h5" -o "$OUT/again.h5" --optimizer sgd --lr 0.01
expect_in "$OUT/again.log" "loss sparse_categorical_crossentropy, SGD lr 0.01"

# 4. Errors.
expect_failure "$OUT/err" "$KILN" train --model "$OUT/five.h5" -o "$OUT/x.h5" --dataset mnist \
  --limit 100 --device cpu
expect_in "$OUT/err" "output 'dense' has shape (None, 5); training on these labels needs (None, 10)"
expect_failure "$OUT/err" "$KILN" train --model "$OUT/no_loss.h5" -o "$OUT/x.h5" --limit 100 \
  --device cpu
expect_in "$OUT/err" "pass --loss"
status=0
"$KILN" train --model "$OUT/mse.h5" -o "$OUT/x.h5" --limit 100 --device cpu >/dev/null \
  2>"$OUT/err" || status=$?
[[ $status -eq 1 ]] || fail "an unknown loss in training_config should fail, status $status"
expect_in "$OUT/err" "mean_squared_error"
expect_in "$OUT/err" "pass --loss"
kiln_train "$OUT/mse.log" --model "$OUT/mse.h5" -o "$OUT/mse_trained.h5" \
  --loss categorical_crossentropy
expect_in "$OUT/mse.log" "loss categorical_crossentropy"
expect_usage_error "$OUT/err" "$KILN" train --model "$OUT/pretrained.h5"
expect_usage_error "$OUT/err" "$KILN" train --model "$OUT/pretrained.h5" -o "$OUT/x.h5" \
  --experiment seed
expect_usage_error "$OUT/err" "$KILN" train --input-scale 1
[[ ! -e "$OUT/x.h5" ]] || fail "a failed train wrote $OUT/x.h5"
echo "train --model: loaded model test accuracy $accuracy (numpy), first-epoch loss $first_loss" \
  "(numpy $cross_entropy); after 3 epochs: losses ${losses[*]}, test accuracy $tuned"
