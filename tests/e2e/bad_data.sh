#!/usr/bin/env bash
# e2e.bad_data: bad input gives exit status 1 and one line "kiln: ..." naming what was wrong:
# truncated or corrupt IDX files, a missing data set, a bad model file, a missing checkpoint;
# usage errors keep CLI11's exit status and never abort.
source "$(dirname "$0")/common.sh"
require_mnist

OUT="$WORK/bad_data"
fresh_dir "$OUT"

# make_data NAME: a data directory NAME/mnist with copies of the real files.
make_data() {
  mkdir -p "$OUT/$1/mnist"
  local name
  for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [[ -f "$DATA/mnist/$name" ]]; then
      cp "$DATA/mnist/$name" "$OUT/$1/mnist/$name"
    else
      gzip -dc "$DATA/mnist/$name.gz" >"$OUT/$1/mnist/$name"
    fi
  done
}

train_on() {
  "$KILN" train --data-dir "$OUT/$1" --epochs 1 --limit 100 --device cpu --out "$OUT/$1-run"
}

make_data truncated
truncate -s 100000 "$OUT/truncated/mnist/train-images-idx3-ubyte"
expect_failure "$OUT/truncated.err" train_on truncated
expect_in "$OUT/truncated.err" "$OUT/truncated/mnist/train-images-idx3-ubyte"
[[ ! -e "$OUT/truncated-run" ]] || fail "a failed run must not create its run directory"

make_data magic
printf '\x12\x34\x08\x01' | dd of="$OUT/magic/mnist/t10k-labels-idx1-ubyte" bs=1 seek=0 conv=notrunc status=none
expect_failure "$OUT/magic.err" train_on magic
expect_in "$OUT/magic.err" "$OUT/magic/mnist/t10k-labels-idx1-ubyte"

make_data mismatch
cp "$DATA/mnist/t10k-labels-idx1-ubyte" "$OUT/mismatch/mnist/train-labels-idx1-ubyte"
expect_failure "$OUT/mismatch.err" train_on mismatch
expect_in "$OUT/mismatch.err" "train-labels-idx1-ubyte"

mkdir -p "$OUT/empty"
expect_failure "$OUT/missing.err" train_on empty
expect_in "$OUT/missing.err" "$OUT/empty/mnist"
expect_in "$OUT/missing.err" "fetch-data.sh"

printf 'not an HDF5 file\n' >"$OUT/garbage.h5"
expect_failure "$OUT/garbage.err" "$KILN" summary --model "$OUT/garbage.h5"
expect_in "$OUT/garbage.err" "garbage.h5"
expect_failure "$OUT/nomodel.err" "$KILN" evaluate --model "$OUT/no-such-model.h5" --device cpu
expect_in "$OUT/nomodel.err" "no-such-model.h5"
expect_failure "$OUT/noresume.err" "$KILN" train --resume "$OUT/no-such-run" --device cpu
expect_in "$OUT/noresume.err" "checkpoint.h5"
expect_failure "$OUT/device.err" "$KILN" train --device tpu --limit 10
expect_in "$OUT/device.err" "tpu"

# Usage errors: CLI11's message and exit status (not 0, not a crash).
for args in "train --epochs 0" "train --loss hinge" "frobnicate" "train --no-such-flag"; do
  status=0
  # shellcheck disable=SC2086
  "$KILN" $args >"$OUT/usage.out" 2>"$OUT/usage.err" || status=$?
  [[ $status -ne 0 && $status -lt 128 ]] || fail "'kiln $args' exited with $status"
  ! grep -qiE 'terminate|abort|core dumped' "$OUT/usage.err" || fail "'kiln $args' crashed: $(cat "$OUT/usage.err")"
done
echo "bad input handled"
