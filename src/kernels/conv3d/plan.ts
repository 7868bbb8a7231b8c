import type { Storage } from '../backend.js';
import { wgslNormalized, wgslRelu, wgslRstd } from '../norm/webgpu.js';
import type { GpuRuntime, GpuStorage } from '../webgpu/runtime.js';
import { Params, grid1d, wgslFlatIndex } from '../webgpu/runtime.js';

/**
 * What every conv3d kernel's plan shares: the knobs that shape plans, the device limits they depend on, split-K
 * with its summing pass, and the dispatch of a row-tiled GEMM. Each kernel file (direct, down, gemm, up, wgemm,
 * wgrad) chooses its tiles and makes its own Conv3dPlan.
 */

/** The knobs of one runtime's conv3d choices (conv3dTuning(rt).configure; tests lower targetWorkgroups to force
 * single-split plans). */
export interface Conv3dKnobs {
  /** split K until about this many workgroups are in flight (a discrete GPU wants several waves) */
  targetWorkgroups: number;
  /** cap on the bytes of split-K partial outputs */
  maxPartialBytes: number;
  /** at most this many input channels staged per chunk in the direct kernel */
  maxChunkChannels: number;
  /** use the dedicated kernel-equals-stride backward-input GEMM where it applies */
  upKernel: boolean;
  /** use the dedicated kernel-equals-stride forward GEMM where it applies */
  downKernel: boolean;
  /** split-K of the down GEMM leaves at least this many products per output to each split (a split adds
   * 8 bytes of partial-output traffic per output) */
  minSplitK: number;
  /** the implicit GEMM computes the stride-1 forwards and input gradients that write at least
   * implicitGemmMinChannels channels and read at least implicitGemmMinReadChannels (0 and 0: every stride-1 one;
   * Infinity: none). On an H200 it ran the V-Net's 16- to 256-channel 3³ layers 1.1–3.9× faster than the direct
   * kernel and its head's input gradient 2.2× faster than the up GEMM; the direct kernel stays 4.6× faster for
   * the one-channel first layer. */
  implicitGemmMinChannels: number;
  implicitGemmMinReadChannels: number;
  /** the weight gradients of weights with at least this many output channels go through the implicit GEMM
   * (wgemm.ts) instead of the halo-staged wgrad kernel (0: all; Infinity: none). On an H200 it ran every
   * 3³ and 2³ weight gradient of the V-Net 1.6–4.6× faster; wgrad stayed 1.2× faster for the 2-channel 1³ head. */
  implicitGemmWeightGradientMinChannels: number;
  /** the two rules above apply on a software adapter (llvmpipe) too; off: there the direct and wgrad kernels stay
   * the defaults, since with the GEMMs the default synthetic DBiSL run on llvmpipe took 12 % longer per iteration */
  softwareAdapterGemms: boolean;
}

export const defaultConv3dKnobs: Readonly<Conv3dKnobs> = Object.freeze({
  targetWorkgroups: 1024,
  maxPartialBytes: 256 * 2 ** 20,
  maxChunkChannels: 4,
  upKernel: true,
  downKernel: true,
  minSplitK: 128,
  implicitGemmMinChannels: 16,
  implicitGemmMinReadChannels: 2,
  implicitGemmWeightGradientMinChannels: 16,
  softwareAdapterGemms: false,
});

/** The device limits the plans depend on (a GpuRuntime, or nominal limits for the benchmark list). */
export interface HasLimits {
  limits: Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX' | 'maxStorageBufferBindingSize'>;
  /** a CPU rasteriser such as llvmpipe (see Conv3dKnobs.softwareAdapterGemms) */
  software?: boolean;
}

/** What a plan is made for: the device's limits and the runtime's knobs. */
export interface PlanContext { rt: HasLimits; knobs: Readonly<Conv3dKnobs> }

/**
 * What a plan's final write applies per written channel to the sum v: + Bias[c], then an evaluation-mode batch
 * norm (norm/webgpu.ts's expression, by the fixed statistics NMean and NVar, NWeight and NBias where present,
 * eps as its float32 bits), then a ReLU (NaN kept; only with the norm). Part of a plan's and a pipeline's
 * identity; the kernels bind its operands (epilogueOperands) after the two they read.
 */
export interface Epilogue {
  bias: boolean;
  norm: { weight: boolean; bias: boolean; epsBits: number } | null;
  relu: boolean;
}

export const noEpilogue: Epilogue = Object.freeze({ bias: false, norm: null, relu: false });
export const biasEpilogue: Epilogue = Object.freeze({ bias: true, norm: null, relu: false });

/** the number of buffers an epilogue binds */
export function epilogueBindings(e: Epilogue): number {
  return (e.bias ? 1 : 0) + (e.norm ? 2 + (e.norm.weight ? 1 : 0) + (e.norm.bias ? 1 : 0) : 0);
}

