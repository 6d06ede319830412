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
# A format 1 checkpoint (the layout the CLI wrote before checkpoints moved into the library:
# optimizer_weights/slot_NNNN, the run configuration in run_config) continues the run the same way.
cp -r "$OUT/split" "$OUT/format1"
"$PYTHON" - "$OUT/format1/checkpoint.h5" <<'PY'
import sys
import h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    g = f["optimizer_weights"]
    names = [n.decode() for n in g.attrs["weight_names"]]
    iterations = int(g[names[0]][()])
    slots = [g[n][()] for n in names[1:]]
    variables = [n[len("Adam/"):-len("/m:0")] + ":0" for n in names[1:1 + len(slots) // 2]]
    del f["optimizer_weights"]
    g = f.create_group("optimizer_weights")
    g.attrs["optimizer"] = np.bytes_("Adam")
    g.attrs["variable_names"] = np.array([v.encode() for v in variables])
    g.attrs["slot_count"] = np.int64(len(slots))
    for i, slot in enumerate(slots):
        g.create_dataset(f"slot_{i:04}", data=slot)
    f.attrs["kiln_checkpoint"] = np.int64(1)
    f.attrs["iterations"] = np.int64(iterations)
    f.attrs["seed"] = np.int64(7)
    f.attrs["run_config"] = f.attrs["metadata"]
    del f.attrs["metadata"]
PY
"$KILN" train --resume "$OUT/format1" --epochs 2 --test-limit 1000 --device cpu >"$OUT/format1.log" ||
  fail "resuming from a format 1 checkpoint failed: $(tail -3 "$OUT/format1.log")"
expect_in "$OUT/format1.log" "Resuming $OUT/format1 at epoch 2"
cmp "$OUT/straight/history.csv" "$OUT/format1/history.csv" ||
  fail "histories differ after a format 1 resume: $(cat "$OUT/format1/history.csv")"
expect_failure "$OUT/conflict.err" "$KILN" train --resume "$OUT/split" --epochs 2 --batch-size 64 --device cpu
expect_in "$OUT/conflict.err" "--batch-size"
expect_failure "$OUT/done.err" "$KILN" train --resume "$OUT/split" --epochs 1 --device cpu
"$KILN" train --resume "$OUT/split" --epochs 2 --test-limit 1000 --device cpu >"$OUT/second.log" ||
  fail "resumed run failed: $(tail -3 "$OUT/second.log")"
expect_in "$OUT/second.log" "Epoch 2/2"
! grep -q "Epoch 1/2" "$OUT/second.log" || fail "the resumed run repeated epoch 1"
cmp "$OUT/straight/history.csv" "$OUT/split/history.csv" ||
  fail "histories differ: $(cat "$OUT/straight/history.csv" "$OUT/split/history.csv")"

"$PYTHON" - "$OUT/straight/weights.h5" "$OUT/split/weights.h5" "$OUT/split/checkpoint.h5" "$OUT/format1/weights.h5" <<'PY'
import sys
import h5py, numpy as np
def weights(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found
a = weights(sys.argv[1])
for other in (sys.argv[2], sys.argv[4]):
    b = weights(other)
    assert sorted(a) == sorted(b) and len(a) == 10, (sorted(a), sorted(b))
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    assert worst <= 1e-6, f"{other}: weights differ by {worst}"
with h5py.File(sys.argv[3], "r") as f:
    # Keras 2's optimizer_weights layout: Adam/iter:0, then m and v of the 10 weights.
    names = [n.decode() for n in f["optimizer_weights"].attrs["weight_names"]]
    assert len(names) == 21 and names[0] == "Adam/iter:0", names
    assert int(f.attrs["epoch"]) == 2 and int(f["optimizer_weights"][names[0]][()]) == 32, dict(f.attrs)
print(f"resumed weights match the straight run (max difference {worst})")
PY
