import type { Backend, ChannelLayout, NormLayout, NormTerms, RunningStatsUpdate, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { fill } from '../elementwise/webgpu.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { GpuStorage, Params, gpuBuffer, grid1d, wgslFlatIndex, wgslIsNaN } from '../webgpu/runtime.js';
import { checkMoments, checkNorm, checkRunningStats } from './checks.js';

/**
 * The kernels of the normalisation layers, over a contiguous [outer, channels, inner] layout (element (o, k, i)
 * at (o·channels + k)·inner + i). Every kernel derives its per-channel coefficients itself from the statistics,
 * weight, bias and eps (see NormTerms), so that a normalisation runs no per-channel tensor ops:
 *  - moments: mean and biased variance per channel in one read of x. Every lane keeps a Welford state
 *    (count, mean, M2); four loaded values at a time become one exact four-element state (one division per
 *    four elements), and states combine by Chan's formula, in the workgroup's tree and across chunks: no
 *    E[x²] − E[x]² cancellation.
 *  - normSums: Σ g' and rstd·Σ g'·(x − mean) per channel (the sums of the backward), one read of g, x (and y
 *    for a fused ReLU's mask g' = g·[y > 0]).
 *  - normalize, normBackward: the forward (optionally with max(0, ·)) and the input gradient, one elementwise
 *    pass each; normBackward's group-norm terms add weight·sum and weight·dot over the perGroup channels of the
 *    element's group (one term for batch and instance norm).
 *  - updateRunningStats: batch norm's running statistics in place, one tiny dispatch for both buffers; moments
 *    given the running statistics updates them itself, in the dispatch that writes the statistics (the same
 *    expressions on the same values, so the same bits).
 * The two reductions share one traversal: workgroup (k, chunk) walks its chunk of channel k's elements with
 * its 256 lanes 256 elements apart, advancing (o, i) by fixed steps (no division per element), four loads in
 * flight per lane. A channel with many elements (batch norm at V-Net size: 16 channels × 4·10⁶) is split into
 * chunks so that about 2048 workgroups run; a second dispatch merges the chunks' partial states.
 */

const WG = 256;
/** aim for about this many workgroups before splitting channels into chunks */
const TARGET_GROUPS = 2048;
/** below this many elements per lane, a chunk is not worth a second pass */
const MIN_PER_LANE = 32;

type Kind = 'moments' | 'sums' | 'sums-relu';


/*
 * The forward's expressions, shared with the convolutions' epilogue (conv3d/plan.ts), which applies an evaluation-mode
 * batch norm (+ ReLU) in the convolution's store: the same WGSL on the same float32 values gives the same bits.
 */
/** WGSL of rstd = 1/√(variance + eps) */
export const wgslRstd = (variance: string, eps: string): string => `inverseSqrt(${variance} + ${eps})`;
/** WGSL of the normalised element rstd·weight·(x − mean) + bias (`bias` null: no bias term) */
export const wgslNormalized = (rstd: string, weight: string, x: string, mean: string, bias: string | null): string =>
  `${rstd} * ${weight} * (${x} - ${mean})${bias === null ? '' : ` + ${bias}`}`;
/** WGSL of max(v, 0) keeping NaN, as PyTorch's relu (`v` a name: it is read three times) */
export const wgslRelu = (v: string): string => `select(max(${v}, 0.0), ${v}, ${wgslIsNaN(v)})`;
/** WGSL: g masked by the fused ReLU's output y as PyTorch's threshold_backward (a NaN output passes g) */
const reluMasked = (g: string, y: string) => `select(0.0, ${g}, ${y} > 0.0 || ${wgslIsNaN(y)})`;
/** direct: data → result; partial: data → one state per (channel, chunk); merge: states → result */
type Stage = 'direct' | 'partial' | 'merge';
/** which running statistics the stage that writes the moments updates: none, mean, variance, both (bits 1 and 2) */
type RunningSet = 0 | 1 | 2 | 3;
const runningSet = (r: RunningStatsUpdate | null): RunningSet => (r ? ((r.mean ? 1 : 0) + (r.variance ? 2 : 0)) as RunningSet : 0);

/** the running statistics' names, their statistic's output and the scale of that statistic (see updateRunningStats) */
const RUNNING = [['mean', 'out0', '1.0'], ['variance', 'out1', 'P.unbias']] as const;

interface Reduction {
  /** its state S: merge, pack into a vec4f, unpack */
  state: string;
  /** finish(state, channel) into the two outputs (not in the partial stage, which does not bind finishInputs) */
  finish: string;
  /** the storages the loads read, and those only finish reads */
  inputs: string[];
  finishInputs: string[];
  load: string;
}

/** the sums of the backward, with g' = `gradient` (WGSL of the element at `at`) */
function sums(gradient: string, inputs: string[]): Reduction {
  return {
    // (Σ g', Σ g'·(x − mean)), the second scaled by rstd at the end
    state: /* wgsl */ `
alias S = vec2f;
fn merge(a: S, b: S) -> S { return a + b; }
fn pack(s: S) -> vec4f { return vec4f(s, 0.0, 0.0); }
fn unpack(p: vec4f) -> S { return p.xy; }`,
    finish: 'fn finish(s: S, k: u32) -> vec2f { return vec2f(s.x, s.y * inverseSqrt(variance[k / P.perGroup] + P.eps)); }',
    inputs,
    finishInputs: ['variance'],
    load: /* wgsl */ `
alias L = vec2f;
/** the mean of the workgroup's channel */
var<private> mk: f32;
fn load(at: u32) -> L { return vec2f(${gradient}, x[at]); }
fn one(l: L) -> S { return S(l.x, l.x * (l.y - mk)); }
fn four(l0: L, l1: L, l2: L, l3: L) -> S { return one(l0) + one(l1) + one(l2) + one(l3); }`,
  };
}

const reductions: Record<Kind, Reduction> = {
  moments: {
    // (count, mean, M2)
    state: /* wgsl */ `
alias S = vec3f;
fn merge(a: S, b: S) -> S {
  if (b.x == 0.0) { return a; }
  let n = a.x + b.x;
  let d = b.y - a.y;
  let f = b.x / n;
  return S(n, a.y + d * f, a.z + b.z + d * d * a.x * f);
}
fn pack(s: S) -> vec4f { return vec4f(s, 0.0); }
fn unpack(p: vec4f) -> S { return p.xyz; }`,
    finish: 'fn finish(s: S, k: u32) -> vec2f { return vec2f(s.y, s.z / s.x); }',
    inputs: ['x'],
    finishInputs: [],
    load: /* wgsl */ `
alias L = f32;
fn load(at: u32) -> L { return x[at]; }
fn one(l: L) -> S { return S(1.0, l, 0.0); }
fn four(l0: L, l1: L, l2: L, l3: L) -> S {
  let m = (l0 + l1 + l2 + l3) * 0.25;
  let d = vec4f(l0, l1, l2, l3) - m;
  return S(4.0, m, dot(d, d));
}`,
  },
  sums: sums('g[at]', ['g', 'x', 'mean']),
  'sums-relu': sums(reluMasked('g[at]', 'y[at]'), ['g', 'x', 'y', 'mean']),
};

function reductionSource(kind: Kind, stage: Stage, running: RunningSet): string {
  const r = reductions[kind];
  const inputs = { direct: [...r.inputs, ...r.finishInputs], partial: r.inputs, merge: ['part', ...r.finishInputs] }[stage];
  const updated = RUNNING.filter((_, i) => running & (1 << i));
  const outputs = stage === 'partial' ? ['part'] : ['out0', 'out1', ...updated.map(([name]) => `running_${name}`)];
  const bindings = [
    ...inputs.map((name, b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<${name === 'part' ? 'vec4f' : 'f32'}>;`),
    ...outputs.map((name, b) => `@group(0) @binding(${inputs.length + b}) var<storage, read_write> ${name}: array<${name === 'part' ? 'vec4f' : 'f32'}>;`),
  ].join('\n');
  const advance = `r += ${WG}u; i += P.stepI; o += P.stepO; if (i >= P.inner) { i -= P.inner; o += 1u; }`;
  const walk = stage === 'merge'
    ? `for (var c = t; c < P.chunks; c += ${WG}u) { acc = merge(acc, unpack(part[k * P.chunks + c])); }`
    : `${kind === 'moments' ? '' : 'mk = mean[k / P.perGroup];'}
    let base = k * P.inner;
    let r_end = min(P.R, (chunk + 1u) * P.chunkLen);
    var r = chunk * P.chunkLen + t;
    var o = r / P.inner;
    var i = r % P.inner;
    while (r + ${3 * WG}u < r_end) {
      let a0 = base + o * P.strideO + i;
      ${advance}
      let a1 = base + o * P.strideO + i;
      ${advance}
      let a2 = base + o * P.strideO + i;
      ${advance}
      let a3 = base + o * P.strideO + i;
      ${advance}
      acc = merge(acc, four(load(a0), load(a1), load(a2), load(a3)));
    }
    while (r < r_end) {
      acc = merge(acc, one(load(base + o * P.strideO + i)));
      ${advance}
    }`;
  const write = stage === 'partial'
    ? 'part[w] = pack(sh[0]);'
    : ['let f = finish(sh[0], k);', 'out0[k] = f.x;', 'out1[k] = f.y;', ...updated.map(([name, stat, scale]) =>
      `running_${name}[k] = (1.0 - P.momentum) * running_${name}[k] + P.momentum * ${scale} * ${stat}[k];`)].join('\n    ');
  return /* wgsl */ `
struct Params { channels: u32, chunks: u32, chunkLen: u32, R: u32, inner: u32, strideO: u32, stepO: u32, stepI: u32, perGroup: u32, eps: f32, momentum: f32, unbias: f32 }
${bindings}
@group(0) @binding(${inputs.length + outputs.length}) var<uniform> P: Params;
${r.state}
${stage === 'partial' ? '' : r.finish}
${stage === 'merge' ? '' : r.load}
var<workgroup> sh: array<S, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = wid.x + wid.y * nwg.x;
  let t = lid.x;
  let k = ${stage === 'merge' ? 'w' : 'w / P.chunks'};
  let chunk = w % P.chunks;
  var acc = S();
  if (k < P.channels) {
    ${walk}
  }
  sh[t] = acc;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h = h >> 1u) {
    if (t < h) { sh[t] = merge(sh[t], sh[t + h]); }
    workgroupBarrier();
  }
  if (t == 0u && k < P.channels) {
    ${write}
  }
}`;
}

/** How a reduction over `length` elements per channel is split (exported so that tests can reach both paths). */
export function channelChunks(channels: number, length: number): { chunks: number; chunkLen: number } {
  if (channels < TARGET_GROUPS / 2 && length >= 2 * WG * MIN_PER_LANE) {
    const want = Math.min(Math.ceil(TARGET_GROUPS / channels), Math.floor(length / (WG * MIN_PER_LANE)));
    const chunkLen = Math.ceil(length / want / WG) * WG;
    return { chunks: Math.ceil(length / chunkLen), chunkLen };
  }
  return { chunks: 1, chunkLen: length };
}

/** the pipeline keys by kind, stage and running set, made once (not a string per dispatch) */
const reductionKeys = Object.fromEntries((['moments', 'sums', 'sums-relu'] as const).map((kind) => [kind,
  Object.fromEntries((['direct', 'partial', 'merge'] as const).map((stage) => [stage,
    [0, 1, 2, 3].map((running) => `chan:${kind}:${stage}${running ? `:running${running}` : ''}`)]))])) as Record<Kind, Record<Stage, string[]>>;

function runReduction(rt: GpuRuntime, kind: Kind, stage: Stage, running: RunningSet, buffers: GPUBuffer[], params: ArrayBuffer,
  workgroups: number): void {
  const kernel = rt.kernel(reductionKeys[kind][stage][running]!, () => reductionSource(kind, stage, running), buffers.length);
  rt.dispatch(kernel, buffers, params, grid1d(workgroups, 1));
}

/**
 * Runs one reduction; returns its two [channels] outputs. `inputs` are the storages its loads read, `finish`
 * those its finish reads; `empty` fills the outputs when channels have no elements. `running` (moments only):
 * the running statistics that the stage writing the outputs updates from them.
 */
function reduceChannels(rt: GpuRuntime, kind: Kind, inputs: readonly Storage[], finish: readonly Storage[], layout: ChannelLayout,
  norm: { perGroup: number; eps: number }, empty: number, running: RunningStatsUpdate | null = null): [GpuStorage, GpuStorage] {
  const { outer, channels, inner } = layout;
  const R = outer * inner;
  if (channels === 0 || R === 0) {
    const stats: [GpuStorage, GpuStorage] = [fill(rt, channels, empty, 'float32'), fill(rt, channels, empty, 'float32')];
    if (running) updateRunningStats(rt, running.mean, running.variance, { mean: stats[0], variance: stats[1] }, running.momentum, running.count);
    return stats;
  }
  const out0 = rt.alloc(channels, 'float32'), out1 = rt.alloc(channels, 'float32');
  const { chunks, chunkLen } = channelChunks(channels, R);
  const set = runningSet(running);
  const params = new Params().u32(channels, chunks, chunkLen, R, inner, channels * inner, Math.floor(WG / inner), WG % inner, norm.perGroup)
    .f32(norm.eps, running ? running.momentum : 0, running ? running.count / (running.count - 1) : 0).done();
  const data = inputs.map(gpuBuffer), last = finish.map(gpuBuffer);
  const outputs = [out0.buffer, out1.buffer];
  if (running?.mean) outputs.push(gpuBuffer(running.mean));
  if (running?.variance) outputs.push(gpuBuffer(running.variance));
  if (chunks === 1) {
    runReduction(rt, kind, 'direct', set, data.concat(last, outputs), params, channels);
    return [out0, out1];
  }
  const part = rt.alloc(4 * channels * chunks, 'float32');
  runReduction(rt, kind, 'partial', 0, data.concat(part.buffer), params, channels * chunks);
  runReduction(rt, kind, 'merge', set, [part.buffer].concat(last, outputs), params, channels);
  rt.free(part);
  return [out0, out1];
}

export function moments(rt: GpuRuntime, x: Storage, layout: ChannelLayout, running: RunningStatsUpdate | null = null):
  { mean: GpuStorage; variance: GpuStorage } {
  checkMoments(x, layout, running);
  const [mean, variance] = reduceChannels(rt, 'moments', [x], [], layout, { perGroup: 1, eps: 0 }, NaN, running);
  return { mean, variance };
}

export function normSums(rt: GpuRuntime, g: Storage, x: Storage, y: Storage | null, terms: NormTerms, layout: NormLayout):
  { sum: GpuStorage; dot: GpuStorage } {
  checkNorm('normSums', layout, [g, x, y], terms);
  const inputs = y ? [g, x, y, terms.mean] : [g, x, terms.mean];
  const [sum, dot] = reduceChannels(rt, y ? 'sums-relu' : 'sums', inputs, [terms.variance], layout, { perGroup: layout.perGroup, eps: terms.eps }, 0);
  return { sum, dot };
}

/** A normPass pipeline: its key, the names of the operands it binds (in order) and its WGSL, made once per variant. */
interface NormPassKernel { key: string; names: readonly string[]; source: () => string }

/**
 * The kernel of one elementwise pass over a normalisation's layout: binds the operands `names` (each read as
 * array<f32>), writes out[i] = the WGSL `body` computes, with k (the channel), s (its group), rstd and the weight
 * W(c) of any channel c in scope.
 */
function normPassKernel(key: string, names: readonly string[], body: string): NormPassKernel {
  const weight = names.includes('weight') ? 'weight[c % P.params]' : '1.0';
  return {
    key: `norm:${key}:${names.join(',')}`,
    names,
    source: () => /* wgsl */ `
struct Params { n: u32, inner: u32, channels: u32, perGroup: u32, params: u32, eps: f32, invN: f32 }
${names.map((name, b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<f32>;`).join('\n')}
@group(0) @binding(${names.length}) var<storage, read_write> out: array<f32>;
@group(0) @binding(${names.length + 1}) var<uniform> P: Params;
fn W(c: u32) -> f32 { return ${weight}; }
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  let k = (i / P.inner) % P.channels;
  let s = k / P.perGroup;
  let rstd = ${wgslRstd('variance[s]', 'P.eps')};
  ${body}
}`,
  };
}

/** Runs a normPass kernel over `operands` (its names' storages, in order). */
function normPass(rt: GpuRuntime, k: NormPassKernel, operands: readonly Storage[], length: number, layout: NormLayout, eps: number,
  invN: number): GpuStorage {
  const out = rt.alloc(length, 'float32');
  if (length === 0) return out;
  const kernel = rt.kernel(k.key, k.source, k.names.length + 1);
  const params = new Params().u32(length, layout.inner, layout.channels, layout.perGroup, layout.params).f32(eps, invN).done();
  const buffers = operands.map(gpuBuffer);
  buffers.push(out.buffer);
  rt.dispatch(kernel, buffers, params, grid1d(length, WG));
  return out;
}

/** the variants of a kernel by a bit mask of its options, each made on first use */
function byMask<T>(make: (mask: number) => T): (mask: number) => T {
  const made: (T | undefined)[] = [];
  return (mask) => (made[mask] ??= make(mask));
}

const WEIGHT = 1, BIAS = 2, RELU = 4, SUMS = 2, MASKED = 4;

const forwardKernel = byMask((mask) => {
  const names = ['x', 'mean', 'variance', ...(mask & WEIGHT ? ['weight'] : []), ...(mask & BIAS ? ['bias'] : [])];
  const y = wgslNormalized('rstd', 'W(k)', 'x[i]', 'mean[s]', mask & BIAS ? 'bias[k % P.params]' : null);
  // the fused ReLU keeps NaN as PyTorch's relu does
  const body = mask & RELU ? `let v = ${y};\n  out[i] = ${wgslRelu('v')};` : `out[i] = ${y};`;
  return normPassKernel(mask & RELU ? 'forward-relu' : 'forward', names, body);
});

export function normalize(rt: GpuRuntime, x: Storage, terms: NormTerms, layout: NormLayout, relu: boolean): GpuStorage {
  checkNorm('normalize', layout, [x], terms);
  const operands = [x, terms.mean, terms.variance];
  if (terms.weight) operands.push(terms.weight);
  if (terms.bias) operands.push(terms.bias);
  const k = forwardKernel((terms.weight ? WEIGHT : 0) | (terms.bias ? BIAS : 0) | (relu ? RELU : 0));
  return normPass(rt, k, operands, x.length, layout, terms.eps, 0);
}

// with fixed statistics the gradient reads neither x nor the mean (and a pipeline may bind only what it reads)
const backwardKernel = byMask((mask) => {
  const sums = mask & SUMS;
  const names = ['g', ...(sums ? ['x'] : []), ...(mask & MASKED ? ['y'] : []), ...(sums ? ['mean'] : []), 'variance',
    ...(mask & WEIGHT ? ['weight'] : []), ...(sums ? ['gsum', 'gdot'] : [])];
  const gradient = mask & MASKED ? reluMasked('g[i]', 'y[i]') : 'g[i]';
  const body = sums
    ? `var meanH = 0.0;
  var meanHx = 0.0;
  for (var c = s * P.perGroup; c < (s + 1u) * P.perGroup; c++) {
    meanH += W(c) * gsum[c];
    meanHx += W(c) * gdot[c];
  }
  out[i] = rstd * (W(k) * ${gradient} - (meanH + (x[i] - mean[s]) * rstd * meanHx) * P.invN);`
    : `out[i] = rstd * W(k) * ${gradient};`;
  return normPassKernel('backward', names, body);
});

export function normBackward(rt: GpuRuntime, g: Storage, x: Storage, y: Storage | null, terms: NormTerms,
  sums: { sum: Storage; dot: Storage } | null, layout: NormLayout): GpuStorage {
  checkNorm('normBackward', layout, [g, x, y], terms, sums ? [sums.sum, sums.dot] : []);
  const operands = [g];
  if (sums) operands.push(x);
  if (y) operands.push(y);
  if (sums) operands.push(terms.mean);
  operands.push(terms.variance);
  if (terms.weight) operands.push(terms.weight);
  if (sums) operands.push(sums.sum, sums.dot);
  const k = backwardKernel((terms.weight ? WEIGHT : 0) | (sums ? SUMS : 0) | (y ? MASKED : 0));
  const n = layout.outer * layout.perGroup * layout.inner;
  return normPass(rt, k, operands, g.length, layout, terms.eps, n > 0 ? 1 / n : 0);
}

export function updateRunningStats(rt: GpuRuntime, runningMean: Storage | null, runningVar: Storage | null,
  stats: { mean: Storage; variance: Storage }, momentum: number, count: number): void {
  checkRunningStats(runningMean, runningVar, stats, count);
  const buffers: Storage[] = [], declarations: string[] = [], updates: string[] = [];
  for (const [running, stat, name, scale] of [[runningMean, stats.mean, 'mean', '1.0'], [runningVar, stats.variance, 'variance', 'P.unbias']] as const) {
    if (!running) continue;
    const b = buffers.length;
    declarations.push(`@group(0) @binding(${b}) var<storage, read> ${name}: array<f32>;`,
      `@group(0) @binding(${b + 1}) var<storage, read_write> running_${name}: array<f32>;`);
    updates.push(`running_${name}[k] = (1.0 - P.momentum) * running_${name}[k] + P.momentum * ${scale} * ${name}[k];`);
    buffers.push(stat, running);
  }
  const n = stats.mean.length;
  if (buffers.length === 0 || n === 0) return;
  const kernel = rt.kernel(`norm:running:${runningMean ? 'mean' : ''}${runningVar ? 'var' : ''}`, () => /* wgsl */ `
struct Params { n: u32, momentum: f32, unbias: f32 }
${declarations.join('\n')}
@group(0) @binding(${buffers.length}) var<uniform> P: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x;
  if (k >= P.n) { return; }
  ${updates.join('\n  ')}
}`, buffers.length);
  const params = new Params().u32(n).f32(momentum, count / (count - 1)).done();
  rt.dispatch(kernel, buffers.map(gpuBuffer), params, grid1d(n, WG));
}

// ------------------------------------------------------------------------------------------ benchmarks

type BenchCase = 'moments' | 'normalize relu' | 'normSums relu' | 'normBackward relu';

/** flops and bytes per element of each case (reads of the full-size operands plus the full-size write) */
const perElement: Record<BenchCase, { flops: number; bytes: number }> = {
  moments: { flops: 4, bytes: 4 },
  'normalize relu': { flops: 4, bytes: 8 },
  'normSums relu': { flops: 4, bytes: 12 },
  'normBackward relu': { flops: 8, bytes: 16 },
};

function normBench(kind: BenchCase, label: string, layout: NormLayout, large: boolean): KernelBenchmark {
  const n = layout.outer * layout.channels * layout.inner, groups = layout.channels / layout.perGroup;
  return {
    group: 'norm', name: `${kind} ${label}`, flops: perElement[kind].flops * n, bytes: perElement[kind].bytes * n, large,
    setup(backend: Backend) {
      const x = backend.fill(n, 0.5, 'float32'), g = backend.fill(n, -0.25, 'float32'), y = backend.fill(n, 0.75, 'float32');
      const [mean, variance] = [0.1, 1.5].map((v) => backend.fill(groups, v, 'float32'));
      const [weight, bias] = [1.2, -0.5].map((v) => backend.fill(layout.params, v, 'float32'));
      const [sum, dot] = [0.3, -0.2].map((v) => backend.fill(layout.channels, v, 'float32'));
      const terms = { mean, variance, weight, bias, eps: 1e-5 };
      return {
        run() {
          switch (kind) {
            case 'moments': { const s = backend.moments(x, layout); backend.free(s.mean); backend.free(s.variance); break; }
            case 'normalize relu': backend.free(backend.normalize(x, terms, layout, true)); break;
            case 'normSums relu': { const s = backend.normSums(g, x, y, terms, layout); backend.free(s.sum); backend.free(s.dot); break; }
            case 'normBackward relu': backend.free(backend.normBackward(g, x, y, terms, { sum, dot }, layout)); break;
          }
        },
        dispose() { for (const s of [x, g, y, mean, variance, weight, bias, sum, dot]) backend.free(s); },
      };
    },
  };
}

/** batch norm sees [N, C, D·H·W]; instance norm [1, N·C, D·H·W] */
const shapes: [string, NormLayout, boolean][] = [
  ['BN [4,16,112,112,80]', { outer: 4, channels: 16, inner: 112 * 112 * 80, perGroup: 1, params: 16 }, true],
  ['IN [4,16,112,112,80]', { outer: 1, channels: 64, inner: 112 * 112 * 80, perGroup: 1, params: 16 }, true],
  ['BN [2,16,32,32,16]', { outer: 2, channels: 16, inner: 32 * 32 * 16, perGroup: 1, params: 16 }, false],
];

export const benchmarks: KernelBenchmark[] = shapes.flatMap(([label, layout, large]) =>
  (['moments', 'normalize relu', 'normSums relu', 'normBackward relu'] as const).map((kind) => normBench(kind, label, layout, large)));