/** The WGSL declarations of an epilogue's operands from binding `first` on (none without one). */
export function epilogueDeclarations(e: Epilogue, first: number): string[] {
  const names = [...(e.bias ? ['Bias'] : []), ...(e.norm ? ['NMean', 'NVar', ...(e.norm.weight ? ['NWeight'] : []), ...(e.norm.bias ? ['NBias'] : [])] : [])];
  return names.map((name, i) => `@group(0) @binding(${first + i}) var<storage, read> ${name}: array<f32>;`);
}

/** WGSL statements reading the epilogue's terms of channel `c` (a u32 expression) once per channel. */
export function epilogueChannel(e: Epilogue, c: string): string[] {
  const lines = e.bias ? [`let b = Bias[${c}];`] : [];
  if (e.norm) {
    lines.push(`let nMean = NMean[${c}]; let nRstd = ${wgslRstd(`NVar[${c}]`, `bitcast<f32>(${e.norm.epsBits}u)`)};`);
    if (e.norm.weight) lines.push(`let nWeight = NWeight[${c}];`);
    if (e.norm.bias) lines.push(`let nBias = NBias[${c}];`);
  }
  return lines;
}

/** The WGSL statement writing the sum `acc` through the epilogue to `target` (after epilogueChannel's lines). */
export function epilogueStore(e: Epilogue, target: string, acc: string): string {
  const v = `${acc}${e.bias ? ' + b' : ''}`;
  if (!e.norm) return `${target} = ${v};`;
  const y = wgslNormalized('nRstd', e.norm.weight ? 'nWeight' : '1.0', 'ev', 'nMean', e.norm.bias ? 'nBias' : null);
  return e.relu ? `{ let ev = ${v}; let ey = ${y}; ${target} = ${wgslRelu('ey')}; }` : `{ let ev = ${v}; ${target} = ${y}; }`;
}

/** A short key naming an epilogue (pipeline keys; empty without one). */
export function epilogueKey(e: Epilogue): string {
  if (!e.norm) return e.bias ? 'bias' : '';
  return `${e.bias ? 'bias+' : ''}norm${e.norm.weight ? 'W' : ''}${e.norm.bias ? 'B' : ''}${e.relu ? '+relu' : ''}:${e.norm.epsBits}`;
}

/**
 * One way of computing one convolution, made once per problem (plans are cached and never mutated): the
 * kernel's problem(s), tiles, splits and pipeline keys.
 */
export interface Conv3dPlan {
  /** one line per kernel it dispatches (for benchmarks, reports and tests) */
  describe(): string;
  /** Records the dispatches writing `out` from `src` (x, or gy for the input gradient) and `w` (gy for the
   * weight gradient), applying the plan's epilogue, whose operands `epilogue` holds in binding order. */
  run(rt: GpuRuntime, src: GPUBuffer, w: GPUBuffer, epilogue: readonly GPUBuffer[], out: GpuStorage): void;
}

export interface Limits { shared: number; threads: number }
export function limitsOf(rt: HasLimits): Limits {
  return {
    shared: rt.limits.maxComputeWorkgroupStorageSize,
    threads: Math.min(256, rt.limits.maxComputeInvocationsPerWorkgroup, rt.limits.maxComputeWorkgroupSizeX),
  };
}

export const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** `what` names the operand in the message (a function: formatting it on every call cost more than the check) */
export function checkBinding(rt: HasLimits, elements: number, what: () => string): void {
  const bytes = elements * 4;
  const max = rt.limits.maxStorageBufferBindingSize;
  if (bytes > max) {
    throw new Error(`webgpu conv3d: ${what()} of ${elements} float32 elements (${bytes} bytes) exceeds the device's maxStorageBufferBindingSize ${max}`);
  }
}

/** The tile choices of the cost models, by problem, limits and knobs (pure functions of their key). */
const tileCache = new Map<string, unknown>();
export function cachedTiles<T>(key: string, make: () => T): T {
  let v = tileCache.get(key) as T | undefined;
  if (v === undefined) { v = make(); tileCache.set(key, v); }
  return v;
}

