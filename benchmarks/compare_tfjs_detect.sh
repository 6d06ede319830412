#!/usr/bin/env bash
# compare_tfjs_detect.sh BUILD_DIR [ROUNDS]: kiln's CenterNet (kiln_bench_detect, stage by stage)
# and TF.js 4.22's (wasm backend, then the pure-JS cpu one once) on the same float input, kiln and
# TF.js wasm interleaved ROUNDS times (default 3) so both see the same machine load.
# Needs the benchmarks built (-DKILN_BUILD_BENCHMARKS=ON), scripts/fetch-models.sh, node, and
# (cd tests/reference/tfjs && npm install && npm install @tensorflow/tfjs-backend-wasm@4.22.0).
set -euo pipefail
build="$(cd "${1:?usage: compare_tfjs_detect.sh BUILD_DIR [ROUNDS]}" && pwd)"
rounds="${2:-3}"
cd "$(dirname "$0")/.."
models="${KILN_MODELS:-$HOME/.kiln/models}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
photo=/usr/share/darknet/data/dog.jpg
"$build/apps/kiln/kiln" detect "$photo" -o "$work/boxes.png" --save-input "$work/input.f32" >/dev/null
tfjs() {
  node tests/reference/tfjs/centernet_reference.js "$models/centernet" "$work/input.f32" \
    "$work/tfjs.json" "$1" "$2" >/dev/null 2>&1
  node -e "const r = require('$work/tfjs.json'); const t = r.run_seconds.map((s) => s * 1000).sort((a, b) => a - b);
    console.log('TF.js $1: graph median of ' + t.length + ' ' + t[Math.floor(t.length / 2)].toFixed(1) + ' ms')"
}
for ((i = 1; i <= rounds; ++i)); do
  "$build/benchmarks/kiln_bench_detect" "$photo" 5
  tfjs wasm 5
done
tfjs cpu 2
