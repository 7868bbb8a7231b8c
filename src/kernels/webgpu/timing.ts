import type { Backend } from '../backend.js';
import { WebGPUBackend } from './index.js';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export type TimingMethod = 'timestamps' | 'wall+sync';

/** milliseconds of work queued back to back before the timed runs */
const WARM_MS = 50;

/**
 * Median milliseconds of one run of `run` (which records work on the backend). With timestamp queries: the sum
 * of its dispatches' GPU timestamps, the `reps` runs recorded back to back in one batch; else the wall clock
 * around a sync per run. First, after a run that compiles and one timed to size the rest, about WARM_MS of runs
 * go untimed, queued back to back: a GPU that idles (while the host compiles, or between runs that each wait for
 * a sync) clocks down, and on an H200 kernels timed that way ran up to 5× slower than inside a training step.
 */
export async function timeRuns(backend: Backend, run: () => void, reps: number): Promise<{ ms: number; method: TimingMethod }> {
  run(); // compiles
  await backend.sync();
  const t0 = performance.now();
  run();
  await backend.sync();
  const once = performance.now() - t0;
  const warmRuns = Math.min(1000, Math.ceil(WARM_MS / Math.max(once, 0.01)));
  for (let i = 0; i < warmRuns; i++) run();
  await backend.sync();
  if (backend instanceof WebGPUBackend && backend.rt.hasTimestamps) {
    const { rt } = backend;
    const ends: number[] = [];
    rt.startProfiling();
    const first = rt.dispatchCount;
    for (let r = 0; r < reps; r++) {
      run();
      ends.push(rt.dispatchCount - first);
    }
    const times = await rt.stopProfiling();
    const samples = ends.map((end, r) => times.slice(r === 0 ? 0 : ends[r - 1], end).reduce((s, t) => s + t.ms, 0));
    // quantized timestamps can read 0 for short kernels: then the wall clock is the better measure
    if (median(samples) > 0) return { ms: median(samples), method: 'timestamps' };
  }
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    run();
    await backend.sync();
    samples.push(performance.now() - start);
  }
  return { ms: median(samples), method: 'wall+sync' };
}
