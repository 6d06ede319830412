#!/usr/bin/env bash
# e2e.kill_checkpoint: a training run that writes checkpoint.h5 after every (two-step) epoch is
# killed with SIGKILL 50 times: three in four 0-14 ms after a checkpoint's temp file appears (a
# write takes about 15-20 ms on a 2-core CPU machine), the others at a random moment of the next
# second. The delays only pick the kill moments; what is checked holds for any moment. After each
# kill:
#   - the checkpoint.h5 on disk is complete (h5py reads every dataset, Fletcher32 checked) and is
#     the newest one written: the epoch of the last "Checkpoint:" line the killed run printed, or
#     the one after it when the kill came between the rename and the print;
#   - `kiln train --resume` restores it and says it resumes right after that epoch;
#   - once the killed run had saved a checkpoint, no temp file of an earlier kill is left, and at
#     most one of its own (the write it was killed in).
# A kill "during a write" is one that left a new temp file behind. The kill moments come from a
# fixed seed. Finally a resumed run completes, and the directory holds no temp file at all.
source "$(dirname "$0")/common.sh"
require_mnist

KILLS=50
RANDOM=9
OUT="$WORK/kill_checkpoint"
RUN="$OUT/run"
fresh_dir "$OUT"
TEMP_GLOB=".checkpoint.h5.tmp-*"

# temp_files: the checkpoint temp files in the run directory, one per line.
temp_files() {
  local file
  for file in "$RUN"/$TEMP_GLOB; do
    [[ -e $file ]] && echo "$file"
  done
  return 0
}

# checkpoint_epoch: the epoch of checkpoint.h5, after reading every dataset in it.
checkpoint_epoch() {
  "$PYTHON" - "$RUN/checkpoint.h5" <<'PY'
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    f.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
    print(int(f.attrs["epoch"]))
PY
}

# last_saved_epoch LOG DEFAULT: the epoch of the last "Checkpoint:" line of LOG, else DEFAULT.
last_saved_epoch() {
  local line
  line=$(grep -o 'Checkpoint: .* (epoch [0-9]*)' "$1" | tail -1)
  [[ -n $line ]] || { echo "$2"; return; }
  line=${line##*epoch }
  echo "${line%)}"
}

# wait_for_line PID LOG TEXT: until LOG contains TEXT; fails if the process ends first.
wait_for_line() {
  until grep -qF -- "$3" "$2"; do
    kill -0 "$1" 2>/dev/null || fail "kiln ended before printing '$3': $(tail -3 "$2")"
    sleep 0.01
  done
}

# wait_for_new_temp PID STALE: until a temp file not listed in STALE exists (a tight loop of
# builtins, so that the moment is not missed); fails if the process ends first.
wait_for_new_temp() {
  local file
  while kill -0 "$1" 2>/dev/null; do
    for file in "$RUN"/$TEMP_GLOB; do
      [[ -e $file && $'\n'"$2"$'\n' != *$'\n'"$file"$'\n'* ]] && return 0
    done
  done
  fail "kiln ended while waiting for a checkpoint write"
}

# pause_ms MS: waits MS milliseconds without starting a process (a read that times out on a pipe
# nobody writes to), so that the kill moment is not blurred by fork and exec.
exec {never}<> <(:)
pause_ms() {
  local seconds
  printf -v seconds '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
  read -r -t "$seconds" -u "$never" _ || true
}

"$KILN" train --dataset mnist --limit 256 --test-limit 100 --batch-size 128 --device cpu \
  --epochs 1 --checkpoint-every 1 --out "$RUN" >"$OUT/start.log" ||
  fail "first run failed: $(tail -3 "$OUT/start.log")"
epoch=$(checkpoint_epoch)
[[ $epoch == 1 ]] || fail "the first run's checkpoint is at epoch $epoch, not 1"

mid_write=0
for ((round = 1; round <= KILLS; round++)); do
  log="$OUT/kill_$round.log"
  stale=$(temp_files)
  : >"$log"
  "$KILN" train --resume "$RUN" --epochs 100000 --test-limit 100 --device cpu >"$log" 2>&1 &
  pid=$!
  wait_for_line $pid "$log" "Resuming $RUN at epoch $((epoch + 1))"
  if ((RANDOM % 4 == 0)); then
    pause_ms $((RANDOM % 1000))
  else
    wait_for_new_temp $pid "$stale"
    pause_ms $((RANDOM % 15))  # a checkpoint write takes ~15-20 ms here (strace)
  fi
  kill -KILL $pid 2>/dev/null || fail "kill $round: kiln ended before the kill: $(tail -3 "$log")"
  wait $pid 2>/dev/null && fail "kill $round: kiln exited normally"

  new=$(grep -vxF -f <(printf '%s\n' "$stale") <(temp_files) || true)
  left=$(grep -xF -f <(printf '%s\n' "$stale") <(temp_files) || true)
  saved=$(last_saved_epoch "$log" "$epoch")
  [[ $(printf '%s' "$new" | grep -c .) -le 1 ]] || fail "kill $round: several new temp files: $new"
  if ((saved > epoch)) && [[ -n $left ]]; then
    fail "kill $round: temp files of an earlier kill survived a successful save: $left"
  fi
  epoch=$(checkpoint_epoch) || fail "kill $round: checkpoint.h5 is not complete"
  if [[ -n $new ]]; then
    mid_write=$((mid_write + 1))
    ((epoch == saved)) || fail "kill $round (mid-write): checkpoint at epoch $epoch, last saved $saved"
  else
    ((epoch == saved || epoch == saved + 1)) ||
      fail "kill $round: checkpoint at epoch $epoch, last saved $saved"
  fi
done

"$KILN" train --resume "$RUN" --epochs $((epoch + 1)) --test-limit 100 --device cpu \
  >"$OUT/final.log" || fail "the final resumed run failed: $(tail -3 "$OUT/final.log")"
expect_in "$OUT/final.log" "Resuming $RUN at epoch $((epoch + 1))"
expect_in "$OUT/final.log" "Checkpoint: $RUN/checkpoint.h5 (epoch $((epoch + 1)))"
leftovers=$(find "$RUN" -name '.*.tmp-*')
[[ -z $leftovers ]] || fail "temp files left after the final save: $leftovers"
[[ $(checkpoint_epoch) == $((epoch + 1)) ]] || fail "the final checkpoint is not at epoch $((epoch + 1))"
echo "$KILLS/$KILLS resumed; $mid_write kills during a write"
