#!/usr/bin/env bash
# scripts/gpu-check.sh BUNDLE STAGE — the prepared check for a machine with an NVIDIA GPU (issue 4),
# run from the repository root there, e.g.
#   scripts/gpu-check.sh .device/kiln-gpu-bundle.tar.xz tests
# BUNDLE is the archive scripts/gpu-bundle.sh built on Debian (binaries, their libraries, MNIST):
# nothing is built on the GPU machine. STAGE, each within 4 minutes on an H100/H200 with 16 cores:
#   tests     environment (GPU, driver, memory, kiln --version, which cuDNN/cuBLAS got loaded);
#             kiln_cuda_tests with KILN_CUDA_SYNC=1 (every launch and library call synchronised and
#             checked); a 3-epoch MNIST `kiln train --device cuda`, batch 1024, from the bundled
#             data: test accuracy (FAIL under 95%) and seconds
#   sanitize  compute-sanitizer memcheck over kiln_cuda_tests, restricted to kiln's own kernels
#             (--kernel-name kns=4kiln4cuda7kernels: every kernel of cuda/kernels lives in
#             kiln::cuda::kernels; cuDNN/cuBLAS internals are not instrumented), with the pool's
#             caching off (KILN_CUDA_NO_CACHE=1) so every buffer has its true bounds, API errors not
#             reported (the allocator test provokes a failing cudaMalloc on purpose); then racecheck
#             on the tests that run the shared-memory kernels, chosen by name so that renamed or
#             added cases still count: *conv*/*Conv* (the filter transposes of layout.cu),
#             *sum*/*Sum* (reduce.cu), *bias*/*Bias* (bias.cu) and CudaTraining.* (all of them
#             inside real training steps): 80 tests when this was written
#   bench     kiln_bench_kernels on cuda:0; then the seed model, kiln_bench_seed_step against
#             PyTorch eager and torch.compile, interleaved on the same GPU
#             (benchmarks/compare_pytorch.sh): training step, 10k-image inference, peak device
#             memory; then the packaged CenterNet at 512x512, one image at a time on cuda:0
#             (kiln_bench_detect, median of 50 after a warm-up; issue 16's goal: <= 2 ms)
#   all       the three in order. Each stage's step limits add up to at most 235 s, so `all` can
#             take 11.5 minutes in the worst case, more than one 10-minute device command: run the
#             stages as separate calls unless the earlier ones were seen to be quick
#
# Every step appends its row `| stage | step | result | seconds | detail |` to $OUT/summary.md as
# soon as it ends, and the logs so far are packed into $OUT/logs.tar.gz after every step and on exit
# or a signal, so a run killed at its time limit still returns both (two files: the device tool
# brings back at most 8). $OUT defaults to .device/gpu-check-out. Results: PASS, FAIL or skip.
# Without a usable GPU the GPU steps report skip and the script exits 0; KILN_REQUIRE_GPU=1 makes
# them FAIL. Exit status: 1 when a step failed, else 0.
#
# Libraries: LD_LIBRARY_PATH for kiln's programs = the bundle's lib/ + a cuDNN folder + the CUDA
# toolkit's lib64. The cuDNN is PyTorch's (9.19 in /opt/torch/.venv, the version kiln's headers
# are) when present, else the system's (/usr/lib/x86_64-linux-gnu, found by the loader without
# LD_LIBRARY_PATH); KILN_CUDNN_DIR overrides. compute-sanitizer gets the CUDA folders only (the
# bundle's RUNPATHs find its libraries, and the tool itself must not load Debian's), and PyTorch
# runs with the environment it came with.
#
# Knobs (environment): KILN_REQUIRE_GPU=1, KILN_CUDNN_DIR, PYTHON (default the PyTorch venv's),
# KILN_TORCH_COMPILE (torch.compile mode, default "default"; empty: eager only), BENCH_ROUNDS (3),
# MEMCHECK_FILTER, RACECHECK_FILTER (gtest filters). To test this script on a machine without a
# GPU, KILN_GPU_CHECK_DEVICE=cpu runs the training and benchmark steps on the CPU as if a GPU were
# there (with KILN_TORCH_COMPILE= where PyTorch is older than 2), and KILN_TRAIN_ARGS adds options
# to the training run (e.g. "--limit 4096 --test-limit 2000" to keep it short there).
set -uo pipefail

