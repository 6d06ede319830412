#!/usr/bin/env bash
# scripts/format.sh [--check]: formats the tracked C++ and CUDA sources (*.h, *.cpp, *.cu, *.cuh)
# in place with clang-format and the project's .clang-format (Debian 12's clang-format 14;
# another major version may lay some lines out differently). With --check (what
# scripts/check-format.sh runs) it changes nothing and fails, listing them, when files are not
# formatted (clang-format --dry-run -Werror). CLANG_FORMAT names another clang-format binary.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
case "${1:-}" in
  --check) check=1 ;;
  '') ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac
clang_format=${CLANG_FORMAT:-clang-format}
command -v "$clang_format" >/dev/null || {
  echo "format.sh: $clang_format not found (scripts/install-deps.sh installs it)" >&2
  exit 1
}
sources() { git ls-files -z -- '*.h' '*.cpp' '*.cu' '*.cuh'; }
count=$(sources | tr -cd '\0' | wc -c)

if [ $check = 0 ]; then
  sources | xargs -0 -r -n 20 -P "$(nproc)" "$clang_format" -i --style=file
  echo "format.sh: formatted $count files"
  exit 0
fi

export clang_format
# The name of each file clang-format would change.
unformatted=$(sources | xargs -0 -r -n 20 -P "$(nproc)" sh -c '
  for file; do
    "$clang_format" --style=file --dry-run -Werror "$file" >/dev/null 2>&1 || echo "$file"
  done' check-format)
if [ -n "$unformatted" ]; then
  echo "check-format: not formatted as .clang-format says ($("$clang_format" --version)):" >&2
  sort <<<"$unformatted" | sed 's/^/  /' >&2
  echo "check-format: run scripts/format.sh (or clang-format -i FILE) and commit" >&2
  exit 1
fi
echo "check-format: $count files formatted"
