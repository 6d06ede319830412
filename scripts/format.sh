#!/usr/bin/env bash
# scripts/format.sh: formats the tracked C++ and CUDA sources (*.h, *.cpp, *.cu, *.cuh) in place
# with clang-format and the project's .clang-format (Debian 12's clang-format 14; another major
# version may lay some lines out differently). scripts/check-format.sh checks without changing.
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-clang-format}
command -v "$clang_format" >/dev/null || {
  echo "format.sh: $clang_format not found (scripts/install-deps.sh installs it)" >&2
  exit 1
}
git ls-files -z -- '*.h' '*.cpp' '*.cu' '*.cuh' |
  xargs -0 -r -n 20 -P "$(nproc)" "$clang_format" -i --style=file
echo "format.sh: formatted $(git ls-files -- '*.h' '*.cpp' '*.cu' '*.cuh' | wc -l) files"
