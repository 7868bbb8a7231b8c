/**
 * cuDNN's benchmark mode for the V-Net on this device, and what it buys: records the conv3d problems of one
 * training step (the step of bench/vnet-step.ts: V-Net n_filters 16, batch norm, two heads, CE + MSE, SGD),
 * times the step with the default kernels, tunes every problem (each candidate compiled and checked against the
 * default kernel, then the median of --reps runs, GPU timestamps where the adapter has them), prints the A/B
 * per problem, and times the step again with the tuned choices.
 *
 *   npx tsx bench/conv3d-tune.ts [--batch 4] [--patch 112,112,80] [--reps 5] [--iters 3] [--json FILE]
 * On llvmpipe use small shapes, e.g. --batch 1 --patch 16,16,16 --reps 1 --iters 1.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { add, backward } from '../src/autograd/index.js';
import { conv3dProblemKey, recordConv3dProblems, tuneConv3d, WebGPUBackend } from '../src/kernels/index.js';
import { SGD, VNet } from '../src/models/index.js';
import { crossEntropy, mseLoss } from '../src/models/losses.js';
import { dispose, fromArray, initBackend, randn, tidy, uniform } from '../src/tensor/index.js';
import { median } from './profile.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '4' },
    patch: { type: 'string', default: '112,112,80' },
    reps: { type: 'string', default: '5' },
    iters: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});

function positiveInt(v: string | undefined, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${what}: expected a positive integer, got '${v}'`);
  return n;
}

const batch = positiveInt(args.batch, 'batch');
const patch = (args.patch ?? '').split(',').map((s) => positiveInt(s.trim(), 'patch'));
if (patch.length !== 3) throw new Error(`--patch: expected three sizes like 112,112,80, got '${args.patch}'`);
const reps = positiveInt(args.reps, 'reps');
const iters = positiveInt(args.iters, 'iters');

const backend = await initBackend({ backend: 'webgpu', report: (l) => console.log(l) });
if (!(backend instanceof WebGPUBackend)) throw new Error('conv3d-tune: needs the WebGPU backend');
const model = new VNet({
  nFilters: 16, seed: 0, normalization: 'batchnorm',
  heads: [{ name: 'out_conv', channels: 2 }, { name: 'out_conv2', channels: 2, activation: 'tanh' }],
});
const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
const [D, H, W] = patch;
const x = randn([batch, 1, D, H, W], 1);
const labels = new Int32Array(batch * D * H * W);
for (let i = 0; i < labels.length; i++) labels[i] = ((Math.imul(i + 1, 2654435761) >>> 0) & 1);
const y = fromArray(labels, [batch, D, H, W]);
const sdfTarget = uniform([batch, 2, D, H, W], -1, 1, 2);
const step = (): void => {
  tidy(() => {
    const out = model.forward(x);
    backward(add(crossEntropy(out.out_conv, y), mseLoss(out.out_conv2, sdfTarget)));
  });
  opt.step();
  opt.zeroGrad();
};

/** Median wall time of a synced step, after one warm-up step (which compiles what is new). */
async function stepMs(): Promise<number> {
  step();
  await backend.sync();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    step();
    await backend.sync();
    times.push(performance.now() - t0);
  }
  return median(times);
}

console.log(`conv3d-tune: V-Net step, batch ${batch}, patch ${patch.join('×')}, on ${backend.description}`);
const problems = await recordConv3dProblems(backend, async () => { step(); await backend.sync(); });
const before = await stepMs();
console.log(`  step with the default kernels: ${before.toFixed(1)} ms (median of ${iters}); ${problems.length} distinct conv3d problems`);
const tuneStart = performance.now();
const rows = await tuneConv3d(backend, problems, { reps, report: (l) => console.log(`    ${l}`) });
const tuneSeconds = (performance.now() - tuneStart) / 1000;
console.log(`  tuned in ${tuneSeconds.toFixed(1)} s (${rows[0]?.method ?? '—'}); per problem, the default and the choice:`);
const table = problems.map((p) => {
  const mine = rows.filter((r) => r.problem === p);
  const chosen = mine.find((r) => r.chosen)!;
  return {
    problem: `${conv3dProblemKey(p)}${p.bias ? ' +bias' : ''}`, defaultName: mine[0].name, defaultMs: mine[0].ms,
    chosenName: chosen.name, chosenMs: chosen.ms, candidates: mine.map((r) => ({ name: r.name, ms: r.ms, rejected: r.rejected })),
  };
});
for (const e of table) {
  console.log(`  ${e.problem.padEnd(96)} ${e.defaultName.padEnd(14)} ${e.defaultMs.toFixed(3).padStart(9)} ms → ${e.chosenName.padEnd(30)} ${e.chosenMs.toFixed(3).padStart(9)} ms ${(e.defaultMs / e.chosenMs).toFixed(2).padStart(6)}×`);
}
for (const r of rows.filter((r) => r.rejected)) console.log(`  rejected: ${conv3dProblemKey(r.problem)} · ${r.name}: ${r.rejected}`);
const sum = (k: 'defaultMs' | 'chosenMs'): number => table.reduce((s, e) => s + e[k], 0);
console.log(`  Σ over distinct problems: default ${sum('defaultMs').toFixed(2)} ms → chosen ${sum('chosenMs').toFixed(2)} ms`);
const after = await stepMs();
console.log(`  step with the tuned kernels: ${after.toFixed(1)} ms (was ${before.toFixed(1)} ms: ${(before / after).toFixed(2)}×)`);
if (args.json) {
  writeFileSync(args.json, `${JSON.stringify({ device: backend.description, batch, patch, reps, iters, stepMsDefault: before, stepMsTuned: after, tuneSeconds, problems: table }, null, 2)}\n`);
}
dispose([x, y, sdfTarget]);
opt.dispose();
model.dispose();
backend.dispose();
