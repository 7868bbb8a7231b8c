/**
 * Sliding-window inference throughput (la-protocol §6): the V-Net's segmentation head over whole volumes,
 * windows of 112×112×80 with strides 18, 18, 4, σ(z) averaged, as src/dbisl/evaluate.ts runs it. Reports
 * windows per second for the whole pipeline (the volume's upload, cutting the windows, forward, accumulation
 * on the device, the one readback, the division; after one untimed volume, as bench/torch_inference.py) and for
 * the forward alone. The volumes are random
 * (throughput does not depend on content); the model is untrained.
 *
 *   npx tsx bench/inference.ts [--backend auto|webgpu|cpu] [--volume 180,150,88] [--cases 2]
 *                              [--patch 112,112,80] [--stride 18,18,4] [--window-batch 1] [--filters 16] [--json FILE]
 *                              [--host-only [--warmup 4] [--top 0]]
 *
 * --host-only: the host's share (as bench/host-overhead.ts): the queue's submit drops the command buffers, so no GPU
 * work runs and the probabilities are garbage, while the host's work is not. The host's cost does not depend on the
 * voxels, so the defaults shrink to windows of 32×32×32 (the V-Net's full depth) with strides 16 over a volume of
 * 96×96×64: 75 windows. --window-batch takes a list (default 1,4); the batch sizes take turns, volume by volume,
 * --warmup volumes each first (V8 compiles the code meanwhile), then --cases volumes each (default 15). Per window
 * batch it prints the median over the volumes of the CPU time per window (from the first window's recording to the
 * submit after the last one: cutting, forward, accumulation, encoding; not the volume's upload or readback),
 * the dispatches per window (exact) and the CPU time per dispatch, then the dispatches per window by kernel (one
 * more volume), then a CPU profile of further volumes by where the code lives, per window (--top N also lists the
 * N functions with the most self time).
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noGrad, sigmoid } from '../src/autograd/index.js';
import { VNetDualTask } from '../src/dbisl/model.js';
import { slidingWindow, windowGrid, type WindowPredictor } from '../src/imaging/sliding-window.js';
import type { Shape3, Volume } from '../src/imaging/volume.js';
import { WebGPUBackend } from '../src/kernels/index.js';
import { initBackend, randn, tidy } from '../src/tensor/index.js';
import { parseBenchArgs } from './args.js';
import { median, printSelfTime, recordCpuProfile, selfTimeByPlace, type SelfTimeShare } from './profile.js';

const args = parseBenchArgs({
  about: "Sliding-window inference throughput: the V-Net's segmentation head over random volumes, as evaluate.ts runs it;\n"
    + "--host-only: the host's CPU time and dispatches per window with the GPU's work dropped.",
  options: {
    backend: { type: 'string', default: 'auto', arg: 'auto|webgpu|cpu', help: 'backend' },
    volume: { type: 'string', arg: 'X,Y,Z', help: 'volume size (default 180,150,88; 96,96,64 with --host-only)' },
    cases: { type: 'string', arg: 'N', help: 'volumes (default 2; 15 per window batch with --host-only)' },
    patch: { type: 'string', arg: 'X,Y,Z', help: 'window size (default 112,112,80; 32,32,32 with --host-only)' },
    stride: { type: 'string', arg: 'X,Y,Z', help: 'window strides (default 18,18,4; 16,16,16 with --host-only)' },
    'window-batch': { type: 'string', arg: 'N[,N…]', help: 'windows per forward pass (default 1; a list, default 1,4, with --host-only)' },
    filters: { type: 'string', default: '16', arg: 'N', help: 'V-Net n_filters' },
    json: { type: 'string', arg: 'FILE', help: 'also write the results as JSON' },
    'host-only': { type: 'boolean', help: "the host's share: GPU work dropped, CPU time and dispatches per window" },
    warmup: { type: 'string', default: '4', arg: 'N', help: 'with --host-only: untimed volumes per window batch first' },
    'profile-cases': { type: 'string', default: '3', arg: 'N', help: 'with --host-only: volumes per window batch under the CPU profiler (0: none)' },
    top: { type: 'string', default: '0', arg: 'N', help: 'with --host-only: list the N functions with the most self time' },
  },
});
const hostOnly = args.flag('host-only');
/** a triple option, or its default: the device's or, with --host-only, the host's */
const tripleOption = (name: string, onDevice: Shape3, hostShareOnly: Shape3): Shape3 =>
  (args.string(name) === undefined ? (hostOnly ? hostShareOnly : onDevice) : args.triple(name));
