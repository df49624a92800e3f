#!/usr/bin/env node
// Runs an ONNX file exported by vdsr-export in onnxruntime (onnxruntime-node) on the inputs that
// `vdsr-export --save-io DIR` saved, compares with LibTorch's saved outputs and times a forward pass.
//
//   node scripts/ort_check.mjs --model vdsr.onnx --io DIR [--threads N] [--runs N] [--tolerance T]
//
// Writes <case>.onnxruntime.f32 per case and DIR/onnxruntime.json; prints a table to stdout.
// Exits 1 when a max abs difference exceeds --tolerance (when given), 2 on bad arguments.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) usage(`bad argument '${key}'`);
    args[key.slice(2)] = argv[i + 1];
  }
  if (!args.model || !args.io) usage('--model and --io are required');
  return args;
}

function usage(message) {
  console.error(`error: ${message}\nusage: node ort_check.mjs --model M.onnx --io DIR [--threads N] [--runs N] [--tolerance T]`);
  process.exit(2);
}

function readF32(path, count) {
  const buf = readFileSync(path);
  if (buf.length !== count * 4) throw new Error(`${path}: expected ${count * 4} bytes, found ${buf.length}`);
  // Copy into an aligned buffer: Buffer slices may start at any offset.
  const out = new Float32Array(count);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

function writeAtomically(path, data) {
  writeFileSync(path + '.tmp', data);
  renameSync(path + '.tmp', path);
}

const stats = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? 0 : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { median, min: s[0] ?? 0, max: s[n - 1] ?? 0 };
};

const args = parseArgs(process.argv.slice(2));
const manifest = JSON.parse(readFileSync(join(args.io, 'io.json'), 'utf8'));
const threads = Number(args.threads ?? manifest.threads ?? 1);
const runs = Number(args.runs ?? manifest.runs ?? 10);
const session = await ort.InferenceSession.create(args.model, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});

const result = { runtime: 'onnxruntime', version: ort.env.versions?.common ?? 'unknown', threads, cases: {} };
let worst = 0;
for (const c of manifest.cases) {
  const count = c.shape.reduce((a, b) => a * b, 1);
  const input = new ort.Tensor('float32', readF32(join(args.io, c.input), count), c.shape);
  const output = (await session.run({ input })).output;
  writeAtomically(join(args.io, `${c.name}.onnxruntime.f32`), Buffer.from(output.data.buffer, output.data.byteOffset, count * 4));
  const entry = { shape: output.dims };
  if (c.reference) {
    const ref = readF32(join(args.io, c.reference), count);
    let diff = 0;
    for (let i = 0; i < count; ++i) diff = Math.max(diff, Math.abs(ref[i] - output.data[i]));
    entry.max_abs_diff = diff;
    worst = Math.max(worst, diff);
  }
  result.cases[c.name] = entry;
}
result.max_abs_diff = worst;

if (manifest.bench) {
  const c = manifest.cases.find((x) => x.name === manifest.bench);
  const count = c.shape.reduce((a, b) => a * b, 1);
  const input = new ort.Tensor('float32', readF32(join(args.io, c.input), count), c.shape);
  await session.run({ input }); // warm-up
  const ms = [];
  for (let i = 0; i < runs; ++i) {
    const start = performance.now();
    await session.run({ input });
    ms.push(performance.now() - start);
  }
  result.speed = { input: c.shape.slice(2), threads, latency_ms: stats(ms), runs, ms };
  // The node process's peak resident memory (KiB on Linux), model and runtime included.
  result.peak_rss_mb = process.resourceUsage().maxRSS / 1024;
}

writeAtomically(join(args.io, 'onnxruntime.json'), JSON.stringify(result, null, 1) + '\n');
console.log(`onnxruntime ${result.version} on ${args.model} (${threads} thread(s))`);
for (const [name, e] of Object.entries(result.cases)) {
  console.log(`  ${name.padEnd(24)} ${JSON.stringify(e.shape).padEnd(18)} max abs diff vs LibTorch ${e.max_abs_diff?.toExponential(3) ?? '-'}`);
}
if (result.speed) {
  const l = result.speed.latency_ms;
  console.log(`  latency ${result.speed.input.join('x')}: median ${l.median.toFixed(2)} ms (min ${l.min.toFixed(2)}, max ${l.max.toFixed(2)}, ${runs} runs)`);
}
if (args.tolerance !== undefined && worst > Number(args.tolerance)) {
  console.error(`error: max abs diff ${worst} exceeds --tolerance ${args.tolerance}`);
  process.exit(1);
}
