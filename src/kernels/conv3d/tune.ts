/**
 * cuDNN's benchmark mode for conv3d: several kernels can compute each convolution (conv3dCandidates), and which
 * is fastest depends on the card. tuneConv3d checks every candidate of each problem against the default kernel's
 * result, times the agreeing ones on this device and records the fastest in the backend's choice table
 * (conv3dTuning(rt), choice.ts) that conv3d, conv3dBackwardInput and conv3dBackwardWeight consult.
 * recordConv3dProblems collects the problems a model's training step runs, to tune exactly those;
 * tuneConv3dWithCache keeps the choices per adapter on disk (cache.ts) and times only the problems not met yet.
 *
 * Timing: given the step, on an adapter with timestamp queries, each candidate is timed inside it (its problem's
 * dispatches in a step that runs the other problems' kernels around them): timed alone, a kernel's time on the
 * H200 differed from its time inside a step by up to 5.6× (README, Results). Without timestamps
 * (llvmpipe) a kernel cannot be told apart inside a step: the candidates are timed alone, and the rows say so.
 *
 *   const step = () => tidy(() => backward(loss(model.forward(x))));
 *   const problems = await recordConv3dProblems(backend, step);
 *   const report = await tuneConv3d(backend, problems, { reps: 5, step });
 */
import type { Backend, ConvNormEpilogue, Storage } from '../backend.js';
import { convGeometry } from '../geometry.js';
import { randomArray } from '../random.js';
import { WebGPUBackend } from '../webgpu/index.js';
import { median, timeRuns, type TimingMethod } from '../webgpu/timing.js';
import { conv3dChoiceCache, readConv3dChoices, writeConv3dChoices } from './cache.js';
import { candidateName, conv3dCandidates, conv3dProblemKey, conv3dTuning, type Conv3dCandidate, type Conv3dProblem } from './webgpu.js';

export interface TuneConv3dOptions {
  /** timed runs per candidate (or timed steps per candidate, in the step), after an untimed one (default 5) */
  reps?: number;
  /**
   * Runs the problems, recording its work on the backend (a training step: forward and backward). With it, on
   * an adapter with timestamp queries, the candidates are timed inside it (a problem it does not run is timed
   * alone). It must leave the model as it found it, apart from gradients that are zeroed after tuning.
   */
  step?: () => void | Promise<void>;
  /** called with one line per candidate once it is measured */
  report?: (line: string) => void;
  /** test-only: may change a candidate's result (read back) before it is compared with the default's */
  perturb?: (candidate: Conv3dCandidate, result: Float32Array) => void;
}

/** How a candidate was timed: alone (timing.ts: timestamps or wall clock) or by timestamps inside the step. */
export type TuneTimingMethod = TimingMethod | 'in-step timestamps';

export interface TuneConv3dRow {
  problem: Conv3dProblem;
  candidate: Conv3dCandidate;
  name: string;
  /** median GPU milliseconds of one run, or of the problem's calls in one step (NaN when rejected) */
  ms: number;
  method: TuneTimingMethod;
  /** largest |candidate − default| over the result */
  maxAbsDiff: number;
  /** why the candidate cannot be chosen: its result disagrees with the default's, or it failed */
  rejected: string | null;
  chosen: boolean;
}

const describe = (p: Conv3dProblem): string => `${conv3dProblemKey(p)}${p.bias ? ' +bias' : ''}${p.norm ? ` +norm${p.norm.relu ? ' +relu' : ''}` : ''}`;

function webgpuBackend(backend: Backend, what: string): WebGPUBackend {
  if (!(backend instanceof WebGPUBackend)) throw new Error(`${what}: needs the WebGPU backend, got ${backend.description}`);
  return backend;
}

/**
 * The tolerance of the conv3d tests for inputs in [−1, 1): |a − e| ≤ atol + 1e-4·|e| with atol growing as the
 * square root of the reduction length (the read channels × taps; for the weight gradient the voxels × batch).
 */
function tolerance(p: Conv3dProblem): number {
  const g = convGeometry(p.xShape, p.wShape, p.params);
  const kv = g.k[0] * g.k[1] * g.k[2];
  const reduction = p.op === 'forward' ? g.ci * kv : p.op === 'backwardInput' ? g.co * kv : g.n * g.out[0] * g.out[1] * g.out[2];
  return 2e-5 * Math.sqrt(reduction) + 1e-6;
}

interface ProblemInputs { op: () => Storage; free: () => void }

