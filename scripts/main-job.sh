#!/usr/bin/env bash
# The main job (README): installs what is missing, fetches MNIST, builds kiln in Release in ./build,
# trains the seed CNN on MNIST for 3 epochs with batch 1024 (on the GPU when one is usable, else on
# the CPU) and prints the test accuracy and the run directory. Run as root on Debian 12 from
# anywhere; extra arguments go to `kiln train` (e.g. --device cpu, --out runs/other).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
scripts/install-deps.sh
scripts/fetch-data.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target kiln_cli

run_dir=runs/mnist-seed
build/apps/kiln/kiln train --dataset mnist --epochs 3 --batch-size 1024 --out "$run_dir" "$@"

metric() {
  sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$run_dir/metrics.json"
}
echo
echo "Main job done in $(($(date +%s) - start)) s."
printf 'Test accuracy: %s (device %s, training %.0f s)\n' "$(metric test_accuracy)" "$(metric device)" \
  "$(metric train_seconds)"
echo "Run directory: $(cd "$run_dir" && pwd)"
