/**
 * Sliding-window inference throughput (la-protocol §6): the V-Net's segmentation head over whole volumes,
 * windows of 112×112×80 with strides 18, 18, 4, σ(z) averaged, as src/dbisl/evaluate.ts runs it. Reports
 * windows per second for the whole pipeline (the volume's upload, cutting the windows, forward, accumulation
 * on the device, the one readback, the division) and for the forward alone. The volumes are random
 * (throughput does not depend on content); the model is untrained.
 *
 *   npx tsx bench/inference.ts [--backend auto|webgpu|cpu] [--volume 180,150,88] [--cases 2]
 *                              [--patch 112,112,80] [--stride 18,18,4] [--window-batch 1] [--filters 16] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { noGrad, sigmoid } from '../src/autograd/index.js';
import { VNetDualTask } from '../src/dbisl/model.js';
import { slidingWindow, windowGrid, type WindowPredictor } from '../src/imaging/sliding-window.js';
import type { Shape3 } from '../src/imaging/volume.js';
import { initBackend, randn, tidy } from '../src/tensor/index.js';
import { parseBenchArgs } from './args.js';
import { median } from './profile.js';

const args = parseBenchArgs({
  about: "Sliding-window inference throughput: the V-Net's segmentation head over random volumes, as evaluate.ts runs it.",
  options: {
    backend: { type: 'string', default: 'auto', arg: 'auto|webgpu|cpu', help: 'backend' },
    volume: { type: 'string', default: '180,150,88', arg: 'X,Y,Z', help: 'volume size' },
    cases: { type: 'string', default: '2', arg: 'N', help: 'volumes' },
    patch: { type: 'string', default: '112,112,80', arg: 'X,Y,Z', help: 'window size' },
    stride: { type: 'string', default: '18,18,4', arg: 'X,Y,Z', help: 'window strides' },
    'window-batch': { type: 'string', default: '1', arg: 'N', help: 'windows per forward pass' },
    filters: { type: 'string', default: '16', arg: 'N', help: 'V-Net n_filters' },
    json: { type: 'string', arg: 'FILE', help: 'also write the results as JSON' },
  },
});
const volume: Shape3 = args.triple('volume'), patch: Shape3 = args.triple('patch'), stride: Shape3 = args.triple('stride');
const cases = args.int('cases'), windowBatch = args.int('window-batch'), filters = args.int('filters');

const backend = await initBackend({ backend: args.backend(), report: (l) => console.log(l) });
const model = new VNetDualTask({ nFilters: filters, seed: 0 });
model.module.eval();
const predict: WindowPredictor = (windows) => sigmoid(model.forward(windows).seg);

// forward alone (no readback but the final sync), after one warm-up
const x = randn([windowBatch, 1, ...patch], 3);
const forwardOnce = () => tidy(() => { noGrad(() => model.forward(x)); });
forwardOnce();
await backend.sync();
const fwd: number[] = [];
for (let i = 0; i < 5; i++) { const t0 = performance.now(); forwardOnce(); await backend.sync(); fwd.push(performance.now() - t0); }
x.dispose();
const forwardMs = median(fwd);

const perCase = windowGrid(volume, patch, stride).count;
const voxels = volume[0] * volume[1] * volume[2];
const t0 = performance.now();
for (let c = 0; c < cases; c++) {
  const data = new Float32Array(voxels);
  for (let i = 0; i < voxels; i++) data[i] = Math.sin(i * 0.001 + c);
  await slidingWindow({ data, shape: volume }, predict, { backend, patch, stride, batchSize: windowBatch });
}
const seconds = (performance.now() - t0) / 1000;
const result = {
  device: backend.description, volume, patch, stride, windowBatch, cases, windows: perCase * cases,
  windowsPerSecond: (perCase * cases) / seconds, forwardMsPerBatch: forwardMs, forwardWindowsPerSecond: (1000 * windowBatch) / forwardMs,
};
console.log(`inference: ${result.windows} windows of ${patch.join('×')} over ${cases} volumes ${volume.join('×')} in ${seconds.toFixed(2)} s → ${result.windowsPerSecond.toFixed(2)} windows/s (pipeline)`);
console.log(`  forward alone: ${forwardMs.toFixed(2)} ms per batch of ${windowBatch} → ${result.forwardWindowsPerSecond.toFixed(2)} windows/s`);
const json = args.string('json');
if (json) writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
model.module.dispose();
backend.dispose();
