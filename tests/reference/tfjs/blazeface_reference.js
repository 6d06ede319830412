#!/usr/bin/env node
// The packaged BlazeFace run by TF.js 4.22, independent of kiln, on the exact float input kiln
// wrote (raw little-endian float32, [1, 256, 256, 3], already in [-1, 1]), and decoded as
// @vladmandic/human 3.3.6 decodes it (its functions are not exported from its bundle, so the
// steps are transcribed here from its sources, src/face/facemeshutil.ts generateAnchors and
// src/face/blazeface.ts getBoxes / decodeBoxes), with TF.js's own non-max suppression.
//
// Usage: node blazeface_reference.js MODEL_DIR INPUT.f32 OUT.json [wasm|cpu]
//   MODEL_DIR holds model.json + blazeface.bin (scripts/fetch-models.sh).
// OUT.json: the input's and each raw output's summary (shape, sum, sum of |x|, evenly spaced
// samples), human's anchors, the 100 best-scoring decoded candidates (anchor index, box x1, y1,
// x2, y2 in input pixels, sigmoid score), and what tf.image.nonMaxSuppression keeps of all 896
// with the parameters recorded next to it (kiln detect's defaults).
// Setup: (cd tests/reference/tfjs && npm install) — the versions pinned in package.json.
'use strict';
const { tf, useBackend, loadModel, readInput, summary, writeJson } = require('./common');

const SIZE = 256;
const SHAPE = [1, SIZE, SIZE, 3];
const CANDIDATES = 100;
const NMS = { max_boxes: 10, iou_threshold: 0.5, score_threshold: 0.1 };

// human: src/face/facemeshutil.ts, generateAnchors (the blazeface branch).
function generateAnchors(inputSize) {
  const spec = { strides: [inputSize / 16, inputSize / 8], anchors: [2, 6] };
  const anchors = [];
  for (let i = 0; i < spec.strides.length; i++) {
    const stride = spec.strides[i];
    const gridRows = Math.floor((inputSize + stride - 1) / stride);
    const gridCols = Math.floor((inputSize + stride - 1) / stride);
    const anchorsNum = spec.anchors[i];
    for (let gridY = 0; gridY < gridRows; gridY++) {
      const anchorY = stride * (gridY + 0.5);
      for (let gridX = 0; gridX < gridCols; gridX++) {
        const anchorX = stride * (gridX + 0.5);
        for (let n = 0; n < anchorsNum; n++) anchors.push([anchorX, anchorY]);
      }
    }
  }
  return anchors;
}

// human: src/face/blazeface.ts, decodeBoxes.
function decodeBoxes(boxOutputs, anchors, inputSizeT) {
  const t = {};
  t.boxStarts = tf.slice(boxOutputs, [0, 1], [-1, 2]);
  t.centers = tf.add(t.boxStarts, anchors);
  t.boxSizes = tf.slice(boxOutputs, [0, 3], [-1, 2]);
  t.boxSizesNormalized = tf.div(t.boxSizes, inputSizeT);
  t.centersNormalized = tf.div(t.centers, inputSizeT);
  t.halfBoxSize = tf.div(t.boxSizesNormalized, tf.scalar(2));
  t.starts = tf.sub(t.centersNormalized, t.halfBoxSize);
  t.ends = tf.add(t.centersNormalized, t.halfBoxSize);
  t.startNormalized = tf.mul(t.starts, inputSizeT);
  t.endNormalized = tf.mul(t.ends, inputSizeT);
  return tf.concat2d([t.startNormalized, t.endNormalized], 1);
}

async function main() {
  const [dir, inputPath, outPath, backend = 'wasm'] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: blazeface_reference.js MODEL_DIR INPUT.f32 OUT.json [wasm|cpu]');
  await useBackend(backend);
  const model = await loadModel(dir);
  const input = readInput(inputPath, SHAPE);
  const x = tf.tensor4d(input.values, SHAPE);
  const names = model.outputs.map((o) => o.name);
  const res = model.execute(x, names);
  // human: getBoxes, the branch for this (PINTO-converted) model's four outputs: sorted by size,
  // scores and regressions of the 16x16 map (512 anchors) first, then of the 8x8 map (384).
  const sorted = [...res].sort((a, b) => a.size - b.size);
  const concat384 = tf.concat([sorted[0], sorted[2]], 2);
  const concat512 = tf.concat([sorted[1], sorted[3]], 2);
  const batch = tf.squeeze(tf.concat([concat512, concat384], 1), [0]);
  const anchors = generateAnchors(SIZE);
  const boxes = decodeBoxes(batch, tf.tensor2d(anchors), tf.scalar(SIZE, 'int32'));
  const scores = tf.squeeze(tf.sigmoid(tf.slice(batch, [0, 0], [-1, 1])));
  const boxValues = await boxes.data();
  const scoreValues = await scores.data();
  const kept = await tf.image.nonMaxSuppressionAsync(boxes, scores, NMS.max_boxes,
    NMS.iou_threshold, NMS.score_threshold);
  const order = Array.from(scoreValues.keys()).sort((a, b) => scoreValues[b] - scoreValues[a] || a - b);
  const row = (i) => ({ index: i, box: Array.from(boxValues.slice(4 * i, 4 * i + 4)), score: scoreValues[i] });
  const result = {
    generator: `tests/reference/tfjs/blazeface_reference.js, @tensorflow/tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`,
    input_sha256: input.sha256,
    input: summary(input.values, SHAPE),
    outputs: {},
    anchors: anchors.flat(),
    candidates: order.slice(0, CANDIDATES).map(row),
    nms: { ...NMS, kept: Array.from(await kept.data()).map(row) },
  };
  names.forEach((name, i) => { result.outputs[name] = summary(res[i].dataSync(), res[i].shape); });
  writeJson(outPath, result);
  console.log(`${outPath}: ${names.length} outputs, ${result.nms.kept.length} boxes kept`);
}

main().catch((e) => { console.error(`blazeface_reference: ${e.message}`); process.exit(1); });
