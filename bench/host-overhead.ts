/**
 * The host's cost of a V-Net training step, apart from the GPU's: the step of bench/vnet-step.ts (n_filters-16
 * V-Net, segmentation + tanh SDF heads, cross entropy + MSE, backward, SGD with momentum and weight decay) is
 * recorded and encoded as usual, but the device queue's `submit` drops the command buffers, so no GPU work runs
 * (on llvmpipe it would run inside submit). The numbers the step computes are garbage then; its host time is
 * not, since nothing on the host depends on them. Prints the median host time per step (wall clock, and the
 * process's CPU time, which a machine busy with other work inflates far less), the dispatches per step, the
 * host time per dispatch, the bind groups created per step, and, from a CPU profile of further steps
 * (node:inspector), the self time by where its code lives: autograd, tensor bookkeeping, optimizers, conv3d
 * planning, the other kernels' host code, the runtime (runtime.ts), Dawn (native calls and node_modules/webgpu),
 * the garbage collector.
 *
 *   npx tsx bench/host-overhead.ts [--src DIR] [--against DIR] [--batch 2] [--patch 32,32,32] [--filters 16]
 *                                  [--warmup 30] [--iters 15] [--profile-steps 10] [--top 0] [--json FILE]
 *                                  [--cpuprofile FILE]
 *
 * --src: the root of the voxgrad checkout whose src/ is measured (default: this file's), so that one script
 * times another revision in the same way, e.g. a `git worktree` of the base commit. --against: a second
 * checkout timed in the same process, its steps alternating with --src's (each on its own device), so that
 * both see the same load: it prints both and the median of the per-step ratios, the comparison that a busy
 * machine disturbs least. The first steps run while V8 still compiles the code (the first few dozen took up to
 * twice the steady time here), hence the warm-up. The host's cost does not depend on the voxels; the V-Net needs
 * sides that are multiples of 16. --top N also lists the N functions with the most self time; --cpuprofile
 * writes the profile of --src's steps (for Chrome's DevTools or bench/cpu-profile.py).
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseBenchArgs } from './args.js';
import { median, printSelfTime, recordCpuProfile, selfTimeByPlace } from './profile.js';

const args = parseBenchArgs({
  about: "The host's cost of a V-Net training step with the GPU's work dropped (the queue's submit is a no-op here):\n"
    + 'per step, per dispatch, and a CPU profile by layer; --src times another checkout in the same way, --against\n'
    + 'a second one in the same process, step by step in turn.',
  options: {
    src: { type: 'string', default: resolve(dirname(fileURLToPath(import.meta.url)), '..'), arg: 'DIR', help: "the checkout whose src/ is timed" },
    against: { type: 'string', arg: 'DIR', help: 'a second checkout timed in the same process, step by step in turn' },
    batch: { type: 'string', default: '2', arg: 'N', help: 'samples per step' },
    patch: { type: 'string', default: '32,32,32', arg: 'X,Y,Z', help: 'input side lengths (multiples of 16)' },
    filters: { type: 'string', default: '16', arg: 'N', help: 'V-Net n_filters' },
    warmup: { type: 'string', default: '30', arg: 'N', help: 'steps before timing (while V8 compiles the code)' },
    iters: { type: 'string', default: '15', arg: 'N', help: 'timed steps' },
    'profile-steps': { type: 'string', default: '10', arg: 'N', help: 'steps under the CPU profiler (0: none)' },
    top: { type: 'string', default: '0', arg: 'N', help: 'list the N functions with the most self time' },
    json: { type: 'string', arg: 'FILE', help: 'write the numbers as JSON' },
    cpuprofile: { type: 'string', arg: 'FILE', help: 'write the CPU profile (DevTools, bench/cpu-profile.py)' },
  },
}, process.argv.slice(2), 'host-overhead.ts');
const fail = (message: string): never => args.fail(message);
const batch = args.int('batch');
const patch = args.triple('patch');
if (patch.some((s) => s % 16 !== 0)) fail(`--patch: expected three multiples of 16 like 32,32,32, got '${args.string('patch')}'`);
const filters = args.int('filters');
const warmup = args.int('warmup');
const iters = args.int('iters');
const profileSteps = args.int('profile-steps', 0);
const top = args.int('top', 0);
const root = resolve(args.string('src')!);
const againstRoot = args.string('against') === undefined ? null : resolve(args.string('against')!);

/** One checkout's V-Net step on its own backend, and its measurements. */
interface Subject {
  root: string;
  description: string;
  step(): void;
  sync(): Promise<void>;
  dispose(): void;
  /** the runtime's dispatch and bind-group counters */
  counters(): { dispatches: number; bindGroups: number };
  times: number[];
  cpuTimes: number[];
  dispatches: number[];
  bindGroups: number[];
}

