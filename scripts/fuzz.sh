#!/usr/bin/env bash
# scripts/fuzz.sh TARGET SECONDS: builds one libFuzzer target of tests/fuzz (or `all` of them) with
# clang under AddressSanitizer + UndefinedBehaviorSanitizer and runs it for SECONDS on its seed
# corpus (tests/fuzz/corpus/TARGET) and its saved regressions, one process at a time (libFuzzer's
# -fork=1, which goes on fuzzing after a finding). Targets: idx, h5_model, model_config, png, jpeg
# (a fuzz_ prefix is accepted). Inputs the fuzzer finds interesting are kept in
# BUILD/fuzz-work/TARGET/corpus between runs.
# Every crash, sanitizer report, leak, timeout or out-of-memory input is replayed: one inside
# libhdf5 itself (HDF5 1.10 has memory errors and endless loops on some corrupt files, which kiln
# cannot fix) is kept in BUILD/fuzz-work/TARGET/hdf5-defects and reported; any other is copied into
# tests/fuzz/regressions/TARGET/ and the script exits non-zero.
# Environment: KILN_FUZZ_BUILD (build folder, default build-fuzz), KILN_FUZZ_JOBS (build jobs,
# default 2), KILN_FUZZ_CFLAGS (compiler flags, default -O1 -gline-tables-only), KILN_FUZZ_TIMEOUT
# (seconds one input may take, default 30), KILN_FUZZ_STRICT=1 (libhdf5 defects fail the run too).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(idx h5_model model_config png jpeg)
build=${KILN_FUZZ_BUILD:-build-fuzz}
jobs=${KILN_FUZZ_JOBS:-2}
cflags=${KILN_FUZZ_CFLAGS:--O1 -gline-tables-only}
input_timeout=${KILN_FUZZ_TIMEOUT:-30}
rss_limit=3072
malloc_limit=2048
root=$(pwd)
binary=""  # the target being run
# allocator_may_return_null: a failed allocation returns null, as without ASan (kiln and the
# libraries check for it); libFuzzer's -malloc_limit_mb still reports any single one over 2 GiB.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

usage() {
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS   (targets: ${targets[*]})" >&2
  exit 2
}

# The targets named by $1, checked.
select_targets() {
  if [ "$1" = all ]; then
    echo "${targets[@]}"
    return
  fi
  local name=${1#fuzz_} known
  for known in "${targets[@]}"; do
    if [ "$known" = "$name" ]; then
      echo "$name"
      return
    fi
  done
  echo "fuzz.sh: unknown target '$1'" >&2
  usage
}

configure_and_build() {
  mkdir -p "$build"
  local log="$build/fuzz-build.log"
  if ! cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS_DEBUG=$cflags" "-DCMAKE_CXX_FLAGS_DEBUG=$cflags" \
      -DKILN_FUZZ=ON -DKILN_SANITIZE=ON -DKILN_WITH_CUDA=OFF -DKILN_BUILD_BENCHMARKS=OFF \
      >"$log" 2>&1; then
    cat "$log" >&2
    echo "fuzz.sh: configuring $build failed" >&2
    exit 1
  fi
  local names=() name
  for name in "$@"; do names+=("fuzz_$name"); done
  echo "fuzz.sh: building ${names[*]} in $build (-j$jobs)"
  if ! cmake --build "$build" -j"$jobs" --target "${names[@]}" >>"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: the build failed (full log: $log)" >&2
    exit 1
  fi
}

# Where the crash reported in log $1 happened: "hdf5" when the innermost stack frame that is
# either kiln's source or libhdf5 is libhdf5's (a defect of the HDF5 library on a corrupt file,
# which kiln cannot fix), else "kiln". For a process that outgrew its memory the stacks are those
# of the largest live allocations; a report without any stack counts as kiln's.
crash_origin() {
  local frame
  frame=$(grep -E '^ *#[0-9]+ 0x[0-9a-f]+ ' "$1" | grep -E "libhdf5|$root/(src|include|tests)/" |
            head -n 1 || true)
  case "$frame" in
    *libhdf5*) echo hdf5 ;;
    *) echo kiln ;;
  esac
}

