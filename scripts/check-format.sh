#!/usr/bin/env bash
# scripts/check-format.sh: fails, listing them, when tracked C++ and CUDA sources are not laid out
# as .clang-format says (clang-format --dry-run -Werror); changes nothing. A few seconds.
# scripts/format.sh fixes them.
exec "$(dirname "$0")/format.sh" --check
