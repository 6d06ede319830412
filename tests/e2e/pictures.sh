#!/usr/bin/env bash
# kiln filter / pool as a new user meets them: pictures made here by Pillow; results against
# Pillow (the seed's edge_2 with the seed's scale 1) and numpy (--orientation keras is a Conv2D
# correlation); every usage error one "kiln:" line with exit status 2, runtime errors status 1;
# the output path and the padding checked before any work; no device line before an error.
source "$(dirname "$0")/common.sh"
OUT="$WORK/pictures"
fresh_dir "$OUT"
cd "$OUT"

"$PYTHON" - <<'PY'
import numpy as np
from PIL import Image, ImageFilter
rng = np.random.default_rng(3)
y, x = np.mgrid[0:60, 0:80]
grey = ((x * 3 + y * 2) % 256).astype(np.uint8) ^ rng.integers(0, 40, (60, 80), dtype=np.uint8)
Image.fromarray(grey).save("grey.png")
Image.fromarray(np.stack([grey, grey[::-1], 255 - grey], -1)).save("rgb.png")
Image.new("CMYK", (8, 8), (10, 20, 30, 40)).save("cmyk.jpg")
edge_2 = ImageFilter.Kernel((3, 3), [0, 1, 0, 0, 1, 0, 0, 1, 0], 1, 0)   # as the seed calls it
Image.open("rgb.png").filter(edge_2).save("pillow_edge_2.png")
PY

# The seed's edge_2 is Kernel((3,3), edge_2, 1, 0): scale 1 by default, bit-exact with Pillow.
"$KILN" filter rgb.png -o edge_2.png --kernel edge_2 >filter.out 2>filter.err
[[ ! -s filter.err ]] || fail "filter wrote to stderr: $(cat filter.err)"
"$PYTHON" - <<'PY' || fail "edge_2 differs from Pillow"
import numpy as np
from PIL import Image
a = np.array(Image.open("edge_2.png")).astype(int)
b = np.array(Image.open("pillow_edge_2.png")).astype(int)
assert a.shape == b.shape and (a == b).all(), f"max difference {abs(a - b).max()}"
PY

# --orientation keras with zero padding is a Conv2D correlation (numpy reference, integer sums);
# Pillow's orientation flips the kernel upside down and differs on sobel_y.
"$KILN" filter grey.png -o keras.png --kernel sobel_y --padding same --orientation keras >/dev/null
"$KILN" filter grey.png -o pillow.png --kernel sobel_y --padding same >/dev/null
"$PYTHON" - <<'PY' || fail "--orientation keras is not a correlation"
import numpy as np
from PIL import Image
g = np.pad(np.array(Image.open("grey.png")).astype(int), 1)
k = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
ref = sum(k[i, j] * g[i:i + 60, j:j + 80] for i in range(3) for j in range(3))
ref = np.clip(ref, 0, 255)
keras = np.array(Image.open("keras.png")).astype(int)
pillow = np.array(Image.open("pillow.png")).astype(int)
assert (keras == ref).all(), f"keras: max difference {abs(keras - ref).max()}"
assert abs(pillow - ref).max() > 200, "pillow's orientation should differ on sobel_y"
PY

# Usage errors: one line, exit status 2, naming the flag and what is allowed.
expect_usage_error missing.err "$KILN" filter rgb.png --kernel edge_1
expect_in missing.err "--output is required"
expect_usage_error unknown.err "$KILN" filter rgb.png -o x.png --kernel edge_1 --bogus
expect_in unknown.err "--bogus"
expect_usage_error stride.err "$KILN" filter rgb.png -o x.png --kernel edge_1 --stride 0
expect_in stride.err "--stride: must be a whole number from 1 to 4096, found '0'"
[[ $(wc -c <stride.err) -lt 200 ]] || fail "stride error too long: $(cat stride.err)"
expect_usage_error size.err "$KILN" pool rgb.png -o x.png --size 0
expect_in size.err "--size: must be a whole number from 1 to 4096"
expect_usage_error command.err "$KILN" filtr rgb.png
expect_in command.err "unknown command 'filtr' (did you mean 'filter'?"
expect_usage_error none.err "$KILN"
expect_in none.err "a command is required"
expect_usage_error kernel.err "$KILN" filter rgb.png -o x.png --kernel edge_3
expect_in kernel.err "did you mean 'edge_1'?"
expect_in kernel.err "names: identity, edge_1, edge_2"
expect_usage_error orientation.err "$KILN" filter rgb.png -o x.png --kernel edge_1 --orientation up
"$KILN" filter --help >help.out
expect_in help.out "Exit status: 0 success; 1 runtime error"
expect_in help.out "--orientation"

# Runtime errors: exit status 1, one line, and no device line before them.
expect_failure cmyk.err "$KILN" filter cmyk.jpg -o x.png --kernel edge_1
expect_in cmyk.err "CMYK JPEG is not supported"
expect_failure dir.err "$KILN" filter rgb.png -o "$OUT/no/such/dir/x.png" --kernel edge_1 --device auto
expect_in dir.err "does not exist"
[[ ! -s dir.err.out ]] || fail "output before an error: $(cat dir.err.out)"
expect_failure ext.err "$KILN" pool rgb.png -o x.bmp
expect_in ext.err "unknown picture extension '.bmp'"
expect_failure padding.err "$KILN" filter rgb.png -o x.png --kernel edge_1 --padding 100000
expect_in padding.err "must be 0..63 rows"
[[ ! -e x.png && ! -e x.bmp ]] || fail "a failed command left an output file"

# A command that computes on the default device says which, on one short line of stdout.
"$KILN" pool rgb.png -o pooled.png --size 2 >pool.out 2>pool.err
[[ ! -s pool.err ]] || fail "pool wrote to stderr: $(cat pool.err)"
grep -qE '^device: (cpu \(no usable GPU: [^()]*\)|cuda:0 \(a GPU is usable\)|.*KILN_DEVICE.*)$' pool.out ||
  fail "no short device line: $(cat pool.out)"
echo "pictures OK"
