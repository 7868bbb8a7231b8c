/**
 * Grouped conv3d: the grouped kernels (src/kernels/conv3d/grouped.ts) against one convolution per group.
 *
 * 1. A depthwise 3³ conv (padding 1, bias) as a training step sees it: F.conv3d's forward and backward (input,
 *    weight and bias gradients), through the grouped op F.conv3d now records, and through the split path it ran
 *    before (split input, weight and bias per group, one conv3d each, concat). Dispatches and median time.
 * 2. The evidence for F.conv3d's rule (grouped kernels for groups of at most 4 filters, (Ci/groups)·(Co/groups)): per direction,
 *    the grouped kernel against the ungrouped kernels run once per group on channel slices made beforehand
 *    (the split path without its copies), for 1 to 16 channels in and out per group at a fixed input channel count.
 *
 *   npx tsx bench/grouped-conv.ts [--backend webgpu] [--iters 9] [--shape 1,32,32,32,16] [--channels 32] [--size 16]
 */
import { backward, concat, conv3d, split } from '../src/autograd/index.js';
import type { Backend, Conv3dParams, Storage } from '../src/kernels/index.js';
import { WebGPUBackend } from '../src/kernels/index.js';
import { dispose, initBackend, randn, tidy, type Tensor } from '../src/tensor/index.js';
import { parseBenchArgs } from './args.js';
import { median } from './profile.js';

const args = parseBenchArgs({
  about: 'Grouped conv3d: the grouped kernels against one convolution per group (dispatches, median times).',
  options: {
    backend: { type: 'string', default: 'webgpu', arg: 'NAME', help: 'webgpu or cpu' },
    iters: { type: 'string', default: '9', arg: 'N', help: 'timed runs per case (after one warm-up run)' },
    shape: { type: 'string', default: '1,32,32,32,16', arg: 'N,C,D,H,W', help: 'input of the depthwise training-step case' },
    channels: { type: 'string', default: '32', arg: 'N', help: 'channels of the per-direction cases' },
    size: { type: 'string', default: '16', arg: 'N', help: 'side of the per-direction cases\' cubic volume' },
  },
}, process.argv.slice(2), 'grouped-conv.ts');
const iters = args.int('iters');
const shape = args.string('shape')!.split(',').map(Number);
if (shape.length !== 5 || !shape.every((d) => Number.isInteger(d) && d > 0)) args.fail(`--shape: expected five positive integers, got '${args.string('shape')}'`);
const channels = args.int('channels'), size = args.int('size');

const backend = await initBackend({ backend: args.backend(), report: (l) => console.log(l) });
const dispatches = (): number => (backend instanceof WebGPUBackend ? backend.rt.dispatchCount : 0);
const pad1: Conv3dParams = { stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1] };

/** median ms of `run` (one warm-up run first) and the dispatches of one run */
async function time(run: () => void): Promise<{ ms: number; dispatches: number }> {
  run();
  await backend.sync();
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i < iters; i++) {
    const first = dispatches(), t0 = performance.now();
    run();
    await backend.sync();
    times.push(performance.now() - t0);
    count = dispatches() - first;
  }
  return { ms: median(times), dispatches: count };
}

// 1. the depthwise training step
{
  const c = shape[1];
  const x = randn(shape, 1), w = randn([c, 1, 3, 3, 3], 2), b = randn([c], 3);
  for (const t of [x, w, b]) t.requiresGrad = true;
  const gy = randn([shape[0], c, ...shape.slice(2)], 4);
  const grouped = (): Tensor => conv3d(x, w, b, { groups: c, padding: 1 });
  const perGroup = (): Tensor => tidy(() => {
    const xs = split(x, 1, 1), ws = split(w, 1, 0), bs = split(b, 1, 0);
    return concat(xs.map((xg, j) => conv3d(xg, ws[j], bs[j], { padding: 1 })), 1);
  });
  const step = (conv: () => Tensor) => (): void => {
    const y = conv();
    backward(y, gy);
    y.dispose();
    for (const t of [x, w, b]) { t.grad?.dispose(); t.grad = null; }
  };
  console.log(`depthwise 3³ conv, padding 1, bias, input [${shape.join(', ')}], forward + backward (x, w and b gradients) on ${backend.description}:`);
  for (const [name, conv] of [['grouped kernels', grouped], ['one conv per group', perGroup]] as const) {
    const fwd = await time(() => { tidy(conv).dispose(); });
    const both = await time(step(conv));
    console.log(`  ${name.padEnd(20)} forward ${fwd.dispatches} dispatches ${fwd.ms.toFixed(1)} ms; forward + backward ${both.dispatches} dispatches ${both.ms.toFixed(1)} ms`);
  }
  dispose([x, w, b, gy]);
}

// 2. per direction, by channels per group
{
  const be: Backend = backend;
  console.log(`\nper direction, ${channels} input channels, ${size}³, 3³ padding 1: grouped kernel vs the ungrouped kernels once per group (median ms; dispatches)`);
  console.log('  Cg  Mg  groups   fwd grouped / per group   dX grouped / per group   dW grouped / per group');
  const pairs: [number, number][] = [[1, 1], [1, 2], [1, 4], [2, 2], [2, 4], [4, 4], [8, 8], [16, 16]];
  for (const [cg, mg] of pairs.filter(([c]) => channels % c === 0)) {
    const groups = channels / cg, vox = size ** 3, taps = 27, co = groups * mg;
    const xShape = [1, channels, size, size, size], wShape = [co, cg, 3, 3, 3], gyShape = [1, co, size, size, size];
    const xgShape = [1, cg, size, size, size], wgShape = [mg, cg, 3, 3, 3], gygShape = [1, mg, size, size, size];
    const owned: Storage[] = [];
    const mk = (n: number, v: number): Storage => { const s = be.fill(n, v, 'float32'); owned.push(s); return s; };
    const x = mk(channels * vox, 0.5), w = mk(co * cg * taps, 0.01), gy = mk(co * vox, 0.1);
    const xg = Array.from({ length: groups }, () => mk(cg * vox, 0.5)), wg = Array.from({ length: groups }, () => mk(mg * cg * taps, 0.01));
    const gyg = Array.from({ length: groups }, () => mk(mg * vox, 0.1));
    const each = (f: (j: number) => Storage) => (): void => { for (let j = 0; j < groups; j++) be.free(f(j)); };
    const row: string[] = [];
    for (const [one, many] of [
      [() => be.free(be.conv3dGrouped(x, xShape, w, wShape, null, pad1, groups)), each((j) => be.conv3d(xg[j], xgShape, wg[j], wgShape, null, pad1))],
      [() => be.free(be.conv3dGroupedBackwardInput(gy, gyShape, w, wShape, xShape, pad1, groups)), each((j) => be.conv3dBackwardInput(gyg[j], gygShape, wg[j], wgShape, xgShape, pad1))],
      [() => be.free(be.conv3dGroupedBackwardWeight(x, xShape, gy, gyShape, wShape, pad1, groups)), each((j) => be.conv3dBackwardWeight(xg[j], xgShape, gyg[j], gygShape, wgShape, pad1))],
    ] as const) {
      const a = await time(one), b = await time(many);
      row.push(`${a.ms.toFixed(1).padStart(7)}; ${a.dispatches} / ${b.ms.toFixed(1).padStart(7)}; ${b.dispatches}`);
    }
    console.log(`  ${String(cg).padStart(2)}  ${String(mg).padStart(2)}  ${String(groups).padStart(6)}   ${row.join('   ')}`);
    for (const s of owned) be.free(s);
  }
}
backend.dispose();
