#!/usr/bin/env bash
# e2e.resume: on the CPU, 2 epochs straight and 1 epoch + checkpoint + resume + 1 epoch give the
# same weights (to 1e-6) and the same history: shuffling is seeded by (seed, epoch), and the
# checkpoint restores the weights, Adam's slots and its iteration count exactly. (--test-limit keeps
# the three test-set evaluations short; they play no part in the comparison.)
source "$(dirname "$0")/common.sh"
require_mnist

OUT="$WORK/resume"
fresh_dir "$OUT"
common=(--dataset mnist --limit 2000 --test-limit 1000 --batch-size 128 --device cpu --seed 7)

"$KILN" train "${common[@]}" --epochs 2 --out "$OUT/straight" >"$OUT/straight.log" ||
  fail "straight run failed: $(tail -3 "$OUT/straight.log")"
"$KILN" train "${common[@]}" --epochs 1 --checkpoint-every 1 --out "$OUT/split" >"$OUT/first.log" ||
  fail "first half failed: $(tail -3 "$OUT/first.log")"
[[ -f "$OUT/split/checkpoint.h5" ]] || fail "no checkpoint.h5 after --checkpoint-every 1"
expect_failure "$OUT/conflict.err" "$KILN" train --resume "$OUT/split" --epochs 2 --batch-size 64 --device cpu
expect_in "$OUT/conflict.err" "--batch-size"
expect_failure "$OUT/done.err" "$KILN" train --resume "$OUT/split" --epochs 1 --device cpu
"$KILN" train --resume "$OUT/split" --epochs 2 --test-limit 1000 --device cpu >"$OUT/second.log" ||
  fail "resumed run failed: $(tail -3 "$OUT/second.log")"
expect_in "$OUT/second.log" "Epoch 2/2"
! grep -q "Epoch 1/2" "$OUT/second.log" || fail "the resumed run repeated epoch 1"
cmp "$OUT/straight/history.csv" "$OUT/split/history.csv" ||
  fail "histories differ: $(cat "$OUT/straight/history.csv" "$OUT/split/history.csv")"

"$PYTHON" - "$OUT/straight/weights.h5" "$OUT/split/weights.h5" "$OUT/split/checkpoint.h5" <<'PY'
import sys
import h5py, numpy as np
def weights(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found
a, b = weights(sys.argv[1]), weights(sys.argv[2])
assert sorted(a) == sorted(b) and len(a) == 10, (sorted(a), sorted(b))
worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
assert worst <= 1e-6, f"weights differ by {worst}"
with h5py.File(sys.argv[3], "r") as f:
    assert int(f.attrs["epoch"]) == 2 and int(f.attrs["iterations"]) == 32, dict(f.attrs)
    assert len(f["optimizer_weights"]) == 20
print(f"resumed weights match the straight run (max difference {worst})")
PY