usage() {
  echo "usage: $0 BUNDLE tests|sanitize|bench|all" >&2
  exit 2
}
[ $# -eq 2 ] || usage
BUNDLE_ARCHIVE=$1
STAGE_ARG=$2
case "$STAGE_ARG" in tests | sanitize | bench | all) ;; *) usage ;; esac
[ -f "$BUNDLE_ARCHIVE" ] || { echo "gpu-check: no bundle at $BUNDLE_ARCHIVE (scripts/gpu-bundle.sh builds it)" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=${OUT:-$ROOT/.device/gpu-check-out}
PYTHON=${PYTHON:-/opt/torch/.venv/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3 || echo python3)
TORCH_COMPILE_MODE=${KILN_TORCH_COMPILE-default}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
MEMCHECK_FILTER=${MEMCHECK_FILTER:-*}
RACECHECK_FILTER=${RACECHECK_FILTER:-*conv*:*Conv*:*sum*:*Sum*:*bias*:*Bias*:CudaTraining.*}
KILN_KERNELS=kns=4kiln4cuda7kernels
DEVICE=${KILN_GPU_CHECK_DEVICE:-cuda}

mkdir -p "$OUT_DIR"
SUMMARY=$OUT_DIR/summary.md
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-gpu-check.XXXXXX")
LOGS=$WORK/logs
mkdir -p "$LOGS"
B=$WORK/kiln-gpu-bundle
FAILED=0
STAGE=setup
STEP=unpack
STEP_START=$(date +%s)
CHILD=

# ---- rows, logs, signals

pack_logs() {
  tar -czf "$OUT_DIR/logs.tar.gz.partial" -C "$WORK" logs 2>/dev/null &&
    mv "$OUT_DIR/logs.tar.gz.partial" "$OUT_DIR/logs.tar.gz"
}

record() {  # result detail — the row of the current stage and step, written at once
  local seconds=$(($(date +%s) - STEP_START)) detail=${2//|//}
  printf '| %s | %s | %s | %s | %s |\n' "$STAGE" "$STEP" "$1" "$seconds" "${detail//$'\n'/ }" >>"$SUMMARY"
  printf '==> %-8s %-14s %-5s %4ss  %s\n' "$STAGE" "$STEP" "$1" "$seconds" "$detail"
  [ "$1" = FAIL ] && FAILED=1
  pack_logs
}

begin() {  # step — starts the clock of a step
  STEP=$1
  STEP_START=$(date +%s)
}

# No usable GPU: skip, or FAIL under KILN_REQUIRE_GPU=1.
no_gpu() {
  if [ "${KILN_REQUIRE_GPU:-0}" = 1 ]; then record FAIL "no usable GPU (KILN_REQUIRE_GPU=1): $1"; else record skip "no usable GPU: $1"; fi
}

on_signal() {
  trap - TERM INT HUP
  [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null
  record FAIL "killed by SIG$1 while running (time limit?)"
  exit 124
}

finish() {
  pack_logs
  rm -rf "$WORK"
}
trap finish EXIT
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_signal HUP' HUP

# run_logged SECONDS LOG COMMAND... — runs COMMAND under timeout with its output in LOG, in the
# background so that a signal reaches the traps at once; RC is its exit status (124: timed out).
run_logged() {
  local limit=$1 log=$2
  shift 2
  timeout -k 5 "$limit" "$@" >"$log" 2>&1 &
  CHILD=$!
  wait "$CHILD"
  RC=$?
  CHILD=
}

# gtest's closing lines -> "P passed, F failed, S skipped".
gtest_counts() {
  local log=$1 passed failed skipped
  passed=$(grep -oE '^\[  PASSED  \] [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
  failed=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$log" | tail -1 | grep -oE '[0-9]+' | head -1)
  skipped=$(grep -oE '^\[  SKIPPED \] [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
  echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
}

# ---- setup: unpack, verify, choose the libraries, probe the GPU

unpack() {
  local magic
  magic=$(head -c 6 "$BUNDLE_ARCHIVE" | od -An -tx1 | tr -d ' \n')
  case "$magic" in
    fd377a585a00*)
      if command -v xz >/dev/null; then
        UNPACKER="tar + xz"
        tar -xJf "$BUNDLE_ARCHIVE" -C "$WORK"
      else  # Python's tarfile reads xz through its lzma module
        UNPACKER="python3 tarfile (no xz program)"
        "$PYTHON" - "$BUNDLE_ARCHIVE" "$WORK" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:xz") as t:
    t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
EOF
      fi ;;
    28b52ffd*)
      command -v zstd >/dev/null || { echo "the bundle is zstd-compressed and this machine has no zstd: build it as .tar.xz" >&2; return 1; }
      UNPACKER="tar + zstd"
      zstd -dc "$BUNDLE_ARCHIVE" | tar -xf - -C "$WORK" ;;
    1f8b*)
      UNPACKER="tar + gzip"
      tar -xzf "$BUNDLE_ARCHIVE" -C "$WORK" ;;
    *)
      echo "unknown archive format (magic $magic)" >&2
      return 1 ;;
  esac
}

verify_manifest() {
  sed -n '/^## sha256/,$p' "$B/MANIFEST" | grep -E '^[0-9a-f]{64}  ' | (cd "$B" && sha256sum -c --quiet -)
}

# The cuDNN folder for LD_LIBRARY_PATH ("" when the system one is found by the loader anyway).
choose_cudnn() {
  local dir
  if [ -n "${KILN_CUDNN_DIR:-}" ]; then
    CUDNN_DIR=$KILN_CUDNN_DIR
    CUDNN_NOTE="KILN_CUDNN_DIR=$KILN_CUDNN_DIR"
    return
  fi
  for dir in /opt/torch/.venv/lib/python3*/site-packages/nvidia/cudnn/lib; do
    if [ -e "$dir/libcudnn.so.9" ]; then
      CUDNN_DIR=$dir
      CUDNN_NOTE="PyTorch's cuDNN in $dir"
      return
    fi
  done
  CUDNN_DIR=
  if [ -e /usr/lib/x86_64-linux-gnu/libcudnn.so.9 ]; then
    CUDNN_NOTE="the system cuDNN in /usr/lib/x86_64-linux-gnu"
  elif [ -e "$CUDA_LIB/libcudnn.so.9" ]; then
    CUDNN_NOTE="the cuDNN in the CUDA toolkit ($CUDA_LIB)"
  else
    CUDNN_NOTE="no cuDNN found: kiln will not load"
  fi
}

setup() {
  begin unpack
  if ! unpack 2>"$LOGS/unpack.log" || [ ! -x "$B/bin/kiln" ]; then
    record FAIL "cannot unpack $BUNDLE_ARCHIVE: $(head -c 200 "$LOGS/unpack.log")"
    exit 1
  fi
  cp "$B/MANIFEST" "$LOGS/MANIFEST"
  if ! verify_manifest >>"$LOGS/unpack.log" 2>&1; then
    record FAIL "sha256 mismatch against the MANIFEST: $(grep -m2 FAILED "$LOGS/unpack.log" | tr '\n' ' ')"
    exit 1
  fi
  CUDA_LIB=/usr/local/cuda/lib64
  [ -d "$CUDA_LIB" ] || CUDA_LIB=/usr/local/cuda/lib
  choose_cudnn
  CUDA_PATHS=${CUDNN_DIR:+$CUDNN_DIR:}$CUDA_LIB
  KILN_LD_PATH=$B/lib:$CUDA_PATHS
  SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  # Probe: kiln itself says whether it can use a GPU (driver, device, CUDA runtime all working).
  kiln_run 30 "$LOGS/kiln-version.log" --version
  KILN_VERSION_RC=$RC
  if grep -q 'cuda:0' "$LOGS/kiln-version.log" || [ "$DEVICE" = cpu ]; then
    GPU_OK=1
  else
    GPU_OK=0
    NO_GPU_WHY=$(grep -m1 -oE 'no GPU: .*' "$LOGS/kiln-version.log" | sed 's/^no GPU: //; s/)$//' | cut -c1-160)
    [ -n "$NO_GPU_WHY" ] || NO_GPU_WHY="kiln --version lists no cuda device"
  fi
  record PASS "$(stat -c %s "$BUNDLE_ARCHIVE" | awk '{printf "%.1f MiB", $1 / 1048576}') by $UNPACKER, sha256 verified; $(grep -m1 '^git commit:' "$B/MANIFEST")"
}

# kiln_run SECONDS LOG ARGS... — the kiln CLI with the bundle's libraries.
kiln_run() {
  local limit=$1 log=$2
  shift 2
  run_logged "$limit" "$log" env LD_LIBRARY_PATH="$KILN_LD_PATH" KILN_DATA="$B/data" "$B/bin/kiln" "$@"
}

# ---- stage tests

step_environment() {
  begin environment
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); host $(hostname); kernel $(uname -r); $(nproc) cores"
    echo "bundle: $BUNDLE_ARCHIVE"
    head -6 "$B/MANIFEST"
    echo "--- nvidia-smi"
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 || echo "nvidia-smi failed or is missing"
    echo "--- LD_LIBRARY_PATH for kiln: $KILN_LD_PATH"
    echo "cuDNN: $CUDNN_NOTE"
    echo "--- kiln --version (exit $KILN_VERSION_RC)"
    cat "$LOGS/kiln-version.log"
    echo "--- CUDA libraries libkiln loads (ldd)"
    LD_LIBRARY_PATH="$KILN_LD_PATH" ldd "$B/lib/libkiln.so.0" | grep -E 'libcud|libcublas|libnv|not found'
    echo "--- compute-sanitizer: $SANITIZER"
    "$SANITIZER" --version 2>&1 | tail -1
  } >"$LOGS/environment.log" 2>&1
  local gpu cudnn
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
  cudnn=$(grep -oE 'cuDNN [0-9.]+ \(built with [0-9.]+\)' "$LOGS/kiln-version.log" | head -1)
  if [ "$KILN_VERSION_RC" -ne 0 ]; then
    record FAIL "kiln --version failed (exit $KILN_VERSION_RC): $(grep -m1 -E 'error|not found' "$LOGS/kiln-version.log" | cut -c1-160)"
  elif [ "$GPU_OK" = 1 ]; then
    record PASS "${gpu:-nvidia-smi missing}; ${cudnn:-cuDNN ?} from $CUDNN_NOTE"
  else
    no_gpu "$NO_GPU_WHY; nvidia-smi: ${gpu:-none}"
  fi
}

