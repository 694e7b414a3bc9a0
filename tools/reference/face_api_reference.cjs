// Produces the reference outputs of the real face-api.js (@vladmandic/face-api
// 1.7.15 on the pure-JS TensorFlow.js CPU backend) that tests/face3d compare the
// LibTorch reimplementation against (tests/data/face_api/).
//
// Run through tools/reference/make_face_api_reference.sh, which installs the npm
// packages into a temporary directory (never into the repository) and sets
// NODE_PATH. Usage: node face_api_reference.cjs REPO_ROOT MODEL_DIR
//
// 1. Cuts fixed square crops out of the bundled public-domain portraits and
//    resizes them with tf.image.resizeBilinear to the nets' input sizes (112 for
//    landmarks/expression, 150 for recognition); saves them as PNG fixtures.
// 2. Feeds exactly those 8-bit RGB pixels to face-api's nets and writes their
//    outputs to reference.json: landmark nets' relative coordinates (x0, y0,
//    x1, y1, ... in [0, 1] of the square input), expression probabilities
//    (softmax, face-api's label order) and the 128-D face descriptor.
'use strict';
const fs = require('fs');
const path = require('path');
const { PNG } = require('pngjs');
const jpeg = require('jpeg-js');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const tf = faceapi.tf;

const [repoRoot, modelDir] = process.argv.slice(2);
if (!repoRoot || !modelDir) {
  console.error('usage: node face_api_reference.cjs REPO_ROOT MODEL_DIR');
  process.exit(2);
}
const outDir = path.join(repoRoot, 'tests/data/face_api');

// Square crops (x, y, side) in image pixels, chosen by eye around each face.
const kCrops = [
  { name: 'astronaut', image: 'assets/astronaut.png', x: 160, y: 40, side: 140 },
  { name: 'grace_hopper', image: 'assets/grace_hopper.jpg', x: 145, y: 115, side: 230 },
];

function readRgb(file) {
  if (file.endsWith('.png')) {
    const png = PNG.sync.read(fs.readFileSync(file));
    const rgb = new Uint8Array(png.width * png.height * 3);
    for (let i = 0; i < png.width * png.height; ++i) {
      for (let c = 0; c < 3; ++c) rgb[i * 3 + c] = png.data[i * 4 + c];
    }
    return tf.tensor3d(rgb, [png.height, png.width, 3], 'int32');
  }
  const jpg = jpeg.decode(fs.readFileSync(file), { useTArray: true });  // RGBA.
  const rgb = new Uint8Array(jpg.width * jpg.height * 3);
  for (let i = 0; i < jpg.width * jpg.height; ++i) {
    for (let c = 0; c < 3; ++c) rgb[i * 3 + c] = jpg.data[i * 4 + c];
  }
  return tf.tensor3d(rgb, [jpg.height, jpg.width, 3], 'int32');
}

function writePng(tensor, file) {
  const [h, w] = tensor.shape;
  const data = tensor.dataSync();
  const png = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; ++i) {
    for (let c = 0; c < 3; ++c) png.data[i * 4 + c] = data[i * 3 + c];
    png.data[i * 4 + 3] = 255;
  }
  fs.writeFileSync(file, PNG.sync.write(png));
}

function cropResize(image, crop, size) {
  return tf.tidy(() => {
    const patch = tf.slice3d(image, [crop.y, crop.x, 0], [crop.side, crop.side, 3]);
    const resized = tf.image.resizeBilinear(patch.toFloat(), [size, size], false, true);
    return tf.clipByValue(tf.round(resized), 0, 255).toInt();
  });
}

const round7 = (v) => Array.from(v, (x) => Number(x.toPrecision(7)));

(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68TinyNet.loadFromDisk(modelDir);
  await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDir);

  const result = {
    generator: 'tools/reference/face_api_reference.cjs',
    face_api_version: faceapi.version,
    tfjs_backend: tf.getBackend(),
    tfjs_version: tf.version.tfjs,
    fixtures: [],
  };
  for (const crop of kCrops) {
    const image = readRgb(path.join(repoRoot, crop.image));
    const in112 = cropResize(image, crop, 112);
    const in150 = cropResize(image, crop, 150);
    const file112 = `${crop.name}_112.png`;
    const file150 = `${crop.name}_150.png`;
    writePng(in112, path.join(outDir, file112));
    writePng(in150, path.join(outDir, file150));
    // Re-read the written PNGs so the nets see exactly the fixture bytes.
    const t112 = readRgb(path.join(outDir, file112));
    const t150 = readRgb(path.join(outDir, file150));

    const lm = await faceapi.nets.faceLandmark68Net.forward(t112);
    const lmTiny = await faceapi.nets.faceLandmark68TinyNet.forward(t112);
    const expr = await faceapi.nets.faceExpressionNet.forward(t112);
    const desc = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(t150);
    result.fixtures.push({
      name: crop.name,
      source: crop.image,
      crop: { x: crop.x, y: crop.y, side: crop.side },
      input_112: file112,
      input_150: file150,
      landmarks68: round7(lm.dataSync()),
      landmarks68_tiny: round7(lmTiny.dataSync()),
      expression: round7(expr.dataSync()),
      descriptor: round7(desc),
    });
    console.log(`${crop.name}: done`);
  }
  fs.writeFileSync(path.join(outDir, 'reference.json'), JSON.stringify(result, null, 1) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
