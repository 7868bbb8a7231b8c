import type { Backend, DType, ReduceOp, Storage, View } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { fill } from '../elementwise/webgpu.js';
import { contiguousStrides, sizeOf } from '../layout.js';
import type { GpuRuntime, Kernel } from '../webgpu/runtime.js';
import { GpuStorage, Params, SMI_MASK, gpuBuffer, grid1d, mixHash, mixNumbers, sameNumbers, wgslIsNaN, wgslType } from '../webgpu/runtime.js';

/**
 * Reductions (sum, max, min) and argmax over any strided view and any set of axes.
 *
 * The kept axes and the reduced axes are each collapsed (size-1 axes dropped, adjacent axes merged where the
 * strides allow; the reduced axes are first sorted by stride so that the most contiguous one is innermost).
 * The reduction space is then (outer reduced index q) × (inner reduced index l), walked by each invocation
 * with a stride of WY without any per-element division, four positions at a time so that four independent
 * loads are in flight per invocation (what a memory-bound reduction needs to approach the bandwidth). One workgroup of 256 invocations covers WX outputs ×
 * WY reduction lanes: every lane accumulates its share serially in registers, then the WY partials are
 * combined by a tree in workgroup memory.
 *  - reduction-major (the reduced axis is the contiguous one, e.g. row sums): the lanes of one output are
 *    adjacent invocations, so a warp reads one row in one transaction;
 *  - kept-major (the kept axis is the contiguous one, e.g. column sums, softmax over channels): adjacent
 *    invocations take adjacent outputs, and WY shrinks to 1 when there are enough outputs to fill the GPU.
 * When there are few output blocks and a long reduction (sum over everything, batch-norm statistics: 16
 * outputs × 4·10⁶ elements), the reduction is split into chunks: pass one writes one partial per (output,
 * chunk), pass two reduces the partials (contiguous [outputs, chunks], reduced along its last axis).
 * max/min propagate NaN (tested by bits, robust to fast-math); argmax carries (value, index) pairs and keeps
 * the first index on ties and the first NaN, like the cpu oracle.
 */

const WG = 256;
const MAX_RANK = 8;
/** aim for about this many invocations before splitting a reduction into chunks */
const TARGET_GROUPS = 2048;
/** below this many elements per lane, a chunk is not worth a second pass */
const MIN_PER_LANE = 32;

type Mode = ReduceOp | 'argmax';
type T = 'f32' | 'i32';

interface Plan {
  nOut: number;
  /** total reduction length, inner length and stride */
  R: number; L: number; sL: number;
  offset: number;
  kShape: number[]; kStrides: number[];
  qShape: number[]; qStrides: number[];
}

function pow2ceil(n: number): number { return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)); }

/** merges adjacent (size, stride) pairs in order where the outer one steps over the whole inner one */
function merge(dims: { size: number; stride: number }[]): { shape: number[]; strides: number[] } {
  const shape: number[] = [], strides: number[] = [];
  for (const { size, stride } of dims) {
    if (size === 1) continue;
    const last = shape.length - 1;
    if (last >= 0 && strides[last] === stride * size) { shape[last] *= size; strides[last] = stride; }
    else { shape.push(size); strides.push(stride); }
  }
  return { shape, strides };
}

function plan(x: View, axes: readonly number[]): Plan {
  const rank = x.shape.length;
  for (const a of axes) {
    if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`webgpu reduce: axis ${a} out of range for rank ${rank}`);
  }
  const reduced = new Set(axes);
  const keptDims = x.shape.map((size, d) => ({ size, stride: x.strides[d], d })).filter((e) => !reduced.has(e.d));
  const redDims = x.shape.map((size, d) => ({ size, stride: x.strides[d], d })).filter((e) => reduced.has(e.d))
    .sort((a, b) => b.stride - a.stride || a.d - b.d);
  const k = merge(keptDims), r = merge(redDims);
  if (k.shape.length > MAX_RANK || r.shape.length > MAX_RANK + 1) {
    throw new Error(`webgpu reduce: rank too high after merging dimensions (kept ${k.shape.length}, reduced ${r.shape.length})`);
  }
  const L = r.shape.length ? r.shape[r.shape.length - 1] : 1;
  const sL = r.strides.length ? r.strides[r.strides.length - 1] : 0;
  return {
    nOut: sizeOf(keptDims.map((e) => e.size)), R: sizeOf(redDims.map((e) => e.size)), L, sL, offset: x.offset,
    kShape: k.shape, kStrides: k.strides, qShape: r.shape.slice(0, -1), qStrides: r.strides.slice(0, -1),
  };
}

