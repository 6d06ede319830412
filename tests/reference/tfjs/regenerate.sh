#!/usr/bin/env bash
# regenerate.sh BUILD_DIR: rewrites the committed TF.js references that the detector tests fall
# back on where node is missing (tests/unit/tfjs_reference.h; with node they run the scripts
# themselves): kiln writes its float input (kiln detect --save-input), TF.js 4.22 on the wasm
# backend runs the packaged model on exactly those floats —
#   ../centernet_dog_tfjs.json      CenterNet on darknet's dog.jpg    (centernet_reference.js)
#   ../blazeface_person_tfjs.json   BlazeFace on darknet's person.jpg (blazeface_reference.js)
# Needs node + npm (the registry, once, for npm install) and scripts/fetch-models.sh's models.
set -euo pipefail
build="$(cd "${1:?usage: regenerate.sh BUILD_DIR}" && pwd)"
cd "$(dirname "$0")"
models="${KILN_MODELS:-$HOME/.kiln/models}"
[[ -d node_modules/@tensorflow/tfjs-backend-wasm ]] || npm install --silent --no-audit --no-fund
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
photos=/usr/share/darknet/data
reference() {  # MODEL PHOTO OUT.json
  "$build/apps/kiln/kiln" detect "$photos/$2" --model "$1" -o "$work/boxes.png" \
    --save-input "$work/$1.f32" >/dev/null
  node "$1_reference.js" "$models/$1" "$work/$1.f32" "$3"
}
reference centernet dog.jpg ../centernet_dog_tfjs.json
reference blazeface person.jpg ../blazeface_person_tfjs.json