/** Workgroup-memory wavefronts one warp-wide 32-bit load needs: the most distinct words in one of 32 banks. */
export function bankWays(words: readonly number[]): number {
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

/** The most split-K copies of an output of `outLen` elements: within knobs.maxPartialBytes and the binding limit. */
export function maxSplitParts(ctx: PlanContext, outLen: number): number {
  return Math.floor(Math.min(ctx.knobs.maxPartialBytes, ctx.rt.limits.maxStorageBufferBindingSize) / (4 * outLen));
}

/** Split-K of a row-tiled GEMM: enough workgroups to fill the GPU, at least knobs.minSplitK products (bk per
 * chunk) per split, partial outputs within knobs.maxPartialBytes and the binding limit. */
export function kSplits(ctx: PlanContext, chunks: number, bk: number, mTiles: number, coTiles: number, outLen: number): { splits: number; perSplit: number } {
  const minChunks = Math.ceil(ctx.knobs.minSplitK / bk);
  let s = Math.min(Math.floor(chunks / minChunks), Math.ceil(ctx.knobs.targetWorkgroups / (mTiles * coTiles)));
  s = Math.max(1, Math.min(s, maxSplitParts(ctx, outLen), Math.floor(65535 / coTiles)));
  const perSplit = Math.ceil(chunks / s);
  return { splits: Math.ceil(chunks / perSplit), perSplit };
}

const reduceSource = (e: Epilogue): string => /* wgsl */ `
struct Params { len: u32, splits: u32, inner: u32, channels: u32 }
@group(0) @binding(0) var<storage, read> parts: array<f32>;
${epilogueDeclarations(e, 1).join('\n')}
@group(0) @binding(${1 + epilogueBindings(e)}) var<storage, read_write> out: array<f32>;
@group(0) @binding(${2 + epilogueBindings(e)}) var<uniform> P: Params;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(256)};
  if (i >= P.len) { return; }
  var s = ${e.bias ? 'Bias[(i / P.inner) % P.channels]' : '0.0'};
  for (var k = 0u; k < P.splits; k++) { s += parts[k * P.len + i]; }
  ${e.norm ? `${epilogueChannel({ ...e, bias: false }, '(i / P.inner) % P.channels').join('\n  ')}\n  ` : ''}${epilogueStore({ ...e, bias: false }, 'out[i]', 's')}
}`;

/** the summing pass's pipeline keys by epilogue, made once per epilogue object (not a string per dispatch) */
const sumKeys = new WeakMap<Epilogue, string>();

/** out = epilogue(Σ_split parts[split]) per element, its channel (i / inner) % channels; the bias starts the sum */
function sumSplits(rt: GpuRuntime, parts: GpuStorage, splits: number, out: GpuStorage, len: number, e: Epilogue,
  operands: readonly GPUBuffer[], inner: number, channels: number): void {
  let key = sumKeys.get(e);
  if (key === undefined) { key = `conv3d:sum:${epilogueKey(e) || 'plain'}`; sumKeys.set(e, key); }
  const kernel = rt.kernel(key, () => reduceSource(e), 2 + operands.length);
  const params = new Params().u32(len, splits, inner, channels).done();
  rt.dispatch(kernel, [parts.buffer, ...operands, out.buffer], params, grid1d(len, 256));
}

/** How a split-K plan's output is laid out: `len` elements, channel (i / inner) % channels (for the epilogue). */
export interface SplitOutput { len: number; inner: number; channels: number }

/**
 * Runs `record` into `out` directly (epilogue fused: `record` gets its operands) when splits = 1; else into
 * `splits` partial outputs (no operands) that a second pass sums, applying the epilogue.
 */
export function withSplitK(rt: GpuRuntime, splits: number, o: SplitOutput, out: GpuStorage, e: Epilogue, operands: readonly GPUBuffer[],
  record: (dst: GPUBuffer, operands: readonly GPUBuffer[]) => void, what = 'split-K partial outputs'): void {
  if (splits === 1) {
    record(out.buffer, operands);
    return;
  }
  checkBinding(rt, splits * o.len, () => what);
  const parts = rt.alloc(splits * o.len, 'float32');
  record(parts.buffer, []);
  sumSplits(rt, parts, splits, out, o.len, e, operands, o.inner, o.channels);
  rt.free(parts);
}

/** A kernel's buffers: the two it reads, an epilogue's operands, the output (no spread without operands: the
 * common case, once per dispatch). */
export function kernelBuffers(a: GPUBuffer, b: GPUBuffer, operands: readonly GPUBuffer[], out: GPUBuffer): GPUBuffer[] {
  return operands.length === 0 ? [a, b, out] : [a, b, ...operands, out];
}

/**
 * Dispatches a row-tiled GEMM pipeline (down, implicit or weight GEMM; bindings src, w, [epilogue], out, which the
 * weight GEMM binds to x, gy, gw): grid x (and z past 65535) = row tiles, y = column tiles × splits; split-K as
 * withSplitK.
 */
export function runTiled(rt: GpuRuntime, key: string, source: () => string, mTiles: number, coTiles: number, splits: number,
  src: GPUBuffer, w: GPUBuffer, e: Epilogue, operands: readonly GPUBuffer[], out: GpuStorage, o: SplitOutput): void {
  const kernel = rt.kernel(key, source, 3 + (splits === 1 ? operands.length : 0));
  const [gx, gz] = grid1d(mTiles, 1);
  const grid: [number, number, number] = [gx, coTiles * splits, gz];
  withSplitK(rt, splits, o, out, e, operands, (dst, ops) => rt.dispatch(kernel, kernelBuffers(src, w, ops, dst), null, grid));
}

/** The WebGPU conv kernels compute in float32 only. */
export function checkF32(s: Storage, what: string): void {
  if (s.dtype !== 'float32') throw new Error(`webgpu conv3d: ${what} must be float32, got ${s.dtype} (use the cpu backend for float64)`);
}
