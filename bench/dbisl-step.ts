/**
 * One full DBiSL training step (src/dbisl): V-Net forward with the segmentation and tanh SDF heads, every
 * loss term of dbisl.md §3 with both task transforms (the CDT on Ŷ, on 1 − Ŷ, on the pseudo-label and on
 * the label targets), backward, SGD. Batch = labeled + unlabeled rows. No readback inside a step.
 *
 *   npx tsx bench/dbisl-step.ts [--backend auto|webgpu|cpu] [--batch 4] [--labeled-batch 2]
 *                               [--patch 112,112,80] [--filters 16] [--iters 5] [--warmup 2] [--tune]
 *                               [--submit-every 512,64] [--json FILE] [--host-only [--against DIR] [--profile-steps N] [--top N]]
 * --tune: before timing, the step's conv3d problems are tuned (cuDNN's benchmark mode, see tuneConv3d).
 * Prints the median of single synced steps, then the throughput as the PyTorch anchor measures it (--iters steps
 * back to back, one sync) once per --submit-every value (dispatches per queue submit; default: the runtime's).
 *
 * --host-only: the host's share (as bench/host-overhead.ts): the queue's submit drops the command buffers, so no GPU
 * work runs and the numbers computed are garbage, while the host's work is not. After --warmup steps (default 30
 * here: V8 compiles the code meanwhile) it times --iters steps (default 15) of the DBiSL step and, in turn, of the
 * V-Net step alone (the same forward, backward of the trivial loss mean(z) + mean(R̂), SGD), and prints the median
 * CPU time and dispatches per step of both, then each loss term's dispatches (the step's minus the step's with that
 * term switched off). The host's cost does not depend on the voxels: use a small patch, e.g. --patch 32,32,32.
 * --against DIR: a second checkout (e.g. a `git worktree` of the base commit) timed in the same process, its steps
 * alternating with this checkout's, so that both see the same load; it prints both and the medians of the per-step
 * ratios. The order is not neutral: with the same code in both, this checkout's V-Net step took up to 1.06× the second's
 * (its DBiSL step not), so compare a change both ways round. --profile-steps N then profiles N more steps of each (node:inspector) and prints their self time by where the code
 * lives, and the --top N functions by the DBiSL step's extra self time (its minus the V-Net step's, per step).
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pathToFileURL } from 'node:url';
import * as autograd from '../src/autograd/index.js';
import { WebGPUBackend } from '../src/kernels/index.js';
import * as models from '../src/models/index.js';
import * as losses from '../src/dbisl/losses.js';
import { dbislLossConfig, type LossConfig } from '../src/dbisl/losses.js';
import * as dualTask from '../src/dbisl/model.js';
import * as tensor from '../src/tensor/index.js';
import { initBackend } from '../src/tensor/index.js';
import { parseBenchArgs } from './args.js';
import { median, memoryPeaks, printProfile, printSelfTime, profileKernels, recordCpuProfile, selfTimeByPlace, throughputBySubmitInterval, tuneStepConvolutions } from './profile.js';

const args = parseBenchArgs({
  about: 'One full DBiSL training step (forward, every loss term, backward, SGD): median step time and throughput.',
  options: {
    backend: { type: 'string', default: 'auto', arg: 'auto|webgpu|cpu', help: 'backend' },
    batch: { type: 'string', default: '4', arg: 'N', help: 'samples per batch' },
    'labeled-batch': { type: 'string', default: '2', arg: 'N', help: 'labeled rows of the batch' },
    patch: { type: 'string', default: '112,112,80', arg: 'X,Y,Z', help: 'patch size' },
    filters: { type: 'string', default: '16', arg: 'N', help: 'V-Net n_filters' },
    iters: { type: 'string', arg: 'N', help: 'timed steps (default: 5; 15 with --host-only)' },
    warmup: { type: 'string', arg: 'N', help: 'untimed steps first (default: 2; 30 with --host-only)' },
    tune: { type: 'boolean', help: "tune the step's conv3d problems first (cuDNN's benchmark mode)" },
    'submit-every': { type: 'string', arg: 'N,…', help: "dispatches per queue submit for the throughput runs (default: the runtime's)" },
    json: { type: 'string', arg: 'FILE', help: 'also write the results as JSON' },
    'host-only': { type: 'boolean', help: "the host's share: GPU work dropped, CPU time and dispatches per step vs the V-Net step's" },
    against: { type: 'string', arg: 'DIR', help: 'with --host-only: a second checkout timed in the same process, step by step in turn' },
    'profile-steps': { type: 'string', default: '0', arg: 'N', help: 'with --host-only: profile N more steps of each, self time by place' },
    top: { type: 'string', default: '20', arg: 'N', help: "with --profile-steps: list the N functions with the most extra self time" },
  },
});
const batch = args.int('batch'), labeledBatch = args.int('labeled-batch');
if (labeledBatch > batch) args.fail(`--labeled-batch ${labeledBatch} exceeds --batch ${batch}`);
const patch = args.triple('patch');
const hostOnly = args.flag('host-only');
const iters = args.string('iters') === undefined ? (hostOnly ? 15 : 5) : args.int('iters');
const warmup = args.string('warmup') === undefined ? (hostOnly ? 30 : 2) : args.int('warmup', 0);
const filters = args.int('filters');
const submitEvery = args.ints('submit-every');

const backend = await initBackend({ backend: args.backend(), report: (l) => console.log(l) });
const cfg = dbislLossConfig();
const main = trainingOf({ autograd, tensor, models, losses, dualTask }, 'this checkout');
const { trainStep } = main;
console.log(`dbisl-step: batch ${batch} (${labeledBatch} labeled), patch ${patch.join('×')}, ${main.describe}, on ${backend.description}`);
const step = () => trainStep(cfg);
if (hostOnly) await hostShare();
else await onDevice();
main.dispose();
backend.dispose();

/** One checkout's modules (this one's, or --against's). */
interface Modules {
  autograd: typeof autograd;
  tensor: typeof tensor;
  models: typeof models;
  losses: typeof losses;
  dualTask: typeof dualTask;
}

