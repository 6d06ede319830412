#!/usr/bin/env node
// nsfwjs_reference.js MODEL_DIR OUT_JSON: what the pure-JS @tensorflow/tfjs (pinned in
// package.json; `npm ci` in this folder) computes for the decoded nsfwjs MobileNetV2
// (fetch_nsfwjs.sh) on three fixed inputs, written as the small JSON that
// tests/unit/test_nsfwjs.cpp compares kiln with (tests/reference/nsfwjs_reference.json).
//
// The inputs are integer formulas both sides compute exactly: input k holds, at row y, column x,
// channel c, the float32 nearest to q_k(y, x, c) / 255 with q_k an integer in [0, 255]
// (inputValue below; the C++ test has the same three). For each input the JSON holds the five
// probabilities and, for the first input, a few layers' sum, sum of absolute values and eight
// values at evenly spaced flat indices i * floor(n / 8).
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

const SIZE = 224;
const LAYERS = ['Conv1_relu', 'block_6_project_BN', 'out_relu', 'dense_2'];

function inputValue(k, y, x, c) {
  let q;
  if (k === 0) q = (3 * y + 5 * x + 7 * c) % 256;
  else if (k === 1) q = (13 * y * y + 7 * x * x + 3 * x * y + 101 * c + 17) % 256;
  else q = ((Math.floor(x / 16) + Math.floor(y / 16)) % 2) * 200 + ((x * y + 50 * c) % 56);
  return q / 255;
}

function input(k) {
  const values = new Float32Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; ++y)
    for (let x = 0; x < SIZE; ++x)
      for (let c = 0; c < 3; ++c) values[(y * SIZE + x) * 3 + c] = inputValue(k, y, x, c);
  return tf.tensor4d(values, [1, SIZE, SIZE, 3]);
}

function checksum(values) {
  let sum = 0, sumAbs = 0;
  for (const v of values) {
    sum += v;
    sumAbs += Math.abs(v);
  }
  const stride = Math.floor(values.length / 8);
  const samples = [];
  for (let i = 0; i < 8; ++i) samples.push(values[i * stride]);
  return {count: values.length, sum, sum_abs: sumAbs, samples};
}

async function main() {
  const [modelDir, outJson] = process.argv.slice(2);
  if (!modelDir || !outJson) {
    console.error('usage: nsfwjs_reference.js MODEL_DIR OUT_JSON');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  const modelJson = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
  const specs = [], buffers = [];
  for (const group of modelJson.weightsManifest) {
    specs.push(...group.weights);
    for (const shard of group.paths) buffers.push(fs.readFileSync(path.join(modelDir, shard)));
  }
  const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology, weightSpecs: specs, weightData}));
  const probe = tf.model({inputs: model.inputs,
                          outputs: [...LAYERS.map(name => model.getLayer(name).output), model.outputs[0]]});
  const inputs = [];
  for (let k = 0; k < 3; ++k) {
    const outputs = probe.predict(input(k));
    const entry = {probabilities: Array.from(outputs[LAYERS.length].dataSync())};
    if (k === 0) {  // the layers of the first input only: enough to place a difference, and cheap
      entry.layers = {};
      for (let i = 0; i < LAYERS.length; ++i) entry.layers[LAYERS[i]] = checksum(outputs[i].dataSync());
    }
    inputs.push(entry);
  }
  const reference = {
    generated_by: `tests/reference/nsfwjs_reference.js, @tensorflow/tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`,
    model: 'nsfwjs 4.4.0 mobilenet_v2 (tests/reference/fetch_nsfwjs.sh)',
    inputs,
  };
  fs.writeFileSync(outJson, JSON.stringify(reference, null, 1) + '\n');
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
