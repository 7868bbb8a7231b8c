import type { Conv3dParams, Storage } from '../backend.js';
import { checkConvBias, convBackwardInputGeometry, convBackwardWeightGeometry, convForwardGeometry, convGeometry } from '../geometry.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { gpuBuffer } from '../webgpu/runtime.js';
import { candidateName, conv3dTuning, planFor, type Conv3dOp } from './choice.js';
import { checkBinding, fmt, type HasLimits } from './plan.js';

/**
 * conv3d and its two gradients in WGSL (NCDHW, contiguous float32, groups = 1, PyTorch semantics): the entry
 * points check their operands, ask the runtime's Conv3dTuning for the problem's plan (choice.ts: which
 * kernel, by the forced candidate, the choice table or the defaults) and run it. The kernels and their tiles
 * live in direct, down, gemm, up, wgemm and wgrad.ts, what their plans share in plan.ts,
 * the tuner in tune.ts, the choices it keeps per adapter in cache.ts.
 */

export {
  candidateName, conv3dCandidates, conv3dProblemKey, conv3dTuning,
  type Conv3dCandidate, type Conv3dTuning, type Conv3dOp, type Conv3dProblem,
} from './choice.js';
export { defaultConv3dKnobs, type Conv3dKnobs, type HasLimits } from './plan.js';

function checkF32(s: Storage, what: string): void {
  if (s.dtype !== 'float32') throw new Error(`webgpu conv3d: ${what} must be float32, got ${s.dtype} (use the cpu backend for float64)`);
}

const copyParams = (p: Conv3dParams): Conv3dParams => ({ stride: [...p.stride], padding: [...p.padding], dilation: [...p.dilation] });

export function conv3d(rt: GpuRuntime, x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null, p: Conv3dParams): Storage {
  const g = convForwardGeometry(x, xShape, w, wShape, p);
  checkF32(x, 'input'); checkF32(w, 'weight');
  if (bias) {
    checkF32(bias, 'bias');
    checkConvBias(bias, g, wShape);
  }
  const outLen = g.n * g.co * g.out[0] * g.out[1] * g.out[2];
  checkBinding(rt, x.length, () => `input ${fmt(xShape)}`);
  checkBinding(rt, outLen, () => `output [${g.n}, ${g.co}, ${g.out.join(', ')}]`);
  const tuning = conv3dTuning(rt);
  const plan = tuning.plan('forward', g, bias !== null);
  const first = rt.dispatchCount;
  const out = rt.alloc(outLen, 'float32');
  plan.run(rt, gpuBuffer(x), gpuBuffer(w), bias ? gpuBuffer(bias) : null, out);
  tuning.observer?.({ op: 'forward', xShape: [...xShape], wShape: [...wShape], params: copyParams(p), bias: bias !== null }, first, rt.dispatchCount);
  return out;
}

export function conv3dBackwardInput(rt: GpuRuntime, gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[], xShape: readonly number[], p: Conv3dParams): Storage {
  const g = convBackwardInputGeometry(gy, gyShape, w, wShape, xShape, p);
  checkF32(gy, 'output gradient'); checkF32(w, 'weight');
  const outLen = g.n * g.ci * g.in[0] * g.in[1] * g.in[2];
  checkBinding(rt, gy.length, () => `output gradient ${fmt(gyShape)}`);
  checkBinding(rt, outLen, () => `input gradient ${fmt(xShape)}`);
  const tuning = conv3dTuning(rt);
  const plan = tuning.plan('backwardInput', g, false);
  const first = rt.dispatchCount;
  const out = rt.alloc(outLen, 'float32');
  plan.run(rt, gpuBuffer(gy), gpuBuffer(w), null, out);
  tuning.observer?.({ op: 'backwardInput', xShape: [...xShape], wShape: [...wShape], params: copyParams(p), bias: false }, first, rt.dispatchCount);
  return out;
}

export function conv3dBackwardWeight(rt: GpuRuntime, x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[], wShape: readonly number[], p: Conv3dParams): Storage {
  const g = convBackwardWeightGeometry(x, xShape, gy, gyShape, wShape, p);
  checkF32(x, 'input'); checkF32(gy, 'output gradient');
  checkBinding(rt, x.length, () => `input ${fmt(xShape)}`);
  checkBinding(rt, gy.length, () => `output gradient ${fmt(gyShape)}`);
  const tuning = conv3dTuning(rt);
  const plan = tuning.plan('backwardWeight', g, false);
  const first = rt.dispatchCount;
  const out = rt.alloc(g.co * g.ci * g.k[0] * g.k[1] * g.k[2], 'float32');
  plan.run(rt, gpuBuffer(x), gpuBuffer(gy), null, out);
  tuning.observer?.({ op: 'backwardWeight', xShape: [...xShape], wShape: [...wShape], params: copyParams(p), bias: false }, first, rt.dispatchCount);
  return out;
}

/** One line per kernel the entry point would dispatch for a shape (for benchmarks and reports), and a last line
 * naming the choice table's candidate when the table decided. */
export function conv3dPlan(rt: HasLimits, op: Conv3dOp, xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): string {
  const g = convGeometry(xShape, wShape, p);
  const tuning = conv3dTuning(rt);
  const { c, source } = tuning.choose(op, g);
  const lines = planFor(tuning, op, g, c, false).describe();
  return source === 'tuned' ? `${lines}\ntuned: ${candidateName(c)}` : lines;
}