/** Random inputs of a problem on the backend, and the operation on them with its epilogue (returns a storage the caller frees). */
function setupProblem(backend: Backend, p: Conv3dProblem, seed: number): ProblemInputs {
  const g = convGeometry(p.xShape, p.wShape, p.params);
  const gyShape = [g.n, g.co, ...g.out];
  const owned: Storage[] = [];
  const input = (shape: readonly number[], s: number): Storage => {
    const st = backend.upload(randomArray(shape.reduce((a, b) => a * b, 1), s), 'float32');
    owned.push(st);
    return st;
  };
  const free = (): void => { for (const s of owned) backend.free(s); };
  // the epilogue's bias and batch norm, per channel of the output (a positive variance)
  const epilogue = (channels: number): { bias: Storage | null; epilogue: ConvNormEpilogue | null } => {
    const bias = p.bias ? input([channels], seed + 2) : null;
    if (!p.norm) return { bias, epilogue: null };
    const variance = backend.upload(randomArray(channels, seed + 4, 0.5, 1.5), 'float32');
    owned.push(variance);
    const norm = {
      mean: input([channels], seed + 3), variance, weight: p.norm.weight ? input([channels], seed + 5) : null,
      bias: p.norm.bias ? input([channels], seed + 6) : null, eps: p.norm.eps,
    };
    return { bias, epilogue: { norm, relu: p.norm.relu } };
  };
  if (p.op === 'forward') {
    const x = input(p.xShape, seed), w = input(p.wShape, seed + 1), e = epilogue(g.co);
    return { op: () => backend.conv3d(x, p.xShape, w, p.wShape, e.bias, p.params, e.epilogue), free };
  }
  if (p.op === 'backwardInput') {
    const gy = input(gyShape, seed), w = input(p.wShape, seed + 1), e = epilogue(g.ci);
    return { op: () => backend.conv3dBackwardInput(gy, gyShape, w, p.wShape, p.xShape, p.params, e.bias, e.epilogue), free };
  }
  const x = input(p.xShape, seed), gy = input(gyShape, seed + 1);
  return { op: () => backend.conv3dBackwardWeight(x, p.xShape, gy, gyShape, p.wShape, p.params), free };
}

/**
 * One row per candidate of a problem (the default first), each run once on the inputs (compiling it): a
 * candidate whose result disagrees with the default's beyond the conv3d tests' tolerance, or that fails, is
 * rejected.
 */
async function checkCandidates(backend: WebGPUBackend, problem: Conv3dProblem, inputs: ProblemInputs,
  perturb: TuneConv3dOptions['perturb']): Promise<TuneConv3dRow[]> {
  const tuning = conv3dTuning(backend.rt), atol = tolerance(problem);
  const rows: TuneConv3dRow[] = [];
  let reference: Float32Array | null = null;
  for (const candidate of conv3dCandidates(backend.rt, problem.op, problem.xShape, problem.wShape, problem.params)) {
    const row: TuneConv3dRow = { problem, candidate, name: candidateName(candidate), ms: NaN, method: 'wall+sync', maxAbsDiff: NaN, rejected: null, chosen: false };
    rows.push(row);
    try {
      const out = tuning.withCandidate(candidate, inputs.op);
      const result = (await backend.read(out)) as Float32Array;
      backend.free(out);
      perturb?.(candidate, result);
      if (reference === null) reference = result; // the default candidate comes first
      let worst = 0, bad = false;
      for (let k = 0; k < result.length; k++) {
        const d = Math.abs(result[k] - reference[k]);
        if (!(d <= atol + 1e-4 * Math.abs(reference[k]))) bad = true;
        if (!(d <= worst)) worst = d; // NaN propagates
      }
      row.maxAbsDiff = worst;
      if (bad) row.rejected = `result differs from the default's by up to ${worst.toPrecision(3)} (tolerance ${atol.toExponential(2)} + 1e-4·|value|)`;
    } catch (e) {
      row.rejected = `failed: ${(e as Error).message.split('\n')[0]}`;
      if (reference === null) throw new Error(`tuneConv3d: the default kernel failed for ${describe(problem)}: ${(e as Error).message}`);
    }
  }
  return rows;
}

/** Times each row's candidate alone on the inputs, `reps` runs (timing.ts). */
async function timeAlone(backend: WebGPUBackend, rows: readonly TuneConv3dRow[], inputs: ProblemInputs, reps: number): Promise<void> {
  const tuning = conv3dTuning(backend.rt);
  for (const row of rows) {
    try {
      Object.assign(row, await timeRuns(backend, () => backend.free(tuning.withCandidate(row.candidate, inputs.op)), reps));
    } catch (e) {
      row.rejected = `failed: ${(e as Error).message.split('\n')[0]}`;
    }
  }
}

