// What the TF.js reference scripts share: the pinned runtime on a chosen backend, a graph model
// read from a directory (model.json + its shards, no fetch), kiln's raw float input, and the
// summary (shape, sum, sum of |x|, evenly spaced samples) recorded for a large tensor.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const tf = require('@tensorflow/tfjs');

const SAMPLES = 256;

// 'cpu' (the pure-JS backend) or 'wasm' (@tensorflow/tfjs-backend-wasm, pinned in package.json).
async function useBackend(backend) {
  if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not usable`);
  await tf.ready();
}

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
      convertedBy: model.convertedBy, signature: model.signature,
      userDefinedMetadata: model.userDefinedMetadata, weightSpecs: specs, weightData,
    }),
  };
}

const loadModel = (dir) => tf.loadGraphModel(loadHandler(dir));

// kiln's input: raw little-endian float32 of `shape`; returns the values and their SHA-256.
function readInput(inputPath, shape) {
  const raw = fs.readFileSync(inputPath);
  const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const count = shape.reduce((a, b) => a * b, 1);
  if (values.length !== count) throw new Error(`${inputPath}: expected ${count} floats, found ${values.length}`);
  return { values, sha256: crypto.createHash('sha256').update(raw).digest('hex') };
}

function summary(values, shape) {
  let sum = 0, absSum = 0;
  for (const v of values) { sum += v; absSum += Math.abs(v); }
  const step = Math.max(1, Math.floor(values.length / SAMPLES));
  const samples = [];
  for (let i = 0; i < values.length && samples.length < SAMPLES; i += step) samples.push(values[i]);
  return { shape, sum, abs_sum: absSum, sample_step: step, samples };
}

function writeJson(outPath, result) {
  fs.writeFileSync(outPath, JSON.stringify(result, null, 1) + '\n');
}

module.exports = { tf, useBackend, loadModel, readInput, summary, writeJson };
