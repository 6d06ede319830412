#!/usr/bin/env bash
# scripts/gpu-check.sh — the one prepared check for a machine with an NVIDIA GPU (issue 4).
#
# Runs, one after the other, each step bounded by a timeout, and ends with a summary table:
#   1. environment  GPU, driver, nvcc, cmake, cuDNN headers (read only)
#   2. build        cmake -G Ninja Release with KILN_WITH_CUDA=ON into $KILN_BUILD_DIR, or reuse a
#                   build carried there when KILN_REUSE_BUILD=1 and kiln_cuda_tests exists
#   3. cuda tests   kiln_cuda_tests (every CUDA kernel against the CPU backend, allocator,
#                   training steps); fails if the tests skipped for want of a GPU
#   4. sanitizer    kiln_cuda_tests under compute-sanitizer --tool memcheck with the pool's
#                   caching off (KILN_CUDA_NO_CACHE=1), so every buffer has its true bounds;
#                   API errors are not reported (the allocator test provokes a cudaMalloc
#                   failure on purpose, and cuDNN probes what the GPU supports)
#   5. benchmarks   the seed-model step benchmark; the kernel micro-benchmarks on cuda:0 (issue 7);
#                   benchmarks/compare_pytorch.sh on cuda (kiln and PyTorch interleaved, 3
#                   rounds); the epoch benchmark for kiln and for PyTorch (>>> BENCHMARK HOOK
#                   below; prints "not built yet" while they do not exist)
# Logs and the table go to $OUT when it is set (the device tool brings that folder back), else to
# $KILN_BUILD_DIR/gpu-check-out. Exit status: 0 when every step that ran passed. If one call has
# too little time for all steps, split them: KILN_GPU_CHECK_STEPS="build tests", then
# KILN_REUSE_BUILD=1 KILN_GPU_CHECK_STEPS="sanitizer bench" on the same machine.
#
# Knobs (environment): KILN_BUILD_DIR (default build-gpu), KILN_REUSE_BUILD=1, JOBS,
# KILN_CUDA_ARCHITECTURES (default 90-real: the H100 only, half the compile time),
# KILN_GPU_CHECK_STEPS (default "build tests sanitizer bench"), TEST_TIMEOUT, SANITIZER_TIMEOUT,
# BENCH_TIMEOUT (seconds), SANITIZER_FILTER (a gtest filter for the sanitizer run).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KILN_BUILD_DIR:-$ROOT/build-gpu}
OUT_DIR=${OUT:-$BUILD_DIR/gpu-check-out}
JOBS=${JOBS:-$(nproc)}
ARCHS=${KILN_CUDA_ARCHITECTURES:-90-real}
STEPS=${KILN_GPU_CHECK_STEPS:-build tests sanitizer bench}
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
SANITIZER_TIMEOUT=${SANITIZER_TIMEOUT:-300}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-180}
SANITIZER_FILTER=${SANITIZER_FILTER:-*}
PYTHON=${PYTHON:-/opt/torch/.venv/bin/python3}
[ -x "$PYTHON" ] || PYTHON=python3

mkdir -p "$OUT_DIR"
SUMMARY="$OUT_DIR/summary.md"
declare -a ROW_STEP ROW_RESULT ROW_SECONDS ROW_DETAIL
FAILED=0

record() {  # step result seconds detail
  ROW_STEP+=("$1")
  ROW_RESULT+=("$2")
  ROW_SECONDS+=("$3")
  ROW_DETAIL+=("$4")
  [ "$2" = "FAIL" ] && FAILED=1
  printf '==> %-12s %-5s %5ss  %s\n' "$1" "$2" "$3" "$4"
}

wants() { [[ " $STEPS " == *" $1 "* ]]; }

