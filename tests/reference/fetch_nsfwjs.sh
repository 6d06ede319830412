#!/usr/bin/env bash
# fetch_nsfwjs.sh [--models-dir DIR]: the nsfwjs MobileNetV2 (a TF.js layers model, 224x224,
# uint8-quantised weights) as a test fixture for kiln's TF.js reader (tests/unit/test_nsfwjs.cpp):
#   DIR/nsfwjs-4.4.0/mobilenet_v2/{model.json,group1-shard1of1}
# DIR defaults to $KILN_MODELS, else ~/.kiln/models. The package comes from the npm registry
# (npm pack nsfwjs@4.4.0), its tarball's SHA-256 is checked, and its base64 shard modules are
# decoded by tests/reference/decode_nsfwjs.js; the decoded files are checked against their own
# SHA-256s. Idempotent: files in place that verify are left alone. Needs npm and node. Never
# commit the model (its labels make it unfit for any demo or picture: a test fixture only).
set -euo pipefail

PACKAGE="nsfwjs@4.4.0"
TARBALL_SHA256=585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382
declare -A DECODED_SHA256=(
  [model.json]=feffc6868d61e412a4e7a22657a3d07a8a48df6e11688a9e25b77c23cb7b45c9
  [group1-shard1of1]=8e7dddbb16acacc1bf1601b1b8a761e730ff934b7f2d7771312b2f000e5f5f13
)

die() {
  echo "fetch_nsfwjs: $*" >&2
  exit 1
}

MODELS_DIR="${KILN_MODELS:-$HOME/.kiln/models}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models-dir) [[ $# -ge 2 ]] || die "--models-dir needs a directory"; MODELS_DIR="$2"; shift 2 ;;
    -h|--help) echo "usage: $0 [--models-dir DIR]   (default: \$KILN_MODELS, else ~/.kiln/models)"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
TARGET="$MODELS_DIR/nsfwjs-4.4.0/mobilenet_v2"
HERE="$(cd "$(dirname "$0")" && pwd)"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

in_place() {
  local name
  for name in "${!DECODED_SHA256[@]}"; do
    [[ -f "$TARGET/$name" && "$(sha_of "$TARGET/$name")" == "${DECODED_SHA256[$name]}" ]] || return 1
  done
}

if in_place; then
  echo "nsfwjs: verified in $TARGET"
  exit 0
fi
command -v npm >/dev/null || die "npm is needed to fetch $PACKAGE"
command -v node >/dev/null || die "node is needed to decode $PACKAGE"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "nsfwjs: fetching $PACKAGE from the npm registry"
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null) || die "npm pack $PACKAGE failed"
tarball="$work/nsfwjs-4.4.0.tgz"
[[ -f "$tarball" ]] || die "npm pack wrote no $tarball"
found="$(sha_of "$tarball")"
[[ "$found" == "$TARBALL_SHA256" ]] || die "$PACKAGE tarball: SHA-256 mismatch (expected $TARBALL_SHA256, found $found)"
tar -xzf "$tarball" -C "$work" package/dist/models/mobilenet_v2 || die "cannot extract $tarball"
mkdir -p "$TARGET"
node "$HERE/decode_nsfwjs.js" "$work/package" "$TARGET" || die "decoding the shards failed"
for name in "${!DECODED_SHA256[@]}"; do
  found="$(sha_of "$TARGET/$name")"
  [[ "$found" == "${DECODED_SHA256[$name]}" ]] ||
    die "$TARGET/$name: SHA-256 mismatch after decoding (expected ${DECODED_SHA256[$name]}, found $found)"
done
echo "nsfwjs: fetched, decoded and verified in $TARGET"
