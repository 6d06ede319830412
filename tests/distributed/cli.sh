#!/usr/bin/env bash
# dist.cli: `mpirun -np 2 kiln train` on the CPU. Rank 0 alone prints and writes the run directory
# and the checkpoint; a checkpoint written by 2 ranks resumes with 2 ranks (same history and
# weights as 2 epochs straight, to 1e-6) and with 1 process (the same global batch: to 1e-5).
# `mpirun -np 2 kiln evaluate` (the test set shared by the ranks, 999 images: 499 and 500, each
# rank's last batch partial) and `mpirun -np 2 kiln predict` print once, exactly what one process
# prints.
#   cli.sh KILN WORK MPIEXEC
source "$(dirname "$0")/../e2e/common.sh"
require_mnist
MPIEXEC=$3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun2() { "$MPIEXEC" -np 2 --oversubscribe --bind-to none "$@"; }

OUT="$WORK/dist-cli"
fresh_dir "$OUT"
common=(--dataset mnist --limit 1024 --test-limit 500 --batch-size 128 --device cpu --seed 7)

mpirun2 "$KILN" train "${common[@]}" --epochs 2 --out "$OUT/straight" >"$OUT/straight.log" 2>&1 ||
  fail "2-rank run failed: $(tail -5 "$OUT/straight.log")"
[[ $(grep -c "^Training" "$OUT/straight.log") == 1 ]] || fail "the header was printed $(grep -c "^Training" "$OUT/straight.log") times"
expect_in "$OUT/straight.log" "data-parallel: 2 ranks (world size 2), 64 images of each batch per rank"
[[ $(grep -c "^Run directory" "$OUT/straight.log") == 1 ]] || fail "more than one rank reported the run directory"
[[ -f "$OUT/straight/metrics.json" && -f "$OUT/straight/weights.h5" ]] || fail "no run files"

# evaluate and predict of the trained model: 2 ranks print what 1 process prints, once.
model="$OUT/straight/model.h5"
# Runs `kiln ARGS...` as 1 process and under 2 ranks; both must succeed, the first must print
# EXPECTED, and the two outputs must be identical (rank 0 alone prints).
same_as_one_process() {
  local name=$1 expected=$2
  shift 2
  "$KILN" "$@" >"$OUT/$name.one" 2>&1 || fail "$name failed: $(tail -3 "$OUT/$name.one")"
  mpirun2 "$KILN" "$@" >"$OUT/$name.two" 2>&1 ||
    fail "2-rank $name failed: $(tail -3 "$OUT/$name.two")"
  expect_in "$OUT/$name.one" "$expected"
  diff "$OUT/$name.one" "$OUT/$name.two" >"$OUT/$name.diff" ||
    fail "2-rank $name printed otherwise than 1 process: $(cat "$OUT/$name.diff")"
}
same_as_one_process evaluate "Test accuracy: " \
  evaluate --model "$model" --dataset mnist --limit 999 --batch-size 100 --device cpu
same_as_one_process predict "Predicted class: " \
  predict --model "$model" --dataset mnist --index 7 --device cpu
echo "evaluate and predict under 2 ranks print once, as 1 process: $(grep '^Test accuracy' "$OUT/evaluate.two")"

mpirun2 "$KILN" train "${common[@]}" --epochs 1 --checkpoint-every 1 --out "$OUT/split" >"$OUT/first.log" 2>&1 ||
  fail "first half failed: $(tail -5 "$OUT/first.log")"
[[ $(grep -c "^Checkpoint:" "$OUT/first.log") == 1 ]] || fail "the checkpoint was written by more than one rank"
cp -r "$OUT/split" "$OUT/split1"
mpirun2 "$KILN" train --resume "$OUT/split" --epochs 2 --test-limit 500 --device cpu >"$OUT/second.log" 2>&1 ||
  fail "2-rank resume failed: $(tail -5 "$OUT/second.log")"
expect_in "$OUT/second.log" "Epoch 2/2"
! grep -q "Epoch 1/2" "$OUT/second.log" || fail "the resumed run repeated epoch 1"
cmp "$OUT/straight/history.csv" "$OUT/split/history.csv" ||
  fail "histories differ: $(cat "$OUT/straight/history.csv" "$OUT/split/history.csv")"
"$KILN" train --resume "$OUT/split1" --epochs 2 --test-limit 500 --device cpu >"$OUT/single.log" 2>&1 ||
  fail "1-process resume failed: $(tail -5 "$OUT/single.log")"

"$PYTHON" - "$OUT/straight/weights.h5" "$OUT/split/weights.h5" "$OUT/split1/weights.h5" <<'PY'
import sys
import h5py, numpy as np
def weights(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found
straight, two, one = (weights(p) for p in sys.argv[1:4])
def worst(a, b):
    return max(float(np.max(np.abs(a[k] - b[k])) / max(float(np.max(np.abs(a[k]))), 1e-30)) for k in a)
assert sorted(straight) == sorted(two) == sorted(one) and len(straight) == 10
w2, w1 = worst(straight, two), worst(straight, one)
assert w2 <= 1e-6, f"2-rank resume differs from the straight 2-rank run by {w2}"
assert w1 <= 1e-5, f"1-process resume differs from the straight 2-rank run by {w1}"
print(f"resumed with 2 ranks: {w2:.3g}, with 1 process: {w1:.3g} (largest difference / tensor's largest value)")
PY
