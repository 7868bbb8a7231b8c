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
 *   npx tsx bench/host-overhead.ts [--src DIR] [--batch 2] [--patch 32,32,32] [--filters 16] [--warmup 3]
 *                                  [--iters 15] [--profile-steps 10] [--top 0] [--json FILE] [--cpuprofile FILE]
 *
 * --src: the root of the voxgrad checkout whose src/ is measured (default: this file's), so that one script
 * times another revision in the same run, e.g. a `git worktree` of the base commit. The host's cost does not
 * depend on the voxels; the V-Net needs sides that are multiples of 16. --top N also lists the N functions with
 * the most self time; --cpuprofile writes the profile (for Chrome's DevTools or bench/cpu-profile.py).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseBenchArgs } from './args.js';

const args = parseBenchArgs({
  about: "The host's cost of a V-Net training step with the GPU's work dropped (the queue's submit is a no-op here):\n"
    + 'per step, per dispatch, and a CPU profile by layer; --src times another checkout in the same way.',
  options: {
    src: { type: 'string', default: resolve(dirname(fileURLToPath(import.meta.url)), '..'), arg: 'DIR', help: "the checkout whose src/ is timed" },
    batch: { type: 'string', default: '2', arg: 'N', help: 'samples per step' },
    patch: { type: 'string', default: '32,32,32', arg: 'X,Y,Z', help: 'input side lengths (multiples of 16)' },
    filters: { type: 'string', default: '16', arg: 'N', help: 'V-Net n_filters' },
    warmup: { type: 'string', default: '3', arg: 'N', help: 'steps before timing' },
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

/**
 * Where a profile frame's self time goes, by the file its code lives in. Native functions have no file: those
 * that voxgrad's code calls are Dawn's (node_modules/webgpu), those that node's own code calls (the inspector
 * that runs this profiler) are node's.
 */
function category(url: string, functionName: string, callerUrl: string): string {
  if (!url) {
    if (functionName === '(garbage collector)') return 'garbage collector';
    if (functionName === '(program)' || functionName === '(idle)' || functionName === '(root)') return 'other (V8, idle)';
    return callerUrl.startsWith('node:') ? 'node internals' : 'Dawn calls (native)';
  }
  const path = url.startsWith('file:') ? fileURLToPath(url) : url;
  if (path.includes(`${sep}node_modules${sep}webgpu${sep}`)) return 'Dawn calls (native)';
  const rel = path.startsWith(root + sep) ? path.slice(root.length + 1) : null;
  if (rel === null) return path.startsWith('node:') ? 'node internals' : 'other JS';
  if (rel.startsWith(`src${sep}autograd${sep}`)) return 'autograd';
  if (rel.startsWith(`src${sep}tensor${sep}`)) return 'tensor bookkeeping';
  if (rel.startsWith(`src${sep}models${sep}optim`)) return 'optimizer';
  if (rel.startsWith(`src${sep}models${sep}`)) return 'models (layers, losses)';
  if (rel === `src${sep}kernels${sep}webgpu${sep}runtime.ts`) return 'runtime.ts (pipelines, bind groups, encoding)';
  if (rel.startsWith(`src${sep}kernels${sep}conv3d`)) return 'conv3d choice and planning';
  if (rel.startsWith(`src${sep}kernels${sep}`)) return 'other kernels (host side)';
  if (rel.startsWith(`bench${sep}`)) return 'bench';
  return 'other JS';
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

function selfTime(profile: CpuProfile): { byCategory: Map<string, number>; byFunction: Map<string, number>; totalUs: number } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const callers = new Map<number, ProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) callers.set(c, n);
  const byCategory = new Map<string, number>(), byFunction = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    totalUs += us;
    const c = category(url, functionName, callers.get(id)?.callFrame.url ?? '');
    byCategory.set(c, (byCategory.get(c) ?? 0) + us);
    const where = url ? ` ${url.slice(url.lastIndexOf('/') + 1)}:${lineNumber + 1}` : '';
    const f = `${functionName || '(anonymous)'}${where}`;
    byFunction.set(f, (byFunction.get(f) ?? 0) + us);
  });
  return { byCategory, byFunction, totalUs };
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };

async function main(): Promise<void> {
  const load = async (rel: string): Promise<Record<string, any>> => import(pathToFileURL(resolve(root, rel)).href);
  const [autograd, kernels, models, losses, tensor] = await Promise.all([
    load('src/autograd/index.ts'), load('src/kernels/index.ts'), load('src/models/index.ts'),
    load('src/models/losses.ts'), load('src/tensor/index.ts'),
  ]).catch((e: Error) => fail(`--src ${root}: cannot load voxgrad's src/ (${e.message})`));
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
  const step = (): void => {
    tensor.tidy(() => {
      const out = model.forward(x);
      autograd.backward(autograd.add(losses.crossEntropy(out.out_conv, y), losses.mseLoss(out.out_conv2, sdfTarget)));
    });
    opt.step();
    opt.zeroGrad();
    rt.flush();
  };
  console.log(`host-overhead: ${root}: batch ${batch}, patch ${patch.join('×')}, n_filters ${filters}, on ${backend.description}; GPU work dropped`);

  for (let i = 0; i < warmup; i++) step();
  await backend.sync();
  const times: number[] = [], cpuTimes: number[] = [], dispatches: number[] = [], bindGroups: number[] = [];
  for (let i = 0; i < iters; i++) {
    const d0 = rt.dispatchCount, b0 = rt.bindGroupsCreated;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1000);
    dispatches.push(rt.dispatchCount - d0);
    bindGroups.push(rt.bindGroupsCreated - b0);
    await backend.sync(); // lets Dawn's callbacks run between steps, as a training loop's reads do
  }
  const stepMs = median(times), cpuMs = median(cpuTimes), perStep = median(dispatches);
  const usPerDispatch = 1000 * stepMs / perStep, cpuUsPerDispatch = 1000 * cpuMs / perStep;
  console.log(`  host time per step ${stepMs.toFixed(2)} ms wall (median of ${iters}; min ${Math.min(...times).toFixed(2)}, max ${Math.max(...times).toFixed(2)}), ${cpuMs.toFixed(2)} ms of CPU time (min ${Math.min(...cpuTimes).toFixed(2)})`);
  console.log(`  ${perStep} dispatches per step → ${usPerDispatch.toFixed(1)} µs per dispatch wall, ${cpuUsPerDispatch.toFixed(1)} µs of CPU time; ${median(bindGroups)} bind groups created per step`);

  let categories: { category: string; ms: number; share: number }[] = [];
  if (profileSteps > 0) {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    for (let i = 0; i < profileSteps; i++) step();
    const { profile } = await session.post('Profiler.stop') as { profile: CpuProfile };
    session.disconnect();
    const cpuprofile = args.string('cpuprofile');
    if (cpuprofile) writeFileSync(cpuprofile, JSON.stringify(profile));
    const { byCategory, byFunction, totalUs } = selfTime(profile);
    categories = [...byCategory].sort((a, b) => b[1] - a[1]).map(([c, us]) => ({ category: c, ms: us / 1000 / profileSteps, share: us / totalUs }));
    console.log(`  self time by where the code lives (CPU profile of ${profileSteps} more steps, per step; profiling slows them):`);
    for (const c of categories) console.log(`    ${c.ms.toFixed(2).padStart(8)} ms ${(100 * c.share).toFixed(1).padStart(5)} %  ${c.category}`);
    if (top > 0) {
      console.log(`  top ${top} functions by self time:`);
      for (const [f, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
        console.log(`    ${(us / 1000 / profileSteps).toFixed(3).padStart(8)} ms ${(100 * us / totalUs).toFixed(1).padStart(5)} %  ${f}`);
      }
    }
  }
  const json = args.string('json');
  if (json) {
    writeFileSync(json, `${JSON.stringify({ src: root, batch, patch, nFilters: filters, iters, stepMs, times, cpuMs, cpuTimes, dispatchesPerStep: perStep, usPerDispatch, cpuUsPerDispatch, bindGroupsPerStep: median(bindGroups), categories }, null, 2)}\n`);
  }
  tensor.dispose([x, y, sdfTarget]);
  opt.dispose();
  model.dispose();
  backend.dispose();
}

await main();