step_cuda_tests() {
  begin "cuda tests"
  run_logged 110 "$LOGS/cuda-tests.log" env KILN_CUDA_SYNC=1 LD_LIBRARY_PATH="$KILN_LD_PATH" \
    "$B/bin/kiln_cuda_tests" --gtest_output="xml:$LOGS/cuda-tests.xml"
  local counts
  counts=$(gtest_counts "$LOGS/cuda-tests.log")
  if [ $RC -eq 124 ] || [ $RC -eq 137 ]; then
    record FAIL "timed out after 110 s ($counts)"
  elif [ $RC -ne 0 ]; then
    record FAIL "exit $RC, $counts: $(grep -m3 '^\[  FAILED  \]' "$LOGS/cuda-tests.log" | tr '\n' ' ' | cut -c1-200)"
  elif [ "$GPU_OK" != 1 ]; then
    no_gpu "the binary loads and runs: $counts"
  elif [[ "$counts" == "0 passed"* ]]; then
    record FAIL "kiln sees a GPU but every test skipped ($counts)"
  else
    record PASS "$counts (KILN_CUDA_SYNC=1)"
  fi
}

step_train() {
  begin "mnist train"
  [ "$GPU_OK" = 1 ] || { no_gpu "3-epoch MNIST not run"; return; }
  kiln_run 100 "$LOGS/train.log" train --dataset mnist --epochs 3 --batch-size 1024 --device "$DEVICE" \
    --data-dir "$B/data" --out "$WORK/run-mnist" ${KILN_TRAIN_ARGS:-}
  local metrics=$WORK/run-mnist/metrics.json accuracy seconds
  cp "$metrics" "$WORK/run-mnist/history.csv" "$LOGS/" 2>/dev/null
  if [ $RC -eq 124 ] || [ $RC -eq 137 ]; then
    record FAIL "timed out after 100 s; last output: $(tail -c 160 "$LOGS/train.log" | tr '\r\n' '  ')"
    return
  elif [ $RC -ne 0 ] || [ ! -f "$metrics" ]; then
    record FAIL "exit $RC: $(grep -m1 'kiln:' "$LOGS/train.log" | cut -c1-200)"
    return
  fi
  accuracy=$(grep -m1 '"test_accuracy"' "$metrics" | grep -oE '[0-9.eE+-]+,?$' | tr -d ,)
  seconds=$(grep -m1 '"train_seconds"' "$metrics" | grep -oE '[0-9.eE+-]+,?$' | tr -d ,)
  local detail
  detail=$(awk -v a="$accuracy" -v s="$seconds" -v w=$(($(date +%s) - STEP_START)) \
    'BEGIN {printf "test accuracy %.2f%%, training %.1f s (3 epochs, batch 1024), %d s with loading and evaluation", 100 * a, s, w}')
  if awk -v a="$accuracy" 'BEGIN {exit !(a >= 0.95)}'; then
    record PASS "$detail"
  else
    record FAIL "$detail: under 95%"
  fi
}

