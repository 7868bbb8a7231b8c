import type { Backend, BackendName } from './backend.js';
import { CpuBackend } from './cpu/index.js';
import { acquireDevice, debianPackagesHint, type AcquireOptions } from './webgpu/device.js';
import { WebGPUBackend } from './webgpu/index.js';

export * from './backend.js';
export { CpuBackend } from './cpu/index.js';
export { WebGPUBackend } from './webgpu/index.js';
export {
  candidateName, conv3dCandidates, conv3dPlan, conv3dProblemKey, conv3dTuning,
  type Conv3dCandidate, type Conv3dTuning, type Conv3dKnobs, type Conv3dOp, type Conv3dProblem,
} from './conv3d/webgpu.js';
export {
  clearConv3dChoices, recordConv3dProblems, tuneConv3d, tuneConv3dWithCache,
  type TuneConv3dCacheOptions, type TuneConv3dCacheResult, type TuneConv3dOptions, type TuneConv3dRow, type TuneTimingMethod,
} from './conv3d/tune.js';
export { conv3dCacheDir } from './conv3d/cache.js';
export { median, timeRuns, type TimingMethod } from './webgpu/timing.js';

export type BackendChoice = 'auto' | BackendName;

export interface CreateBackendOptions extends AcquireOptions {
  /** 'auto' (default, or the environment variable VOXGRAD_BACKEND): WebGPU when an adapter exists, else cpu */
  backend?: BackendChoice;
  /** called with the one-line report of what was chosen (default: nothing is printed, except the warning of
   * an 'auto' fallback to the cpu backend, which then goes to stderr) */
  report?: (line: string) => void;
}

export function parseBackendChoice(value: string | undefined, source: string): BackendChoice {
  const v = (value ?? 'auto').trim().toLowerCase();
  if (v === 'auto' || v === 'webgpu' || v === 'cpu') return v;
  throw new Error(`${source}: unknown backend '${value}'; valid: auto, webgpu, cpu`);
}

/** Creates a backend as the option, else VOXGRAD_BACKEND, else 'auto' asks. */
export async function createBackend(options: CreateBackendOptions = {}): Promise<Backend> {
  const choice = options.backend ?? parseBackendChoice(process.env.VOXGRAD_BACKEND, 'VOXGRAD_BACKEND');
  const report = options.report ?? (() => {});
  if (choice === 'cpu') {
    const b = new CpuBackend();
    report(`voxgrad backend: ${b.description}`);
    return b;
  }
  const acquired = await acquireDevice(options);
  if (!acquired) {
    if (choice === 'webgpu') throw new Error(`webgpu: no WebGPU adapter found; ${debianPackagesHint}, or use --backend cpu`);
    const b = new CpuBackend();
    // never silent: without a report callback the warning goes to stderr
    (options.report ?? console.warn)(`voxgrad backend: ${b.description} (warning: no WebGPU adapter; ${debianPackagesHint})`);
    return b;
  }
  const b = new WebGPUBackend(acquired);
  report(`voxgrad backend: ${b.description}`);
  return b;
}
