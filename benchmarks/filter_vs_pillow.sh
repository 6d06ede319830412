#!/usr/bin/env bash
# kiln filter against Pillow's ImageFilter.Kernel on a 4000x3000 RGB JPEG, whole processes
# (read, filter, write a JPEG), interleaved A B A B so that a drifting machine hits both alike:
#   benchmarks/filter_vs_pillow.sh BUILD_DIR [RUNS]
# Prints each run's wall seconds and peak memory (GNU time) and the medians. The picture is
# grace_hopper.jpg (python-matplotlib-data) resized by Pillow; needs /usr/bin/python3 with PIL.
set -euo pipefail
BUILD="${1:?usage: $0 BUILD_DIR [RUNS]}"
RUNS="${2:-5}"
KILN="$BUILD/apps/kiln/kiln"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PHOTO=/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg

/usr/bin/python3 - "$PHOTO" "$WORK" <<'PY'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").resize((4000, 3000), Image.BICUBIC).save(
    sys.argv[2] + "/big.jpg", quality=92)
open(sys.argv[2] + "/pillow.py", "w").write("""
import sys
from PIL import Image, ImageFilter
size = int(sys.argv[3])
weights = [1, 0, -1] * 3 if size == 3 else [1, 4, 6, 4, 1, 4, 16, 24, 16, 4, 6, 24, 36, 24, 6,
                                            4, 16, 24, 16, 4, 1, 4, 6, 4, 1]
kernel = ImageFilter.Kernel((size, size), weights, 1 if size == 3 else 256, 0)
Image.open(sys.argv[1]).filter(kernel).save(sys.argv[2], quality=90)
""")
PY

# measure LABEL COMMAND...: one run; appends "LABEL wall_s peak_kib" to $WORK/times.
measure() {
  local label="$1"
  shift
  /usr/bin/time -f "$label %e %M" -a -o "$WORK/times" "$@" >/dev/null 2>&1
}

for size in 3 5; do
  kernel=$([[ $size == 3 ]] && echo edge_1 || echo gaussian_5)
  for ((i = 0; i < RUNS; ++i)); do
    measure "kiln_${size}x${size}" "$KILN" filter "$WORK/big.jpg" -o "$WORK/kiln.jpg" --kernel "$kernel"
    measure "pillow_${size}x${size}" /usr/bin/python3 "$WORK/pillow.py" "$WORK/big.jpg" "$WORK/pillow.jpg" "$size"
  done
done
cat "$WORK/times"
/usr/bin/python3 - "$WORK/times" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, wall, kib = line.split()
    rows.setdefault(label, []).append((float(wall), int(kib)))
for size in ("3x3", "5x5"):
    k, p = rows["kiln_" + size], rows["pillow_" + size]
    kw, pw = statistics.median(w for w, _ in k), statistics.median(w for w, _ in p)
    km, pm = max(m for _, m in k) / 1024, max(m for _, m in p) / 1024
    print(f"{size}: kiln {kw:.3f} s {km:.0f} MiB, Pillow {pw:.3f} s {pm:.0f} MiB, "
          f"time ratio {kw / pw:.2f}, memory ratio {km / pm:.2f}")
PY