# NCCL needs one GPU per rank: on a one-GPU machine the data-parallel step runs with world size 1
# (cuda/nccl_comm.cpp: unique id, ncclCommInitRank, the gradient buckets' ncclAllReduce on a
# communication stream ordered by events against the device's stream). KILN_DISTRIBUTED=one makes
# that world of one without MPI, so the bundle (libmpi, but no mpirun or OpenMPI plugins) runs it
# on any machine; `mpirun -np 1` is run as well where the machine has mpirun.
step_nccl() {
  begin "nccl world 1"
  [ "$GPU_OK" = 1 ] || { no_gpu "NCCL path not run"; return; }
  local launcher=(env KILN_DISTRIBUTED=one) how="KILN_DISTRIBUTED=one"
  if command -v mpirun >/dev/null 2>&1; then
    launcher=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 1)
    how="mpirun -np 1"
  fi
  run_logged 60 "$LOGS/nccl.log" env LD_LIBRARY_PATH="$KILN_LD_PATH" KILN_DATA="$B/data" \
    "${launcher[@]}" "$B/bin/kiln" train --dataset mnist --epochs 1 --limit 16384 \
    --test-limit 2000 --batch-size 512 --device cuda --data-dir "$B/data" --out "$WORK/run-nccl"
  local accuracy
  accuracy=$(grep -m1 '"test_accuracy"' "$WORK/run-nccl/metrics.json" 2>/dev/null | grep -oE '[0-9.eE+-]+,?$' | tr -d ,)
  if [ $RC -ne 0 ]; then
    record FAIL "$how: exit $RC: $(grep -m1 -E 'kiln:|NCCL' "$LOGS/nccl.log" | cut -c1-200)"
  elif ! grep -q "data-parallel: 1 rank (world size 1)" "$LOGS/nccl.log"; then
    record FAIL "$how: kiln did not take the data-parallel path (no 'data-parallel: 1 rank' line)"
  elif awk -v a="$accuracy" 'BEGIN {exit !(a >= 0.90)}'; then
    record PASS "world size 1 through NCCL ($how): test accuracy $accuracy after 1 epoch of 16384 images"
  else
    record FAIL "$how: test accuracy $accuracy under 90% after 1 epoch of 16384 images"
  fi
}

