/**
 * cuDNN's benchmark mode for conv3d: several kernels can compute each convolution (conv3dCandidates), and which
 * is fastest depends on the card. tuneConv3d times every candidate of each problem on this device, checks its
 * result against the default kernel's, and records the fastest agreeing one in the backend's choice table
 * (conv3dTuning(rt), choice.ts) that conv3d, conv3dBackwardInput and conv3dBackwardWeight consult.
 * recordConv3dProblems collects the problems a model's training step runs, to tune exactly those.
 *
 *   const problems = await recordConv3dProblems(backend, () => step());
 *   const report = await tuneConv3d(backend, problems, { reps: 5 });
 */
import type { Backend, Storage } from '../backend.js';
import { convGeometry } from '../geometry.js';
import { randomArray } from '../random.js';
import { WebGPUBackend } from '../webgpu/index.js';
import { timeRuns, type TimingMethod } from '../webgpu/timing.js';
import { candidateName, conv3dCandidates, conv3dProblemKey, conv3dTuning, type Conv3dCandidate, type Conv3dProblem } from './webgpu.js';

export interface TuneConv3dOptions {
  /** timed runs per candidate, after one untimed run that compiles it and gives its result (default 5) */
  reps?: number;
  /** called with one line per candidate as it is measured */
  report?: (line: string) => void;
  /** test-only: may change a candidate's result (read back) before it is compared with the default's */
  perturb?: (candidate: Conv3dCandidate, result: Float32Array) => void;
}

export interface TuneConv3dRow {
  problem: Conv3dProblem;
  candidate: Conv3dCandidate;
  name: string;
  /** median GPU milliseconds of one run (NaN when the candidate failed or was rejected) */
  ms: number;
  /** how the time was taken: per-dispatch timestamps (summed over the run's dispatches) or wall clock around a sync */
  method: TimingMethod;
  /** largest |candidate − default| over the result */
  maxAbsDiff: number;
  /** why the candidate cannot be chosen: its result disagrees with the default's, or it failed */
  rejected: string | null;
  chosen: boolean;
}

const describe = (p: Conv3dProblem): string => `${conv3dProblemKey(p)}${p.bias ? ' +bias' : ''}`;

