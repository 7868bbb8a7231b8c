import type { Conv3dParams } from '../backend.js';
import { convGeometry } from '../geometry.js';
import type { GroupedGeometry } from './grouped-cpu.js';
import { fmt, type Limits } from './plan.js';

/**
 * The grouped kernels' problems and block sizes (grouped.ts writes their WGSL): shape arithmetic only, which
 * F.conv3d also asks whether the kernels take a convolution (groupedKernelsFit).
 */

/**
 * The halo-tiled kernel of the forward and of the stride-1 input gradient (which is the forward of gy with the
 * flipped kernel, padding (k − 1)·dil − p and the roles of Cg and Mg swapped). A workgroup owns one sample, one
 * group and a block of voxels of what it writes; per channel it reads it stages the block's input halo in
 * workgroup memory (zero outside the volume), then every invocation sums the taps of TW neighbouring voxels
 * along w for up to 4 of the channels it writes (TW × MC accumulators; more channels: more workgroups): per
 * (kd, kh) row it loads the distinct halo words its TW·KW products need once and each weight once. Every size is
 * a WGSL constant (one pipeline per shape), so all index arithmetic divides by constants.
 */
export interface TiledProblem {
  n: number;
  groups: number;
  /** channels written and read per group */
  outPer: number;
  inPer: number;
  inSize: readonly number[];
  outSize: readonly number[];
  /** voxel o reads input o·s + base + t·dil along each axis */
  s: readonly number[];
  base: readonly number[];
  dil: readonly number[];
  k: readonly number[];
  /** the input gradient: weight [j·Mg + r, m, flipped tap] instead of the forward's [j·Mg + m, r, tap] */
  transposed: boolean;
  bias: boolean;
}

/** invocations per workgroup along (d, h, w), the voxels along w and the written channels (a divisor of outPer) each
 * one computes */
export interface Tiling { threads: readonly [number, number, number]; tw: number; mc: number }

export const blockVoxels = (t: Pick<Tiling, 'threads' | 'tw'>): number[] => [t.threads[0], t.threads[1], t.threads[2] * t.tw];

const pow2 = (v: number): number => 2 ** Math.ceil(Math.log2(v));
export const product = (v: readonly number[]): number => v.reduce((a, b) => a * b, 1);

/** the input box a block of `voxels` output voxels reads */
export const haloOf = (q: Pick<TiledProblem, 's' | 'k' | 'dil'>, voxels: readonly number[]): number[] =>
  [0, 1, 2].map((a) => (voxels[a]! - 1) * q.s[a]! + (q.k[a]! - 1) * q.dil[a]! + 1);

/** a block of at most `budget` cells within `extent` (powers of two): up to 16 along w, then h, then d */
function blockWithin(extent: readonly number[], budget: number): [number, number, number] {
  const bw = Math.min(pow2(extent[2]!), 16, budget), bh = Math.min(pow2(extent[1]!), Math.floor(budget / bw));
  return [Math.min(pow2(extent[0]!), Math.floor(budget / (bw * bh))), bh, bw];
}

/** halves the block's longest side until `fits`; throws when one cell does not fit */
function shrinkUntil(block: [number, number, number], fits: () => boolean, q: Pick<TiledProblem, 'k' | 'dil'>): void {
  while (!fits()) {
    const a = block.indexOf(Math.max(...block));
    if (block[a] === 1) throw new Error(`webgpu conv3d: the input box of one grouped-conv invocation (kernel ${fmt(q.k)}, dilation ${fmt(q.dil)}) exceeds the device's workgroup memory`);
    block[a] /= 2;
  }
}

/** the invocations of a tiled block before any halving: up to 256, fewer where the output is smaller */
function fullBlock(q: TiledProblem, limits: Limits): [number, number, number] {
  const tw = Math.min(4, q.outSize[2]!);
  return blockWithin([q.outSize[0]!, q.outSize[1]!, Math.ceil(q.outSize[2]! / tw)], limits.threads);
}

/** up to 256 invocations (fewer where the output is smaller), halved until the block's halo fits workgroup memory */
export function chooseTiling(q: TiledProblem, limits: Limits): Tiling {
  const threads = fullBlock(q, limits);
  const tw = Math.min(4, q.outSize[2]!);
  shrinkUntil(threads, () => 4 * product(haloOf(q, blockVoxels({ threads, tw }))) <= limits.shared, q);
  const mc = [4, 3, 2, 1].find((c) => q.outPer % c === 0)!;
  return { threads, tw, mc };
}

/**
 * The weight gradient gw[co, c, t] = Σ_{n, o} gy[n, co, o] · x[n, j·Cg + c, o·s − p + t·dil]. A workgroup owns the
 * (co, c) rows of taps of one input channel c and up to 4 of its group's output channels co, and a range of tiles
 * (a sample's block of output voxels; split-K over the tiles: grid y is the split, and with more than one split a
 * second pass sums the partial gradients in split order). Per tile it stages those channels' gy blocks and x's halo in workgroup memory. Its invocations own (kd, kh, lane) triples: a
 * lane takes every VG-th row (d, h) of the block and sums, along each row (unrolled: each gy word and each distinct
 * halo word loaded once), gy times the inputs its KW taps read (KW accumulators per output channel), into its own
 * workgroup-memory slots; at the end each tap sums its VG lanes in lane order: deterministic, no atomics.
 */
