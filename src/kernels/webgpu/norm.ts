import type { Backend, ChannelAffineTerms, ChannelLayout, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { checkChannelAffine, checkChannelSums, checkMoments } from '../channels.js';
import { fill } from './elementwise.js';
import type { GpuRuntime } from './runtime.js';
import { GpuStorage, Params, gpuBuffer, grid1d, wgslFlatIndex } from './runtime.js';

/**
 * The per-channel kernels of the normalisation layers, over a contiguous [outer, channels, inner] layout
 * (element (o, k, i) at (o·channels + k)·inner + i):
 *  - moments: mean and biased variance per channel in one read of x. Every lane keeps a Welford state
 *    (count, mean, M2); four loaded values at a time become one exact four-element state (one division per
 *    four elements), and states combine by Chan's formula, in the workgroup's tree and across chunks: no
 *    E[x²] − E[x]² cancellation.
 *  - channelSums: Σ u and Σ u·(v − m[k]) per channel (the sums of a normalisation's backward), one read of u, v.
 *  - channelAffine: out = a[k]·(u − m[k]) + b[k]·v + c[k], one elementwise pass.
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

type Kind = 'moments' | 'sums';
/** direct: data → result; partial: data → one state per (channel, chunk); merge: states → result */
type Stage = 'direct' | 'partial' | 'merge';

/** WGSL of each reduction: its state S (merge, pack into a vec4f, finish into the two outputs) and its loads. */
const reductions: Record<Kind, { state: string; inputs: string[]; load: string }> = {
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
fn unpack(p: vec4f) -> S { return p.xyz; }
fn finish(s: S) -> vec2f { return vec2f(s.y, s.z / s.x); }`,
    inputs: ['x'],
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
  sums: {
    // (Σ u, Σ u·(v − m[k]))
    state: /* wgsl */ `
alias S = vec2f;
fn merge(a: S, b: S) -> S { return a + b; }
fn pack(s: S) -> vec4f { return vec4f(s, 0.0, 0.0); }
fn unpack(p: vec4f) -> S { return p.xy; }
fn finish(s: S) -> vec2f { return s; }`,
    inputs: ['u', 'v', 'm'],
    load: /* wgsl */ `
alias L = vec2f;
/** m[k] of the workgroup's channel */
var<private> mk: f32;
fn load(at: u32) -> L { return vec2f(u[at], v[at]); }
fn one(l: L) -> S { return S(l.x, l.x * (l.y - mk)); }
fn four(l0: L, l1: L, l2: L, l3: L) -> S { return one(l0) + one(l1) + one(l2) + one(l3); }`,
  },
};

function reductionSource(kind: Kind, stage: Stage): string {
  const r = reductions[kind];
  const inputs = stage === 'merge' ? ['part'] : r.inputs;
  const outputs = stage === 'partial' ? ['part'] : ['out0', 'out1'];
  const bindings = [
    ...inputs.map((name, b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<${name === 'part' ? 'vec4f' : 'f32'}>;`),
    ...outputs.map((name, b) => `@group(0) @binding(${inputs.length + b}) var<storage, read_write> ${name}: array<${name === 'part' ? 'vec4f' : 'f32'}>;`),
  ].join('\n');
  const advance = `r += ${WG}u; i += P.stepI; o += P.stepO; if (i >= P.inner) { i -= P.inner; o += 1u; }`;
  const walk = stage === 'merge'
    ? `for (var c = t; c < P.chunks; c += ${WG}u) { acc = merge(acc, unpack(part[k * P.chunks + c])); }`
    : `${kind === 'sums' ? 'mk = m[k];' : ''}
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
    : 'let f = finish(sh[0]);\n    out0[k] = f.x;\n    out1[k] = f.y;';
  return /* wgsl */ `
struct Params { channels: u32, chunks: u32, chunkLen: u32, R: u32, inner: u32, strideO: u32, stepO: u32, stepI: u32 }
${bindings}
@group(0) @binding(${inputs.length + outputs.length}) var<uniform> P: Params;
${r.state}
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

/** Runs one reduction; returns its two [channels] outputs. `empty` fills them when channels have no elements. */
function reduceChannels(rt: GpuRuntime, kind: Kind, inputs: readonly Storage[], layout: ChannelLayout, empty: number): [GpuStorage, GpuStorage] {
  const { outer, channels, inner } = layout;
  const R = outer * inner;
  if (channels === 0 || R === 0) return [fill(rt, channels, empty, 'float32'), fill(rt, channels, empty, 'float32')];
  const out0 = rt.alloc(channels, 'float32'), out1 = rt.alloc(channels, 'float32');
  const { chunks, chunkLen } = channelChunks(channels, R);
  const params = new Params().u32(channels, chunks, chunkLen, R, inner, channels * inner, Math.floor(WG / inner), WG % inner).done();
  const run = (stage: Stage, buffers: GPUBuffer[], workgroups: number) => {
    const kernel = rt.kernel(`chan:${kind}:${stage}`, () => reductionSource(kind, stage), buffers.length);
    rt.dispatch(kernel, buffers, params, grid1d(workgroups, 1));
  };
  const data = inputs.map(gpuBuffer);
  if (chunks === 1) {
    run('direct', [...data, out0.buffer, out1.buffer], channels);
    return [out0, out1];
  }
  const part = rt.alloc(4 * channels * chunks, 'float32');
  run('partial', [...data, part.buffer], channels * chunks);
  run('merge', [part.buffer, out0.buffer, out1.buffer], channels);
  rt.free(part);
  return [out0, out1];
}

