#!/usr/bin/env node
// decode_nsfwjs.js PACKAGE_DIR OUT_DIR: turns the MobileNetV2 model of the npm package nsfwjs
// (PACKAGE_DIR = the unpacked tarball's package/) into an ordinary TF.js layers model:
// OUT_DIR/model.json and one binary shard per manifest path.
//
// nsfwjs 4.x ships each model as browserify (UMD) modules under dist/models/<model>/:
// model.min.js exports the model.json object itself, and group1-shard1of1.min.js exports the
// shard's bytes as one base64 string. The model.json's manifest names the shards without the
// ".min.js", so the decoded files take exactly those names. A test helper, not library code.
'use strict';
const fs = require('fs');
const path = require('path');

function writeAtomically(file, data) {
  const temp = file + '.partial';
  fs.writeFileSync(temp, data);
  fs.renameSync(temp, file);
}

function main() {
  const [packageDir, outDir] = process.argv.slice(2);
  if (!packageDir || !outDir) {
    console.error('usage: decode_nsfwjs.js PACKAGE_DIR OUT_DIR');
    process.exit(2);
  }
  const modelDir = path.resolve(packageDir, 'dist', 'models', 'mobilenet_v2');
  const modelJson = require(path.join(modelDir, 'model.min.js'));
  if (!modelJson.modelTopology || !Array.isArray(modelJson.weightsManifest)) {
    throw new Error(`${modelDir}/model.min.js does not export a layers model.json`);
  }
  fs.mkdirSync(outDir, {recursive: true});
  for (const group of modelJson.weightsManifest) {
    for (const shard of group.paths) {
      const base64 = require(path.join(modelDir, shard + '.min.js'));
      if (typeof base64 !== 'string') throw new Error(`${shard}.min.js does not export a base64 string`);
      writeAtomically(path.join(outDir, shard), Buffer.from(base64, 'base64'));
    }
  }
  writeAtomically(path.join(outDir, 'model.json'), JSON.stringify(modelJson));
}

main();