function webgpuRuntime(backend: Backend, what: string): WebGPUBackend['rt'] {
  if (!(backend instanceof WebGPUBackend)) throw new Error(`${what}: needs the WebGPU backend, got ${backend.description}`);
  return backend.rt;
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

/** Random inputs of a problem on the backend, and the operation on them (returns a storage the caller frees). */
function setupProblem(backend: Backend, p: Conv3dProblem, seed: number): { op: () => Storage; free: () => void } {
  const g = convGeometry(p.xShape, p.wShape, p.params);
  const gyShape = [g.n, g.co, ...g.out];
  const owned: Storage[] = [];
  const input = (shape: readonly number[], s: number): Storage => {
    const st = backend.upload(randomArray(shape.reduce((a, b) => a * b, 1), s), 'float32');
    owned.push(st);
    return st;
  };
  const free = (): void => { for (const s of owned) backend.free(s); };
  if (p.op === 'forward') {
    const x = input(p.xShape, seed), w = input(p.wShape, seed + 1), b = p.bias ? input([g.co], seed + 2) : null;
    return { op: () => backend.conv3d(x, p.xShape, w, p.wShape, b, p.params), free };
  }
  if (p.op === 'backwardInput') {
    const gy = input(gyShape, seed), w = input(p.wShape, seed + 1);
    return { op: () => backend.conv3dBackwardInput(gy, gyShape, w, p.wShape, p.xShape, p.params), free };
  }
  const x = input(p.xShape, seed), gy = input(gyShape, seed + 1);
  return { op: () => backend.conv3dBackwardWeight(x, p.xShape, gy, gyShape, p.wShape, p.params), free };
}


/**
 * For each problem: random inputs, then every candidate run once (compiling it; its result is compared with
 * the default candidate's, and a candidate that disagrees beyond the conv3d tests' tolerance or fails is
 * rejected, never chosen) and timed over `reps` runs; the fastest agreeing candidate goes into the choice
 * table of this backend. Returns one row per (problem, candidate).
 */
export async function tuneConv3d(backend: Backend, problems: readonly Conv3dProblem[], options: TuneConv3dOptions = {}): Promise<TuneConv3dRow[]> {
  const rt = webgpuRuntime(backend, 'tuneConv3d'), tuning = conv3dTuning(rt);
  const reps = options.reps ?? 5;
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`tuneConv3d: reps must be a positive integer, got ${reps}`);
  const rows: TuneConv3dRow[] = [];
  for (const [i, problem] of problems.entries()) {
    const candidates = conv3dCandidates(rt, problem.op, problem.xShape, problem.wShape, problem.params);
    const inputs = setupProblem(backend, problem, 1000 + 10 * i);
    const atol = tolerance(problem);
    const mine: TuneConv3dRow[] = [];
    let reference: Float32Array | null = null;
    try {
      for (const candidate of candidates) {
        const row: TuneConv3dRow = { problem, candidate, name: candidateName(candidate), ms: NaN, method: 'wall+sync', maxAbsDiff: NaN, rejected: null, chosen: false };
        mine.push(row);
        const run = (): Storage => tuning.withCandidate(candidate, inputs.op);
        try {
          const out = run();
          const result = (await backend.read(out)) as Float32Array;
          backend.free(out);
          options.perturb?.(candidate, result);
          if (reference === null) reference = result; // the default candidate comes first
          let worst = 0, bad = false;
          for (let k = 0; k < result.length; k++) {
            const d = Math.abs(result[k] - reference[k]);
            if (!(d <= atol + 1e-4 * Math.abs(reference[k]))) bad = true;
            if (!(d <= worst)) worst = d; // NaN propagates
          }
          row.maxAbsDiff = worst;
          if (bad) { row.rejected = `result differs from the default's by up to ${worst.toPrecision(3)} (tolerance ${atol.toExponential(2)} + 1e-4·|value|)`; continue; }
          Object.assign(row, await timeRuns(backend, () => backend.free(run()), reps));
        } catch (e) {
          row.rejected = `failed: ${(e as Error).message.split('\n')[0]}`;
          if (reference === null) throw new Error(`tuneConv3d: the default kernel failed for ${describe(problem)}: ${(e as Error).message}`);
        } finally {
          options.report?.(`${describe(problem)} · ${row.name}: ${row.rejected ?? `${row.ms.toFixed(3)} ms (${row.method})`}`);
        }
      }
    } finally {
      inputs.free();
    }
    const agreeing = mine.filter((r) => r.rejected === null);
    if (agreeing.length === 0) throw new Error(`tuneConv3d: no candidate agrees with the default kernel for ${describe(problem)} (NaN in its result?)`);
    const best = agreeing.reduce((a, b) => (b.ms < a.ms ? b : a));
    best.chosen = true;
    tuning.setChoice(problem, best.candidate);
    rows.push(...mine);
  }
  return rows;
}

/**
 * Runs `fn` once, observing the backend's conv3d operations, and returns the distinct problems they were called
 * with (in first-call order; a forward counts as with bias if any of its calls had one).
 */
export async function recordConv3dProblems(backend: Backend, fn: () => void | Promise<void>): Promise<Conv3dProblem[]> {
  const tuning = conv3dTuning(webgpuRuntime(backend, 'recordConv3dProblems'));
  const seen = new Map<string, Conv3dProblem>();
  const outer = tuning.observer;
  tuning.observer = (p) => {
    outer?.(p);
    const key = conv3dProblemKey(p), had = seen.get(key);
    if (had) had.bias ||= p.bias;
    else seen.set(key, p);
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
