#!/usr/bin/env bash
# e2e.keras_files: kiln predict on a Keras 3 .keras archive and on a to_json() architecture with a
# Keras 3 .weights.h5, both written here in Keras's layouts (tests/reference/keras3_layouts.py)
# with the weights of a numpy CNN, gives numpy's class probabilities for a 28x28 PNG made by
# Pillow; weights-only files, an architecture without weights and --verify on a file without a
# self-test are refused with one error line. No data set needed.
source "$(dirname "$0")/common.sh"
OUT="$WORK/keras_files"
fresh_dir "$OUT"

"$PYTHON" - "$(dirname "$0")/../reference" "$OUT" <<'PY'
import json, sys
import h5py
import numpy as np
from PIL import Image
sys.path.insert(0, sys.argv[1])
from keras3_layouts import (conv2d, conv_config, dense_config, k3_input, k3_layer, max_pool, relu,
                            softmax, write_keras, write_vars)

out = sys.argv[2]
rng = np.random.default_rng(3)
pixels = rng.integers(0, 256, (28, 28), dtype=np.uint8)
Image.fromarray(pixels, "L").save(out + "/picture.png")
x = (pixels.astype(np.float32) / np.float32(255)).reshape(1, 28, 28, 1).astype(np.float64)
conv = [rng.uniform(-0.5, 0.5, (3, 3, 1, 3)).astype(np.float32), rng.uniform(-0.5, 0.5, (3,)).astype(np.float32)]
dense = [rng.uniform(-0.2, 0.2, (507, 10)).astype(np.float32), rng.uniform(-1, 1, (10,)).astype(np.float32)]
y = max_pool(relu(conv2d(x, *conv, "valid")), 2).reshape(1, -1)
probs = softmax(y @ dense[0] + dense[1])[0]
config = {"module": "keras", "class_name": "Sequential",
          "config": {"name": "sequential", "trainable": True,
                     "layers": [k3_input([None, 28, 28, 1]),
                                k3_layer("Conv2D", "conv2d", [None, 28, 28, 1], **conv_config(3, 3, "valid", "relu")),
                                k3_layer("MaxPooling2D", "max_pooling2d", [None, 26, 26, 3], pool_size=[2, 2],
                                         padding="valid", strides=[2, 2], data_format="channels_last"),
                                k3_layer("Flatten", "flatten", [None, 13, 13, 3], data_format="channels_last"),
                                k3_layer("Dense", "dense", [None, 507], **dense_config(10, "softmax"))]},
          "registered_name": None, "build_config": {"input_shape": [None, 28, 28, 1]}}
paths = [("conv2d", conv), ("max_pooling2d", []), ("flatten", []), ("dense", dense)]
write_keras(out + "/model.keras", config, paths)
with h5py.File(out + "/model.weights.h5", "w") as h5:
    write_vars(h5, "layers", paths)
with open(out + "/arch.json", "w") as f:
    json.dump(config, f)
with open(out + "/reference.txt", "w") as f:
    f.write("%d %s\n" % (probs.argmax(), " ".join("%.9f" % p for p in probs)))
PY
read -r best probs <"$OUT/reference.txt"

# The printed probabilities (6 decimals) against numpy's, to 1e-5.
check_probabilities() {
  "$PYTHON" - "$1" "$probs" <<'PY' || fail "$1: probabilities differ from numpy's"
import re, sys
printed = [float(v) for v in re.findall(r"^  \S+\s+([0-9.]+)$", open(sys.argv[1]).read(), re.M)]
want = [float(v) for v in sys.argv[2].split()]
assert len(printed) == 10 and max(abs(a - b) for a, b in zip(printed, want)) <= 1e-5, (printed, want)
PY
}

"$KILN" predict --model "$OUT/model.keras" --image "$OUT/picture.png" --device cpu >"$OUT/keras.txt" ||
  fail "kiln predict on a .keras failed"
expect_in "$OUT/keras.txt" "Predicted class: $best "
check_probabilities "$OUT/keras.txt"

"$KILN" predict --model "$OUT/arch.json" --weights "$OUT/model.weights.h5" --image "$OUT/picture.png" \
  --device cpu >"$OUT/arch.txt" || fail "kiln predict --model arch.json --weights failed"
check_probabilities "$OUT/arch.txt"

expect_failure "$OUT/weights-only.err" "$KILN" predict --model "$OUT/model.weights.h5" --image "$OUT/picture.png"
expect_in "$OUT/weights-only.err" "--weights"
expect_failure "$OUT/no-weights.err" "$KILN" predict --model "$OUT/arch.json" --image "$OUT/picture.png"
expect_in "$OUT/no-weights.err" "without weights"
expect_failure "$OUT/verify.err" "$KILN" predict --model "$OUT/model.keras" --image "$OUT/picture.png" --verify
expect_in "$OUT/verify.err" "no self-test"
echo "Keras 3 .keras and arch.json + .weights.h5: class $best, probabilities as numpy's"
