import type { Conv3dParams, ConvNormEpilogue, Storage } from '../backend.js';
import { checkConvBias, convBackwardInputGeometry, convBackwardWeightGeometry, convForwardGeometry, convGeometry, type ConvGeometry } from '../geometry.js';
import { sizeOf } from '../layout.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { SMI_MASK, gpuBuffer, mixNumbers, sameNumbers } from '../webgpu/runtime.js';
import { candidateName, conv3dTuning, planFor, type Conv3dOp, type Conv3dProblem } from './choice.js';
import { checkConvEpilogue, checkConvEpilogueBias } from './epilogue.js';
import { biasEpilogue, checkBinding, checkF32, fmt, noEpilogue, type Epilogue, type HasLimits } from './plan.js';

/**
 * conv3d and its two gradients in WGSL (NCDHW, contiguous float32, groups = 1, PyTorch semantics): the entry
 * points check their operands, ask the runtime's Conv3dTuning for the problem's plan (choice.ts: which
 * kernel, by the forced candidate, the choice table or the defaults) and run it. The kernels and their tiles
 * live in direct, down, gemm, up, wgemm and wgrad.ts, what their plans share in plan.ts,
 * the tuner in tune.ts, the choices it keeps per adapter in cache.ts.
 */

export {
  candidateName, conv3dCandidates, conv3dProblemKey, conv3dTuning,
  type Conv3dCandidate, type Conv3dTuning, type Conv3dOp, type Conv3dProblem, type Conv3dProblemNorm,
} from './choice.js';
export { defaultConv3dKnobs, type Conv3dKnobs, type HasLimits } from './plan.js';

const copyParams = (p: Conv3dParams): Conv3dParams => ({ stride: [...p.stride], padding: [...p.padding], dilation: [...p.dilation] });

/** a validated geometry, what it was validated for, and the next one whose key has the same hash */
interface CachedGeometry { op: Conv3dOp; shapes: readonly (readonly number[])[]; p: Conv3dParams; g: ConvGeometry; next: CachedGeometry | null }

/**
 * The geometries of the convolutions seen, by the hash of op, shapes and parameters: validating them (a pure
 * function of those) allocated more per call than the rest of an entry point's host code. The storages' lengths
 * and dtypes are checked on every call.
 */
let geometries = new Map<number, CachedGeometry>();
let geometryCount = 0;
/** the cache starts over past this many (shapes that keep changing would grow it) */
const MAX_GEOMETRIES = 4096;
const OPS: readonly Conv3dOp[] = ['forward', 'backwardInput', 'backwardWeight'];

function sameShapes(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): boolean {
  for (let i = 0; i < a.length; i++) if (!sameNumbers(a[i]!, b[i]!)) return false;
  return true;
}

/**
 * The geometry of a convolution: `validate`'s (which checks the shapes, parameters and storages) the first time
 * these shapes and parameters are seen, else the cached one after checking the storages against their shapes
 * (`validate` again, to throw its message, when one is too short).
 */
function geometryOf(op: Conv3dOp, shapes: readonly (readonly number[])[], storages: readonly Storage[], p: Conv3dParams,
  validate: () => ConvGeometry): ConvGeometry {
  // (not arrays: validate names what is wrong)
  if (!Array.isArray(p.stride) || !Array.isArray(p.padding) || !Array.isArray(p.dilation)) return validate();
  let hash = mixNumbers(mixNumbers(mixNumbers(OPS.indexOf(op), p.stride), p.padding), p.dilation);
  for (const shape of shapes) hash = mixNumbers(hash, shape);
  hash &= SMI_MASK;
  let e = geometries.get(hash) ?? null;
  while (e && !(e.op === op && sameNumbers(e.p.stride, p.stride) && sameNumbers(e.p.padding, p.padding)
    && sameNumbers(e.p.dilation, p.dilation) && sameShapes(e.shapes, shapes))) e = e.next;
  if (e) {
    let fits = true;
    for (let i = 0; i < storages.length; i++) fits &&= storages[i]!.length >= sizeOf(shapes[i]!);
    return fits ? e.g : validate();
  }
  const g = validate();
  if (geometryCount >= MAX_GEOMETRIES) { geometries = new Map(); geometryCount = 0; }
  geometries.set(hash, { op, shapes: shapes.map((s) => [...s]), p: copyParams(p), g, next: geometries.get(hash) ?? null });
  geometryCount++;
  return g;
}

/** the epilogues with a batch norm by flags (conv bias, norm weight, norm bias, relu: bits 0–3) and eps, made once each */
const normEpilogues = new Map<number, Epilogue>();
const f32Bits = new Uint32Array(1), f32Value = new Float32Array(f32Bits.buffer);

const NO_EPILOGUE: { e: Epilogue; operands: GPUBuffer[] } = Object.freeze({ e: noEpilogue, operands: [] });

/** The epilogue of a conv bias and a ConvNormEpilogue (checked for `channels` of x's dtype), and its operands in binding order. */
function epilogueOf(what: string, bias: Storage | null, epilogue: ConvNormEpilogue | null, channels: number): { e: Epilogue; operands: GPUBuffer[] } {
  if (!epilogue) return bias ? { e: biasEpilogue, operands: [gpuBuffer(bias)] } : NO_EPILOGUE;
  const { norm, relu } = epilogue;
  checkConvEpilogue(what, epilogue, channels, 'float32');
  f32Value[0] = norm.eps;
  const epsBits = f32Bits[0]!;
  const flags = (bias ? 1 : 0) + (norm.weight ? 2 : 0) + (norm.bias ? 4 : 0) + (relu ? 8 : 0);
  const id = flags * 2 ** 32 + epsBits;
  let e = normEpilogues.get(id);
  if (!e) {
    e = Object.freeze({ bias: bias !== null, norm: Object.freeze({ weight: norm.weight !== null, bias: norm.bias !== null, epsBits }), relu });
    normEpilogues.set(id, e);
  }
  const operands = [norm.mean, norm.variance, ...(norm.weight ? [norm.weight] : []), ...(norm.bias ? [norm.bias] : [])].map(gpuBuffer);
  return { e, operands: bias ? [gpuBuffer(bias), ...operands] : operands };
}