/** WGSL: offset of flat index `v` in a compile-time-rank shape held in the uniform (shape, stride arrays) */
function decode(name: string, rank: number, shape: string, stride: string): string {
  const at = (arr: string, d: number) => `P.${arr}[${d >> 2}].${'xyzw'[d & 3]}`;
  let body = `  var rest = ${name};\n  var off = 0u;\n`;
  for (let d = rank - 1; d >= 1; d--) {
    body += `  off += (rest % ${at(shape, d)}) * ${at(stride, d)};\n  rest = rest / ${at(shape, d)};\n`;
  }
  if (rank >= 1) body += `  off += rest * ${at(stride, 0)};\n`;
  return `${body}  return off;\n`;
}

function identity(mode: Mode, t: T): string {
  if (mode === 'sum') return `${t}(0)`;
  const max = mode === 'max' || mode === 'argmax';
  if (t === 'i32') return max ? 'bitcast<i32>(0x80000000u)' : 'i32(0x7fffffff)';
  return max ? 'inf_bits(0xff800000u)' : 'inf_bits(0x7f800000u)';
}

function combine(mode: ReduceOp, t: T): string {
  if (mode === 'sum') return 'a + b';
  if (t === 'i32') return `${mode}(a, b)`;
  return `select(select(${mode}(a, b), b, is_nan(b)), a, is_nan(a))`;
}

function betterFn(t: T): string {
  if (t === 'i32') return 'return bv > av || (bv == av && bi < ai);';
  return `let an = is_nan(av);
  let bn = is_nan(bv);
  if (an || bn) { return bn && (!an || bi < ai); }
  return bv > av || (bv == av && bi < ai);`;
}

interface Shape { mode: Mode; t: T; wx: number; wy: number; reductionMajor: boolean; kRank: number; qRank: number; indexInput: boolean }

