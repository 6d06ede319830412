#!/usr/bin/env bash
# Installs a built tree into BUILD/install and builds + runs the example consumer against it twice:
# through find_package(kiln) and through pkg-config, both with -Wall -Wextra -Werror.
#   scripts/check-install.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
prefix=$PWD/$build/install
rm -rf "$prefix" "$build/consumer-cmake" "$build/consumer-pc" "$build/odd-even" "$build/detect"
cmake --install "$build" --prefix "$prefix" >/dev/null
echo "check-install: libkiln size $(du -bL "$prefix"/lib/libkiln.so | cut -f1) bytes"
# The installed library exports only what its installed headers declare.
scripts/check-exports.sh "$(readlink -f "$prefix"/lib/libkiln.so)"

cmake -S apps/examples/consumer -B "$build/consumer-cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/consumer-cmake" >/dev/null
"$build/consumer-cmake/consumer" "$build/consumer-cmake/weights.h5"

mkdir -p "$build/consumer-pc"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ -Wall -Wextra -Werror apps/examples/consumer/main.cpp $(pkg-config --cflags --libs kiln) \
  -o "$build/consumer-pc/consumer"
"$build/consumer-pc/consumer" "$build/consumer-pc/weights.h5"
# The odd/even example builds against the install too (running it trains on MNIST: too long here).
cmake -S apps/examples/odd_even -B "$build/odd-even" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/odd-even" >/dev/null
# The detect example builds too, and runs when the packaged CenterNet is fetched.
cmake -S apps/examples/detect -B "$build/detect" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/detect" >/dev/null
if [[ -f "${KILN_MODELS:-$HOME/.kiln/models}/centernet/model.json" ]]; then
  "$build/detect/detect" /usr/share/darknet/data/dog.jpg | grep -q '^dog ' ||
    { echo "check-install: the detect example found no dog in dog.jpg" >&2; exit 1; }
fi
echo "check-install: both consumers built and ran; the odd/even and detect examples built"