/** the problem the tuner's observer hears of: the op's shapes and the epilogue its kernels applied, so that a replay runs the same variant */
function observed(op: Conv3dOp, xShape: readonly number[], wShape: readonly number[], p: Conv3dParams, bias: Storage | null,
  epilogue: ConvNormEpilogue | null): Conv3dProblem {
  const problem: Conv3dProblem = { op, xShape: [...xShape], wShape: [...wShape], params: copyParams(p), bias: bias !== null };
  if (epilogue) problem.norm = { weight: epilogue.norm.weight !== null, bias: epilogue.norm.bias !== null, eps: epilogue.norm.eps, relu: epilogue.relu };
  return problem;
}

export function conv3d(rt: GpuRuntime, x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null, p: Conv3dParams,
  epilogue: ConvNormEpilogue | null = null): Storage {
  const g = geometryOf('forward', [xShape, wShape], [x, w], p, () => convForwardGeometry(x, xShape, w, wShape, p));
  checkF32(x, 'input'); checkF32(w, 'weight');
  if (bias) {
    checkF32(bias, 'bias');
    checkConvBias(bias, g, wShape);
  }
  const outLen = g.n * g.co * g.out[0] * g.out[1] * g.out[2];
  checkBinding(rt, x.length, () => `input ${fmt(xShape)}`);
  checkBinding(rt, outLen, () => `output [${g.n}, ${g.co}, ${g.out.join(', ')}]`);
  const { e, operands } = epilogueOf('webgpu conv3d', bias, epilogue, g.co);
  const tuning = conv3dTuning(rt);
  const plan = tuning.plan('forward', g, e);
  const first = rt.dispatchCount;
  const out = rt.alloc(outLen, 'float32');
  plan.run(rt, gpuBuffer(x), gpuBuffer(w), operands, out);
  tuning.observer?.(observed('forward', xShape, wShape, p, bias, epilogue), first, rt.dispatchCount);
  return out;
}

export function conv3dBackwardInput(rt: GpuRuntime, gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[], xShape: readonly number[], p: Conv3dParams,
  bias: Storage | null = null, epilogue: ConvNormEpilogue | null = null): Storage {
  const g = geometryOf('backwardInput', [gyShape, wShape, xShape], [gy, w], p,
    () => convBackwardInputGeometry(gy, gyShape, w, wShape, xShape, p));
  checkF32(gy, 'output gradient'); checkF32(w, 'weight');
  if (bias) {
    checkF32(bias, 'bias');
    checkConvEpilogueBias('webgpu conv3dBackwardInput', bias, g.ci);
  }
  const outLen = g.n * g.ci * g.in[0] * g.in[1] * g.in[2];
  checkBinding(rt, gy.length, () => `output gradient ${fmt(gyShape)}`);
  checkBinding(rt, outLen, () => `input gradient ${fmt(xShape)}`);
  const { e, operands } = epilogueOf('webgpu conv3dBackwardInput', bias, epilogue, g.ci);
  const tuning = conv3dTuning(rt);
  const plan = tuning.plan('backwardInput', g, e);
  const first = rt.dispatchCount;
  const out = rt.alloc(outLen, 'float32');
  plan.run(rt, gpuBuffer(gy), gpuBuffer(w), operands, out);
  tuning.observer?.(observed('backwardInput', xShape, wShape, p, bias, epilogue), first, rt.dispatchCount);
  return out;
}

export function conv3dBackwardWeight(rt: GpuRuntime, x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[], wShape: readonly number[], p: Conv3dParams): Storage {
  const g = geometryOf('backwardWeight', [xShape, gyShape, wShape], [x, gy], p,
    () => convBackwardWeightGeometry(x, xShape, gy, gyShape, wShape, p));
  checkF32(x, 'input'); checkF32(gy, 'output gradient');
  checkBinding(rt, x.length, () => `input ${fmt(xShape)}`);
  checkBinding(rt, gy.length, () => `output gradient ${fmt(gyShape)}`);
  const tuning = conv3dTuning(rt);
  const plan = tuning.plan('backwardWeight', g, noEpilogue);
  const first = rt.dispatchCount;
  const out = rt.alloc(g.co * g.ci * g.k[0] * g.k[1] * g.k[2], 'float32');
  plan.run(rt, gpuBuffer(x), gpuBuffer(gy), [], out);
  tuning.observer?.(observed('backwardWeight', xShape, wShape, p, null, null), first, rt.dispatchCount);
  return out;
}

/** One line per kernel the entry point would dispatch for a shape (for benchmarks and reports), and a last line
 * naming the choice table's candidate when the table decided. */
export function conv3dPlan(rt: HasLimits, op: Conv3dOp, xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): string {
  const g = convGeometry(xShape, wShape, p);
  const tuning = conv3dTuning(rt);
  const { c, source } = tuning.choose(op, g);
  const lines = planFor(tuning, op, g, c, noEpilogue).describe();
  return source === 'tuned' ? `${lines}\ntuned: ${candidateName(c)}` : lines;
}
