#!/usr/bin/env bash
# kiln against PyTorch on the seed model, interleaved (kiln, PyTorch, kiln, PyTorch, …) so drift
# in the machine's speed hits both: prints each figure's median for both and the kiln/PyTorch
# ratio. Both use every core (OMP/torch threads = nproc) unless THREADS is set.
#   benchmarks/compare_pytorch.sh [BUILD_DIR] [ROUNDS] [DEVICE]
# BUILD_DIR is a build tree (its benchmarks/kiln_bench_seed_step) or a folder that holds
# kiln_bench_seed_step itself (the bin/ of scripts/gpu-bundle.sh's bundle).
# Environment:
#   PYTHON         the interpreter with torch (default /usr/bin/python3)
#   THREADS        CPU threads for both (default nproc)
#   STEPS          timed training steps per run (default 3 on the CPU, 30 on a GPU)
#   TORCH_COMPILE  a torch.compile mode (default, reduce-overhead, …): PyTorch runs a third time
#                  per round, compiled, and gets its own columns; empty (the default): eager only
#   COMPILE_ROUNDS rounds that include the compiled run (default ROUNDS; the first compiles cold)
#   KILN_LD_LIBRARY_PATH  LD_LIBRARY_PATH for kiln's runs only (a bundle's CUDA/cuDNN folders),
#                  so that PyTorch keeps loading its own libraries
#   KEEP_DIR       keep each run's output there (default: a temp folder, removed)
#   EPOCH          samples of a timed steady fit epoch (default 0: none on the CPU; on a GPU
#                  59392 = 58 full batches of 1024, so torch.compile recompiles for no tail)
# Figures: train_step_ms, epoch_ms (with EPOCH), first_step_s, inference_10k_ms, images_per_s,
# peak_rss_mb and, on a GPU,
# peak_allocated_mb (device memory: kiln's pool, torch.cuda.max_memory_allocated). No bc needed.
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
device=${3:-cpu}
threads=${THREADS:-$(nproc)}
python=${PYTHON:-/usr/bin/python3}
compile_mode=${TORCH_COMPILE:-}
compile_rounds=${COMPILE_ROUNDS:-$rounds}
kiln_env=()
[ -n "${KILN_LD_LIBRARY_PATH:-}" ] && kiln_env=(LD_LIBRARY_PATH="$KILN_LD_LIBRARY_PATH")
if [ "$device" = cpu ]; then steps=${STEPS:-3}; else steps=${STEPS:-30}; fi
if [ "$device" = cpu ]; then epoch=${EPOCH:-0}; else epoch=${EPOCH:-59392}; fi
here=$(dirname "$0")

kiln_bench=$build/benchmarks/kiln_bench_seed_step
[ -x "$kiln_bench" ] || kiln_bench=$build/kiln_bench_seed_step
[ -x "$kiln_bench" ] || { echo "compare_pytorch.sh: no kiln_bench_seed_step in $build" >&2; exit 2; }

if [ -n "${KEEP_DIR:-}" ]; then
  out=$KEEP_DIR
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi

# run NAME COMMAND...: the command's output to $out/NAME, echoed; a failed run stops the script.
run() {
  local name=$1
  shift
  if ! "$@" >"$out/$name" 2>"$out/$name.err"; then
    echo "compare_pytorch.sh: $name failed: $*" >&2
    tail -20 "$out/$name.err" >&2
    exit 1
  fi
}

for r in $(seq "$rounds"); do
  # Each program reports its own peak resident memory (getrusage's ru_maxrss).
  run "kiln_$r" env "${kiln_env[@]}" OMP_NUM_THREADS="$threads" "$kiln_bench" --device "$device" --steps "$steps" --epoch "$epoch"
  run "torch_$r" "$python" "$here/pytorch_seed_step.py" --device "$device" --steps "$steps" \
    --threads "$threads" --epoch "$epoch"
  if [ -n "$compile_mode" ] && [ "$r" -le "$compile_rounds" ]; then
    run "compiled_$r" "$python" "$here/pytorch_seed_step.py" --device "$device" --steps "$steps" \
      --threads "$threads" --compile "$compile_mode" --epoch "$epoch"
  fi
done

# median PREFIX KEY: the median of KEY's value over the rounds' outputs $out/PREFIX_<n>; "-" if none.
median() {
  cat "$out/$1"_[0-9]* | awk -v k="$2" '$1 == k {print $2}' | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f\n", a / b}'; }

echo "seed model, batch 1024, device $device, $threads threads, $steps timed steps, $rounds interleaved rounds (medians)"
head -1 "$out/kiln_1"
head -1 "$out/torch_1"
[ -n "$compile_mode" ] && head -1 "$out/compiled_1"
if [ -n "$compile_mode" ]; then
  printf "%-18s %12s %12s %8s %12s %8s\n" figure kiln pytorch ratio compiled ratio
else
  printf "%-18s %12s %12s %8s\n" figure kiln pytorch ratio
fi
for key in train_step_ms epoch_ms first_step_s inference_10k_ms images_per_s peak_rss_mb peak_allocated_mb; do
  k=$(median kiln "$key")
  t=$(median torch "$key")
  [ "$k" = - ] && [ "$t" = - ] && continue
  if [ -n "$compile_mode" ]; then
    c=$(median compiled "$key")
    printf "%-18s %12s %12s %8s %12s %8s\n" "$key" "$k" "$t" "$(ratio "$k" "$t")" "$c" "$(ratio "$k" "$c")"
  else
    printf "%-18s %12s %12s %8s\n" "$key" "$k" "$t" "$(ratio "$k" "$t")"
  fi
done