async function subject(dir: string): Promise<Subject> {
  const load = async (rel: string): Promise<Record<string, any>> => import(pathToFileURL(resolve(dir, rel)).href);
  const [autograd, kernels, models, losses, tensor] = await Promise.all([
    load('src/autograd/index.ts'), load('src/kernels/index.ts'), load('src/models/index.ts'),
    load('src/models/losses.ts'), load('src/tensor/index.ts'),
  ]).catch((e: Error) => fail(`${dir}: cannot load voxgrad's src/ (${e.message})`));
  const backend = await tensor.initBackend({ backend: 'webgpu' });
  if (!(backend instanceof kernels.WebGPUBackend)) fail('needs the webgpu backend');
  const rt = backend.rt;
  // the GPU's work is dropped: command buffers are encoded and finished, never submitted
  rt.device.queue.submit = () => undefined;

  const model = new models.VNet({
    nFilters: filters, seed: 0, normalization: 'batchnorm',
    heads: [{ name: 'out_conv', channels: 2 }, { name: 'out_conv2', channels: 2, activation: 'tanh' }],
  });
  const opt = new models.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const [D, H, W] = patch as [number, number, number];
  const x = tensor.randn([batch, 1, D, H, W], 1);
  const labels = new Int32Array(batch * D * H * W);
  for (let i = 0; i < labels.length; i++) labels[i] = (Math.imul(i + 1, 2654435761) >>> 0) & 1;
  const y = tensor.fromArray(labels, [batch, D, H, W]);
  const sdfTarget = tensor.uniform([batch, 2, D, H, W], -1, 1, 2);
  return {
    root: dir,
    description: backend.description,
    step(): void {
      tensor.tidy(() => {
        const out = model.forward(x);
        autograd.backward(autograd.add(losses.crossEntropy(out.out_conv, y), losses.mseLoss(out.out_conv2, sdfTarget)));
      });
      opt.step();
      opt.zeroGrad();
      rt.flush();
    },
    sync: () => backend.sync(),
    dispose(): void {
      tensor.dispose([x, y, sdfTarget]);
      opt.dispose();
      model.dispose();
      backend.dispose();
    },
    counters: () => ({ dispatches: rt.dispatchCount, bindGroups: rt.bindGroupsCreated }),
    times: [], cpuTimes: [], dispatches: [], bindGroups: [],
  };
}

/** Times one step of s (wall clock and the process's CPU time) and counts its dispatches and new bind groups. */
function timedStep(s: Subject): void {
  const before = s.counters();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  s.step();
  s.times.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  s.cpuTimes.push((c.user + c.system) / 1000);
  const after = s.counters();
  s.dispatches.push(after.dispatches - before.dispatches);
  s.bindGroups.push(after.bindGroups - before.bindGroups);
}

function summary(s: Subject): { stepMs: number; cpuMs: number; dispatchesPerStep: number; usPerDispatch: number; cpuUsPerDispatch: number; bindGroupsPerStep: number } {
  const stepMs = median(s.times), cpuMs = median(s.cpuTimes), perStep = median(s.dispatches);
  console.log(`  ${s.root}: host time per step ${stepMs.toFixed(2)} ms wall (median of ${s.times.length}; min ${Math.min(...s.times).toFixed(2)}, max ${Math.max(...s.times).toFixed(2)}), ${cpuMs.toFixed(2)} ms of CPU time (min ${Math.min(...s.cpuTimes).toFixed(2)})`);
  console.log(`  ${perStep} dispatches per step → ${(1000 * stepMs / perStep).toFixed(1)} µs per dispatch wall, ${(1000 * cpuMs / perStep).toFixed(1)} µs of CPU time; ${median(s.bindGroups)} bind groups created per step`);
  return { stepMs, cpuMs, dispatchesPerStep: perStep, usPerDispatch: 1000 * stepMs / perStep, cpuUsPerDispatch: 1000 * cpuMs / perStep, bindGroupsPerStep: median(s.bindGroups) };
}

async function main(): Promise<void> {
  const subjects = [await subject(root), ...(againstRoot ? [await subject(againstRoot)] : [])];
  const first = subjects[0]!;
  console.log(`host-overhead: ${subjects.map((s) => s.root).join(' vs ')}: batch ${batch}, patch ${patch.join('×')}, n_filters ${filters}, on ${first.description}; GPU work dropped`);

  for (let i = 0; i < warmup; i++) for (const s of subjects) s.step();
  for (const s of subjects) await s.sync();
  for (let i = 0; i < iters; i++) {
    for (const s of i % 2 ? [...subjects].reverse() : subjects) timedStep(s);
    for (const s of subjects) await s.sync(); // lets Dawn's callbacks run between steps, as a training loop's reads do
  }
  const results = subjects.map(summary);
  let cpuRatio: number | null = null;
  if (subjects.length === 2) {
    cpuRatio = median(subjects[1]!.cpuTimes.map((t, i) => t / first.cpuTimes[i]!));
    const dispatchRatio = results[1]!.dispatchesPerStep / results[0]!.dispatchesPerStep;
    console.log(`  ${againstRoot} / ${root}: CPU time per step ×${cpuRatio.toFixed(2)} (median of the ${iters} steps' ratios), per dispatch ×${(cpuRatio / dispatchRatio).toFixed(2)}`);
  }

  let categories: { category: string; ms: number; share: number }[] = [];
  if (profileSteps > 0) {
    const profile = await recordCpuProfile(() => { for (let i = 0; i < profileSteps; i++) first.step(); });
    const cpuprofile = args.string('cpuprofile');
    if (cpuprofile) writeFileSync(cpuprofile, JSON.stringify(profile));
    const selfTime = selfTimeByPlace(profile, root, profileSteps);
    categories = selfTime.categories.map((c) => ({ category: c.name, ms: c.ms, share: c.share }));
    printSelfTime(selfTime, `  ${root}: self time by where the code lives (CPU profile of ${profileSteps} more steps, per step; profiling slows them):`, top);
  }
  const json = args.string('json');
  if (json) {
    const numbers = (s: Subject, r: ReturnType<typeof summary>) => ({ src: s.root, ...r, times: s.times, cpuTimes: s.cpuTimes });
    writeFileSync(json, `${JSON.stringify({
      batch, patch, nFilters: filters, warmup, iters, ...numbers(first, results[0]!), categories,
      ...(subjects.length === 2 ? { against: numbers(subjects[1]!, results[1]!), cpuRatio } : {}),
    }, null, 2)}\n`);
  }
  for (const s of subjects) s.dispose();
}

await main();
