#!/usr/bin/env bash
# scripts/check-format.sh: fails, listing them, when tracked C++ and CUDA sources (*.h, *.cpp,
# *.cu, *.cuh) are not laid out as the project's .clang-format says (clang-format --dry-run
# -Werror; Debian 12's clang-format 14). scripts/format.sh fixes them. Takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-clang-format}
command -v "$clang_format" >/dev/null || {
  echo "check-format.sh: $clang_format not found (scripts/install-deps.sh installs it)" >&2
  exit 1
}
export clang_format
# Prints the name of each file clang-format would change.
unformatted=$(git ls-files -z -- '*.h' '*.cpp' '*.cu' '*.cuh' |
  xargs -0 -r -n 20 -P "$(nproc)" sh -c '
    for file; do
      "$clang_format" --style=file --dry-run -Werror "$file" >/dev/null 2>&1 || echo "$file"
    done' check-format)
if [ -n "$unformatted" ]; then
  echo "check-format.sh: not formatted as .clang-format says ($("$clang_format" --version)):" >&2
  sort <<<"$unformatted" | sed 's/^/  /' >&2
  echo "check-format.sh: run scripts/format.sh (or clang-format -i FILE) and commit" >&2
  exit 1
fi
echo "check-format.sh: $(git ls-files -- '*.h' '*.cpp' '*.cu' '*.cuh' | wc -l) files formatted"