# gtest's closing lines -> "P passed, F failed, S skipped".
gtest_counts() {
  local log=$1 passed failed skipped
  passed=$(grep -oE '^\[  PASSED  \] [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
  failed=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$log" | tail -1 | grep -oE '[0-9]+' | head -1)
  skipped=$(grep -oE '^\[  SKIPPED \] [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
  echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
}

# ---- 1. environment
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
  (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version) | tail -2
  cmake --version | head -1
  grep -hE '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' /usr/include/x86_64-linux-gnu/cudnn_version*.h \
    /usr/include/cudnn_version*.h /usr/local/cuda/include/cudnn_version*.h 2>/dev/null | sort -u
  command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null
} >"$OUT_DIR/environment.txt" 2>&1
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
record environment info 0 "${GPU_NAME:-no GPU reported by nvidia-smi}"

# ---- 2. build
CUDA_TESTS="$BUILD_DIR/tests/kiln_cuda_tests"
if wants build; then
  start=$(date +%s)
  if [ "${KILN_REUSE_BUILD:-0}" = 1 ] && [ -x "$CUDA_TESTS" ]; then
    record build PASS 0 "reused the carried build in $BUILD_DIR"
  else
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    if cmake -S "$ROOT" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
         -DKILN_WITH_CUDA=ON -DKILN_BUILD_BENCHMARKS=ON \
         -DKILN_CUDA_ARCHITECTURES="$ARCHS" >"$OUT_DIR/build.log" 2>&1 &&
       cmake --build "$BUILD_DIR" -j "$JOBS" --target kiln_cuda_tests >>"$OUT_DIR/build.log" 2>&1; then
      # The benchmarks are optional here: a target that does not exist yet is simply skipped.
      for target in kiln_bench_epoch kiln_bench_seed_step kiln_bench_kernels; do
        cmake --build "$BUILD_DIR" -j "$JOBS" --target "$target" >>"$OUT_DIR/build.log" 2>&1 ||
          echo "benchmark target $target: not built" >>"$OUT_DIR/build.log"
      done
      record build PASS $(($(date +%s) - start)) "Release, CUDA architectures $ARCHS"
    else
      record build FAIL $(($(date +%s) - start)) "see build.log: $(grep -m1 -E 'error|Error' "$OUT_DIR/build.log" | cut -c1-120)"
    fi
  fi
fi

# ---- 3. CUDA tests
if wants tests; then
  start=$(date +%s)
  if [ ! -x "$CUDA_TESTS" ]; then
    record "cuda tests" FAIL 0 "kiln_cuda_tests was not built"
  else
    timeout "$TEST_TIMEOUT" "$CUDA_TESTS" --gtest_output="xml:$OUT_DIR/cuda-tests.xml" \
      >"$OUT_DIR/cuda-tests.log" 2>&1
    rc=$?
    counts=$(gtest_counts "$OUT_DIR/cuda-tests.log")
    seconds=$(($(date +%s) - start))
    if [ $rc -eq 124 ]; then
      record "cuda tests" FAIL "$seconds" "timed out after ${TEST_TIMEOUT}s ($counts)"
    elif [ $rc -ne 0 ]; then
      record "cuda tests" FAIL "$seconds" "$counts; $(grep -m3 '^\[  FAILED  \]' "$OUT_DIR/cuda-tests.log" | tr '\n' ' ' | cut -c1-160)"
    elif [[ "$counts" == "0 passed"* ]]; then
      record "cuda tests" FAIL "$seconds" "everything skipped: $(grep -m1 'no usable GPU' "$OUT_DIR/cuda-tests.log" | cut -c1-120)"
    else
      record "cuda tests" PASS "$seconds" "$counts"
    fi
  fi
fi

# ---- 4. compute-sanitizer memcheck, pool caching off
if wants sanitizer; then
  start=$(date +%s)
  SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  if [ ! -x "$SANITIZER" ]; then
    record sanitizer FAIL 0 "compute-sanitizer not found"
  elif [ ! -x "$CUDA_TESTS" ]; then
    record sanitizer FAIL 0 "kiln_cuda_tests was not built"
  else
    KILN_CUDA_NO_CACHE=1 timeout "$SANITIZER_TIMEOUT" "$SANITIZER" --tool memcheck --report-api-errors no \
      --error-exitcode 99 "$CUDA_TESTS" --gtest_filter="$SANITIZER_FILTER" \
      >"$OUT_DIR/sanitizer.log" 2>&1
    rc=$?
    seconds=$(($(date +%s) - start))
    errors=$(grep -oE 'ERROR SUMMARY: [0-9]+ error' "$OUT_DIR/sanitizer.log" | tail -1)
    counts=$(gtest_counts "$OUT_DIR/sanitizer.log")
    if [ $rc -eq 124 ]; then
      record sanitizer FAIL "$seconds" "timed out after ${SANITIZER_TIMEOUT}s (${errors:-no summary}; $counts)"
    elif [ $rc -ne 0 ]; then
      record sanitizer FAIL "$seconds" "exit $rc: ${errors:-no summary}; $counts"
    else
      record sanitizer PASS "$seconds" "${errors:-ERROR SUMMARY missing}; $counts"
    fi
  fi
fi

# ---- 5. benchmarks
# >>> BENCHMARK HOOK: the epoch benchmark of issue 4 (seed model, MNIST 60,000 images, batch
# 1024, Adam, 3 epochs, data on the GPU), kiln first, then PyTorch on the same machine. Point the
# two variables at the programs once they exist; each must print its own result lines, and the
# lines that start with "RESULT " are copied into the summary.
KILN_EPOCH_BENCH=${KILN_EPOCH_BENCH:-$BUILD_DIR/benchmarks/kiln_bench_epoch}
TORCH_EPOCH_BENCH=${TORCH_EPOCH_BENCH:-$ROOT/benchmarks/pytorch_epoch.py}
SEED_STEP_BENCH=${SEED_STEP_BENCH:-$BUILD_DIR/benchmarks/kiln_bench_seed_step}
KERNEL_BENCH=${KERNEL_BENCH:-$BUILD_DIR/benchmarks/kiln_bench_kernels}
if wants bench; then
  start=$(date +%s)
  if [ -x "$SEED_STEP_BENCH" ]; then  # per-step timings of the seed model, for information
    if timeout "$BENCH_TIMEOUT" "$SEED_STEP_BENCH" --device cuda --steps 20 >"$OUT_DIR/bench-step.log" 2>&1; then
      record "bench step" info $(($(date +%s) - start)) "$(tail -1 "$OUT_DIR/bench-step.log" | cut -c1-160)"
    else
      record "bench step" FAIL $(($(date +%s) - start)) "see bench-step.log"
    fi
  fi
  start=$(date +%s)
  if [ -x "$KERNEL_BENCH" ]; then  # every kernel at the seed shapes, batch 1024, on cuda:0
    if timeout "$BENCH_TIMEOUT" "$KERNEL_BENCH" --benchmark_filter=/cuda --benchmark_min_time=0.2 \
         >"$OUT_DIR/bench-kernels.log" 2>&1; then
      record "bench kernels" info $(($(date +%s) - start)) "$(grep -c real_time "$OUT_DIR/bench-kernels.log") kernels, see bench-kernels.log"
    else
      record "bench kernels" FAIL $(($(date +%s) - start)) "see bench-kernels.log"
    fi
  fi
  start=$(date +%s)
  if [ -x "$SEED_STEP_BENCH" ]; then  # kiln / PyTorch ratios on the GPU, interleaved
    if PYTHON="$PYTHON" timeout "$BENCH_TIMEOUT" "$ROOT/benchmarks/compare_pytorch.sh" "$BUILD_DIR" 3 cuda \
         >"$OUT_DIR/bench-compare.log" 2>&1; then
      record "bench compare" info $(($(date +%s) - start)) "$(grep '^train_step_ms' "$OUT_DIR/bench-compare.log" | tr -s ' ')"
    else
      record "bench compare" FAIL $(($(date +%s) - start)) "see bench-compare.log"
    fi
  fi
  start=$(date +%s)
  if [ -x "$KILN_EPOCH_BENCH" ]; then
    if timeout "$BENCH_TIMEOUT" "$KILN_EPOCH_BENCH" --device cuda >"$OUT_DIR/bench-kiln.log" 2>&1; then
      record "bench kiln" PASS $(($(date +%s) - start)) "$(grep -m1 '^RESULT ' "$OUT_DIR/bench-kiln.log" | cut -c8-160)"
    else
      record "bench kiln" FAIL $(($(date +%s) - start)) "see bench-kiln.log"
    fi
  else
    echo "kiln epoch benchmark: not built yet ($KILN_EPOCH_BENCH)"
    record "bench kiln" skip 0 "not built yet"
  fi
  start=$(date +%s)
  if [ -f "$TORCH_EPOCH_BENCH" ]; then
    if timeout "$BENCH_TIMEOUT" "$PYTHON" "$TORCH_EPOCH_BENCH" >"$OUT_DIR/bench-torch.log" 2>&1; then
      record "bench torch" PASS $(($(date +%s) - start)) "$(grep -m1 '^RESULT ' "$OUT_DIR/bench-torch.log" | cut -c8-160)"
    else
      record "bench torch" FAIL $(($(date +%s) - start)) "see bench-torch.log"
    fi
  else
    echo "PyTorch epoch benchmark: not built yet ($TORCH_EPOCH_BENCH)"
    record "bench torch" skip 0 "not built yet"
  fi
fi
# <<< BENCHMARK HOOK

# ---- summary
{
  echo "## gpu-check $(date -u +%Y-%m-%d) on ${GPU_NAME:-unknown GPU}"
  echo
  echo "| step | result | seconds | detail |"
  echo "| --- | --- | --- | --- |"
  for i in "${!ROW_STEP[@]}"; do
    echo "| ${ROW_STEP[$i]} | ${ROW_RESULT[$i]} | ${ROW_SECONDS[$i]} | ${ROW_DETAIL[$i]//|//} |"
  done
} >"$SUMMARY"
echo
cat "$SUMMARY"
exit "$FAILED"
