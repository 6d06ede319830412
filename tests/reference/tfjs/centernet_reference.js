#!/usr/bin/env node
// The packaged MobileNetV3-CenterNet run by TF.js 4.22, independent of kiln, on the exact float
// input kiln wrote (raw little-endian float32, [1, 512, 512, 3]).
//
// Usage: node centernet_reference.js MODEL_DIR INPUT.f32 OUT.json [wasm|cpu [RUNS]]
//   wasm (default): @tensorflow/tfjs-backend-wasm; cpu: the pure-JS backend (about a minute).
//   RUNS > 1 times RUNS runs after a warm-up and records each run's seconds.
//   MODEL_DIR holds model.json + centernet.bin (scripts/fetch-models.sh).
// OUT.json: for the detections, every value; for the input and for each other named tensor, its
// shape, sum, sum of absolute values and `samples` values at evenly spaced flat indices
// (`sample_step` apart).
// Setup: (cd tests/reference/tfjs && npm install) — the versions pinned in package.json.
'use strict';
const { tf, useBackend, loadModel, readInput, summary, writeJson } = require('./common');

const NAMED = [
  'tower_0/MobilenetV3/Conv/hard_swish/mul_1',                       // a hard-swish output
  'tower_0/MobilenetV3/expanded_conv_3/squeeze_excite/mul',          // a squeeze-excite output
  'tower_0/CenternetHead/Mean',                                      // a spatial mean
  'tower_0/CenternetHead/c5_upsample/up_sampling2d/ResizeBilinear',  // TF1 asymmetric resize
  'tower_0/keypoints',                                               // the sigmoid heat-map
  'tower_0/wh',                                                      // the box regression
];
const SHAPE = [1, 512, 512, 3];

async function main() {
  const [dir, inputPath, outPath, backend = 'wasm', runs = '1'] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: centernet_reference.js MODEL_DIR INPUT.f32 OUT.json [wasm|cpu [RUNS]]');
  await useBackend(backend);
  const model = await loadModel(dir);
  const input = readInput(inputPath, SHAPE);
  const x = tf.tensor4d(input.values, SHAPE);
  const names = ['tower_0/detections', ...NAMED];
  const timed = () => {
    const start = process.hrtime.bigint();
    const outputs = model.execute({ 'tower_0/images': x }, names);
    const values = outputs.map((t) => t.dataSync());
    return { outputs, values, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  };
  let { outputs, values, seconds } = timed();
  const times = [];
  for (let i = 0; Number(runs) > 1 && i < Number(runs); ++i) {
    outputs.forEach((t) => t.dispose());
    ({ outputs, values, seconds } = timed());
    times.push(seconds);
  }
  const result = {
    generator: `tests/reference/tfjs/centernet_reference.js, @tensorflow/tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`,
    input_sha256: input.sha256,
    ...(times.length > 0 ? { seconds, run_seconds: times } : {}),  // timing runs only
    input: summary(input.values, SHAPE),
    detections: Array.from(values[0]),
    tensors: {},
  };
  NAMED.forEach((name, i) => { result.tensors[name] = summary(values[i + 1], outputs[i + 1].shape); });
  writeJson(outPath, result);
  console.log(`${outPath}: ${names.length} tensors in ${seconds.toFixed(2)} s`);
}

main().catch((e) => { console.error(`centernet_reference: ${e.message}`); process.exit(1); });