# Replays every input the run saved and sorts it: libhdf5 defects are kept in $work/hdf5-defects
# and reported; anything else is copied to tests/fuzz/regressions/$name and fails the run.
sort_findings() {
  local name=$1 work=$2 found origin failed=0
  local saved="tests/fuzz/regressions/$name"
  for found in "$work"/artifacts/*; do
    [ -f "$found" ] || continue
    case "$found" in *.log) continue ;; esac
    # 10 s is enough to see where an input that ran past the fuzzing timeout spends its time.
    "$binary" -timeout=10 -rss_limit_mb="$rss_limit" -malloc_limit_mb="$malloc_limit" \
      "$found" >"$found.log" 2>&1 || true
    origin=$(crash_origin "$found.log")
    if [ "$origin" = hdf5 ] && [ "${KILN_FUZZ_STRICT:-0}" != 1 ]; then
      mkdir -p "$work/hdf5-defects"
      mv "$found" "$found.log" "$work/hdf5-defects/"
      echo "  fuzz_$name: libhdf5 defect (not kiln's): $work/hdf5-defects/$(basename "$found")"
      continue
    fi
    mkdir -p "$saved"
    cp "$found" "$saved/"
    grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x' "$found.log" | head -n 30 >&2 || true
    echo "fuzz.sh: fuzz_$name found a crash; input saved as $saved/$(basename "$found")" >&2
    failed=1
  done
  return $failed
}

# Runs one target in libFuzzer's fork mode, which keeps fuzzing after a finding; returns non-zero
# when it found a crash, leak, timeout or out-of-memory in kiln.
run_target() {
  local name=$1 seconds=$2
  local work="$build/fuzz-work/$name"
  binary="$build/tests/fuzz/fuzz_$name"
  rm -rf "$work/artifacts"
  mkdir -p "$work/corpus" "$work/artifacts"
  local options=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
                 -max_total_time="$seconds" -timeout="$input_timeout" -rss_limit_mb="$rss_limit"
                 -malloc_limit_mb="$malloc_limit" -artifact_prefix="$work/artifacts/")
  [ -f "tests/fuzz/$name.dict" ] && options+=(-dict="tests/fuzz/$name.dict")
  local seeds=("tests/fuzz/corpus/$name")
  [ -d "tests/fuzz/regressions/$name" ] && seeds+=("tests/fuzz/regressions/$name")
  echo "fuzz.sh: fuzz_$name for ${seconds}s (log: $work/fuzz.log)"
  local status=0
  "$binary" "${options[@]}" "$work/corpus" "${seeds[@]}" >"$work/fuzz.log" 2>&1 || status=$?
  if ! grep -q '^INFO: exiting' "$work/fuzz.log"; then
    tail -n 40 "$work/fuzz.log" >&2
    echo "fuzz.sh: fuzz_$name did not run to the end (status $status)" >&2
    return 1
  fi
  local last executions findings
  last=$(grep -E '^#[0-9]+: ' "$work/fuzz.log" | tail -n 1)
  executions=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  findings=$(sed -E 's#.*oom/timeout/crash: ([0-9/]+).*#\1#' <<<"$last")
  echo "  fuzz_$name: $executions executions, corpus $(find "$work/corpus" -type f | wc -l)" \
    "inputs, oom/timeout/crash $findings"
  sort_findings "$name" "$work"
}

[ $# -eq 2 ] || usage
case "$2" in '' | *[!0-9]*) usage ;; esac
selection=$(select_targets "$1") || exit 2
read -r -a selected <<<"$selection"
configure_and_build "${selected[@]}"
failed=()
for name in "${selected[@]}"; do
  run_target "$name" "$2" || failed+=("$name")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${selected[*]}: no crash in kiln in $2 s each"