function source(s: Shape): string {
  const { mode, t, wx, wy, reductionMajor, kRank, qRank, indexInput } = s;
  const arg = mode === 'argmax';
  let b = 0;
  const bindings = [`@group(0) @binding(${b++}) var<storage, read> x: array<${t}>;`];
  if (indexInput) bindings.push(`@group(0) @binding(${b++}) var<storage, read> xi: array<i32>;`);
  bindings.push(`@group(0) @binding(${b++}) var<storage, read_write> out: array<${t}>;`);
  if (arg) bindings.push(`@group(0) @binding(${b++}) var<storage, read_write> outi: array<i32>;`);
  const uniformBinding = b;
  // lane layout: reduction-major → lanes of one output adjacent; kept-major → outputs adjacent
  const lanes = reductionMajor
    ? `let ty = lid.x % ${wy}u;\n  let tx = lid.x / ${wy}u;\n  let si = tx * ${wy}u + ty;`
    : `let tx = lid.x % ${wx}u;\n  let ty = lid.x / ${wx}u;\n  let si = ty * ${wx}u + tx;`;
  const partnerStride = reductionMajor ? 1 : wx;
  const qOffset = qRank === 0 ? '0u' : qRank === 1 ? 'q * P.qst[0].x' : 'q_offset(q)';
  const step = qRank >= 2
    ? `if (q != qlast) { qo = q_offset(q); qlast = q; }`
    : `qo = ${qOffset};`;
  // fold value v (at position `at`, reduction index `rr`) into the accumulator
  const fold = (v: string, at: string, rr: string) => (arg
    ? `{ let vi = ${indexInput ? `xi[${at}]` : `i32(${rr})`};\n        if (better(acc, acci, ${v}, vi)) { acc = ${v}; acci = vi; } }`
    : `{ let a = acc;\n        let b = ${v};\n        acc = ${combine(mode as ReduceOp, t)}; }`);
  const advance = `r += ${wy}u;
      l += P.stepL;
      q += P.stepQ;
      if (l >= P.L) { l -= P.L; q += 1u; }
      ${step}`;
  // four positions first, then four independent loads in flight, then the folds in order
  const UNROLL = 4;
  let unrolled = '';
  for (let u = 0; u < UNROLL; u++) unrolled += `      let at${u} = base + qo + l * P.sL;\n      let r${u} = r;\n      ${advance}\n`;
  for (let u = 0; u < UNROLL; u++) unrolled += `      let v${u} = x[at${u}];\n`;
  for (let u = 0; u < UNROLL; u++) unrolled += `      ${fold(`v${u}`, `at${u}`, `r${u}`)}\n`;
  let tree = '';
  for (let h = wy / 2; h >= 1; h /= 2) {
    const partner = `si + ${h * partnerStride}u`;
    tree += arg
      ? `  if (ty < ${h}u) {
    if (better(sh[si], shi[si], sh[${partner}], shi[${partner}])) { sh[si] = sh[${partner}]; shi[si] = shi[${partner}]; }
  }
  workgroupBarrier();\n`
      : `  if (ty < ${h}u) { let a = sh[si];\n    let b = sh[${partner}];\n    sh[si] = ${combine(mode as ReduceOp, t)}; }
  workgroupBarrier();\n`;
  }
  return /* wgsl */ `
struct Params {
  nOut: u32, R: u32, L: u32, sL: u32,
  chunkLen: u32, chunks: u32, stepQ: u32, stepL: u32,
  offset: u32, blocks: u32, pad0: u32, pad1: u32,
  ks: array<vec4<u32>, 2>, kst: array<vec4<u32>, 2>,
  qs: array<vec4<u32>, 2>, qst: array<vec4<u32>, 2>,
}
${bindings.join('\n')}
@group(0) @binding(${uniformBinding}) var<uniform> P: Params;
var<workgroup> sh: array<${t}, ${WG}>;
${arg ? `var<workgroup> shi: array<i32, ${WG}>;` : ''}

fn is_nan(v: f32) -> bool { return ${wgslIsNaN('v')}; }
fn inf_bits(bits: u32) -> f32 { var b = bits; return bitcast<f32>(b); }
fn k_offset(o: u32) -> u32 {
${decode('o', kRank, 'ks', 'kst')}}
fn q_offset(q: u32) -> u32 {
${decode('q', qRank, 'qs', 'qst')}}
${arg ? `fn better(av: ${t}, ai: i32, bv: ${t}, bi: i32) -> bool {\n  ${betterFn(t)}\n}` : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = wid.x + wid.y * nwg.x;
  let block = g % P.blocks;
  let chunk = g / P.blocks;
  ${lanes}
  let o = block * ${wx}u + tx;
  let valid = o < P.nOut && chunk < P.chunks;
  var acc = ${identity(mode, t)};
  ${arg ? 'var acci = i32(0x7fffffff);' : ''}
  if (valid) {
    let base = P.offset + k_offset(o);
    let r0 = chunk * P.chunkLen + ty;
    let r_end = min(P.R, r0 - ty + P.chunkLen);
    var r = r0;
    var q = r0 / P.L;
    var l = r0 % P.L;
    var qo = ${qRank >= 2 ? 'q_offset(q)' : qOffset};
    ${qRank >= 2 ? 'var qlast = q;' : ''}
    while (r + ${(UNROLL - 1) * wy}u < r_end) {
${unrolled}    }
    while (r < r_end) {
      let at = base + qo + l * P.sL;
      ${fold('x[at]', 'at', 'r')}
      ${advance}
    }
  }
  sh[si] = acc;
  ${arg ? 'shi[si] = acci;' : ''}
  workgroupBarrier();
${tree}  if (ty == 0u && valid) {
    out[o * P.chunks + chunk] = sh[si];
    ${arg ? 'outi[o * P.chunks + chunk] = shi[si];' : ''}
  }
}`;
}

interface Result { values: GpuStorage; index: GpuStorage | null }

/** Lane layout and chunking of a reduction (exported so that tests can check which path a shape takes). */
export function reduceLayout(x: View, axes: readonly number[]): ReturnType<typeof layoutOf> {
  return layoutOf(plan(x, axes));
}