export interface WeightProblem {
  n: number; groups: number; cg: number; co: number;
  inSize: readonly number[]; outSize: readonly number[];
  s: readonly number[]; p: readonly number[]; dil: readonly number[]; k: readonly number[];
}
/** `mr`: the output channels of one group (a divisor of Mg, at most 4) whose rows a workgroup computes together */
export interface WeightTiling { block: readonly [number, number, number]; vg: number; mr: number; threads: number; splits: number; perSplit: number }

export function chooseWeightTiling(q: WeightProblem, limits: Limits, maxParts: number): WeightTiling {
  const [KD, KH, KW] = q.k as [number, number, number];
  // blocks of up to 1024 voxels: fewer tiles, so fewer barriers per workgroup (on llvmpipe 1.1–1.3× faster than 256)
  const mr = [4, 3, 2, 1].find((c) => (q.co / q.groups) % c === 0)!;
  const block = blockWithin(q.outSize, 1024);
  const lanes = (): number => Math.max(1, Math.min(Math.floor(limits.threads / (KD * KH)), block[0] * block[1]));
  shrinkUntil(block, () => 4 * (product(haloOf(q, block)) + mr * product(block) + KD * KH * lanes() * KW * mr) <= limits.shared, q);
  const vg = lanes();
  const tiles = q.n * [0, 1, 2].reduce((acc, a) => acc * Math.ceil(q.outSize[a]! / block[a]!), 1);
  // about 256 workgroups in flight (a GPU's several waves), at least 4 tiles per split, within the partials' bytes
  const wanted = Math.min(Math.ceil(256 / (q.co * q.cg / mr)), Math.floor(tiles / 4), maxParts, 65535);
  const perSplit = Math.ceil(tiles / Math.max(1, wanted));
  return { block, vg, mr, threads: Math.min(limits.threads, KD * KH * vg), splits: Math.ceil(tiles / perSplit), perSplit };
}

export const forwardProblem = (g: GroupedGeometry, bias: boolean): TiledProblem => ({
  n: g.n, groups: g.groups, outPer: g.co / g.groups, inPer: g.ci, inSize: g.in, outSize: g.out, s: g.s, base: g.p.map((p) => -p),
  dil: g.dil, k: g.k, transposed: false, bias,
});

/** the stride-1 input gradient as the tiled kernel's problem (see TiledProblem) */
export const inputGradientProblem = (g: GroupedGeometry): TiledProblem => ({
  n: g.n, groups: g.groups, outPer: g.ci, inPer: g.co / g.groups, inSize: g.out, outSize: g.in, s: g.s,
  base: [0, 1, 2].map((a) => g.p[a]! - (g.k[a]! - 1) * g.dil[a]!), dil: g.dil, k: g.k, transposed: true, bias: false,
});

export const weightProblem = (g: GroupedGeometry): WeightProblem => ({
  n: g.n, groups: g.groups, cg: g.ci, co: g.co, inSize: g.in, outSize: g.out, s: g.s, p: g.p, dil: g.dil, k: g.k,
});

/** WebGPU's guaranteed minimum limits: what fits them fits every adapter */
const minimumLimits: Limits = { shared: 16384, threads: 256 };
/** a forward workgroup halved below this many invocations (a large dilated kernel's halo) would crawl */
const minForwardThreads = 32;

/**
 * Whether the grouped kernels take this convolution on every adapter: their blocks, halved until the input halo fits
 * WebGPU's minimum workgroup memory, keep at least 32 invocations in the forward where halving was needed (a dilated
 * kernel's halo may need more than the minimum allows even for one voxel). Shapes only, so every backend makes the
 * same choice.
 */
export function groupedKernelsFit(xShape: readonly number[], wShape: readonly number[], p: Conv3dParams, groups: number): boolean {
  // F.conv3d asks on every call: the tilings below cost about 10 µs, the lookup about 1
  const key = `${xShape}|${wShape}|${p.stride}|${p.padding}|${p.dilation}|${groups}`;
  let fits = fitsByProblem.get(key);
  if (fits === undefined) {
    if (fitsByProblem.size >= MAX_REMEMBERED) fitsByProblem.clear();
    fitsByProblem.set(key, fits = computeFits(xShape, wShape, p, groups));
  }
  return fits;
}

/** the problems groupedKernelsFit has answered (it starts over past MAX_REMEMBERED: shapes that keep changing) */
const fitsByProblem = new Map<string, boolean>();
const MAX_REMEMBERED = 4096;

function computeFits(xShape: readonly number[], wShape: readonly number[], p: Conv3dParams, groups: number): boolean {
  const g: GroupedGeometry = { ...convGeometry([xShape[0]!, xShape[1]! / groups, ...xShape.slice(2)], wShape, p), groups };
  try {
    const forward = forwardProblem(g, false), threads = product(chooseTiling(forward, minimumLimits).threads);
    if (threads < Math.min(minForwardThreads, product(fullBlock(forward, minimumLimits)))) return false;
    if (g.s.every((s) => s === 1)) chooseTiling(inputGradientProblem(g), minimumLimits);
    chooseWeightTiling(weightProblem(g), minimumLimits, Infinity);
    return true;
  } catch {
    return false;
  }
}
