#!/usr/bin/env bash
# kiln detect as a new user meets it, on darknet's sample photos (/usr/share/darknet/data) with
# the packaged CenterNet and BlazeFace (scripts/fetch-models.sh; missing is a failure, as CI
# fetches them): every hand-drawn box of tests/e2e/detect_boxes.json ("photo.jpg" for CenterNet,
# "blazeface/photo.jpg" for BlazeFace) matched by a detection of an accepted class (or the model's
# documented confusion) with IoU >= 0.5 and score >= 0.3; the JSON's normalised boxes agree with
# the printed table; the picture is the photo's size; a model given as a model.json path is
# recognised; usage and runtime errors are one "kiln:" line, output checked first.
source "$(dirname "$0")/common.sh"
OUT="$WORK/detect"
PHOTOS=/usr/share/darknet/data
MODELS="${KILN_MODELS:-$HOME/.kiln/models}"
BOXES="$(cd "$(dirname "$0")" && pwd)/detect_boxes.json"
fresh_dir "$OUT"
cd "$OUT"
for model in centernet blazeface; do
  [[ -f "$MODELS/$model/model.json" ]] || fail "$model is missing: $MODELS/$model (run scripts/fetch-models.sh)"
done
[[ -f "$PHOTOS/dog.jpg" ]] || fail "darknet's photos are missing: $PHOTOS (apt-get install darknet)"

# detect MODEL PHOTO [OPTION ...]: MODEL_PHOTO.{png,json,out}
detect() {
  local model="$1" photo="$2" stem="$1_$2"
  shift 2
  "$KILN" detect "$PHOTOS/$photo.jpg" -o "$stem.png" --json "$stem.json" --model "$model" "$@" \
    >"$stem.out" 2>"$stem.err" || fail "kiln detect $photo.jpg --model $model: $(cat "$stem.err")"
  [[ ! -s "$stem.err" ]] || fail "kiln detect $photo.jpg wrote to stderr: $(cat "$stem.err")"
}
for photo in dog person giraffe horses eagle; do detect centernet "$photo" --min-score 0.3; done
detect blazeface person  # BlazeFace's own default score, 0.5
cat centernet_dog.out blazeface_person.out

"$PYTHON" - "$BOXES" <<'PY' || fail "a hand-drawn box is not found"
import json, re, sys
from PIL import Image
expected = json.load(open(sys.argv[1]))

def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

ok = True
for name, objects in expected.items():
    if name.startswith("_"):
        continue
    model, photo = name.split("/") if "/" in name else ("centernet", name)
    stem = f"{model}_{photo[:-4]}"
    found = json.load(open(f"{stem}.json"))
    w, h = found["width"], found["height"]
    assert Image.open(f"{stem}.png").size == (w, h), f"{stem}.png is not the photo's size"
    boxes = [[b[1] * w, b[0] * h, b[3] * w, b[2] * h] for b in found["detection_boxes"]]
    table = [l.split() for l in open(f"{stem}.out") if re.search(r"\(\d+, \d+, \d+, \d+\)$", l)]
    assert len(table) == len(boxes), f"{stem}: the table and the JSON list different boxes"
    for row, box in zip(table, boxes):
        printed = [float(v.strip("(),")) for v in row[-4:]]
        assert all(abs(p - b) <= 0.51 for p, b in zip(printed, box)), f"{stem}: {printed} vs {box}"
    for obj in objects:
        accepted = obj["classes"] + [obj.get("known_confusion")]
        matches = [(s, iou(obj["box"], b), c) for b, s, c in
                   zip(boxes, found["detection_scores"], found["detection_class_entities"])
                   if c in accepted and s >= 0.3 and iou(obj["box"], b) >= 0.5]
        best = max(matches, default=None, key=lambda m: m[1])
        print(f"{name:22} {'/'.join(obj['classes']):10} {obj['box']}: "
              + (f"{best[2]} score {best[0]:.3f} IoU {best[1]:.2f}" if best else "NOT FOUND")
              + (" (CenterNet's known confusion)" if best and best[2] not in obj["classes"] else ""))
        ok &= best is not None
sys.exit(0 if ok else 1)
PY

# Errors: one "kiln:" line; status 2 for usage, 1 at run time; the output checked before any work.
expect_exit 2 err.txt "$KILN" detect "$PHOTOS/dog.jpg"
expect_exit 2 err.txt "$KILN" detect "$PHOTOS/dog.jpg" -o x.png --min-score 1.5
expect_exit 2 err.txt "$KILN" detect "$PHOTOS/dog.jpg" -o x.png --max-boxes -1
expect_exit 1 err.txt "$KILN" detect "$PHOTOS/dog.jpg" -o x.gif
grep -q "unknown picture extension '.gif'" err.txt || fail "bad extension: $(cat err.txt)"
expect_exit 1 err.txt "$KILN" detect "$PHOTOS/dog.jpg" -o x.png --model missing/model.json
grep -q "fetch-models.sh" err.txt || fail "missing model: $(cat err.txt)"
expect_exit 1 err.txt "$KILN" detect "$PHOTOS/dog.jpg" -o x.png --model yolo
grep -q "unknown detector model 'yolo'" err.txt || fail "unknown model: $(cat err.txt)"

# A model given by its model.json is recognised from its graph, and gives what its name gives.
"$KILN" detect "$PHOTOS/dog.jpg" -o path.png --model "$MODELS/centernet/model.json" --min-score 0.3 \
  >path.out || fail "kiln detect --model $MODELS/centernet/model.json failed"
diff <(tail -n +2 path.out | sed 's/^path.png//') <(tail -n +2 centernet_dog.out | sed 's/^centernet_dog.png//') ||
  fail "CenterNet by path and by name differ"
"$KILN" detect "$PHOTOS/person.jpg" -o path.png --model "$MODELS/blazeface" >path.out ||
  fail "kiln detect --model $MODELS/blazeface (the model's folder) failed"
grep -q "^face " path.out || fail "BlazeFace by path finds no face: $(cat path.out)"
expect_exit 1 err.txt "$KILN" detect "$OUT/nothing.jpg" -o x.png
[[ ! -e x.png ]] || fail "a failed detect left x.png"
echo "e2e.detect: OK"
