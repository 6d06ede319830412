# Shared helpers of the end-to-end tests (sourced). Each test script is called by CTest as
#   <script> KILN_BINARY WORK_DIR
# and reads the datasets from $KILN_DATA, else ~/.kiln/datasets (scripts/fetch-data.sh puts them
# there). Missing data is a failure, not a skip: CI fetches it before testing.
set -euo pipefail

KILN="$1"
WORK="$2"
DATA="${KILN_DATA:-$HOME/.kiln/datasets}"
# Debian's python3-h5py lives in the system Python, not in a pyenv python3 that may come first.
PYTHON=/usr/bin/python3
# The tests' Python helpers (mnist_idx.py) live next to the scripts.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

require_mnist() {
  local name
  for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [[ -f "$DATA/mnist/$name" || -f "$DATA/mnist/$name.gz" ]] ||
      fail "MNIST is missing: $DATA/mnist/$name (run scripts/fetch-data.sh)"
  done
}

# fresh_dir DIR: an empty directory.
fresh_dir() {
  rm -rf "$1"
  mkdir -p "$1"
}

# expect_exit STATUS STDERR_FILE COMMAND...: the command must exit with STATUS and print exactly
# one line, "kiln: ...", on stderr (no usage text, stack dump or abort).
expect_exit() {
  local expected="$1" err="$2" status=0
  shift 2
  "$@" >"$err.out" 2>"$err" || status=$?
  [[ $status -eq $expected ]] ||
    fail "expected exit status $expected from '$*', got $status; stderr: $(cat "$err")"
  [[ $(wc -l <"$err") -eq 1 ]] || fail "expected one line on stderr from '$*', got: $(cat "$err")"
  grep -q '^kiln: ' "$err" || fail "stderr of '$*' does not start with 'kiln: ': $(cat "$err")"
}

# expect_failure STDERR_FILE COMMAND...: a runtime error (exit status 1, one "kiln:" line).
expect_failure() { expect_exit 1 "$@"; }

# expect_usage_error STDERR_FILE COMMAND...: a usage error (exit status 2, one "kiln:" line).
expect_usage_error() { expect_exit 2 "$@"; }

# expect_in FILE TEXT: FILE contains TEXT (fixed string).
expect_in() {
  grep -qF -- "$2" "$1" || fail "$1 does not contain '$2'; it holds: $(head -c 2000 "$1")"
}

# expect_confusion_matrix FILE: FILE holds a printed 10x10 confusion matrix (rows "digit n n ...").
expect_confusion_matrix() {
  [[ $(grep -cE '^[0-9] +[0-9]+( +[0-9]+){9}$' "$1") -eq 10 ]] ||
    fail "$1 should hold ten confusion-matrix rows: $(cat "$1")"
}

# check_png FILE [WIDTH_MIN HEIGHT_MIN]: a complete, valid PNG (signature, chunk CRCs, IHDR first,
# IEND last, IDAT inflating to exactly the image's bytes).
check_png() {
  "$PYTHON" - "$1" "${2:-1}" "${3:-1}" <<'PY'
import struct, sys, zlib
path, min_w, min_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: no PNG signature"
pos, chunks, idat = 8, [], b""
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    assert zlib.crc32(kind + body) == crc, f"{path}: bad CRC in {kind}"
    chunks.append(kind)
    if kind == b"IHDR":
        width, height, depth, colour = struct.unpack(">IIBB", body[:10])
    if kind == b"IDAT":
        idat += body
    pos += 12 + length
assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND", f"{path}: chunks {chunks}"
channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
expected = height * (1 + width * channels * depth // 8)
assert len(zlib.decompress(idat)) == expected, f"{path}: image data size mismatch"
assert width >= min_w and height >= min_h, f"{path}: {width}x{height} is too small"
PY
}

# json_value FILE KEY: a top-level value of a JSON file.
json_value() {
  "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
