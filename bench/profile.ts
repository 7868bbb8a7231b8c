/**
 * What the bench scripts share: GPU time per kernel from per-dispatch timestamps (when the adapter has them), the
 * host's CPU time by where its code lives (a node:inspector CPU profile), memory peaks, conv3d tuning, throughput.
 */
import { Session } from 'node:inspector/promises';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/kernels/index.js';
import { conv3dProblemKey, recordConv3dProblems, tuneConv3d, WebGPUBackend } from '../src/kernels/index.js';

export { median } from '../src/kernels/index.js';

export interface KernelTime { kernel: string; ms: number; dispatches: number }

/** Runs `step` once with timestamp queries and returns the kernels sorted by total GPU time. */
export async function profileKernels(backend: Backend, step: () => void): Promise<{ totalMs: number; kernels: KernelTime[] } | null> {
  if (!(backend instanceof WebGPUBackend) || !backend.rt.hasTimestamps) return null;
  await backend.sync();
  backend.rt.startProfiling();
  step();
  const times = await backend.rt.stopProfiling();
  const byKernel = new Map<string, KernelTime>();
  for (const t of times) {
    const k = byKernel.get(t.label) ?? { kernel: t.label, ms: 0, dispatches: 0 };
    k.ms += t.ms;
    k.dispatches++;
    byKernel.set(t.label, k);
  }
  const kernels = [...byKernel.values()].sort((a, b) => b.ms - a.ms);
  return { totalMs: times.reduce((s, t) => s + t.ms, 0), kernels };
}

export function printProfile(p: { totalMs: number; kernels: KernelTime[] }, top = 15): void {
  console.log(`  GPU time by kernel (sum of dispatches ${p.totalMs.toFixed(2)} ms; top ${top}):`);
  for (const k of p.kernels.slice(0, top)) {
    console.log(`    ${k.ms.toFixed(3).padStart(9)} ms ${(100 * k.ms / p.totalMs).toFixed(1).padStart(5)} %  ${String(k.dispatches).padStart(5)}×  ${k.kernel}`);
  }
}

/**
 * Exact peaks since the backend was created (or its last resetPeakMemory): the bytes tensors asked for (as
 * torch.cuda.max_memory_allocated), the bytes of the buffers they held (size classes and best fit round up), and
 * reserved bytes (those buffers + the pool's idle ones, as torch.cuda.max_memory_reserved). One number on the cpu.
 */
export function memoryPeaks(backend: Backend): { allocatedBytes: number; liveBytes: number; reservedBytes: number } {
  const liveBytes = backend.peakMemory();
  if (!(backend instanceof WebGPUBackend)) return { allocatedBytes: liveBytes, liveBytes, reservedBytes: liveBytes };
  return { allocatedBytes: backend.rt.peakRequestedBytes, liveBytes, reservedBytes: backend.rt.peakReservedBytes };
}

export interface TunedProblem {
  problem: string;
  defaultName: string;
  defaultMs: number;
  chosenName: string;
  chosenMs: number;
  candidates: { name: string; ms: number; rejected: string | null }[];
}

/**
 * cuDNN's benchmark mode for a training step: records the conv3d problems `step` runs, tunes each (every
 * candidate kernel checked against the default's result, then timed inside `step`; see tuneConv3d), prints the default and the
 * choice per problem, and leaves the choices in effect for the rest of the process.
 */
export async function tuneStepConvolutions(backend: Backend, step: () => void, reps: number): Promise<{ seconds: number; problems: TunedProblem[] }> {
  const problems = await recordConv3dProblems(backend, async () => { step(); await backend.sync(); });
  const t0 = performance.now();
  const rows = await tuneConv3d(backend, problems, { reps, step });
  const seconds = (performance.now() - t0) / 1000;
  console.log(`  tuned ${problems.length} conv3d problems in ${seconds.toFixed(1)} s (${rows[0]?.method ?? '—'}); default → choice:`);
  const table = problems.map((p): TunedProblem => {
    const mine = rows.filter((r) => r.problem === p);
    const chosen = mine.find((r) => r.chosen) ?? mine[0];
    return {
      problem: `${conv3dProblemKey(p)}${p.bias ? ' +bias' : ''}`, defaultName: mine[0].name, defaultMs: mine[0].ms,
      chosenName: chosen.name, chosenMs: chosen.ms, candidates: mine.map((r) => ({ name: r.name, ms: r.ms, rejected: r.rejected })),
    };
  });
  for (const e of table) {
    console.log(`    ${e.problem.padEnd(96)} ${e.defaultName.padEnd(14)} ${e.defaultMs.toFixed(3).padStart(9)} ms → ${e.chosenName.padEnd(30)} ${e.chosenMs.toFixed(3).padStart(9)} ms ${(e.defaultMs / e.chosenMs).toFixed(2).padStart(6)}×`);
  }
  for (const r of rows.filter((r) => r.rejected)) console.log(`    rejected: ${conv3dProblemKey(r.problem)} · ${r.name}: ${r.rejected}`);
  const total = (k: 'defaultMs' | 'chosenMs'): number => table.reduce((a, e) => a + e[k], 0);
  console.log(`    Σ over distinct problems: default ${total('defaultMs').toFixed(2)} ms → chosen ${total('chosenMs').toFixed(2)} ms`);
  return { seconds, problems: table };
}

/**
 * Throughput as the PyTorch anchors measure it: `iters` steps recorded back to back and one sync at the end
 * (after one untimed step). Returns the milliseconds per step and the host's share: the time spent inside
 * `step` (recording, and submitting every dispatchesPerSubmit dispatches), which the GPU overlaps.
 */