/**
 * Times candidates inside the step. Round r makes each problem's r-th candidate its choice (a problem with fewer
 * keeps its last), runs the step once untimed (compiling what changed), then `reps` times with a timestamp per
 * dispatch: a candidate's sample is the sum over its problem's dispatches in one step (every call of it), its
 * time the median. The problems' former choices are restored after. Rows of problems the step never ran keep
 * ms = NaN.
 */
async function timeInStep(backend: WebGPUBackend, timed: readonly (readonly TuneConv3dRow[])[], step: () => void | Promise<void>, reps: number): Promise<void> {
  const { rt } = backend, tuning = conv3dTuning(rt);
  const problems = timed.map((rows) => rows[0].problem);
  const indexOf = new Map(problems.map((p, i) => [conv3dProblemKey(p), i]));
  const former = problems.map((p) => tuning.choiceOf(p));
  const outer = tuning.observer;
  let spans: [problem: number, first: number, end: number][] = [];
  let profiling = false;
  tuning.observer = (p, first, end) => {
    outer?.(p, first, end);
    const i = indexOf.get(conv3dProblemKey(p));
    if (i !== undefined) spans.push([i, first, end]);
  };
  try {
    const rounds = Math.max(0, ...timed.map((rows) => rows.length));
    for (let round = 0; round < rounds; round++) {
      for (const rows of timed) tuning.setChoice(rows[0].problem, rows[Math.min(round, rows.length - 1)].candidate);
      await step();
      await backend.sync();
      const samples = timed.map((): number[] => []);
      for (let r = 0; r < reps; r++) {
        spans = [];
        rt.startProfiling();
        profiling = true;
        const first = rt.dispatchCount;
        await step();
        profiling = false;
        const times = await rt.stopProfiling();
        const ms = timed.map(() => 0), ran = timed.map(() => false);
        for (const [i, a, b] of spans) {
          ran[i] = true;
          for (let d = a; d < b; d++) ms[i] += times[d - first].ms;
        }
        ms.forEach((m, i) => { if (ran[i]) samples[i].push(m); });
      }
      timed.forEach((rows, i) => {
        if (round < rows.length && samples[i].length > 0) Object.assign(rows[round], { ms: median(samples[i]), method: 'in-step timestamps' });
      });
    }
  } finally {
    // a step that threw leaves the runtime profiling: stopped, its times dropped (the step's error is the one to see)
    if (profiling) await rt.stopProfiling().catch(() => undefined);
    tuning.observer = outer;
    problems.forEach((p, i) => { const c = former[i]; if (c) tuning.setChoice(p, c); else tuning.removeChoice(p); });
  }
}

/**
 * For each problem: random inputs, then every candidate run once (compiling it; its result is compared with
 * the default candidate's, and a candidate that disagrees beyond the conv3d tests' tolerance or fails is
 * rejected, never chosen); the agreeing ones are timed (inside options.step where it is given and the adapter has
 * timestamps, else alone) and the fastest goes into the choice table of this backend. Returns one row per
 * (problem, candidate).
 */
export async function tuneConv3d(backend: Backend, problems: readonly Conv3dProblem[], options: TuneConv3dOptions = {}): Promise<TuneConv3dRow[]> {
  const gpu = webgpuBackend(backend, 'tuneConv3d'), tuning = conv3dTuning(gpu.rt);
  const reps = options.reps ?? 5;
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`tuneConv3d: reps must be a positive integer, got ${reps}`);
  const inStep = options.step !== undefined && gpu.rt.hasTimestamps;
  const seed = (i: number): number => 1000 + 10 * i;
  const perProblem: TuneConv3dRow[][] = [];
  for (const [i, problem] of problems.entries()) {
    const inputs = setupProblem(gpu, problem, seed(i));
    try {
      const rows = await checkCandidates(gpu, problem, inputs, options.perturb);
      if (!inStep) await timeAlone(gpu, rows.filter((r) => r.rejected === null), inputs, reps);
      perProblem.push(rows);
    } finally {
      inputs.free();
    }
  }
  if (inStep) {
    const agreeing = perProblem.map((rows) => rows.filter((r) => r.rejected === null)).filter((rows) => rows.length > 0);
    await timeInStep(gpu, agreeing, options.step!, reps);
    for (const [i, rows] of perProblem.entries()) {
      const notRun = rows.filter((r) => r.rejected === null && Number.isNaN(r.ms));
      if (notRun.length === 0) continue;
      const inputs = setupProblem(gpu, problems[i], seed(i));
      try { await timeAlone(gpu, notRun, inputs, reps); } finally { inputs.free(); }
    }
  }
  for (const rows of perProblem) {
    for (const row of rows) options.report?.(`${describe(row.problem)} · ${row.name}: ${row.rejected ?? `${row.ms.toFixed(3)} ms (${row.method})`}`);
    const agreeing = rows.filter((r) => r.rejected === null);
    if (agreeing.length === 0) throw new Error(`tuneConv3d: no candidate agrees with the default kernel for ${describe(rows[0].problem)} (NaN in its result?)`);
    const best = agreeing.reduce((a, b) => (b.ms < a.ms ? b : a));
    best.chosen = true;
    tuning.setChoice(best.problem, best.candidate);
  }
  return perProblem.flat();
}

