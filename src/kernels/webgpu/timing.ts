import type { Backend } from '../backend.js';
import { WebGPUBackend } from './index.js';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export type TimingMethod = 'timestamps' | 'wall+sync';

/** wall-clock milliseconds of back-to-back runs before the timed ones */
const WARM_MS = 50;

/**
 * Median milliseconds of one run of `run` (which records work on the backend): the sum of its dispatches' GPU
 * timestamps where the adapter has timestamp queries, else the wall clock around a sync. First `run` goes
 * untimed until WARM_MS have passed (at least once): it compiles, and a GPU left idle while the host compiled
 * clocks down — on an H200 the kernels timed right after a compile ran about 5× slower than in a training step.
 */
export async function timeRuns(backend: Backend, run: () => void, reps: number): Promise<{ ms: number; method: TimingMethod }> {
  const warm0 = performance.now();
  do {
    run();
    await backend.sync();
  } while (performance.now() - warm0 < WARM_MS);
  if (backend instanceof WebGPUBackend && backend.rt.hasTimestamps) {
    const { rt } = backend;
    const samples: number[] = [];
    for (let r = 0; r < reps; r++) {
      rt.startProfiling();
      run();
      samples.push((await rt.stopProfiling()).reduce((s, t) => s + t.ms, 0));
    }
    // quantized timestamps can read 0 for short kernels: then the wall clock is the better measure
    if (median(samples) > 0) return { ms: median(samples), method: 'timestamps' };
  }
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    run();
    await backend.sync();
    samples.push(performance.now() - t0);
  }
  return { ms: median(samples), method: 'wall+sync' };
}
