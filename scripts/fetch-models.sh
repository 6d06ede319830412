#!/usr/bin/env bash
# fetch-models.sh [--models-dir DIR]: puts the pre-trained detectors where kiln looks for them.
#   DIR/centernet/{model.json,centernet.bin}  MobileNetV3-CenterNet, COCO-80 (TF.js graph model)
#   DIR/blazeface/{model.json,blazeface.bin}  BlazeFace, faces (TF.js graph model)
# Both come from the npm package @vladmandic/human@3.3.6 (models/, licence MIT), fetched with
# `npm pack`; model.json is the package's <name>.json under the name TF.js loaders expect.
# DIR defaults to $KILN_MODELS, else ~/.kiln/models. Every file's SHA-256 is verified.
# Idempotent: files already in place and verified are left alone, so a second run only verifies.
# Where npm is, it also installs the TF.js runtime pinned in tests/reference/tfjs/package.json
# (once; about 20 s), with which the detector tests run the TF.js reference on kiln's input
# themselves (tests/unit/tfjs_reference.h); without it they read the committed references.
set -euo pipefail

REFERENCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/reference/tfjs"

PACKAGE="@vladmandic/human@3.3.6"
MODELS=(centernet blazeface)
declare -A SHA256=(
  [centernet.json]=bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05
  [centernet.bin]=1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef
  [blazeface.json]=cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f
  [blazeface.bin]=dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72
)

usage() {
  echo "usage: $0 [--models-dir DIR]   (default: \$KILN_MODELS, else ~/.kiln/models)"
}

die() {
  echo "fetch-models: $*" >&2
  exit 1
}

parse_args() {
  MODELS_DIR="${KILN_MODELS:-$HOME/.kiln/models}"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --models-dir) [[ $# -ge 2 ]] || die "--models-dir needs a directory"; MODELS_DIR="$2"; shift 2 ;;
      --models-dir=*) MODELS_DIR="${1#--models-dir=}"; shift ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# The path in MODELS_DIR of the package file NAME (model.json for the .json files).
target_of() {
  local name="$1" model="${1%.*}"
  if [[ "$name" == *.json ]]; then echo "$MODELS_DIR/$model/model.json"; else echo "$MODELS_DIR/$model/$name"; fi
}

all_in_place() {
  local name target
  for name in "${!SHA256[@]}"; do
    target="$(target_of "$name")"
    [[ -f "$target" && "$(sha_of "$target")" == "${SHA256[$name]}" ]] || return 1
  done
}

fetch() {
  command -v npm >/dev/null || die "npm is needed to fetch the models (apt-get install -y npm)"
  WORK_DIR="$(mktemp -d)"
  trap 'rm -rf "$WORK_DIR"' EXIT
  echo "models: fetching $PACKAGE from the npm registry"
  (cd "$WORK_DIR" && npm pack --silent "$PACKAGE" >/dev/null) || die "npm pack $PACKAGE failed"
  local files=() name
  for name in "${!SHA256[@]}"; do files+=("package/models/$name"); done
  tar -xzf "$WORK_DIR"/vladmandic-human-*.tgz -C "$WORK_DIR" "${files[@]}" ||
    die "cannot extract the models from the $PACKAGE tarball"
  local source target
  for name in "${!SHA256[@]}"; do
    source="$WORK_DIR/package/models/$name"
    [[ "$(sha_of "$source")" == "${SHA256[$name]}" ]] ||
      die "$name: SHA-256 mismatch (expected ${SHA256[$name]}, found $(sha_of "$source"))"
    target="$(target_of "$name")"
    mkdir -p "$(dirname "$target")"
    cp "$source" "$target.partial"
    mv "$target.partial" "$target"
  done
}

# Whether node_modules holds every package.json dependency at its pinned version.
reference_runtime_installed() {
  local name version
  while read -r name version; do
    grep -q "\"version\": \"$version\"" "$REFERENCE_DIR/node_modules/$name/package.json" 2>/dev/null ||
      return 1
  done < <(sed -n 's/^ *"\(@[^"]*\)": "\([0-9.]*\)".*/\1 \2/p' "$REFERENCE_DIR/package.json")
}

install_reference_runtime() {
  if ! command -v npm >/dev/null; then
    echo "models: no npm, so no TF.js reference runtime: the detector tests read the committed references"
  elif reference_runtime_installed; then
    echo "models: TF.js reference runtime in place ($REFERENCE_DIR/node_modules)"
  elif (cd "$REFERENCE_DIR" && npm install --silent --no-audit --no-fund >/dev/null); then
    echo "models: TF.js reference runtime installed ($REFERENCE_DIR/node_modules)"
  else
    echo "fetch-models: warning: npm install in $REFERENCE_DIR failed: the detector tests read the committed references" >&2
  fi
}

main() {
  parse_args "$@"
  if all_in_place; then
    echo "models: verified in $MODELS_DIR (${MODELS[*]})"
  else
    fetch
    all_in_place || die "the model files in $MODELS_DIR do not verify after copying"
    echo "models: fetched and verified in $MODELS_DIR (${MODELS[*]})"
  fi
  install_reference_runtime
}

main "$@"