/** The model, optimizer, input and label of a checkout on its current default backend, and its training step. */
function trainingOf(m: Modules, name: string) {
  const model = new m.dualTask.VNetDualTask({ nFilters: filters, seed: 0 });
  model.module.train();
  const opt = new m.models.SGD(model.module.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const x = m.tensor.randn([batch, 1, ...patch], 1);
  const voxels = patch[0] * patch[1] * patch[2];
  // a ball as the label of every labeled row, so every term (incl. the CDT targets) has real content
  const labelHost = new Float32Array(labeledBatch * voxels);
  for (let b = 0; b < labeledBatch; b++) for (let i = 0; i < voxels; i++) {
    const z = i % patch[2], y = Math.floor(i / patch[2]) % patch[1], xx = Math.floor(i / (patch[1] * patch[2]));
    const r2 = ((xx - patch[0] / 2) / patch[0]) ** 2 + ((y - patch[1] / 2) / patch[1]) ** 2 + ((z - patch[2] / 2) / patch[2]) ** 2;
    labelHost[b * voxels + i] = r2 < 0.09 ? 1 : 0;
  }
  const label = m.tensor.fromArray(labelHost, [labeledBatch, 1, ...patch]);
  let iteration = 6000; // past the ramp-up: λ = λ_max, every term at full weight
  return {
    name,
    describe: model.describe(),
    /** one step: the DBiSL loss of lossConfig, or with null the V-Net step's trivial loss mean(z) + mean(R̂) */
    trainStep(lossConfig: LossConfig | null): void {
      m.tensor.tidy(() => {
        const out = model.forward(x);
        m.autograd.backward(lossConfig
          ? m.losses.dbislLoss({ seg: out.seg, sdf: out.sdf, label, iteration: iteration++, maxIterations: 6000 }, lossConfig).total
          : m.autograd.add(m.autograd.mean(out.seg), m.autograd.mean(out.sdf)));
      });
      opt.step();
      opt.zeroGrad();
    },
    dispose(): void {
      m.tensor.dispose([x, label]);
      opt.dispose();
      model.module.dispose();
    },
  };
}

/** Step time, throughput, memory and the kernel profile on the device. */
async function onDevice(): Promise<void> {
  const tuned = args.flag('tune') ? await tuneStepConvolutions(backend, step, 5) : null;
  if (tuned && backend instanceof WebGPUBackend) {
    backend.rt.trim(); // the tuner's inputs and pooled buffers are not the step's memory
    backend.resetPeakMemory();
  }
  const times: number[] = [];
  for (let i = 0; i < warmup + iters; i++) {
    const t0 = performance.now();
    step();
    await backend.sync();
    if (i >= warmup) times.push(performance.now() - t0);
  }
  const med = median(times);
  console.log(`  median step ${med.toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}, ${times.length} steps)`);
  const throughput = await throughputBySubmitInterval(backend, step, iters, submitEvery);
  const peaks = memoryPeaks(backend);
  console.log(`  peak memory ${(peaks.allocatedBytes / 2 ** 30).toFixed(2)} GiB allocated by tensors (as max_memory_allocated), ${(peaks.liveBytes / 2 ** 30).toFixed(2)} GiB in their buffers, ${(peaks.reservedBytes / 2 ** 30).toFixed(2)} GiB reserved (+ the pool)`);
  const profile = await profileKernels(backend, step).catch((e: Error) => { console.log(`  (no kernel profile: ${e.message})`); return null; });
  if (profile) printProfile(profile);
  const json = args.string('json');
  if (json) {
    writeFileSync(json, `${JSON.stringify({ device: backend.description, batch, labeledBatch, patch, medianMs: med, times, throughput, peakAllocatedBytes: peaks.allocatedBytes, peakLiveBytes: peaks.liveBytes, peakReservedBytes: peaks.reservedBytes,
      dispatchesPerStep: backend instanceof WebGPUBackend ? profile?.kernels.reduce((s, k) => s + k.dispatches, 0) ?? null : null,
      profile, tuned }, null, 2)}\n`);
  }
}

/** A checkout's training step on its own backend, with the GPU's work dropped (--host-only). */
interface HostSubject {
  name: string;
  trainStep(lossConfig: LossConfig | null): void;
  rt: { dispatchCount: number; flush(): void; device: GPUDevice };
  sync(): Promise<void>;
  dispose(): void;
}

/** --against DIR: that checkout's modules, its own backend and training step */
async function againstSubject(dir: string): Promise<HostSubject> {
  const load = async (rel: string): Promise<unknown> => import(pathToFileURL(resolve(dir, rel)).href);
  const [a, t, mo, lo, du] = await Promise.all(['src/autograd/index.ts', 'src/tensor/index.ts', 'src/models/index.ts', 'src/dbisl/losses.ts', 'src/dbisl/model.ts'].map(load))
    .catch((e: Error) => args.fail(`--against ${dir}: cannot load its src/ (${e.message})`));
  const m = { autograd: a, tensor: t, models: mo, losses: lo, dualTask: du } as Modules;
  const b = await m.tensor.initBackend({ backend: 'webgpu' }) as WebGPUBackend;
  const training = trainingOf(m, dir);
  return { ...training, rt: b.rt, sync: () => b.sync(), dispose: () => { training.dispose(); b.dispose(); } };
}

/**
 * --host-only: the DBiSL step's and the V-Net step's CPU time and dispatches with the GPU's work dropped; with --against,
 * of both checkouts, their steps in turn.
 */
async function hostShare(): Promise<void> {
  if (!(backend instanceof WebGPUBackend)) return args.fail('--host-only needs the webgpu backend');
  const against = args.string('against');
  const subjects: HostSubject[] = [{ ...main, rt: backend.rt, sync: () => backend.sync(), dispose: () => undefined }];
  if (against !== undefined) subjects.push(await againstSubject(against));
  for (const s of subjects) s.rt.device.queue.submit = () => undefined;
  const measured = (s: HostSubject, lossConfig: LossConfig | null) => {
    const d0 = s.rt.dispatchCount, c0 = process.cpuUsage();
    s.trainStep(lossConfig);
    s.rt.flush();
    const c = process.cpuUsage(c0);
    return { cpuMs: (c.user + c.system) / 1000, dispatches: s.rt.dispatchCount - d0 };
  };
  for (let i = 0; i < warmup; i++) for (const s of subjects) { measured(s, cfg); measured(s, null); }
  for (const s of subjects) await s.sync();
  type Step = { cpuMs: number; dispatches: number };
  const dbisl: Step[][] = subjects.map(() => []), vnet: Step[][] = subjects.map(() => []);
  for (let i = 0; i < iters; i++) {
    for (const k of i % 2 ? [...subjects.keys()].reverse() : subjects.keys()) {
      const s = subjects[k]!;
      if (i % 2) { vnet[k]!.push(measured(s, null)); dbisl[k]!.push(measured(s, cfg)); } else { dbisl[k]!.push(measured(s, cfg)); vnet[k]!.push(measured(s, null)); }
    }
    for (const s of subjects) await s.sync(); // lets Dawn's callbacks run between steps, as a training loop's reads do
  }
  const summary = (name: string, s: Step[]) => {
    const cpuMs = median(s.map((r) => r.cpuMs)), dispatches = median(s.map((r) => r.dispatches));
    console.log(`  ${name}: ${cpuMs.toFixed(2)} ms of CPU time per step (median of ${s.length}; min ${Math.min(...s.map((r) => r.cpuMs)).toFixed(2)}), ${dispatches} dispatches`);
    return { cpuMs, dispatches };
  };
  const ratios = subjects.map((s, k) => {
    if (subjects.length > 1) console.log(`  ${s.name}:`);
    const d = summary('DBiSL step', dbisl[k]!), v = summary('V-Net step', vnet[k]!);
    const cpuRatio = median(dbisl[k]!.map((r, i) => r.cpuMs / vnet[k]![i]!.cpuMs));
    console.log(`  DBiSL / V-Net: CPU time ×${cpuRatio.toFixed(2)} (median of the steps' ratios), dispatches +${d.dispatches - v.dispatches} (×${(d.dispatches / v.dispatches).toFixed(2)})`);
    return { d, v, cpuRatio };
  });
  if (subjects.length > 1) {
    const stepRatio = (steps: Step[][]) => median(steps[1]!.map((r, i) => r.cpuMs / steps[0]![i]!.cpuMs)).toFixed(2);
    console.log(`  ${against} / this checkout: DBiSL step CPU time ×${stepRatio(dbisl)}, V-Net step ×${stepRatio(vnet)} (medians of the steps' ratios)`);
  }
  const { d, v } = ratios[0]!;
  const without: [string, Partial<LossConfig>][] = [
    ['ce', { ce: false }], ['beta (supMse)', { beta: 0 }], ['supCross', { supCross: false }],
    ['conR2S', { conR2S: false }], ['conS2R', { conS2R: false }], ['pse', { pse: false }], ['unc', { unc: false }],
  ];
  const terms = without.map(([name, off]) => ({ term: name, dispatches: d.dispatches - measured(subjects[0]!, { ...cfg, ...off }).dispatches }));
  console.log(`  dispatches of each term in this checkout (forward + backward; the step's minus the step's without it): ${terms.map((t) => `${t.term} ${t.dispatches}`).join(', ')}`);
  const profileSteps = args.int('profile-steps', 0);
  if (profileSteps > 0) await profileBoth(profileSteps, args.int('top', 0));
  const json = args.string('json');
  if (json) {
    writeFileSync(json, `${JSON.stringify({ device: backend.description, batch, labeledBatch, patch, dbisl: d, vnet: v, terms, dbislSteps: dbisl[0], vnetSteps: vnet[0],
      ...(subjects.length > 1 ? { against: { src: against, dbisl: ratios[1]!.d, vnet: ratios[1]!.v, cpuRatio: ratios[1]!.cpuRatio, dbislSteps: dbisl[1], vnetSteps: vnet[1] } } : {}) }, null, 2)}\n`);
  }
  for (const s of subjects) s.dispose();
}

/** --profile-steps: each step's self time by place, and the functions where the DBiSL step spends more than the V-Net step. */
async function profileBoth(steps: number, top: number): Promise<void> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const [d, v] = [cfg, null].map((lossConfig) => async () => selfTimeByPlace(await recordCpuProfile(() => {
    for (let i = 0; i < steps; i++) { trainStep(lossConfig); (backend as WebGPUBackend).rt.flush(); }
  }), root, steps));
  const dbislTime = await d!(), vnetTime = await v!();
  printSelfTime(dbislTime, `  DBiSL step: self time by where the code lives (CPU profile of ${steps} more steps, per step; profiling slows them):`, 0);
  printSelfTime(vnetTime, `  V-Net step: the same:`, 0);
  const vnetMs = new Map(vnetTime.functions.map((f) => [f.name, f.ms]));
  const extra = dbislTime.functions.map((f) => ({ name: f.name, ms: f.ms - (vnetMs.get(f.name) ?? 0) })).sort((a, b) => b.ms - a.ms);
  console.log(`  the DBiSL step's extra self time per step (its minus the V-Net step's), top ${top}:`);
  for (const f of extra.slice(0, top)) console.log(`    ${(1000 * f.ms).toFixed(1).padStart(8)} µs  ${f.name}`);
}