export interface TuneConv3dCacheOptions extends TuneConv3dOptions {
  /** the cache's folder (default conv3dCacheDir(): $VOXGRAD_CACHE_DIR, else $XDG_CACHE_HOME/voxgrad, else ~/.cache/voxgrad) */
  cacheDir?: string;
  /** time every problem again instead of taking its cached choice (the new choices replace the cached ones) */
  retune?: boolean;
  /** hears of a cache file that cannot be read or written (default console.warn) */
  warn?: (line: string) => void;
}

export interface TuneConv3dCacheResult {
  /** tuneConv3d's rows for the problems timed now */
  rows: TuneConv3dRow[];
  /** the problems whose choice came from the cache, untimed */
  cached: Conv3dProblem[];
  /** the adapter's cache file */
  file: string;
}

/**
 * tuneConv3d with the choices kept per adapter (cache.ts): a problem with a cached choice takes it untimed
 * (unless `retune`), the others are tuned (with the cached choices in effect, so a step around them runs as it
 * will) and their choices added to the file.
 */
export async function tuneConv3dWithCache(backend: Backend, problems: readonly Conv3dProblem[], options: TuneConv3dCacheOptions = {}): Promise<TuneConv3dCacheResult> {
  const gpu = webgpuBackend(backend, 'tuneConv3dWithCache'), tuning = conv3dTuning(gpu.rt);
  const warn = options.warn ?? ((line: string) => console.warn(line));
  const cache = conv3dChoiceCache(gpu, options.cacheDir);
  const known = new Map(options.retune ? [] : readConv3dChoices(cache, gpu.rt, warn).map((e) => [conv3dProblemKey(e.problem), e.candidate]));
  const cached: Conv3dProblem[] = [], unknown: Conv3dProblem[] = [];
  for (const p of problems) {
    const c = known.get(conv3dProblemKey(p));
    if (c) {
      tuning.setChoice(p, c);
      cached.push(p);
    } else unknown.push(p);
  }
  const rows = unknown.length > 0 ? await tuneConv3d(gpu, unknown, options) : [];
  if (unknown.length > 0) writeConv3dChoices(cache, gpu.rt, rows.filter((r) => r.chosen), warn);
  return { rows, cached, file: cache.file };
}

/**
 * Runs `fn` once, observing the backend's conv3d operations, and returns the distinct problems they were called
 * with and their epilogues (in first-call order; a problem counts as with bias if any of its calls had one, and
 * with the first batch norm epilogue any had), so that tuneConv3d times the kernel variants `fn` runs.
 */
export async function recordConv3dProblems(backend: Backend, fn: () => void | Promise<void>): Promise<Conv3dProblem[]> {
  const tuning = conv3dTuning(webgpuBackend(backend, 'recordConv3dProblems').rt);
  const seen = new Map<string, Conv3dProblem>();
  const outer = tuning.observer;
  tuning.observer = (p, first, end) => {
    outer?.(p, first, end);
    const key = conv3dProblemKey(p), had = seen.get(key);
    if (had) {
      had.bias ||= p.bias;
      if (p.norm) had.norm ??= p.norm;
    } else seen.set(key, p);
  };
  try {
    await fn();
  } finally {
    tuning.observer = outer;
  }
  return [...seen.values()];
}

/** Empties the backend's conv3d choice table (every problem goes back to its default kernel; nothing to do on
 * the cpu backend). */
export function clearConv3dChoices(backend: Backend): void {
  if (backend instanceof WebGPUBackend) conv3dTuning(backend.rt).clearChoices();
}