stage_tests() {
  STAGE=tests
  step_environment
  step_cuda_tests
  step_train
  step_nccl
}

# ---- stage sanitize

# sanitizer_run TOOL SECONDS LOG FILTER [ENV...] — compute-sanitizer on kiln's kernels only.
sanitizer_run() {
  local tool=$1 limit=$2 log=$3 filter=$4 options=()
  shift 4
  [ "$tool" = memcheck ] && options=(--report-api-errors no)
  run_logged "$limit" "$log" env LD_LIBRARY_PATH="$CUDA_PATHS" "$@" "$SANITIZER" --tool "$tool" \
    --kernel-name "$KILN_KERNELS" --error-exitcode 99 --print-limit 100 "${options[@]}" \
    "$B/bin/kiln_cuda_tests" --gtest_filter="$filter"
}

# sanitizer_row LOG SECONDS SUMMARY_PATTERN — the row for a finished sanitizer run.
sanitizer_row() {
  local log=$1 limit=$2 pattern=$3 counts summary
  counts=$(gtest_counts "$log")
  summary=$(grep -oE "$pattern" "$log" | tail -1)
  if [ $RC -eq 124 ] || [ $RC -eq 137 ]; then
    record FAIL "timed out after $limit s (${summary:-no summary}; $counts)"
  elif [ $RC -ne 0 ]; then
    record FAIL "exit $RC: ${summary:-no summary}; $counts; $(grep -m1 -E '^========= (Invalid|Error|Race|.*hazard)' "$log" | cut -c1-160)"
  elif [[ "$counts" == "0 passed"* ]]; then
    no_gpu "every test skipped under the sanitizer ($counts)"
  else
    record PASS "${summary:-summary missing}; $counts"
  fi
}