export function moments(rt: GpuRuntime, x: Storage, layout: ChannelLayout): { mean: GpuStorage; variance: GpuStorage } {
  checkMoments(x, layout);
  const [mean, variance] = reduceChannels(rt, 'moments', [x], layout, NaN);
  return { mean, variance };
}

export function channelSums(rt: GpuRuntime, u: Storage, v: Storage, m: Storage, layout: ChannelLayout): { sum: GpuStorage; dot: GpuStorage } {
  checkChannelSums(u, v, m, layout);
  const [sum, dot] = reduceChannels(rt, 'sums', [u, v, m], layout, 0);
  return { sum, dot };
}

export function channelAffine(rt: GpuRuntime, u: Storage, v: Storage | null, t: ChannelAffineTerms, layout: ChannelLayout): GpuStorage {
  checkChannelAffine(u, v, t, layout);
  const out = rt.alloc(u.length, 'float32');
  if (u.length === 0) return out;
  const operands: [string, Storage][] = [];
  for (const [name, s] of [['u', u], ['v', v], ['a', t.a], ['m', t.m], ['b', t.b], ['c', t.c]] as const) if (s) operands.push([name, s]);
  const names = operands.map(([name]) => name);
  const has = (name: string) => names.includes(name);
  const expr = `a[k] * ${has('m') ? '(u[i] - m[k])' : 'u[i]'}${has('v') ? ' + b[k] * v[i]' : ''}${has('c') ? ' + c[k]' : ''}`;
  const kernel = rt.kernel(`chan:affine:${names.join('')}`, () => /* wgsl */ `
struct Params { n: u32, inner: u32, channels: u32, pad: u32 }
${names.map((name, b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<f32>;`).join('\n')}
@group(0) @binding(${names.length}) var<storage, read_write> out: array<f32>;
@group(0) @binding(${names.length + 1}) var<uniform> P: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  let k = (i / P.inner) % P.channels;
  out[i] = ${expr};
}`, names.length + 1);
  const params = new Params().u32(u.length, layout.inner, layout.channels, 0).done();
  rt.dispatch(kernel, [...operands.map(([, s]) => gpuBuffer(s)), out.buffer], params, grid1d(u.length, WG));
  return out;
}

// ------------------------------------------------------------------------------------------ benchmarks

type BenchCase = 'moments' | 'channelSums' | 'channelAffine forward' | 'channelAffine backward';

/** flops and bytes per element of each case (reads of the full-size operands plus the full-size write) */
const perElement: Record<BenchCase, { flops: number; bytes: number }> = {
  moments: { flops: 4, bytes: 4 },
  channelSums: { flops: 4, bytes: 8 },
  'channelAffine forward': { flops: 3, bytes: 8 },
  'channelAffine backward': { flops: 5, bytes: 12 },
};

function normBench(kind: BenchCase, label: string, layout: ChannelLayout, large: boolean): KernelBenchmark {
  const n = layout.outer * layout.channels * layout.inner;
  return {
    group: 'norm', name: `${kind} ${label}`, flops: perElement[kind].flops * n, bytes: perElement[kind].bytes * n, large,
    setup(backend: Backend) {
      const x = backend.fill(n, 0.5, 'float32'), g = backend.fill(n, -0.25, 'float32');
      const terms = [1.5, 0.1, -0.5, 0.2].map((v) => backend.fill(layout.channels, v, 'float32'));
      const [a, m, b, c] = terms;
      return {
        run() {
          switch (kind) {
            case 'moments': { const s = backend.moments(x, layout); backend.free(s.mean); backend.free(s.variance); break; }
            case 'channelSums': { const s = backend.channelSums(g, x, m, layout); backend.free(s.sum); backend.free(s.dot); break; }
            case 'channelAffine forward': backend.free(backend.channelAffine(x, null, { a, m, b: null, c }, layout)); break;
            case 'channelAffine backward': backend.free(backend.channelAffine(x, g, { a, m, b, c }, layout)); break;
          }
        },
        dispose() { for (const s of [x, g, ...terms]) backend.free(s); },
      };
    },
  };
}

/** batch norm sees [N, C, D·H·W]; instance norm [1, N·C, D·H·W] */
const shapes: [string, ChannelLayout, boolean][] = [
  ['BN [4,16,112,112,80]', { outer: 4, channels: 16, inner: 112 * 112 * 80 }, true],
  ['IN [4,16,112,112,80]', { outer: 1, channels: 64, inner: 112 * 112 * 80 }, true],
  ['BN [2,16,32,32,16]', { outer: 2, channels: 16, inner: 32 * 32 * 16 }, false],
];

export const benchmarks: KernelBenchmark[] = shapes.flatMap(([label, layout, large]) =>
  (['moments', 'channelSums', 'channelAffine forward', 'channelAffine backward'] as const).map((kind) => normBench(kind, label, layout, large)));