const volume = tripleOption('volume', [180, 150, 88], [96, 96, 64]);
const patch = tripleOption('patch', [112, 112, 80], [32, 32, 32]);
const stride = tripleOption('stride', [18, 18, 4], [16, 16, 16]);
const cases = args.string('cases') === undefined ? (hostOnly ? 15 : 2) : args.int('cases');
const windowBatches = args.ints('window-batch') ?? (hostOnly ? [1, 4] : [1]);
if (!hostOnly && windowBatches.length !== 1) args.fail('--window-batch: one value (a list only with --host-only)');
const filters = args.int('filters');

const backend = await initBackend({ backend: args.backend(), report: (l) => console.log(l) });
const model = new VNetDualTask({ nFilters: filters, seed: 0 });
model.module.eval();
const predict: WindowPredictor = (windows) => sigmoid(model.segment(windows));
const perCase = windowGrid(volume, patch, stride).count;
const voxels = volume[0] * volume[1] * volume[2];
const caseVolume = (c: number): Volume => {
  const data = new Float32Array(voxels);
  for (let i = 0; i < voxels; i++) data[i] = Math.sin(i * 0.001 + c);
  return { data, shape: volume };
};
if (hostOnly) await hostShare();
else await onDevice(windowBatches[0]!);
model.module.dispose();
backend.dispose();

async function onDevice(windowBatch: number): Promise<void> {
  // forward alone (no readback but the final sync), after one warm-up
  const x = randn([windowBatch, 1, ...patch], 3);
  const forwardOnce = () => tidy(() => { noGrad(() => model.segment(x)); });
  forwardOnce();
  await backend.sync();
  const fwd: number[] = [];
  for (let i = 0; i < 5; i++) { const t0 = performance.now(); forwardOnce(); await backend.sync(); fwd.push(performance.now() - t0); }
  x.dispose();
  const forwardMs = median(fwd);

  // one untimed volume first, as bench/torch_inference.py runs one: the kernels only the pipeline runs (cutting,
  // accumulation) are compiled then, the score's buffer is made, and V8 compiles the per-window code
  await slidingWindow(caseVolume(cases), predict, { backend, patch, stride, batchSize: windowBatch });
  await backend.sync();
  const images = Array.from({ length: cases }, (_, c) => caseVolume(c)); // made before the clock starts, as torch's randn runs on the GPU
  const t0 = performance.now();
  for (const image of images) await slidingWindow(image, predict, { backend, patch, stride, batchSize: windowBatch });
  const seconds = (performance.now() - t0) / 1000;
  const result = {
    device: backend.description, volume, patch, stride, windowBatch, cases, windows: perCase * cases,
    windowsPerSecond: (perCase * cases) / seconds, forwardMsPerBatch: forwardMs, forwardWindowsPerSecond: (1000 * windowBatch) / forwardMs,
  };
  console.log(`inference: ${result.windows} windows of ${patch.join('×')} over ${cases} volumes ${volume.join('×')} in ${seconds.toFixed(2)} s → ${result.windowsPerSecond.toFixed(2)} windows/s (pipeline)`);
  console.log(`  forward alone: ${forwardMs.toFixed(2)} ms per batch of ${windowBatch} → ${result.forwardWindowsPerSecond.toFixed(2)} windows/s`);
  const json = args.string('json');
  if (json) writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
}

