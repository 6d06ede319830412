#!/usr/bin/env bash
# kiln against PyTorch on the seed model, interleaved (kiln, PyTorch, kiln, PyTorch, …) so drift
# in the machine's speed hits both: prints each figure's median for both and the kiln/PyTorch
# ratio. Both use every core (OMP/torch threads = nproc) unless THREADS is set.
#   benchmarks/compare_pytorch.sh [BUILD_DIR] [ROUNDS] [DEVICE]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
device=${3:-cpu}
threads=${THREADS:-$(nproc)}
python=${PYTHON:-/usr/bin/python3}
here=$(dirname "$0")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for r in $(seq "$rounds"); do
  # Both programs report their own peak resident memory (getrusage's ru_maxrss).
  OMP_NUM_THREADS="$threads" "$build/benchmarks/kiln_bench_seed_step" --device "$device" --steps 3 \
    > "$out/kiln_$r"
  "$python" "$here/pytorch_seed_step.py" --device "$device" --steps 3 --threads "$threads" > "$out/torch_$r"
done

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "seed model, batch 1024, device $device, $threads threads, $rounds interleaved rounds (medians)"
printf "%-18s %12s %12s %8s\n" figure kiln pytorch ratio
for key in train_step_ms inference_10k_ms images_per_s peak_rss_mb; do
  k=$(cat "$out"/kiln_[0-9]* | awk -v k="$key" '$1 == k {print $2}' | median)
  t=$(cat "$out"/torch_[0-9]* | awk -v k="$key" '$1 == k {print $2}' | median)
  printf "%-18s %12s %12s %8.2f\n" "$key" "$k" "$t" "$(echo "$k / $t" | bc -l)"
done
