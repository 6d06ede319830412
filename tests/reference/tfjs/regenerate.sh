#!/usr/bin/env bash
# regenerate.sh BUILD_DIR: rewrites tests/reference/centernet_dog_tfjs.json, the TF.js reference
# that tests/unit/test_centernet.cpp compares kiln with. kiln writes its float input for darknet's
# dog.jpg (kiln detect --save-input), TF.js 4.22 runs the packaged CenterNet on exactly those
# floats (centernet_reference.js; about a minute on the pure-JS cpu backend).
# Needs node + npm (the registry, once, for npm install) and scripts/fetch-models.sh's models.
set -euo pipefail
build="$(cd "${1:?usage: regenerate.sh BUILD_DIR}" && pwd)"
cd "$(dirname "$0")"
models="${KILN_MODELS:-$HOME/.kiln/models}"
[[ -d node_modules/@tensorflow/tfjs ]] || npm install --silent --no-audit --no-fund
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$build/apps/kiln/kiln" detect /usr/share/darknet/data/dog.jpg -o "$work/boxes.png" \
  --save-input "$work/input.f32" >/dev/null
node centernet_reference.js "$models/centernet" "$work/input.f32" ../centernet_dog_tfjs.json
