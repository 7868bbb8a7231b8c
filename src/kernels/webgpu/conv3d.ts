import type { Backend, Conv3dParams, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { checkConvBias, convBackwardInputGeometry, convBackwardWeightGeometry, convForwardGeometry, convGeometry, type ConvGeometry } from '../geometry.js';
import { directLayout, directSource, type DirectAxis, type DirectProblem, type DirectTiles } from './conv3d-direct.js';
import { DOWN_THREADS, downLayout, downSource, downTiles, type DownProblem, type DownTiles } from './conv3d-down.js';
import { gemmFits, gemmLayout, gemmShapes, gemmSource, type GemmProblem, type GemmShape, type GemmTiles } from './conv3d-gemm.js';
import { UP_THREADS, upSource, upTiles, type UpProblem, type UpTiles } from './conv3d-up.js';
import { wgemmFits, wgemmLayout, wgemmShapes, wgemmSource } from './conv3d-wgemm.js';
import { wgradLayout, wgradSource, type WgradTiles } from './conv3d-wgrad.js';
import type { GpuRuntime } from './runtime.js';
import { GpuStorage, Params, gpuBuffer, grid1d, wgslFlatIndex } from './runtime.js';

/**
 * conv3d and its two gradients in WGSL (NCDHW, contiguous float32, groups = 1, PyTorch semantics).
 *
 * Several kernels can compute a convolution (every pipeline is specialised per shape and cached under its full
 * configuration); which one runs is, in this order: the candidate forced by withConv3dCandidate (benchmarks and
 * the tuner), the choice table's entry for the problem on this adapter (filled by tuneConv3d in conv3d-tune.ts,
 * cuDNN's benchmark mode), else the defaults:
 * - forward, stride 1, writing at least conv3dTuning.implicitGemmMinChannels channels (16) from at least 2, on a
 *   GPU (conv3dTuning.softwareAdapterGemms): the implicit GEMM (conv3d-gemm.ts), bias fused; split-K plus a
 *   summing pass when the grid would be too small.
 * - forward, kernel = stride, no padding, no dilation (the V-Net's 2³/2 "down", and the input gradient of its
 *   transposed "up"): one GEMM over disjoint receptive fields (conv3d-down.ts), bias fused; split-K plus a summing
 *   pass when the grid would be too small.
 * - forward otherwise: the direct halo-tiled implicit GEMM (conv3d-direct.ts), bias fused; split-K over input
 *   channels plus a summing pass when the grid would be too small to fill the GPU.
 * - backward-input, stride 1, under the same channel rule: the implicit GEMM on gy with the kernel flipped and
 *   the channel axes swapped by its index mapping (no weight copy).
 * - backward-input, kernel = stride, no padding, no dilation (the V-Net's transposed 2³/2 "up"): one GEMM,
 *   every input voxel gets exactly one tap (conv3d-up.ts).
 * - backward-input otherwise: the direct kernel on the transposed problem (gy → gx, weights transposed
 *   and flipped), one dispatch per stride phase r ∈ [0, s)³ — the input voxels i ≡ r (mod s) are reached by the
 *   same taps t (those with t·dil ≡ r + p mod s), from gy at j + (r + p − t·dil)/s, so each phase is a dense
 *   stride-1 convolution over only the taps that hit (stride 1: one phase, all taps, flipped).
 * - backward-weight with at least conv3dTuning.implicitGemmWeightGradientMinChannels (16) output channels, on a
 *   GPU: the implicit GEMM over (ci, tap) rows × Co columns × voxels (conv3d-wgemm.ts), split-K plus a summing pass.
 * - backward-weight otherwise: halo-staged split-K kernel (conv3d-wgrad.ts) plus the summing pass.
 * Tile sizes come from a small cost model over the shape and the device's workgroup-memory limit; the
 * candidates (conv3dCandidates) add the other applicable kernels, the implicit GEMM's other tile shapes and the
 * direct kernel with half as many channels per invocation.
 */

/** Tuning knobs, exported for tests and benchmarks (tests lower targetWorkgroups to force single-split plans). */
export const conv3dTuning = {
  /** split K until about this many workgroups are in flight (a discrete GPU wants several waves) */
  targetWorkgroups: 1024,
  /** cap on the bytes of split-K partial outputs */
  maxPartialBytes: 256 * 2 ** 20,
  /** at most this many input channels staged per chunk in the direct kernel */
  maxChunkChannels: 4,
  /** use the dedicated kernel-equals-stride backward-input GEMM where it applies */
  upKernel: true,
  /** use the dedicated kernel-equals-stride forward GEMM where it applies */
  downKernel: true,
  /** split-K of the down GEMM leaves at least this many products per output to each split (a split adds
   * 8 bytes of partial-output traffic per output) */
  minSplitK: 128,
  /** the implicit GEMM computes the stride-1 forwards and input gradients that write at least
   * implicitGemmMinChannels channels and read at least implicitGemmMinReadChannels (0 and 0: every stride-1 one;
   * Infinity: none). On an H200 it ran the V-Net's 16- to 256-channel 3³ layers 1.1–3.9× faster than the direct
   * kernel and its head's input gradient 2.2× faster than the up GEMM; the direct kernel stays 4.6× faster for
   * the one-channel first layer. */
  implicitGemmMinChannels: 16,
  implicitGemmMinReadChannels: 2,
  /** the weight gradients of weights with at least this many output channels go through the implicit GEMM
   * (conv3d-wgemm.ts) instead of the halo-staged wgrad kernel (0: all; Infinity: none). On an H200 it ran every
   * 3³ and 2³ weight gradient of the V-Net 1.6–4.6× faster; wgrad stayed 1.2× faster for the 2-channel 1³ head. */
  implicitGemmWeightGradientMinChannels: 16,
  /** the two rules above apply on a software adapter (llvmpipe) too; off: there the direct and wgrad kernels stay
   * the defaults, since with the GEMMs the default synthetic DBiSL run on llvmpipe took 12 % longer per iteration */
  softwareAdapterGemms: false,
};

export type Conv3dOp = 'forward' | 'backwardInput' | 'backwardWeight';

/** One convolution to compute: what the choice table is keyed by (with the adapter) and what the tuner times. */
export interface Conv3dProblem {
  op: Conv3dOp;
  /** the convolution's input and weight shapes (for the gradients: of the convolution they belong to) */
  xShape: number[];
  wShape: number[];
  params: Conv3dParams;
  /** the forward adds a bias (does not change the choice, only what the tuner runs) */
  bias: boolean;
}

/** One way to compute a convolution (JSON-serialisable). */
export type Conv3dCandidate =
  /** the direct kernel, `tn` channels per invocation (4, 8 or 16; default: the cost model's) */
  | { kernel: 'direct'; tn?: number }
  /** the implicit GEMM (stride 1) with this tile shape */
  | { kernel: 'gemm'; shape: GemmShape }
  /** the kernel = stride forward GEMM */
  | { kernel: 'down' }
  /** the kernel = stride input-gradient GEMM */
  | { kernel: 'up' }
  /** the halo-staged weight-gradient kernel */
  | { kernel: 'wgrad' }
  /** the implicit-GEMM weight-gradient kernel with this tile shape */
  | { kernel: 'wgemm'; shape: GemmShape };

export function candidateName(c: Conv3dCandidate): string {
  switch (c.kernel) {
    case 'direct': return c.tn === undefined ? 'direct' : `direct tn ${c.tn}`;
    case 'gemm': return `implicit GEMM ${c.shape.bm}×${c.shape.bn}×${c.shape.bk} ${c.shape.tm}×${c.shape.tn}`;
    case 'down': return 'down GEMM';
    case 'up': return 'up GEMM';
    case 'wgrad': return 'wgrad';
    case 'wgemm': return `weight GEMM ${c.shape.bm}×${c.shape.bn}×${c.shape.bk} ${c.shape.tm}×${c.shape.tn}`;
  }
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

function checkF32(s: Storage, what: string): void {
  if (s.dtype !== 'float32') throw new Error(`webgpu conv3d: ${what} must be float32, got ${s.dtype} (use the cpu backend for float64)`);
}

function checkBinding(rt: GpuRuntime, elements: number, what: string): void {
  const bytes = elements * 4;
  const max = rt.limits.maxStorageBufferBindingSize;
  if (bytes > max) {
    throw new Error(`webgpu conv3d: ${what} of ${elements} float32 elements (${bytes} bytes) exceeds the device's maxStorageBufferBindingSize ${max}`);
  }
}

/** The device limits the plans depend on (a GpuRuntime, or nominal limits for the benchmark list). */
export interface HasLimits {
  limits: Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX' | 'maxStorageBufferBindingSize'>;
  /** a CPU rasteriser such as llvmpipe (see conv3dTuning.softwareAdapterGemms) */
  software?: boolean;
}

interface Limits { shared: number; threads: number }
function limitsOf(rt: HasLimits): Limits {
  return {
    shared: rt.limits.maxComputeWorkgroupStorageSize,
    threads: Math.min(256, rt.limits.maxComputeInvocationsPerWorkgroup, rt.limits.maxComputeWorkgroupSizeX),
  };
}

const planCache = new Map<string, unknown>();
function cached<T>(key: string, make: () => T): T {
  let v = planCache.get(key) as T | undefined;
  if (v === undefined) { v = make(); planCache.set(key, v); }
  return v;
}

/** Workgroup-memory wavefronts one warp-wide 32-bit load needs: the most distinct words in one of 32 banks. */
function bankWays(words: readonly number[]): number {
  const perBank = new Map<number, Set<number>>();
  for (const a of words) {
    const b = a % 32;
    let set = perBank.get(b);
    if (!set) { set = new Set(); perBank.set(b, set); }
    set.add(a);
  }
  let most = 1;
  for (const set of perBank.values()) most = Math.max(most, set.size);
  return most;
}

// ---------------------------------------------------------------------------------------------------------
// direct kernel plans

/** The cost model's channels per invocation for a direct problem writing `cout` channels. */
const modelTn = (cout: number): number => (cout <= 4 ? 4 : cout <= 8 ? 8 : 16);

/** Per-thread tile (`tn` channels per invocation, default the model's) and the best block shape for a direct
 * problem (splits left at 1). */
function chooseDirect(p: DirectProblem, lim: Limits, tn = modelTn(p.cout)): DirectTiles {
  const cg = Math.min(4, Math.ceil(p.cout / tn));
  const tm = tn === 16 ? 4 : 8;
  const bn = tn * cg;
  const bvMax = Math.floor(lim.threads / cg) * tm;
  const [ad, ah, aw] = p.axes;
  const taps = ad.taps * ah.taps * aw.taps;
  const base: DirectTiles = { tm, tn, cg, block: [1, 1, 1], cc: 1, splits: 1, perSplit: p.cin };
  let best: DirectTiles | null = null, bestCost = Infinity;
  for (let bw = 1; bw <= Math.min(aw.out, bvMax); bw++) {
    for (let bh = 1; bh <= Math.min(ah.out, Math.floor(bvMax / bw)); bh++) {
      for (let bd = 1; bd <= Math.min(ad.out, Math.floor(bvMax / (bw * bh))); bd++) {
        const t: DirectTiles = { ...base, block: [bd, bh, bw] };
        const L = directLayout(p, t);
        if (L.sharedBytes > lim.shared) continue;
        const warps = Math.ceil(L.threads / 32);
        // halo words the first warp reads for one tap (lane = voxel tv)
        const lanes: number[] = [];
        for (let v = 0; v < Math.min(32, L.vt); v++) {
          const vd = Math.floor(v / (bh * bw)), vh = Math.floor(v / bw) % bh, vw = v % bw;
          if (v < L.bv) lanes.push((vd * ad.inStride * L.halo[1] + vh * ah.inStride) * L.halo[2] + vw * aw.inStride);
        }
        const compute = warps * 32 * taps * (tm * bankWays(lanes) + tn / 4 + (tm * tn) / 4);
        const staging = 12 * (L.halo[0] * L.halo[1] * L.halo[2] + (taps * bn) / 4) + 400;
        const cost = L.blocks * (compute + staging + warps * 32 * tm);
        if (cost < bestCost || (cost === bestCost && best !== null && L.bv > directLayout(p, best).bv)) { best = t; bestCost = cost; }
      }
    }
  }
  if (!best) throw new Error(`webgpu conv3d: no tile of ${JSON.stringify(p.axes.map((a) => a.taps))} taps fits ${lim.shared} bytes of workgroup memory`);
  let cc = 1;
  while (cc < Math.min(conv3dTuning.maxChunkChannels, p.cin) && directLayout(p, { ...best, cc: cc + 1 }).sharedBytes <= lim.shared) cc++;
  return { ...best, cc, perSplit: Math.ceil(p.cin / cc) * cc };
}

/** Splits for a set of direct dispatches writing one output of `outLen` elements. */
function directSplits(problems: DirectProblem[], tiles: DirectTiles[], outLen: number, rt: HasLimits): number {
  let wgs = 0, chunks = Infinity;
  problems.forEach((p, i) => {
    const L = directLayout(p, tiles[i]);
    wgs += L.blocks * L.coTiles;
    if (L.taps > 0) chunks = Math.min(chunks, Math.ceil(p.cin / tiles[i].cc));
  });
  if (!Number.isFinite(chunks)) return 1;
  let s = Math.min(chunks, Math.ceil(conv3dTuning.targetWorkgroups / Math.max(1, wgs)));
  const maxParts = Math.floor(Math.min(conv3dTuning.maxPartialBytes, rt.limits.maxStorageBufferBindingSize) / (4 * outLen));
  s = Math.max(1, Math.min(s, maxParts, Math.floor(65535 / Math.max(1, ...tiles.map((t, i) => directLayout(problems[i], t).coTiles)))));
  return s;
}

function withSplits(p: DirectProblem, t: DirectTiles, splits: number): DirectTiles {
  if (splits === 1) return { ...t, splits: 1, perSplit: Math.ceil(p.cin / t.cc) * t.cc };
  const perSplit = Math.ceil(Math.ceil(p.cin / t.cc) / splits) * t.cc;
  return { ...t, splits, perSplit };
}

/** The tiles (with a common split count) of direct problems that all write one output of `outLen` elements. */
function directTiles(problems: DirectProblem[], tn: number | undefined, outLen: number, rt: HasLimits): DirectTiles[] {
  const lim = limitsOf(rt);
  if (tn !== undefined && ![4, 8, 16].includes(tn)) throw new Error(`webgpu conv3d: the direct kernel takes 4, 8 or 16 channels per invocation, not ${tn}`);
  const tiles = problems.map((p) => cached(`direct:${JSON.stringify(p)}:${JSON.stringify(lim)}:${conv3dTuning.maxChunkChannels}:${tn}`, () => chooseDirect(p, lim, tn)));
  const splits = directSplits(problems, tiles, outLen, rt);
  return problems.map((p, i) => withSplits(p, tiles[i], splits));
}

function runDirect(rt: GpuRuntime, p: DirectProblem, t: DirectTiles, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, out: GPUBuffer): void {
  const L = directLayout(p, t);
  if (L.blocks === 0) return;
  const fused = p.bias && t.splits === 1;
  const key = kernelKey(p, t, () => `conv3d:direct:${JSON.stringify(p)}:${JSON.stringify(t)}`);
  const kernel = rt.kernel(key, () => directSource(p, t), fused ? 4 : 3);
  const [gx, gy] = grid1d(L.blocks, 1);
  const buffers = fused && bias ? [x, w, bias, out] : [x, w, out];
  rt.dispatch(kernel, buffers, null, [gx, gy, L.coTiles * t.splits]);
}

const reduceSource = (bias: boolean): string => /* wgsl */ `
struct Params { len: u32, splits: u32, inner: u32, channels: u32 }
@group(0) @binding(0) var<storage, read> parts: array<f32>;
${bias ? '@group(0) @binding(1) var<storage, read> Bias: array<f32>;' : ''}
@group(0) @binding(${bias ? 2 : 1}) var<storage, read_write> out: array<f32>;
@group(0) @binding(${bias ? 3 : 2}) var<uniform> P: Params;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(256)};
  if (i >= P.len) { return; }
  var s = ${bias ? 'Bias[(i / P.inner) % P.channels]' : '0.0'};
  for (var k = 0u; k < P.splits; k++) { s += parts[k * P.len + i]; }
  out[i] = s;
}`;

/** out = Σ_split parts[split] (+ bias[channel], channel = (i / inner) % channels) */
function sumSplits(rt: GpuRuntime, parts: GpuStorage, splits: number, out: GpuStorage, len: number, bias: GPUBuffer | null, inner: number, channels: number): void {
  const kernel = rt.kernel(`conv3d:sum:${bias ? 'bias' : 'plain'}`, () => reduceSource(bias !== null), bias ? 3 : 2);
  const params = new Params().u32(len, splits, inner, channels).done();
  const buffers = bias ? [parts.buffer, bias, out.buffer] : [parts.buffer, out.buffer];
  rt.dispatch(kernel, buffers, params, grid1d(len, 256));
}

/** Runs direct problems (all writing `out` of outLen elements) with their tiles. */
function directInto(rt: GpuRuntime, problems: DirectProblem[], tiles: DirectTiles[], xb: GPUBuffer, wb: GPUBuffer, bias: GPUBuffer | null,
  out: GpuStorage, outLen: number, channels: number, inner: number): void {
  const splits = tiles[0].splits;
  if (splits === 1) {
    problems.forEach((p, i) => runDirect(rt, p, tiles[i], xb, wb, bias, out.buffer));
    return;
  }
  checkBinding(rt, splits * outLen, 'split-K partial outputs');
  const parts = rt.alloc(splits * outLen, 'float32');
  problems.forEach((p, i) => runDirect(rt, p, tiles[i], xb, wb, null, parts.buffer));
  sumSplits(rt, parts, splits, out, outLen, bias, inner, channels);
  rt.free(parts);
}

// ---------------------------------------------------------------------------------------------------------
// GEMM plans

/** Split-K of a row-tiled GEMM: enough workgroups to fill the GPU, at least conv3dTuning.minSplitK products
 * (bk per chunk) per split, partial outputs within conv3dTuning.maxPartialBytes and the binding limit. */
function kSplits(chunks: number, bk: number, mTiles: number, coTiles: number, outLen: number, rt: HasLimits): { splits: number; perSplit: number } {
  const minChunks = Math.ceil(conv3dTuning.minSplitK / bk);
  let s = Math.min(Math.floor(chunks / minChunks), Math.ceil(conv3dTuning.targetWorkgroups / (mTiles * coTiles)));
  const maxParts = Math.floor(Math.min(conv3dTuning.maxPartialBytes, rt.limits.maxStorageBufferBindingSize) / (4 * outLen));
  s = Math.max(1, Math.min(s, maxParts, Math.floor(65535 / coTiles)));
  const perSplit = Math.ceil(chunks / s);
  return { splits: Math.ceil(chunks / perSplit), perSplit };
}

/** The down GEMM's problem and tiles for a forward, or null where it does not apply (or its tiles do not fit). */
function downPlan(g: ConvGeometry, bias: boolean, rt: HasLimits): { p: DownProblem; t: DownTiles } | null {
  if (![0, 1, 2].every((a) => g.k[a] === g.s[a] && g.p[a] === 0 && g.dil[a] === 1)) return null;
  const p: DownProblem = { n: g.n, ci: g.ci, co: g.co, in: g.in, out: g.out, k: g.k, bias };
  const t = downTiles(p, limitsOf(rt).shared);
  if (!t) return null;
  const L = downLayout(p, t);
  return { p, t: { ...t, ...kSplits(L.chunks, L.bk, L.mTiles, L.coTiles, p.n * p.co * p.out[0] * p.out[1] * p.out[2], rt) } };
}

/** The up GEMM's problem for an input gradient, or null where it does not apply (kernel = stride, no padding, no
 * dilation, and the input an exact multiple of the output). */
function upProblem(g: ConvGeometry): UpProblem | null {
  if (![0, 1, 2].every((a) => g.k[a] === g.s[a] && g.p[a] === 0 && g.dil[a] === 1 && g.in[a] === g.out[a] * g.s[a])) return null;
  return { n: g.n, co: g.co, ci: g.ci, out: g.out, k: g.k };
}

/** The implicit GEMM's problem for a stride-1 forward (reads x) or input gradient (reads gy). */
function gemmProblem(g: ConvGeometry, op: 'forward' | 'backwardInput', bias: boolean): GemmProblem {
  const kv = g.k[0] * g.k[1] * g.k[2];
  return op === 'forward'
    ? { n: g.n, cin: g.ci, cout: g.co, src: g.in, dst: g.out, k: g.k, base: [-g.p[0], -g.p[1], -g.p[2]], step: g.dil, wIn: kv, wOut: g.ci * kv, bias }
    : { n: g.n, cin: g.co, cout: g.ci, src: g.out, dst: g.in, k: g.k, base: g.p, step: [-g.dil[0], -g.dil[1], -g.dil[2]], wIn: g.ci * kv, wOut: kv, bias: false };
}

/** The implicit GEMM's tile shapes for a problem (the default first; none unless stride 1). */
function gemmShapesFor(g: ConvGeometry, op: 'forward' | 'backwardInput', rt: HasLimits): GemmShape[] {
  const lim = limitsOf(rt);
  return g.s.every((s) => s === 1) ? gemmShapes(gemmProblem(g, op, false), lim.shared, lim.threads) : [];
}

/** The implicit GEMM's problem and tiles for a tile shape, or null where the convolution is not stride 1 or the
 * shape does not fit the device. */
function gemmPlan(g: ConvGeometry, op: 'forward' | 'backwardInput', bias: boolean, rt: HasLimits, shape: GemmShape): { p: GemmProblem; t: GemmTiles } | null {
  const p = gemmProblem(g, op, bias);
  const lim = limitsOf(rt);
  if (!g.s.every((s) => s === 1) || !gemmFits(shape, lim.shared, lim.threads, p)) return null;
  const L = gemmLayout(p, shape);
  return { p, t: { ...shape, ...kSplits(L.chunks, L.bk, L.mTiles, L.coTiles, p.n * p.cout * p.dst[0] * p.dst[1] * p.dst[2], rt) } };
}

/**
 * Dispatches a row-tiled GEMM pipeline (down, implicit or weight GEMM; bindings src, w, [bias], out, which the
 * weight GEMM binds to x, gy, gw): grid x (and z past 65535) = row tiles, y = column tiles × splits. With splits
 * it writes partial outputs that a second pass sums, adding the bias (channel (i / inner) % channels); without,
 * the bias is fused.
 */
function runTiled(rt: GpuRuntime, key: string, source: () => string, mTiles: number, coTiles: number, splits: number,
  src: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, out: GpuStorage, outLen: number, inner: number, channels: number): void {
  const kernel = rt.kernel(key, source, bias && splits === 1 ? 4 : 3);
  const [gx, gz] = grid1d(mTiles, 1);
  const grid: [number, number, number] = [gx, coTiles * splits, gz];
  if (splits === 1) {
    rt.dispatch(kernel, bias ? [src, w, bias, out.buffer] : [src, w, out.buffer], null, grid);
    return;
  }
  checkBinding(rt, splits * outLen, 'split-K partial outputs');
  const parts = rt.alloc(splits * outLen, 'float32');
  rt.dispatch(kernel, [src, w, parts.buffer], null, grid);
  sumSplits(rt, parts, splits, out, outLen, bias, inner, channels);
  rt.free(parts);
}

function runDown(rt: GpuRuntime, p: DownProblem, t: DownTiles, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, out: GpuStorage, outLen: number): void {
  const L = downLayout(p, t);
  runTiled(rt, kernelKey(p, t, () => `conv3d:down:${JSON.stringify(p)}:${JSON.stringify(t)}`), () => downSource(p, t), L.mTiles, L.coTiles, t.splits,
    x, w, bias, out, outLen, p.out[0] * p.out[1] * p.out[2], p.co);
}

/** The weight-gradient GEMM's tiles for a tile shape, or null where the shape does not fit the device. */
function wgemmPlan(g: ConvGeometry, rt: HasLimits, shape: GemmShape): GemmTiles | null {
  const lim = limitsOf(rt);
  if (!wgemmFits(shape, lim.shared, lim.threads, g)) return null;
  const L = wgemmLayout(g, shape);
  return { ...shape, ...kSplits(L.chunks, shape.bk, L.mTiles, L.coTiles, g.co * L.rows, rt) };
}

function runGemm(rt: GpuRuntime, p: GemmProblem, t: GemmTiles, src: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, out: GpuStorage, outLen: number): void {
  const L = gemmLayout(p, t);
  runTiled(rt, kernelKey(p, t, () => `conv3d:gemm:${JSON.stringify(p)}:${JSON.stringify(t)}`), () => gemmSource(p, t), L.mTiles, L.coTiles, t.splits,
    src, w, bias, out, outLen, p.dst[0] * p.dst[1] * p.dst[2], p.cout);
}

// ---------------------------------------------------------------------------------------------------------
// candidates, plans and the choice table

/** What a candidate dispatches for one problem: its kernel's problem(s) and tiles. */
type Plan =
  | { kernel: 'down'; p: DownProblem; t: DownTiles }
  | { kernel: 'gemm'; p: GemmProblem; t: GemmTiles }
  | { kernel: 'up'; p: UpProblem; t: UpTiles }
  | { kernel: 'direct'; problems: DirectProblem[]; tiles: DirectTiles[] }
  | { kernel: 'wgrad'; t: WgradTiles }
  | { kernel: 'wgemm'; t: GemmTiles };

const problemKey = (op: Conv3dOp, g: ConvGeometry): string =>
  `${op} x${fmt([g.n, g.ci, ...g.in])} w${fmt([g.co, g.ci, ...g.k])} s${fmt(g.s)} p${fmt(g.p)} d${fmt(g.dil)}`;

/** A problem's identity (bias aside: it does not change the choice), e.g. 'forward x[4, 32, 56, 56, 40]
 * w[32, 32, 3, 3, 3] s[1, 1, 1] p[1, 1, 1] d[1, 1, 1]'; validates the shapes. */
export function conv3dProblemKey(p: Pick<Conv3dProblem, 'op' | 'xShape' | 'wShape' | 'params'>): string {
  return problemKey(p.op, convGeometry(p.xShape, p.wShape, p.params));
}

/** The plan of a candidate for a problem; throws naming both where the candidate cannot compute it. */
function planFor(rt: HasLimits, op: Conv3dOp, g: ConvGeometry, c: Conv3dCandidate, bias: boolean): Plan {
  const fail = (): never => { throw new Error(`webgpu conv3d: candidate '${candidateName(c)}' cannot compute ${problemKey(op, g)}`); };
  if (op === 'backwardWeight') {
    if (c.kernel === 'wgemm') {
      const t = wgemmPlan(g, rt, c.shape);
      return t ? { kernel: 'wgemm', t } : fail();
    }
    if (c.kernel !== 'wgrad') return fail();
    const lim = limitsOf(rt);
    return { kernel: 'wgrad', t: wgradSplits(g, cached(`wgrad:${JSON.stringify(g)}:${JSON.stringify(lim)}`, () => chooseWgrad(g, lim)), rt) };
  }
  switch (c.kernel) {
    case 'down': {
      const d = op === 'forward' ? downPlan(g, bias, rt) : null;
      return d ? { kernel: 'down', ...d } : fail();
    }
    case 'up': {
      const p = op === 'backwardInput' ? upProblem(g) : null;
      return p ? { kernel: 'up', p, t: upTiles(p) } : fail();
    }
    case 'gemm': {
      const m = gemmPlan(g, op, bias, rt, c.shape);
      return m ? { kernel: 'gemm', ...m } : fail();
    }
    case 'direct': {
      const problems = op === 'forward' ? [forwardProblem(g, bias)] : phaseProblems(g);
      const outLen = op === 'forward' ? g.n * g.co * g.out[0] * g.out[1] * g.out[2] : g.n * g.ci * g.in[0] * g.in[1] * g.in[2];
      return { kernel: 'direct', problems, tiles: directTiles(problems, c.tn, outLen, rt) };
    }
    case 'wgrad':
    case 'wgemm': return fail();
  }
}

/** The weight-gradient GEMM's tile shapes that fit the device (the default first). */
function wgemmShapesFor(g: ConvGeometry, rt: HasLimits): GemmShape[] {
  const lim = limitsOf(rt);
  return wgemmShapes(g, lim.shared, lim.threads);
}

/** The default candidate (the heuristic the conv3dTuning knobs steer). */
function defaultCandidate(rt: HasLimits, op: Conv3dOp, g: ConvGeometry): Conv3dCandidate {
  const gemms = !rt.software || conv3dTuning.softwareAdapterGemms;
  if (op === 'backwardWeight') {
    const shape = gemms && g.co >= conv3dTuning.implicitGemmWeightGradientMinChannels ? wgemmShapesFor(g, rt)[0] : undefined;
    return shape ? { kernel: 'wgemm', shape } : { kernel: 'wgrad' };
  }
  const [written, read] = op === 'forward' ? [g.co, g.ci] : [g.ci, g.co];
  const shape = gemms && written >= conv3dTuning.implicitGemmMinChannels && read >= conv3dTuning.implicitGemmMinReadChannels ? gemmShapesFor(g, op, rt)[0] : undefined;
  if (shape) return { kernel: 'gemm', shape };
  if (op === 'forward' && conv3dTuning.downKernel && downPlan(g, false, rt)) return { kernel: 'down' };
  if (op === 'backwardInput' && conv3dTuning.upKernel && upProblem(g)) return { kernel: 'up' };
  return { kernel: 'direct' };
}

/**
 * The candidates for a problem, the default first: the kernel = stride GEMMs where they apply, the implicit
 * GEMM's tile shapes that fit (stride 1), the direct kernel with the cost model's tiles and with half its
 * channels per invocation; for the weight gradient the wgrad kernel, then the weight GEMM's tile shapes.
 */
export function conv3dCandidates(rt: HasLimits, op: Conv3dOp, xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): Conv3dCandidate[] {
  const g = convGeometry(xShape, wShape, p);
  const all: Conv3dCandidate[] = [defaultCandidate(rt, op, g)];
  if (op === 'backwardWeight') {
    all.push({ kernel: 'wgrad' });
    for (const shape of wgemmShapesFor(g, rt)) all.push({ kernel: 'wgemm', shape });
  } else {
    if (op === 'forward' && downPlan(g, false, rt)) all.push({ kernel: 'down' });
    if (op === 'backwardInput' && upProblem(g)) all.push({ kernel: 'up' });
    for (const shape of gemmShapesFor(g, op, rt)) all.push({ kernel: 'gemm', shape });
    all.push({ kernel: 'direct' });
    const tn = modelTn(op === 'forward' ? g.co : g.ci);
    if (tn > 4) all.push({ kernel: 'direct', tn: tn / 2 });
  }
  const names = new Set<string>();
  return all.filter((c) => !names.has(candidateName(c)) && names.add(candidateName(c)));
}

/** The choice table: adapter + problem → candidate. */
const choices = new Map<string, Conv3dCandidate>();
let forced: Conv3dCandidate | null = null;

/** per device: its adapter's identity (reading adapterInfo calls into Dawn) */
const adapterKeys = new WeakMap<GPUDevice, string>();
function adapterKey(rt: Pick<GpuRuntime, 'device'>): string {
  let key = adapterKeys.get(rt.device);
  if (key === undefined) {
    const i = rt.device.adapterInfo;
    key = [i.vendor, i.architecture, i.device, i.description].join(' | ');
    adapterKeys.set(rt.device, key);
  }
  return key;
}

/**
 * Per runtime: problem, bias and the tuning knobs → the chosen candidate's plan, with the geometry it was made
 * for, so that a training step plans each of its convolutions once (planning costs the host more than recording
 * the dispatches). The cached objects are never mutated: the kernels' cache keys are memoised on them
 * (kernelKey). Starts over when the choice table changes; a forced candidate is planned on each call.
 */
let planCaches = new WeakMap<object, Map<string, { g: ConvGeometry; plan: Plan }>>();

function chosenPlan(rt: HasLimits & Pick<GpuRuntime, 'device'>, op: Conv3dOp, g: ConvGeometry, bias: boolean): { g: ConvGeometry; plan: Plan } {
  if (forced) return { g, plan: planFor(rt, op, g, forced, bias) };
  let cache = planCaches.get(rt);
  if (!cache) { cache = new Map(); planCaches.set(rt, cache); }
  const key = `${problemKey(op, g)} ${bias} ${Object.values(conv3dTuning).join(' ')}`;
  let entry = cache.get(key);
  if (!entry) {
    entry = { g, plan: planFor(rt, op, g, choose(rt, op, g).c, bias) };
    cache.set(key, entry);
  }
  return entry;
}

/** A kernel's cache key from its problem and tiles, built once per pair of (cached, never mutated) objects. */
const kernelKeys = new WeakMap<object, WeakMap<object, string>>();
function kernelKey(problem: object, tiles: object, make: () => string): string {
  let byTiles = kernelKeys.get(problem);
  if (!byTiles) { byTiles = new WeakMap(); kernelKeys.set(problem, byTiles); }
  let key = byTiles.get(tiles);
  if (key === undefined) { key = make(); byTiles.set(tiles, key); }
  return key;
}

/** The candidate that computes a problem, and why: forced, the choice table's, or the default. */
function choose(rt: HasLimits & Pick<GpuRuntime, 'device'>, op: Conv3dOp, g: ConvGeometry): { c: Conv3dCandidate; source: 'forced' | 'tuned' | 'default' } {
  if (forced) return { c: forced, source: 'forced' };
  const tuned = choices.get(`${adapterKey(rt)} :: ${problemKey(op, g)}`);
  return tuned ? { c: tuned, source: 'tuned' } : { c: defaultCandidate(rt, op, g), source: 'default' };
}

/** Records the candidate that computes a problem on this runtime's adapter (checked to apply to it). */
export function setConv3dChoice(rt: HasLimits & Pick<GpuRuntime, 'device'>, problem: Conv3dProblem, c: Conv3dCandidate): void {
  const g = convGeometry(problem.xShape, problem.wShape, problem.params);
  planFor(rt, problem.op, g, c, problem.bias);
  choices.set(`${adapterKey(rt)} :: ${problemKey(problem.op, g)}`, c);
  planCaches = new WeakMap();
}

/** Empties the choice table (every problem goes back to its default). */
export function clearConv3dChoices(): void {
  choices.clear();
  planCaches = new WeakMap();
}

/** Runs `fn` (synchronous: it records dispatches) with every convolution computed by candidate `c`. */
export function withConv3dCandidate<T>(c: Conv3dCandidate, fn: () => T): T {
  const outer = forced;
  forced = c;
  try { return fn(); } finally { forced = outer; }
}

// ---------------------------------------------------------------------------------------------------------
// entry points

export function conv3d(rt: GpuRuntime, x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[], bias: Storage | null, p: Conv3dParams): Storage {
  const g = convForwardGeometry(x, xShape, w, wShape, p);
  checkF32(x, 'input'); checkF32(w, 'weight');
  if (bias) {
    checkF32(bias, 'bias');
    checkConvBias(bias, g, wShape);
  }
  const outVox = g.out[0] * g.out[1] * g.out[2];
  const outLen = g.n * g.co * outVox;
  checkBinding(rt, x.length, `input ${fmt(xShape)}`);
  checkBinding(rt, outLen, `output [${g.n}, ${g.co}, ${g.out.join(', ')}]`);
  const { plan } = chosenPlan(rt, 'forward', g, bias !== null);
  const out = rt.alloc(outLen, 'float32');
  const xb = gpuBuffer(x), wb = gpuBuffer(w), bb = bias ? gpuBuffer(bias) : null;
  if (plan.kernel === 'down') runDown(rt, plan.p, plan.t, xb, wb, bb, out, outLen);
  else if (plan.kernel === 'gemm') runGemm(rt, plan.p, plan.t, xb, wb, bb, out, outLen);
  else if (plan.kernel === 'direct') directInto(rt, plan.problems, plan.tiles, xb, wb, bb, out, outLen, g.co, outVox);
  return out;
}

export function conv3dBackwardInput(rt: GpuRuntime, gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[], xShape: readonly number[], p: Conv3dParams): Storage {
  const g = convBackwardInputGeometry(gy, gyShape, w, wShape, xShape, p);
  checkF32(gy, 'output gradient'); checkF32(w, 'weight');
  const inVox = g.in[0] * g.in[1] * g.in[2];
  const outLen = g.n * g.ci * inVox;
  checkBinding(rt, gy.length, `output gradient ${fmt(gyShape)}`);
  checkBinding(rt, outLen, `input gradient ${fmt(xShape)}`);
  const { plan } = chosenPlan(rt, 'backwardInput', g, false);
  const out = rt.alloc(outLen, 'float32');
  const gyb = gpuBuffer(gy), wb = gpuBuffer(w);
  if (plan.kernel === 'up') {
    const { p: up, t } = plan;
    const kernel = rt.kernel(kernelKey(up, t, () => `conv3d:up:${JSON.stringify(up)}:${JSON.stringify(t)}`), () => upSource(up, t), 3);
    const mTiles = Math.ceil((g.n * g.out[0] * g.out[1] * g.out[2]) / t.bm);
    const [gx, gz] = grid1d(mTiles, 1);
    rt.dispatch(kernel, [gyb, wb, out.buffer], null, [gx, Math.ceil((g.ci * g.k[0] * g.k[1] * g.k[2]) / t.bn), gz]);
  } else if (plan.kernel === 'gemm') runGemm(rt, plan.p, plan.t, gyb, wb, null, out, outLen);
  else if (plan.kernel === 'direct') directInto(rt, plan.problems, plan.tiles, gyb, wb, null, out, outLen, g.ci, inVox);
  return out;
}

export function conv3dBackwardWeight(rt: GpuRuntime, x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[], wShape: readonly number[], p: Conv3dParams): Storage {
  const g = convBackwardWeightGeometry(x, xShape, gy, gyShape, wShape, p);
  checkF32(x, 'input'); checkF32(gy, 'output gradient');
  checkBinding(rt, x.length, `input ${fmt(xShape)}`);
  checkBinding(rt, gy.length, `output gradient ${fmt(gyShape)}`);
  const { g: planned, plan } = chosenPlan(rt, 'backwardWeight', g, false);
  const outLen = g.co * g.ci * g.k[0] * g.k[1] * g.k[2];
  const out = rt.alloc(outLen, 'float32');
  if (plan.kernel === 'wgemm') {
    const { t } = plan, L = wgemmLayout(g, t);
    runTiled(rt, kernelKey(planned, t, () => `conv3d:wgemm:${JSON.stringify(g)}:${JSON.stringify(t)}`), () => wgemmSource(g, t), L.mTiles, L.coTiles, t.splits,
      gpuBuffer(x), gpuBuffer(gy), null, out, outLen, 1, 1);
    return out;
  }
  if (plan.kernel !== 'wgrad') throw new Error(`webgpu conv3d: the weight gradient has no '${plan.kernel}' kernel`);
  const { t } = plan;
  const L = wgradLayout(g, t);
  const tiles = L.coTiles * L.colTiles;
  const splits = t.splits;
  const kernel = rt.kernel(kernelKey(planned, t, () => `conv3d:wgrad:${JSON.stringify(g)}:${JSON.stringify(t)}`), () => wgradSource(g, t), 3);
  if (splits === 1) {
    rt.dispatch(kernel, [gpuBuffer(x), gpuBuffer(gy), out.buffer], null, [tiles, 1]);
    return out;
  }
  checkBinding(rt, splits * outLen, 'split-K partial weight gradients');
  const parts = rt.alloc(splits * outLen, 'float32');
  rt.dispatch(kernel, [gpuBuffer(x), gpuBuffer(gy), parts.buffer], null, [tiles, splits]);
  sumSplits(rt, parts, splits, out, outLen, null, 1, 1);
  rt.free(parts);
  return out;
}

/** The stride phases of the input gradient along one axis: for each r < s, the taps that reach i ≡ r. */
function phaseAxis(g: ConvGeometry, a: number, r: number): DirectAxis {
  const s = g.s[a], p = g.p[a], dil = g.dil[a], k = g.k[a];
  const hits: number[] = [];
  for (let t = 0; t < k; t++) if ((((r + p - t * dil) % s) + s) % s === 0) hits.push(t);
  const out = r < g.in[a] ? Math.ceil((g.in[a] - r) / s) : 0;
  // hitting taps repeat with period s / gcd(s, dil); their offsets then step by −dil / gcd(s, dil)
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const step = s / gcd(s, dil);
  return {
    out, outStride: s, outPhase: r, outFull: g.in[a],
    inSize: g.out[a], inStride: 1, inBase: 0,
    taps: hits.length, w0: hits[0] ?? 0, wStep: step,
    off0: hits.length ? (r + p - hits[0] * dil) / s : 0, offStep: (-step * dil) / s, k,
  };
}

function chooseWgrad(p: ConvGeometry, lim: Limits): WgradTiles {
  const [KD, KH, KW] = p.k;
  const kdkh = KD * KH, kv = kdkh * KW;
  let tm = p.co <= 4 ? 4 : p.co <= 8 ? 8 : 16;
  while (tm > 4 && tm * KW > 64) tm -= 4;
  const mg = kv <= 8 && p.co >= 2 * tm ? Math.min(4, Math.ceil(p.co / tm)) : 1;
  const perMg = Math.floor(lim.threads / mg);
  let ctMax = kdkh <= perMg ? Math.floor(perMg / kdkh) : 0;
  for (;;) {
    let gt: number;
    if (ctMax > 0) {
      const ct = Math.ceil(p.ci / Math.ceil(p.ci / ctMax));
      gt = ct * kdkh;
    } else {
      gt = Math.max(1, Math.min(perMg, p.ci * kdkh));
    }
    let vg = 1;
    while (vg < 32 && 2 * vg * gt * mg <= lim.threads) vg *= 2;
    const [OD, OH, OW] = p.out;
    let best: WgradTiles | null = null, bestCost = Infinity;
    for (let bw = 1; bw <= Math.min(OW, 64); bw++) {
      for (let bh = 1; bh <= Math.min(OH, 16, Math.floor(512 / bw)); bh++) {
        for (let bd = 1; bd <= Math.min(OD, 8, Math.floor(512 / (bw * bh))); bd++) {
          const t: WgradTiles = { tm, mg, gt, vg, block: [bd, bh, bw], splits: 1, perSplit: 1 };
          const L = wgradLayout(p, t);
          if (L.sharedBytes > lim.shared) continue;
          const warps = Math.ceil(L.threads / 32);
          const bv = bd * bh * bw;
          // x words the first warp reads for one voxel step (lane = (vg, column group))
          const lanes: number[] = [];
          for (let l = 0; l < Math.min(32, L.threads); l++) {
            const lvg = l % vg, gl = Math.floor(l / vg) % gt;
            const kd = Math.floor(gl / KH) % KD, kh = gl % KH, cl = Math.floor(gl / kdkh);
            lanes.push(((cl * L.halo[0] + kd * p.dil[0]) * L.halo[1] + kh * p.dil[1]) * L.ewp + lvg * p.s[2]);
          }
          const compute = Math.ceil(bw / vg) * bh * bd * (tm / 4 + KW * bankWays(lanes) + (KW * tm) / 4) * warps * 32;
          const staging = 12 * (L.ct * L.halo[0] * L.halo[1] * L.ewp + (bv * L.bm) / 4) + 600;
          const cost = L.chunks * (compute + staging);
          if (cost < bestCost) { best = t; bestCost = cost; }
        }
      }
    }
    if (best) return best;
    if (ctMax > 1) { ctMax = Math.floor(ctMax / 2); continue; }
    throw new Error(`webgpu conv3d: no weight-gradient tile for kernel ${fmt(p.k)} fits ${lim.shared} bytes of workgroup memory`);
  }
}

function wgradSplits(p: ConvGeometry, base: WgradTiles, rt: HasLimits): WgradTiles {
  const L = wgradLayout(p, base);
  const outLen = p.co * p.ci * p.k[0] * p.k[1] * p.k[2];
  let splits = Math.min(L.chunks, Math.ceil(conv3dTuning.targetWorkgroups / (L.coTiles * L.colTiles)), 65535);
  const maxParts = Math.floor(Math.min(conv3dTuning.maxPartialBytes, rt.limits.maxStorageBufferBindingSize) / (4 * outLen));
  splits = Math.max(1, Math.min(splits, maxParts));
  const perSplit = Math.ceil(L.chunks / splits);
  return { ...base, splits: Math.ceil(L.chunks / perSplit), perSplit };
}

/** The direct problems of the forward (one) or of the input gradient (one per stride phase). */
function forwardProblem(g: ConvGeometry, bias: boolean): DirectProblem {
  const axes = [0, 1, 2].map((a): DirectAxis => ({
    out: g.out[a], outStride: 1, outPhase: 0, outFull: g.out[a],
    inSize: g.in[a], inStride: g.s[a], inBase: -g.p[a],
    taps: g.k[a], w0: 0, wStep: 1, off0: 0, offStep: g.dil[a], k: g.k[a],
  })) as [DirectAxis, DirectAxis, DirectAxis];
  const kv = g.k[0] * g.k[1] * g.k[2];
  return { n: g.n, cin: g.ci, cout: g.co, axes, wOut: g.ci * kv, wIn: kv, bias };
}

function phaseProblems(g: ConvGeometry): DirectProblem[] {
  const kv = g.k[0] * g.k[1] * g.k[2];
  const problems: DirectProblem[] = [];
  for (let rd = 0; rd < g.s[0]; rd++) {
    for (let rh = 0; rh < g.s[1]; rh++) {
      for (let rw = 0; rw < g.s[2]; rw++) {
        const axes = [phaseAxis(g, 0, rd), phaseAxis(g, 1, rh), phaseAxis(g, 2, rw)] as [DirectAxis, DirectAxis, DirectAxis];
        if (axes.some((a) => a.out === 0)) continue;
        problems.push({ n: g.n, cin: g.co, cout: g.ci, axes, wOut: kv, wIn: g.ci * kv, bias: false });
      }
    }
  }
  return problems;
}

/** One line per kernel a plan dispatches. */
function describePlan(plan: Plan, g: ConvGeometry): string {
  switch (plan.kernel) {
    case 'wgrad': {
      const { t } = plan, L = wgradLayout(g, t);
      return `wgrad: ${t.tm} co × ${g.k[2]} kw per invocation, mg ${t.mg}, ${t.gt} (ci,kd,kh) groups × vg ${t.vg} = ${L.threads} invocations, block ${t.block.join('×')}, ${L.chunks} chunks, ${L.coTiles * L.colTiles} tiles × ${t.splits} splits, ${L.sharedBytes} B shared`;
    }
    case 'wgemm': {
      const { t } = plan, L = wgemmLayout(g, t);
      return `weight GEMM: ${t.bm}×${t.bn}×${t.bk} tiles (${L.rows} rows, ${L.chunks} chunks of ${t.bk} voxels), ${t.tm}×${t.tn} per invocation, ${L.threads} invocations, ${L.mTiles * L.coTiles} workgroups × ${t.splits} splits, ${L.sharedBytes} B shared`;
    }
    case 'up': {
      const { t } = plan;
      return `up GEMM: ${t.bm}×${t.bn}×${t.bk} tiles, ${t.tm}×${t.tn} per invocation, ${UP_THREADS} invocations`;
    }
    case 'down': {
      const { t } = plan, L = downLayout(plan.p, t);
      return `down GEMM: ${t.bm}×${t.bn}×${L.bk} tiles (${t.rows} kernel rows, x as ${L.vec}-float loads), ${t.tm}×${t.tn} per invocation, ${DOWN_THREADS} invocations, ${L.mTiles * L.coTiles} workgroups × ${t.splits} splits, ${L.sharedBytes} B shared`;
    }
    case 'gemm': {
      const { t } = plan, L = gemmLayout(plan.p, t);
      return `implicit GEMM: ${t.bm}×${t.bn}×${L.bk} tiles (${L.tg} taps × ${L.cc} channels per chunk), ${t.tm}×${t.tn} per invocation, ${L.threads} invocations, ${L.mTiles * L.coTiles} workgroups × ${t.splits} splits, ${L.sharedBytes} B shared`;
    }
    case 'direct':
      return plan.problems.map((q, i) => {
        const t = plan.tiles[i], L = directLayout(q, t);
        return `direct: ${t.tm} vox × ${t.tn} ch per invocation, cg ${t.cg}, ${L.threads} invocations, block ${t.block.join('×')} halo ${L.halo.join('×')}, cc ${t.cc}, ${L.blocks * L.coTiles} workgroups × ${t.splits} splits, ${L.sharedBytes} B shared`;
      }).join('\n');
  }
}

/** One line per kernel the entry point would dispatch for a shape (for benchmarks and reports), and a last line
 * naming the choice table's candidate when the table decided. */
export function conv3dPlan(rt: HasLimits & Pick<GpuRuntime, 'device'>, op: Conv3dOp, xShape: readonly number[], wShape: readonly number[], p: Conv3dParams): string {
  const g = convGeometry(xShape, wShape, p);
  const { c, source } = choose(rt, op, g);
  const lines = describePlan(planFor(rt, op, g, c, false), g);
  return source === 'tuned' ? `${lines}\ntuned: ${candidateName(c)}` : lines;
}

// ---------------------------------------------------------------------------------------------------------
// benchmarks

type Op = 'fwd' | 'dX' | 'dW';
/** a benchmark case; with `candidate`, that kernel computes it (else whatever conv3d chooses) */
interface ConvCase { x: number[]; w: number[]; p: Conv3dParams; op: Conv3dOp; name: string; large: boolean; candidate?: Conv3dCandidate }

function convCaseBenchmark(c: ConvCase): KernelBenchmark {
  const g = convGeometry(c.x, c.w, c.p);
  const outVox = g.out[0] * g.out[1] * g.out[2];
  const inLen = g.n * g.ci * g.in[0] * g.in[1] * g.in[2];
  const gyLen = g.n * g.co * outVox;
  const wLen = g.co * g.ci * g.k[0] * g.k[1] * g.k[2];
  const flops = 2 * g.n * g.co * g.ci * g.k[0] * g.k[1] * g.k[2] * outVox;
  const bytes = 4 * (c.op === 'forward' ? inLen + wLen + g.co + gyLen : c.op === 'backwardInput' ? gyLen + wLen + inLen : inLen + gyLen + wLen);
  return {
    group: 'conv3d', name: c.name, flops, bytes, large: c.large,
    setup(backend: Backend) {
      const gyShape = [g.n, g.co, ...g.out];
      const owned: Storage[] = [];
      const mk = (len: number, v: number): Storage => { const s = backend.fill(len, v, 'float32'); owned.push(s); return s; };
      const run = c.op === 'forward'
        ? ((x, w, b) => () => backend.free(backend.conv3d(x, c.x, w, c.w, b, c.p)))(mk(inLen, 0.5), mk(wLen, 0.01), mk(g.co, 0.1))
        : c.op === 'backwardInput'
          ? ((gy, w) => () => backend.free(backend.conv3dBackwardInput(gy, gyShape, w, c.w, c.x, c.p)))(mk(gyLen, 0.5), mk(wLen, 0.01))
          : ((x, gy) => () => backend.free(backend.conv3dBackwardWeight(x, c.x, gy, gyShape, c.w, c.p)))(mk(inLen, 0.5), mk(gyLen, 0.01));
      const { candidate } = c;
      return { run: candidate ? () => withConv3dCandidate(candidate, run) : run, dispose: () => { for (const s of owned) backend.free(s); } };
    },
  };
}

const conv3p: Conv3dParams = { stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1] };
const down2: Conv3dParams = { stride: [2, 2, 2], padding: [0, 0, 0], dilation: [1, 1, 1] };
const sp = (s: readonly number[]): string => s.join('×');

/** cases for one layer: forward, input gradient, weight gradient (for 'up' layers: the transposed conv as
 * conv3dBackwardInput, its input gradient as conv3d, its weight gradient as conv3dBackwardWeight). */
function layerCases(name: string, cin: number, cout: number, size: number[], kind: 'conv3' | 'down' | 'up', batch: number, large: boolean): ConvCase[] {
  const suffix = `${cin}→${cout} ${sp(size)} b${batch}`;
  if (kind === 'up') {
    // ConvTranspose3d(cin → cout, 2, stride 2) from `size`: the conv it transposes maps [cout, 2·size] → [cin, size]
    const x = [batch, cout, ...size.map((d) => 2 * d)], w = [cin, cout, 2, 2, 2];
    return [
      { x, w, p: down2, op: 'backwardInput', name: `${name} fwd (convT = bwdInput) ${suffix}`, large },
      { x, w, p: down2, op: 'forward', name: `${name} dX (conv3d) ${suffix}`, large },
      { x, w, p: down2, op: 'backwardWeight', name: `${name} dW ${suffix}`, large },
    ];
  }
  const k = kind === 'conv3' ? 3 : 2;
  const x = [batch, cin, ...size], w = [cout, cin, k, k, k], p = kind === 'conv3' ? conv3p : down2;
  const ops: [Op, ConvCase['op']][] = [['fwd', 'forward'], ['dX', 'backwardInput'], ['dW', 'backwardWeight']];
  return ops.map(([label, op]) => ({ x, w, p, op, name: `${name} ${label} ${suffix}`, large }));
}

const vnetLayers: [string, number, number, number[], 'conv3' | 'down' | 'up'][] = [
  ['enc1 conv3', 1, 16, [112, 112, 80], 'conv3'], ['enc1 conv3', 16, 16, [112, 112, 80], 'conv3'],
  ['down1', 16, 32, [112, 112, 80], 'down'], ['enc2 conv3', 32, 32, [56, 56, 40], 'conv3'],
  ['down2', 32, 64, [56, 56, 40], 'down'], ['enc3 conv3', 64, 64, [28, 28, 20], 'conv3'],
  ['down3', 64, 128, [28, 28, 20], 'down'], ['enc4 conv3', 128, 128, [14, 14, 10], 'conv3'],
  ['down4', 128, 256, [14, 14, 10], 'down'], ['enc5 conv3', 256, 256, [7, 7, 5], 'conv3'],
  ['up5', 256, 128, [7, 7, 5], 'up'], ['up6', 128, 64, [14, 14, 10], 'up'],
  ['up7', 64, 32, [28, 28, 20], 'up'], ['up8', 32, 16, [56, 56, 40], 'up'],
];

/** Limits every adapter we run on has (llvmpipe: 32 KiB of workgroup memory, the H200 48 KiB): the variants'
 * candidates are listed once, for all of them. */
const nominal: HasLimits = {
  limits: { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxStorageBufferBindingSize: 2 ** 27 },
};

/** The case, then one variant per other candidate, named '<case> · <candidate>' (the A/B of the tuner's choices). */
const withVariants = (c: ConvCase): ConvCase[] => [c, ...conv3dCandidates(nominal, c.op, c.x, c.w, c.p).slice(1)
  .map((candidate) => ({ ...c, candidate, name: `${c.name} · ${candidateName(candidate)}` }))];

export const benchmarks: KernelBenchmark[] = [
  ...vnetLayers.flatMap(([name, cin, cout, size, kind]) => layerCases(name, cin, cout, size, kind, 4, true)),
  ...layerCases('small conv3', 8, 8, [16, 16, 16], 'conv3', 1, false),
  ...layerCases('small down', 8, 16, [16, 16, 16], 'down', 1, false),
  ...layerCases('small up', 16, 8, [8, 8, 8], 'up', 1, false),
].flatMap(withVariants).map(convCaseBenchmark);
