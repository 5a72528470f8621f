// onnx_check.mjs - run a shardnet ONNX export in onnxruntime (npm
// onnxruntime-node, pinned in package-lock.json) and check it against
// shardnet's own logits.
//
//   node scripts/onnx_check.mjs MODEL.onnx                  golden batch only
//   node scripts/onnx_check.mjs MODEL.onnx --inputs P.images.f32 --logits P.logits.f32
//        [--labels P.labels.u8] [--batch B] [--batch1 N]
//   node scripts/onnx_check.mjs MODEL.onnx --inputs P.images.f32 --predictions P.csv [--batch B]
//
// 1. The golden batch in the model's metadata_props (shardnet.golden: test
//    images as base64 float32 LE, shardnet's logits): run at batch = its size
//    and at batch 1; every logit within its tolerance (1e-4), same argmax.
// 2. With --inputs/--logits (raw float32 LE files from tests/export_dump):
//    all images at batch B (default 64, the last batch partial) and the
//    first N (default 500) at batch 1; same tolerance and argmax rule;
//    with --labels also the number of correct predictions.
// 3. With --inputs/--predictions (a CSV from `shardnet eval --predictions`,
//    the same samples in the same order): one row per image, onnxruntime's
//    argmax = the CSV's predicted class for every image, its softmax
//    probabilities within 1e-5 of the CSV's, and the CSV's own argmax.
// Prints the max |logit difference| of each check; exit 1 on any failure.
// Install the runtime with `npm ci --ignore-scripts` (its install script
// downloads GPU parts; the CPU runtime ships inside the package).
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';

function fail(msg) {
  console.error(`onnx_check: FAIL: ${msg}`);
  process.exit(1);
}

// ModelProto.metadata_props (field 14: StringStringEntryProto key=1, value=2),
// read from the protobuf wire format: onnxruntime-node does not expose it.
function varint(buf, pos) {
  let v = 0n, shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    v |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [v, pos];
    shift += 7n;
  }
}

function fields(buf, each) {
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = varint(buf, pos);
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      const end = pos + Number(len);
      if (end > buf.length) throw new Error('truncated field');
      each(field, buf.subarray(pos, end));
      pos = end;
    } else throw new Error(`wire type ${wire} not expected`);
  }
}

function metadata(bytes) {
  const meta = {};
  fields(bytes, (field, sub) => {
    if (field !== 14) return;
    let k = '', v = '';
    fields(sub, (f, s) => {
      if (f === 1) k = s.toString('utf8');
      if (f === 2) v = s.toString('utf8');
    });
    meta[k] = v;
  });
  return meta;
}

function floatsLE(buf) {
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(4 * i);
  return out;
}

const argmax = (x, k, i) => {
  let best = 0;
  for (let j = 1; j < k; j++) if (x[i * k + j] > x[i * k + best]) best = j;
  return best;
};

// Runs images (n, C, H, W) at batch b; returns logits (n, k).
async function run(session, images, n, chw, k, b) {
  const out = new Float32Array(n * k);
  const sample = chw[0] * chw[1] * chw[2];
  for (let i = 0; i < n; i += b) {
    const m = Math.min(b, n - i);
    const x = new ort.Tensor('float32', images.subarray(i * sample, (i + m) * sample), [m, ...chw]);
    const r = await session.run({ images: x });
    const y = r.logits;
    if (y.dims.length !== 2 || y.dims[0] !== m || y.dims[1] !== k)
      fail(`logits have shape (${y.dims}), expected (${m}, ${k})`);
    out.set(y.data, i * k);
  }
  return out;
}

function compare(what, got, want, n, k, tol, labels) {
  let maxDiff = 0, sameArgmax = 0, correct = 0;
  for (let i = 0; i < n * k; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (Number.isNaN(d) || Number.isNaN(maxDiff)) maxDiff = NaN; // NaN is a difference
    else if (d > maxDiff) maxDiff = d;
  }
  for (let i = 0; i < n; i++) {
    const a = argmax(got, k, i);
    if (a === argmax(want, k, i)) sameArgmax++;
    if (labels && a === labels[i]) correct++;
  }
  const acc = labels ? `, onnxruntime correct ${correct}/${n}` : '';
  console.log(`${what}: ${n} images, max |logit diff| ${maxDiff.toExponential(3)}, ` +
              `same argmax ${sameArgmax}/${n}${acc}`);
  if (!(maxDiff <= tol)) fail(`${what}: max |logit diff| ${maxDiff} > tolerance ${tol}`);
  if (sameArgmax !== n) fail(`${what}: argmax differs for ${n - sameArgmax} image(s)`);
}