/** --host-only: CPU time and dispatches per window with the GPU's work dropped, per window batch. */
async function hostShare(): Promise<void> {
  if (!(backend instanceof WebGPUBackend)) return args.fail('--host-only needs the webgpu backend');
  const rt = backend.rt;
  rt.device.queue.submit = () => undefined;
  const warmup = args.int('warmup', 0), profileCases = args.int('profile-cases', 0), top = args.int('top', 0);
  const image = caseVolume(0);
  interface VolumeRun { cpuUsPerWindow: number; wallUsPerWindow: number; dispatchesPerWindow: number; dispatchesPerVolume: number }
  /** One volume: the windows' share from the first onProgress (after the upload) to a submit after the last batch. */
  const run = async (batchSize: number): Promise<VolumeRun> => {
    let c0 = process.cpuUsage(), t0 = 0, d0 = 0, windowsCpuUs = 0, windowsWallUs = 0, windowDispatches = 0;
    const before = rt.dispatchCount;
    await slidingWindow(image, predict, {
      backend, patch, stride, batchSize,
      onProgress: (done, total) => {
        if (done === 0) { d0 = rt.dispatchCount; t0 = performance.now(); c0 = process.cpuUsage(); return; }
        if (done < total) return;
        rt.flush(); // the encoding and submit of the last batches, which the readback would do
        const c = process.cpuUsage(c0);
        windowsCpuUs = c.user + c.system;
        windowsWallUs = 1000 * (performance.now() - t0);
        windowDispatches = rt.dispatchCount - d0;
      },
    });
    return {
      cpuUsPerWindow: windowsCpuUs / perCase, wallUsPerWindow: windowsWallUs / perCase,
      dispatchesPerWindow: windowDispatches / perCase, dispatchesPerVolume: rt.dispatchCount - before - windowDispatches,
    };
  };
  console.log(`inference --host-only: ${perCase} windows of ${patch.join('×')} (strides ${stride.join(', ')}) per volume ${volume.join('×')}, ${model.describe()}, on ${backend.description}; GPU work dropped`);
  for (let i = 0; i < warmup; i++) for (const b of windowBatches) await run(b);
  const runs = new Map<number, VolumeRun[]>(windowBatches.map((b) => [b, []]));
  for (let i = 0; i < cases; i++) {
    for (const b of i % 2 ? [...windowBatches].reverse() : windowBatches) runs.get(b)!.push(await run(b));
  }
  const results = windowBatches.map((b) => {
    const r = runs.get(b)!;
    const cpuUs = median(r.map((v) => v.cpuUsPerWindow)), wallUs = median(r.map((v) => v.wallUsPerWindow));
    const dispatches = median(r.map((v) => v.dispatchesPerWindow)), perVolume = median(r.map((v) => v.dispatchesPerVolume));
    console.log(`  window batch ${b}: ${cpuUs.toFixed(0)} µs of CPU time per window (median of ${r.length} volumes; min ${Math.min(...r.map((v) => v.cpuUsPerWindow)).toFixed(0)}), ${wallUs.toFixed(0)} µs wall; ${dispatches.toFixed(2)} dispatches per window → ${(cpuUs / dispatches).toFixed(1)} µs of CPU time per dispatch; ${perVolume} dispatches per volume besides`);
    return { windowBatch: b, cpuUsPerWindow: cpuUs, wallUsPerWindow: wallUs, dispatchesPerWindow: dispatches, dispatchesPerVolume: perVolume, cpuUsPerDispatch: cpuUs / dispatches, volumes: r };
  });
  /** One more volume with each dispatch's kernel counted: dispatches per window by kernel, the volume's own included. */
  const byKernel = async (batchSize: number): Promise<{ kernel: string; perWindow: number }[]> => {
    const counts = new Map<string, number>();
    const dispatch = rt.dispatch;
    rt.dispatch = (kernel, ...rest) => {
      const label = kernel.pipeline.label, problem = label.indexOf(':{');
      const name = problem < 0 ? label : label.slice(0, problem);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      dispatch.call(rt, kernel, ...rest);
    };
    try { await run(batchSize); } finally { rt.dispatch = dispatch; }
    return [...counts].sort((a, b) => b[1] - a[1]).map(([kernel, n]) => ({ kernel, perWindow: n / perCase }));
  };
  const kernels: { windowBatch: number; dispatches: { kernel: string; perWindow: number }[] }[] = [];
  for (const b of windowBatches) {
    kernels.push({ windowBatch: b, dispatches: await byKernel(b) });
    console.log(`  window batch ${b}: dispatches per window by kernel (a conv3d's label without its problem): ${kernels.at(-1)!.dispatches.map((k) => `${k.perWindow.toFixed(2)} ${k.kernel}`).join(', ')}`);
  }
  const profiles: { windowBatch: number; categories: SelfTimeShare[] }[] = [];
  if (profileCases > 0) {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
    for (const b of windowBatches) {
      const profile = await recordCpuProfile(async () => { for (let i = 0; i < profileCases; i++) await run(b); });
      const selfTime = selfTimeByPlace(profile, root, profileCases * perCase);
      profiles.push({ windowBatch: b, categories: selfTime.categories });
      printSelfTime(selfTime, `  window batch ${b}: self time by where the code lives (CPU profile of ${profileCases} more volumes, per window, upload and readback included; profiling slows them):`, top, true);
    }
  }
  const json = args.string('json');
  if (json) writeFileSync(json, `${JSON.stringify({ device: backend.description, volume, patch, stride, windowsPerVolume: perCase, nFilters: filters, warmup, results, kernels, profiles }, null, 2)}\n`);
}