stage_sanitize() {
  STAGE=sanitize
  begin memcheck
  if [ "$GPU_OK" != 1 ]; then
    no_gpu "memcheck not run"
    begin racecheck
    no_gpu "racecheck not run"
    return
  fi
  if [ ! -x "$SANITIZER" ]; then
    record FAIL "compute-sanitizer not found"
    begin racecheck
    record FAIL "compute-sanitizer not found"
    return
  fi
  sanitizer_run memcheck 125 "$LOGS/memcheck.log" "$MEMCHECK_FILTER" KILN_CUDA_NO_CACHE=1
  sanitizer_row "$LOGS/memcheck.log" 125 'ERROR SUMMARY: [0-9]+ errors?'
  begin racecheck
  sanitizer_run racecheck 85 "$LOGS/racecheck.log" "$RACECHECK_FILTER"
  sanitizer_row "$LOGS/racecheck.log" 85 'RACECHECK SUMMARY: [0-9]+ hazards? displayed \([0-9]+ errors?, [0-9]+ warnings?\)|ERROR SUMMARY: [0-9]+ errors?'
}

# ---- stage bench

step_kernel_bench() {
  begin "kernel bench"
  [ "$GPU_OK" = 1 ] || { no_gpu "kiln_bench_kernels not run"; return; }
  [ -x "$B/bin/kiln_bench_kernels" ] || { record skip "kiln_bench_kernels is not in the bundle"; return; }
  run_logged 45 "$LOGS/bench-kernels.log" env LD_LIBRARY_PATH="$KILN_LD_PATH" "$B/bin/kiln_bench_kernels" \
    --benchmark_filter="/$DEVICE" --benchmark_min_time=0.05 \
    --benchmark_out="$LOGS/bench-kernels.json" --benchmark_out_format=json
  if [ $RC -ne 0 ]; then
    record FAIL "exit $RC$([ $RC -eq 124 ] && echo ': timed out after 45 s'); see bench-kernels.log"
  else
    record PASS "$(grep -c "/$DEVICE" "$LOGS/bench-kernels.log") kernels timed on $DEVICE (bench-kernels.json)"
  fi
}

# figure NAME COLUMN — a column (2 kiln, 3 PyTorch, 4 ratio, 5 compiled, 6 ratio) of compare's table.
figure() { awk -v k="$1" -v c="$2" '$1 == k {print $c}' "$LOGS/bench-compare.log"; }