// RFC 4180 fields of one line (quoted fields may hold commas and "").
function csvFields(line) {
  const out = [];
  let i = 0;
  for (;;) {
    let v = '';
    if (line[i] === '"') {
      for (i++; ; i++) {
        if (i >= line.length) throw new Error(`unterminated quote in: ${line}`);
        if (line[i] === '"' && line[i + 1] === '"') v += '"', i++;
        else if (line[i] === '"') { i++; break; }
        else v += line[i];
      }
    } else {
      while (i < line.length && line[i] !== ',') v += line[i++];
    }
    out.push(v);
    if (i >= line.length) return out;
    if (line[i] !== ',') throw new Error(`junk after a quoted field in: ${line}`);
    i++;
  }
}

function checkPredictions(file, logits, n, k, classes) {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
  const head = csvFields(lines[0]);
  const want = ['index', 'label', 'label_name', 'predicted', 'predicted_name', ...classes];
  if (JSON.stringify(head) !== JSON.stringify(want))
    fail(`${file}: header ${JSON.stringify(head)}, expected ${JSON.stringify(want)}`);
  if (lines.length - 1 !== n) fail(`${file}: ${lines.length - 1} rows for ${n} images`);
  let maxDiff = 0, same = 0;
  for (let i = 0; i < n; i++) {
    const f = csvFields(lines[i + 1]);
    if (f.length !== 5 + k || Number(f[0]) !== i) fail(`${file}: row ${i + 1} is malformed: ${lines[i + 1]}`);
    const p = f.slice(5).map(Number);
    const row = logits.subarray(i * k, (i + 1) * k);
    const top = Math.max(...row);
    const e = Array.from(row, (x) => Math.exp(x - top));
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((x, j) => { maxDiff = Math.max(maxDiff, Math.abs(x / sum - p[j])); });
    const mine = argmax(row, k, 0);
    if (mine === Number(f[3]) && argmax(p, k, 0) === mine && f[4] === classes[mine]) same++;
  }
  console.log(`predictions ${file}: ${n} rows, max |probability diff| ${maxDiff.toExponential(3)}, ` +
              `same predicted class ${same}/${n}`);
  if (!(maxDiff <= 1e-5)) fail(`predictions: max |probability diff| ${maxDiff} > 1e-5`);
  if (same !== n) fail(`predictions: predicted class differs for ${n - same} image(s)`);
}

function option(args, name, dflt) {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 1 || args[0].startsWith('--'))
    fail('usage: onnx_check.mjs MODEL.onnx [--inputs F --logits F [--labels F] [--batch B] [--batch1 N]]');
  const bytes = readFileSync(args[0]);
  const meta = metadata(bytes);
  if (!meta['shardnet.golden']) fail(`${args[0]}: no shardnet.golden metadata`);
  const golden = JSON.parse(meta['shardnet.golden']);
  const chw = JSON.parse(meta['shardnet.input_shape']);
  const k = JSON.parse(meta['shardnet.classes']).length;
  const tol = golden.tolerance;
  const session = await ort.InferenceSession.create(bytes);
  console.log(`onnxruntime-node ${ort.env.versions.node}: ${args[0]} (LeNet ${meta['shardnet.arch']}, ` +
              `inputs ${session.inputNames}, outputs ${session.outputNames})`);

  const gImages = floatsLE(Buffer.from(golden.images_base64, 'base64'));
  const gLogits = Float32Array.from(golden.logits.flat());
  const n = golden.count;
  if (gImages.length !== n * chw[0] * chw[1] * chw[2] || gLogits.length !== n * k)
    fail('golden batch sizes do not match its shape');
  compare(`golden batch at batch ${n}`, await run(session, gImages, n, chw, k, n), gLogits, n, k, tol);
  compare('golden batch at batch 1', await run(session, gImages, n, chw, k, 1), gLogits, n, k, tol);

  const inputs = option(args, '--inputs');
  if (!inputs) return;
  const images = floatsLE(readFileSync(inputs));
  const predictions = option(args, '--predictions');
  if (predictions) {
    const sample = chw[0] * chw[1] * chw[2], count = images.length / sample;
    const got = await run(session, images, count, chw, k, Number(option(args, '--batch', 64)));
    checkPredictions(predictions, got, count, k, JSON.parse(meta['shardnet.classes']));
    return;
  }
  const want = floatsLE(readFileSync(option(args, '--logits')));
  const labelsFile = option(args, '--labels');
  const labels = labelsFile ? readFileSync(labelsFile) : null;
  const count = want.length / k;
  if (images.length !== count * chw[0] * chw[1] * chw[2]) fail('--inputs and --logits disagree on the count');
  const batch = Number(option(args, '--batch', 64));
  const n1 = Math.min(count, Number(option(args, '--batch1', 500)));
  compare(`test set at batch ${batch}`, await run(session, images, count, chw, k, batch), want, count, k, tol, labels);
  const first = images.subarray(0, n1 * chw[0] * chw[1] * chw[2]);
  compare('test set at batch 1', await run(session, first, n1, chw, k, 1), want.subarray(0, n1 * k), n1, k, tol,
          labels && labels.subarray(0, n1));
}

main().catch((e) => fail(e.stack || String(e)));
