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
 *                              [--host-only [--src DIR] [--against DIR] [--warmup 4] [--profile-cases 3] [--top 0]]
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
 * N functions with the most self time). --src: the voxgrad checkout whose src/ is timed (default this file's);
 * --against: a second checkout timed in the same process, volume by volume in turn (each on its own device), with
 * the median of the per-volume ratios of CPU time per window: the comparison that a busy machine disturbs least.
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { noGrad, sigmoid } from '../src/autograd/index.js';
import { VNetDualTask } from '../src/dbisl/model.js';
import { slidingWindow, windowGrid, type WindowPredictor } from '../src/imaging/sliding-window.js';
import type { Shape3, Volume } from '../src/imaging/volume.js';
import type { GpuRuntime } from '../src/kernels/webgpu/runtime.js';
import { initBackend, randn, tidy } from '../src/tensor/index.js';
import { parseBenchArgs } from './args.js';
import { median, printSelfTime, recordCpuProfile, selfTimeByPlace, type SelfTimeShare } from './profile.js';

const args = parseBenchArgs({
  about: "Sliding-window inference throughput: the V-Net's segmentation head over random volumes, as evaluate.ts runs it;\n"
    + "--host-only: the host's CPU time and dispatches per window with the GPU's work dropped (--against: two checkouts in turn).",
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
    src: { type: 'string', default: resolve(dirname(fileURLToPath(import.meta.url)), '..'), arg: 'DIR', help: "with --host-only: the checkout whose src/ is timed" },
    against: { type: 'string', arg: 'DIR', help: 'with --host-only: a second checkout timed in the same process, volume by volume in turn' },
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
const perCase = windowGrid(volume, patch, stride).count;
const voxels = volume[0] * volume[1] * volume[2];
const caseVolume = (c: number): Volume => {
  const data = new Float32Array(voxels);
  for (let i = 0; i < voxels; i++) data[i] = Math.sin(i * 0.001 + c);
  return { data, shape: volume };
};
if (hostOnly) await hostShare();
else await onDevice(windowBatches[0]!);

async function onDevice(windowBatch: number): Promise<void> {
  const backend = await initBackend({ backend: args.backend(), report: (l) => console.log(l) });
  const model = new VNetDualTask({ nFilters: filters, seed: 0 });
  model.module.eval();
  const predict: WindowPredictor = (windows) => sigmoid(model.segment(windows));
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
  model.module.dispose();
  backend.dispose();
}

interface VolumeRun { cpuUsPerWindow: number; wallUsPerWindow: number; dispatchesPerWindow: number; dispatchesPerVolume: number }
interface KernelCount { kernel: string; perWindow: number }

/** One checkout's model and sliding window on its own device, the GPU's work dropped. */
interface Subject {
  root: string;
  /** the model and the device, in words */
  description: string;
  /** one volume: the windows' share, from the first onProgress (after the upload) to a submit after the last batch */
  run(batchSize: number): Promise<VolumeRun>;
  /** one more volume with each dispatch's kernel counted: dispatches per window by kernel, the volume's own included */
  byKernel(batchSize: number): Promise<KernelCount[]>;
  dispose(): void;
}

async function hostSubject(dir: string): Promise<Subject> {
  const load = async (rel: string): Promise<Record<string, any>> => import(pathToFileURL(resolve(dir, rel)).href);
  const [autograd, dbislModel, sliding, kernels, tensor] = await Promise.all([
    load('src/autograd/index.ts'), load('src/dbisl/model.ts'), load('src/imaging/sliding-window.ts'), load('src/kernels/index.ts'), load('src/tensor/index.ts'),
  ]).catch((e: Error) => args.fail(`${dir}: cannot load voxgrad's src/ (${e.message})`));
  const backend = await tensor.initBackend({ backend: 'webgpu' });
  if (!(backend instanceof kernels.WebGPUBackend)) args.fail('--host-only needs the webgpu backend');
  const rt = backend.rt as GpuRuntime;
  rt.device.queue.submit = () => undefined;
  const model = new dbislModel.VNetDualTask({ nFilters: filters, seed: 0, backend });
  model.module.eval();
  // checkouts from before DualTaskModel.segment ran both heads
  const predict = (windows: unknown) => autograd.sigmoid(model.segment ? model.segment(windows) : model.forward(windows).seg);
  const image = caseVolume(0);
  const run = async (batchSize: number): Promise<VolumeRun> => {
    let c0 = process.cpuUsage(), t0 = 0, d0 = 0, windowsCpuUs = 0, windowsWallUs = 0, windowDispatches = 0;
    const before = rt.dispatchCount;
    await sliding.slidingWindow(image, predict, {
      backend, patch, stride, batchSize,
      onProgress: (done: number, total: number) => {
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
  return {
    root: dir,
    description: `${model.describe()}, on ${backend.description}`,
    run,
    async byKernel(batchSize: number): Promise<KernelCount[]> {
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
    },
    dispose(): void {
      model.module.dispose();
      backend.dispose();
    },
  };
}

/** --host-only: CPU time and dispatches per window with the GPU's work dropped, per window batch (and per checkout). */
async function hostShare(): Promise<void> {
  const warmup = args.int('warmup', 0), profileCases = args.int('profile-cases', 0), top = args.int('top', 0);
  const root = resolve(args.string('src')!), against = args.string('against');
  const subjects = [await hostSubject(root), ...(against === undefined ? [] : [await hostSubject(resolve(against))])];
  console.log(`inference --host-only: ${perCase} windows of ${patch.join('×')} (strides ${stride.join(', ')}) per volume ${volume.join('×')}, ${subjects[0]!.description}; GPU work dropped`);
  for (let i = 0; i < warmup; i++) for (const b of windowBatches) for (const s of subjects) await s.run(b);
  const runs = subjects.map(() => new Map<number, VolumeRun[]>(windowBatches.map((b) => [b, []])));
  for (let i = 0; i < cases; i++) {
    for (const b of i % 2 ? [...windowBatches].reverse() : windowBatches) {
      for (const k of i % 2 ? [...subjects.keys()].reverse() : subjects.keys()) runs[k]!.get(b)!.push(await subjects[k]!.run(b));
    }
  }
  const results = subjects.map((s, k) => ({
    src: s.root,
    batches: windowBatches.map((b) => {
      const r = runs[k]!.get(b)!;
      const cpuUs = median(r.map((v) => v.cpuUsPerWindow)), wallUs = median(r.map((v) => v.wallUsPerWindow));
      const dispatches = median(r.map((v) => v.dispatchesPerWindow)), perVolume = median(r.map((v) => v.dispatchesPerVolume));
      console.log(`  ${s.root}, window batch ${b}: ${cpuUs.toFixed(0)} µs of CPU time per window (median of ${r.length} volumes; min ${Math.min(...r.map((v) => v.cpuUsPerWindow)).toFixed(0)}), ${wallUs.toFixed(0)} µs wall; ${dispatches.toFixed(2)} dispatches per window → ${(cpuUs / dispatches).toFixed(1)} µs of CPU time per dispatch; ${perVolume} dispatches per volume besides`);
      return { windowBatch: b, cpuUsPerWindow: cpuUs, wallUsPerWindow: wallUs, dispatchesPerWindow: dispatches, dispatchesPerVolume: perVolume, cpuUsPerDispatch: cpuUs / dispatches, volumes: r };
    }),
  }));
  const ratios = subjects.length === 2 ? windowBatches.map((b) => {
    const [mine, theirs] = [runs[0]!.get(b)!, runs[1]!.get(b)!];
    const cpuRatio = median(theirs.map((v, i) => v.cpuUsPerWindow / mine[i]!.cpuUsPerWindow));
    console.log(`  window batch ${b}: ${against} / ${root}: CPU time per window ×${cpuRatio.toFixed(2)} (median of the ${cases} volumes' ratios), dispatches ×${(theirs[0]!.dispatchesPerWindow / mine[0]!.dispatchesPerWindow).toFixed(3)}`);
    return { windowBatch: b, cpuRatio };
  }) : [];
  const kernels: { src: string; windowBatch: number; dispatches: KernelCount[] }[] = [];
  for (const s of subjects) {
    for (const b of windowBatches) {
      const dispatches = await s.byKernel(b);
      kernels.push({ src: s.root, windowBatch: b, dispatches });
      console.log(`  ${s.root}, window batch ${b}: dispatches per window by kernel (a conv3d's label without its problem): ${dispatches.map((k) => `${k.perWindow.toFixed(2)} ${k.kernel}`).join(', ')}`);
    }
  }
  const profiles: { windowBatch: number; categories: SelfTimeShare[] }[] = [];
  for (const b of profileCases > 0 ? windowBatches : []) {
    const profile = await recordCpuProfile(async () => { for (let i = 0; i < profileCases; i++) await subjects[0]!.run(b); });
    const selfTime = selfTimeByPlace(profile, root, profileCases * perCase);
    profiles.push({ windowBatch: b, categories: selfTime.categories });
    printSelfTime(selfTime, `  ${root}, window batch ${b}: self time by where the code lives (CPU profile of ${profileCases} more volumes, per window, upload and readback included; profiling slows them):`, top, true);
  }
  const json = args.string('json');
  if (json) writeFileSync(json, `${JSON.stringify({ description: subjects[0]!.description, volume, patch, stride, windowsPerVolume: perCase, nFilters: filters, warmup, results, ratios, kernels, profiles }, null, 2)}\n`);
  for (const s of subjects) s.dispose();
}