step_compare() {
  begin "seed step"
  [ "$GPU_OK" = 1 ] || { no_gpu "kiln / PyTorch comparison not run"; return; }
  run_logged 165 "$LOGS/bench-compare.log" env KILN_LD_LIBRARY_PATH="$KILN_LD_PATH" PYTHON="$PYTHON" \
    TORCH_COMPILE="$TORCH_COMPILE_MODE" COMPILE_ROUNDS=2 KEEP_DIR="$LOGS/compare" \
    "$B/benchmarks/compare_pytorch.sh" "$B/bin" "$BENCH_ROUNDS" "$DEVICE"
  if [ $RC -ne 0 ]; then
    record FAIL "exit $RC$([ $RC -eq 124 ] && echo ': timed out after 165 s'): $(grep -m1 -E 'failed|Error' "$LOGS/bench-compare.log" | cut -c1-160)"
    begin "inference+memory"
    record skip "no comparison to read"
    return
  fi
  local compiled=""
  [ -n "$TORCH_COMPILE_MODE" ] &&
    compiled=", torch.compile($TORCH_COMPILE_MODE) $(figure train_step_ms 5) ms (kiln/compiled $(figure train_step_ms 6))"
  record PASS "train step, batch 1024: kiln $(figure train_step_ms 2) ms, PyTorch eager $(figure train_step_ms 3) ms (kiln/eager $(figure train_step_ms 4))$compiled; $BENCH_ROUNDS interleaved rounds, medians"
  begin "steady epoch"
  [ -n "$TORCH_COMPILE_MODE" ] &&
    compiled=", compiled $(figure epoch_ms 5) ms"
  record PASS "fit epoch of 59392 (58 batches of 1024): kiln $(figure epoch_ms 2) ms, PyTorch eager $(figure epoch_ms 3) ms (ratio $(figure epoch_ms 4))$compiled; first finished step after process start: kiln $(figure first_step_s 2) s, eager $(figure first_step_s 3) s"
  begin "inference+memory"
  [ -n "$TORCH_COMPILE_MODE" ] &&
    compiled=", compiled $(figure inference_10k_ms 5) ms"
  record PASS "10k-image inference: kiln $(figure inference_10k_ms 2) ms, eager $(figure inference_10k_ms 3) ms (ratio $(figure inference_10k_ms 4))$compiled; peak device memory: kiln $(figure peak_allocated_mb 2) MB, PyTorch eager $(figure peak_allocated_mb 3) MB (ratio $(figure peak_allocated_mb 4))"
}

# The packaged CenterNet (bundled with darknet's dog.jpg) stage by stage on $DEVICE.
step_detect_bench() {
  begin "detect bench"
  [ "$GPU_OK" = 1 ] || { no_gpu "kiln_bench_detect not run"; return; }
  if [ ! -x "$B/bin/kiln_bench_detect" ] || [ ! -f "$B/data/models/centernet/model.json" ]; then
    record skip "kiln_bench_detect or CenterNet is not in the bundle"
    return
  fi
  run_logged 25 "$LOGS/bench-detect.log" env LD_LIBRARY_PATH="$KILN_LD_PATH" \
    KILN_MODELS="$B/data/models" "$B/bin/kiln_bench_detect" "$B/data/photos/dog.jpg" 50 --device "$DEVICE"
  if [ $RC -ne 0 ]; then
    record FAIL "exit $RC$([ $RC -eq 124 ] && echo ': timed out after 25 s'): $(tail -1 "$LOGS/bench-detect.log" | cut -c1-160)"
  else
    record PASS "$(grep -m1 '^kiln centernet' "$LOGS/bench-detect.log")"
  fi
}

stage_bench() {
  STAGE=bench
  step_kernel_bench
  step_compare
  step_detect_bench
}

# ---- main

{
  echo "## gpu-check $STAGE_ARG — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(basename "$BUNDLE_ARCHIVE")"
  echo
  echo "| stage | step | result | seconds | detail |"
  echo "| --- | --- | --- | --- | --- |"
} >"$SUMMARY"
setup
case "$STAGE_ARG" in
  tests) stage_tests ;;
  sanitize) stage_sanitize ;;
  bench) stage_bench ;;
  all) stage_tests; stage_sanitize; stage_bench ;;
esac
echo
cat "$SUMMARY"
exit "$FAILED"