function layoutOf(p: Plan): { wx: number; wy: number; reductionMajor: boolean; chunks: number; chunkLen: number } {
  const sK = p.kStrides.length ? p.kStrides[p.kStrides.length - 1] : 0;
  const cost = (s: number) => (s === 0 ? Infinity : s);
  const reductionMajor = p.kShape.length === 0 || (p.R > 1 && cost(p.sL) <= cost(sK));
  let wx: number, wy: number;
  if (reductionMajor) {
    wy = Math.min(WG, pow2ceil(p.R));
    while (wy > 32 && p.nOut * wy > 1 << 20) wy /= 2;
  } else {
    const wx0 = Math.min(64, pow2ceil(p.nOut));
    wy = Math.min(WG / wx0, pow2ceil(p.R));
    while (wy > 1 && p.nOut * wy > 1 << 20) wy /= 2;
  }
  wx = WG / wy;
  const blocks = Math.ceil(p.nOut / wx);
  let chunks = 1, chunkLen = Math.max(p.R, 1);
  if (blocks < TARGET_GROUPS / 2 && p.R >= 2 * wy * MIN_PER_LANE) {
    const want = Math.min(Math.ceil(TARGET_GROUPS / blocks), Math.floor(p.R / (wy * MIN_PER_LANE)));
    if (want > 1) {
      chunkLen = Math.ceil(p.R / want / wy) * wy;
      chunks = Math.ceil(p.R / chunkLen);
    }
  }
  return { wx, wy, reductionMajor, chunks, chunkLen };
}

/** One reduction's plan and dispatch (its kernel, parameters and workgroups; null when nothing is reduced). */
interface Recipe { p: Plan; dispatch: { chunks: number; kernel: Kernel; params: ArrayBuffer; groups: [number, number] } | null }

/** a cached recipe with what it was made for, and the next one whose key has the same hash */
interface CachedRecipe {
  mode: Mode; dtype: DType; shape: readonly number[]; strides: readonly number[]; offset: number; axes: readonly number[];
  indexInput: boolean; recipe: Recipe; next: CachedRecipe | null;
}

/**
 * per runtime: the recipes of the reductions seen (a training step repeats its own), by the hash of mode, dtype,
 * view and axes (numeric keys: formatting a string key per call cost more than the lookup)
 */
const recipes = new WeakMap<GpuRuntime, { byHash: Map<number, CachedRecipe>; count: number }>();
/** the recipe cache starts over past this many (shapes that keep changing would grow it) */
const MAX_RECIPES = 4096;

const MODES: readonly Mode[] = ['sum', 'max', 'min', 'argmax'];
const DTYPES: readonly DType[] = ['float32', 'int32', 'float64'];

function recipe(rt: GpuRuntime, mode: Mode, x: View, axes: readonly number[], indexInput: boolean): Recipe {
  let cache = recipes.get(rt);
  if (!cache) { cache = { byHash: new Map(), count: 0 }; recipes.set(rt, cache); }
  const dtype = x.storage.dtype;
  let hash = mixHash(mixHash(MODES.indexOf(mode), DTYPES.indexOf(dtype)), x.offset);
  hash = mixNumbers(mixNumbers(mixNumbers(indexInput ? hash : ~hash, x.shape), x.strides), axes) & SMI_MASK;
  for (let e = cache.byHash.get(hash) ?? null; e; e = e.next) {
    if (e.mode === mode && e.dtype === dtype && e.offset === x.offset && e.indexInput === indexInput
      && sameNumbers(e.shape, x.shape) && sameNumbers(e.strides, x.strides) && sameNumbers(e.axes, axes)) return e.recipe;
  }
  const t = wgslType(x.storage.dtype);
  const p = plan(x, axes);
  if (p.nOut === 0 || p.R === 0) return { p, dispatch: null };
  const { wx, wy, reductionMajor, chunks, chunkLen } = layoutOf(p);
  const blocks = Math.ceil(p.nOut / wx);
  const shape: Shape = { mode, t, wx, wy, reductionMajor, kRank: p.kShape.length, qRank: p.qShape.length, indexInput };
  const kernelKey = `red:${mode}:${t}:${wx}x${wy}:${reductionMajor ? 'r' : 'k'}:${shape.kRank}:${shape.qRank}:${shape.indexInput ? 'i' : ''}`;
  const kernel = rt.kernel(kernelKey, () => source(shape), 2 + (mode === 'argmax' ? 1 : 0) + (indexInput ? 1 : 0));
  const params = new Params()
    .u32(p.nOut, p.R, p.L, p.sL, chunkLen, chunks, Math.floor(wy / p.L), wy % p.L, p.offset, blocks, 0, 0)
    .vec4s(p.kShape, 2).vec4s(p.kStrides, 2).vec4s(p.qShape, 2).vec4s(p.qStrides, 2).done();
  const r: Recipe = { p, dispatch: { chunks, kernel, params, groups: grid1d(blocks * chunks, 1) } };
  if (cache.count >= MAX_RECIPES) { cache.byHash.clear(); cache.count = 0; }
  cache.byHash.set(hash, {
    mode, dtype, shape: [...x.shape], strides: [...x.strides], offset: x.offset, axes: [...axes], indexInput, recipe: r,
    next: cache.byHash.get(hash) ?? null,
  });
  cache.count++;
  return r;
}

