#!/usr/bin/env node
// The packaged MobileNetV3-CenterNet run by TF.js 4.22 (pure-JS cpu backend), independent of
// kiln, on the exact float input kiln wrote (raw little-endian float32, [1, 512, 512, 3]).
//
// Usage: node centernet_reference.js MODEL_DIR INPUT.f32 OUT.json [cpu|wasm [RUNS]]
//   cpu (default): the pure-JS backend; wasm: @tensorflow/tfjs-backend-wasm (npm install
//   @tensorflow/tfjs-backend-wasm@4.22.0 here first), for timing. RUNS > 1 times RUNS runs
//   after a warm-up and records each run's seconds.
//   MODEL_DIR holds model.json + centernet.bin (scripts/fetch-models.sh).
// OUT.json: for the detections, every value; for the input and for each other named tensor, its shape, sum, sum of
// absolute values and `samples` values at evenly spaced flat indices (`sample_step` apart).
// Setup: (cd tests/reference/tfjs && npm install) — @tensorflow/tfjs@4.22.0, pinned in package.json.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const tf = require('@tensorflow/tfjs');

const NAMED = [
  'tower_0/MobilenetV3/Conv/hard_swish/mul_1',                       // a hard-swish output
  'tower_0/MobilenetV3/expanded_conv_3/squeeze_excite/mul',          // a squeeze-excite output
  'tower_0/CenternetHead/Mean',                                      // a spatial mean
  'tower_0/CenternetHead/c5_upsample/up_sampling2d/ResizeBilinear',  // TF1 asymmetric resize
  'tower_0/keypoints',                                               // the sigmoid heat-map
  'tower_0/wh',                                                      // the box regression
];
const SAMPLES = 256;

function loadHandler(dir) {
  const model = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return {
    load: async () => ({
      modelTopology: model.modelTopology, format: model.format, generatedBy: model.generatedBy,
      convertedBy: model.convertedBy, signature: model.signature, weightSpecs: specs, weightData,
    }),
  };
}

function summary(values, shape) {
  let sum = 0, absSum = 0;
  for (const v of values) { sum += v; absSum += Math.abs(v); }
  const step = Math.max(1, Math.floor(values.length / SAMPLES));
  const samples = [];
  for (let i = 0; i < values.length && samples.length < SAMPLES; i += step) samples.push(values[i]);
  return { shape, sum, abs_sum: absSum, sample_step: step, samples };
}

async function main() {
  const [dir, inputPath, outPath, backend = 'cpu', runs = '1'] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: centernet_reference.js MODEL_DIR INPUT.f32 OUT.json [cpu|wasm [RUNS]]');
  if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not usable`);
  const model = await tf.loadGraphModel(loadHandler(dir));
  const raw = fs.readFileSync(inputPath);
  const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  if (input.length !== 512 * 512 * 3) throw new Error(`expected 786432 floats, found ${input.length}`);
  const x = tf.tensor4d(input, [1, 512, 512, 3]);
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
    input_sha256: crypto.createHash('sha256').update(raw).digest('hex'),
    seconds,
    run_seconds: times,
    input: summary(input, [1, 512, 512, 3]),
    detections: Array.from(values[0]),
    tensors: {},
  };
  NAMED.forEach((name, i) => { result.tensors[name] = summary(values[i + 1], outputs[i + 1].shape); });
  fs.writeFileSync(outPath, JSON.stringify(result, null, 1) + '\n');
  console.log(`${outPath}: ${names.length} tensors in ${seconds.toFixed(2)} s`);
}

main().catch((e) => { console.error(`centernet_reference: ${e.message}`); process.exit(1); });
