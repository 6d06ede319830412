#!/usr/bin/env bash
# e2e.cuda_emulated (KILN_CUDA_EMULATION builds only): the kiln CLI trains the seed CNN on the
# emulated cuda:0 — the whole path a GPU run takes: upload, batches gathered on the device, cuDNN
# convolutions and pooling, cuBLAS, the fused loss kernels, Adam, per-step losses read back, the
# test-set evaluation and the run directory — and agrees with the same run on the CPU. TF32 is off
# (KILN_TF32=0) so both compute in full fp32: the test accuracy must be equal to within one image
# and the final loss to 1e-4 relative. Small on purpose: the emulation computes everything on the
# CPU, thread by emulated thread.
source "$(dirname "$0")/common.sh"
require_mnist

run_on() {  # DEVICE: trains into $WORK/<device> and prints its metrics.json path
  local dir="$WORK/cuda-emulated-$1"
  rm -rf "$dir"
  KILN_TF32=0 "$KILN" train --dataset mnist --limit 128 --test-limit 128 --epochs 1 \
    --batch-size 32 --device "$1" --out "$dir" >"$dir.log" 2>&1 ||
    fail "kiln train --device $1 failed: $(tail -5 "$dir.log")"
  echo "$dir/metrics.json"
}

mkdir -p "$WORK"
cuda_metrics=$(run_on cuda)
cpu_metrics=$(run_on cpu)
expect_in "$WORK/cuda-emulated-cuda.log" "4/4 [==============================]"
expect_in "$cuda_metrics" '"device": "cuda:0"'

"$PYTHON" - "$cuda_metrics" "$cpu_metrics" <<'PY'
import json, sys
cuda, cpu = (json.load(open(p)) for p in sys.argv[1:3])
for key in ("test_accuracy", "test_loss"):
    print(f"{key}: cuda {cuda[key]} cpu {cpu[key]}")
if abs(float(cuda["test_accuracy"]) - float(cpu["test_accuracy"])) > 1.0 / 128 + 1e-9:
    sys.exit("test accuracy differs by more than one image")
if abs(float(cuda["test_loss"]) - float(cpu["test_loss"])) > 1e-4 * abs(float(cpu["test_loss"])):
    sys.exit("test loss differs by more than 1e-4 relative")
PY
echo "PASS: e2e.cuda_emulated"
