#!/usr/bin/env bash
# e2e.inspect: evaluate, predict (from the data set and from PNG files) and summary on the model
# that e2e.train wrote.
source "$(dirname "$0")/common.sh"
require_mnist

RUN="$WORK/run"
OUT="$WORK/inspect"
fresh_dir "$OUT"
[[ -f "$RUN/model.h5" ]] || fail "$RUN/model.h5 is missing (e2e.train makes it)"

"$KILN" summary --model "$RUN/model.h5" >"$OUT/summary.txt" || fail "kiln summary failed"
expect_in "$OUT/summary.txt" "493,130"
expect_in "$OUT/summary.txt" "conv2d"
expect_in "$OUT/summary.txt" "dense_2"

"$KILN" evaluate --model "$RUN/model.h5" --dataset mnist --device cpu >"$OUT/evaluate.txt" ||
  fail "kiln evaluate failed"
accuracy=$("$PYTHON" -c 'import json, sys; print("%.4f" % json.load(open(sys.argv[1]))["test_accuracy"])' "$RUN/metrics.json")
expect_in "$OUT/evaluate.txt" "Test accuracy: $accuracy"
expect_in "$OUT/evaluate.txt" "Test loss: "
expect_in "$OUT/evaluate.txt" "true \\ predicted"
expect_confusion_matrix "$OUT/evaluate.txt"

# The self-test kiln stored in model.h5 when it was written.
"$KILN" predict --model "$RUN/model.h5" --dataset mnist --index 0 --device cpu --verify >"$OUT/verify.txt" ||
  fail "kiln predict --verify failed: $(cat "$OUT/verify.txt")"
expect_in "$OUT/verify.txt" "Self-test passed: $RUN/model.h5"

"$KILN" predict --model "$RUN/model.h5" --dataset mnist --index 0 --device cpu >"$OUT/predict-index.txt" ||
  fail "kiln predict --dataset failed"
expect_in "$OUT/predict-index.txt" "MNIST test image 0 (true class 7)"
expect_in "$OUT/predict-index.txt" "Predicted class: 7"

# Test image 0 as 28x28 PNGs: 8-bit grey, and RGB (converted to grey by kiln); a 20x20 one and a
# file that is neither PNG nor JPEG are refused with one error line.
"$PYTHON" - "$DATA/mnist/t10k-images-idx3-ubyte" "$OUT" <<'PY'
import struct, sys, zlib
source, out = sys.argv[1], sys.argv[2]
raw = open(source, "rb").read()
pixels = raw[16:16 + 784]
def png(path, width, height, colour, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    data = b"".join(b"\x00" + r for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))
grey_rows = [pixels[r * 28:(r + 1) * 28] for r in range(28)]
png(f"{out}/digit.png", 28, 28, 0, grey_rows)
png(f"{out}/digit-rgb.png", 28, 28, 2, [bytes(v for p in row for v in (p, p, p)) for row in grey_rows])
png(f"{out}/small.png", 20, 20, 0, [bytes(20)] * 20)
open(f"{out}/not-a-png.png", "wb").write(b"hello, this is text\n")
PY
for image in digit.png digit-rgb.png; do
  "$KILN" predict --model "$RUN/model.h5" --image "$OUT/$image" --device cpu >"$OUT/predict-$image.txt" ||
    fail "kiln predict --image $image failed"
  expect_in "$OUT/predict-$image.txt" "Predicted class: 7"
  # The same probabilities as the data set's copy of the image.
  diff <(grep -E '^  [0-9]' "$OUT/predict-$image.txt") <(grep -E '^  [0-9]' "$OUT/predict-index.txt") ||
    fail "probabilities of $image differ from those of test image 0"
done
# A JPEG of test image 0 (Pillow, quality 90): kiln decodes it as Pillow does, so it predicts what
# it predicts for a PNG of the pixels Pillow decodes from that JPEG.
"$PYTHON" - "$OUT" <<'PY'
import sys
from PIL import Image
out = sys.argv[1]
Image.open(f"{out}/digit.png").save(f"{out}/digit.jpg", quality=90)
decoded = Image.open(f"{out}/digit.jpg").convert("L")
assert list(decoded.getdata()) != list(Image.open(f"{out}/digit.png").getdata()), "JPEG kept every pixel"
decoded.save(f"{out}/digit-jpeg-pixels.png")
PY
for image in digit.jpg digit-jpeg-pixels.png; do
  "$KILN" predict --model "$RUN/model.h5" --image "$OUT/$image" --device cpu >"$OUT/predict-$image.txt" ||
    fail "kiln predict --image $image failed: $(tail -2 "$OUT/predict-$image.txt")"
  expect_in "$OUT/predict-$image.txt" "Predicted class: 7"
done
diff <(grep -E '^  [0-9]' "$OUT/predict-digit.jpg.txt") <(grep -E '^  [0-9]' "$OUT/predict-digit-jpeg-pixels.png.txt") ||
  fail "probabilities of digit.jpg differ from those of a PNG of its pixels"
expect_failure "$OUT/small.err" "$KILN" predict --model "$RUN/model.h5" --image "$OUT/small.png" --device cpu
expect_in "$OUT/small.err" "20x20"
expect_failure "$OUT/notpng.err" "$KILN" predict --model "$RUN/model.h5" --image "$OUT/not-a-png.png" --device cpu
expect_in "$OUT/notpng.err" "not-a-png.png"
expect_failure "$OUT/neither.err" "$KILN" predict --model "$RUN/model.h5"
expect_failure "$OUT/range.err" "$KILN" predict --model "$RUN/model.h5" --dataset mnist --index 10000 --device cpu
expect_in "$OUT/range.err" "10000"

# features: one tile per output channel of conv2d_1 (128, not 128 x 64), a title and a colour bar
# around legible tiles.
"$KILN" features --model "$RUN/model.h5" --kernels --layer conv2d_1 -o "$OUT/kernels.png" \
  >"$OUT/kernels.txt" || fail "kiln features --kernels failed"
expect_in "$OUT/kernels.txt" "128 kernels of conv2d_1 (3x3, mean over 64 input channels), one tile per output channel"
check_png "$OUT/kernels.png" 1000 500
"$KILN" features --model "$RUN/model.h5" --dataset mnist --index 0 --device cpu -o "$OUT/maps.png" \
  >"$OUT/maps.txt" || fail "kiln features failed"
expect_in "$OUT/maps.txt" "64 feature maps of conv2d (26x26)"
check_png "$OUT/maps.png" 1200 300
expect_usage_error "$OUT/channel.err" "$KILN" features --model "$RUN/model.h5" --input-channel 3 -o "$OUT/x.png"
echo "evaluate, predict, summary and features OK"