export async function backToBack(backend: Backend, step: () => void, iters: number): Promise<{ msPerStep: number; hostMsPerStep: number }> {
  step();
  await backend.sync();
  let host = 0;
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) {
    const h0 = performance.now();
    step();
    host += performance.now() - h0;
  }
  await backend.sync();
  return { msPerStep: (performance.now() - t0) / iters, hostMsPerStep: host / iters };
}

export interface ThroughputRow { dispatchesPerSubmit: number | null; msPerStep: number; hostMsPerStep: number }

/**
 * backToBack once per dispatches-per-submit value (WebGPU; default the runtime's current one; the cpu backend
 * runs once), printing each; leaves the fastest value set on the runtime.
 */
export async function throughputBySubmitInterval(backend: Backend, step: () => void, iters: number, values?: readonly number[]): Promise<{ rows: ThroughputRow[]; best: ThroughputRow }> {
  const gpu = backend instanceof WebGPUBackend ? backend : null;
  const rows: ThroughputRow[] = [];
  for (const every of gpu ? values ?? [gpu.rt.dispatchesPerSubmit] : [null]) {
    if (gpu && every !== null) gpu.rt.dispatchesPerSubmit = every;
    const r = await backToBack(backend, step, iters);
    rows.push({ dispatchesPerSubmit: every, ...r });
    console.log(`  back to back (as the PyTorch anchor): ${r.msPerStep.toFixed(1)} ms per step over ${iters} steps, ${r.hostMsPerStep.toFixed(1)} ms of it recording on the host${every === null ? '' : `; a submit every ${every} dispatches`}`);
  }
  const best = rows.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a));
  if (gpu && best.dispatchesPerSubmit !== null) gpu.rt.dispatchesPerSubmit = best.dispatchesPerSubmit;
  return { rows, best };
}

/**
 * Where a profile frame's self time goes, by the file its code lives in (`root`: the voxgrad checkout whose code
 * runs). Native functions have no file: those that voxgrad's code calls are Dawn's (node_modules/webgpu), those
 * that node's own code calls (its timers and promises) are node's.
 */
function hostCategory(root: string, url: string, functionName: string, callerUrl: string): string {
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
  if (rel.startsWith(`src${sep}imaging${sep}`)) return 'imaging (sliding window)';
  if (rel.startsWith(`src${sep}dbisl${sep}`)) return 'dbisl';
  if (rel.startsWith(`bench${sep}`)) return 'bench';
  return 'other JS';
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
/** V8's CPU profile (the .cpuprofile format of Chrome's DevTools and bench/cpu-profile.py) */
export interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/** Runs `run` under node:inspector's sampling CPU profiler (one sample per 100 µs). */
export async function recordCpuProfile(run: () => void | Promise<void>): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    await run();
    const { profile } = await session.post('Profiler.stop') as { profile: CpuProfile };
    return profile;
  } finally {
    session.disconnect();
  }
}

export interface SelfTimeShare { name: string; ms: number; share: number }

/**
 * A profile's self time by where the code lives (hostCategory) and by function, largest first, in milliseconds per
 * unit of work: `units` is how many steps (windows, …) the profile covers.
 */
export function selfTimeByPlace(profile: CpuProfile, root: string, units: number): { categories: SelfTimeShare[]; functions: SelfTimeShare[] } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const callers = new Map<number, ProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) callers.set(c, n);
  const byCategory = new Map<string, number>(), byFunction = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    const callerUrl = callers.get(id)?.callFrame.url ?? '';
    // the profiler's own stop (node:inspector building the profile, tens of ms) is none of the measured work
    if (url === 'node:inspector' || callerUrl === 'node:inspector') return;
    const us = profile.timeDeltas[i] ?? 0;
    totalUs += us;
    const c = hostCategory(root, url, functionName, callerUrl);
    byCategory.set(c, (byCategory.get(c) ?? 0) + us);
    const where = url ? ` ${url.slice(url.lastIndexOf('/') + 1)}:${lineNumber + 1}` : '';
    const f = `${functionName || '(anonymous)'}${where}`;
    byFunction.set(f, (byFunction.get(f) ?? 0) + us);
  });
  const shares = (m: Map<string, number>): SelfTimeShare[] => [...m].sort((a, b) => b[1] - a[1])
    .map(([name, us]) => ({ name, ms: us / 1000 / units, share: us / totalUs }));
  return { categories: shares(byCategory), functions: shares(byFunction) };
}

/** Prints selfTimeByPlace's categories and its `top` functions, per `unit` (as milliseconds, or with `micro` as µs). */
export function printSelfTime(t: { categories: SelfTimeShare[]; functions: SelfTimeShare[] }, title: string, top: number, micro = false): void {
  const amount = (ms: number, digits: number) => `${(micro ? 1000 * ms : ms).toFixed(micro ? digits - 1 : digits).padStart(8)} ${micro ? 'µs' : 'ms'}`;
  console.log(title);
  for (const c of t.categories) console.log(`    ${amount(c.ms, 2)} ${(100 * c.share).toFixed(1).padStart(5)} %  ${c.name}`);
  if (top > 0) {
    console.log(`  top ${top} functions by self time:`);
    for (const f of t.functions.slice(0, top)) console.log(`    ${amount(f.ms, 3)} ${(100 * f.share).toFixed(1).padStart(5)} %  ${f.name}`);
  }
}
