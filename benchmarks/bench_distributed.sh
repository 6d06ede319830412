#!/usr/bin/env bash
# Data-parallel training on this machine's CPU (benchmarks/RESULTS.md, "Data-parallel training"):
#   1. an epoch of the seed model on the first $LIMIT MNIST images, 2 ranks x 1 thread against
#      1 process x 2 threads (whole processes, /usr/bin/time; repeat and take medians)
#   2. the all-reduce's share of a step: kiln_distributed_check overhead (2 ranks, global batch 256)
# Usage: benchmarks/bench_distributed.sh BUILD_DIR [LIMIT]   (BUILD_DIR: a Release build with MPI)
set -euo pipefail
BUILD=${1:?usage: bench_distributed.sh BUILD_DIR [LIMIT]}
LIMIT=${2:-4096}
KILN=$BUILD/apps/kiln/kiln
CHECK=$BUILD/tests/kiln_distributed_check
OUT=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(train --dataset mnist --limit "$LIMIT" --test-limit 500 --epochs 1 --batch-size 256 --device cpu --seed 7)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in 1 2 3; do
  /usr/bin/time -f "2 ranks x 1 thread: %e s wall" \
    mpirun -np 2 --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 "$KILN" "${common[@]}" --out "$OUT/a" >/dev/null
  /usr/bin/time -f "1 process x 2 threads: %e s wall" \
    env OMP_NUM_THREADS=2 "$KILN" "${common[@]}" --out "$OUT/b" >/dev/null
done
mpirun -np 2 --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 "$CHECK" overhead 20
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$OUT"