function run(rt: GpuRuntime, mode: Mode, x: View, axes: readonly number[], xIndex: GpuStorage | null): Result {
  const arg = mode === 'argmax';
  const { p, dispatch } = recipe(rt, mode, x, axes, xIndex !== null);
  if (!dispatch) {
    // nothing to reduce: the cpu oracle's initial accumulator (0, ±Infinity; as int32 both become 0)
    const init = mode === 'sum' || arg ? 0 : mode === 'max' ? -Infinity : Infinity;
    const values = fill(rt, p.nOut, x.storage.dtype === 'int32' ? 0 : init, x.storage.dtype);
    return { values, index: arg ? fill(rt, p.nOut, 0, 'int32') : null };
  }
  const { chunks, kernel, params, groups } = dispatch;
  const values = rt.alloc(p.nOut * chunks, x.storage.dtype);
  const index = arg ? rt.alloc(p.nOut * chunks, 'int32') : null;
  const buffers = [gpuBuffer(x.storage)];
  if (xIndex) buffers.push(xIndex.buffer);
  buffers.push(values.buffer);
  if (index) buffers.push(index.buffer);
  rt.dispatch(kernel, buffers, params, groups);
  if (chunks === 1) return { values, index };
  // second pass over the partials [nOut, chunks]
  const partial: View = { storage: values, shape: [p.nOut, chunks], strides: [chunks, 1], offset: 0 };
  const result = run(rt, mode, partial, [1], index);
  rt.free(values);
  if (index) rt.free(index);
  return result;
}

export function reduce(rt: GpuRuntime, op: ReduceOp, x: View, axes: readonly number[]): GpuStorage {
  return run(rt, op, x, axes, null).values;
}

export function argmax(rt: GpuRuntime, x: View, axis: number): GpuStorage {
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.shape.length) {
    throw new Error(`webgpu argmax: axis ${axis} out of range for rank ${x.shape.length}`);
  }
  const { values, index } = run(rt, 'argmax', x, [axis], null);
  rt.free(values);
  return index!;
}

function contiguous(storage: Storage, shape: readonly number[]): View {
  return { storage, shape, strides: contiguousStrides(shape), offset: 0 };
}

function reduceBench(name: string, shape: number[], axes: number[], op: ReduceOp, large = false): KernelBenchmark {
  const n = sizeOf(shape);
  const out = sizeOf(shape.filter((_, d) => !axes.includes(d)));
  return {
    group: 'reduce', name, flops: n, bytes: 4 * (n + out), large,
    setup(backend: Backend) {
      const x = backend.fill(n, 1, 'float32');
      const v = contiguous(x, shape);
      return {
        run() { backend.free(backend.reduce(op, v, axes)); },
        dispose() { backend.free(x); },
      };
    },
  };
}

export const benchmarks: KernelBenchmark[] = [
  reduceBench('sum all 1M', [1 << 20], [0], 'sum'),
  reduceBench('sum all 64M', [1 << 26], [0], 'sum', true),
  reduceBench('BN stats sum [4,16,112,112,80] axes 0,2,3,4', [4, 16, 112, 112, 80], [0, 2, 3, 4], 'sum', true),
  reduceBench('BN stats sum [2,16,32,32,32] axes 0,2,3,4', [2, 16, 32, 32, 32], [0, 2, 3, 4], 'sum'),
  reduceBench('row sums [4096,1024]', [4096, 1024], [1], 'sum'),
  reduceBench('row max [65536,1024]', [65536, 1024], [1], 'max', true),
  reduceBench('column sums [1024,4096]', [1024, 4096], [0], 'sum'),
  reduceBench('channel max [4,2,112,112,80] axis 1', [4, 2, 112, 112, 80], [1], 'max', true),
  {
    group: 'reduce', name: 'argmax channels [4,2,112,112,80] axis 1', flops: 4 * 2 * 112 * 112 * 80,
    bytes: 4 * (4 * 2 * 112 * 112 * 80 + 4 * 112 * 112 * 80), large: true,
    setup(backend: Backend) {
      const shape = [4, 2, 112, 112, 80];
      const x = backend.fill(sizeOf(shape), 1, 'float32');
      const v = contiguous(x, shape);
      return { run() { backend.free(backend.argmax(v, 1)); }, dispose() { backend.free(x); } };
    },
  },
];
