import type { Conv3dParams, Storage } from '../backend.js';
import { checkConvBias } from '../geometry.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { Params, gpuBuffer, grid1d, wgslFlatIndex } from '../webgpu/runtime.js';
import { groupedBackwardInputGeometry, groupedBackwardWeightGeometry, groupedForwardGeometry, type GroupedGeometry } from './grouped-cpu.js';
import {
  blockVoxels, chooseTiling, chooseWeightTiling, forwardProblem, haloOf, inputGradientProblem, weightProblem,
  type TiledProblem, type Tiling, type WeightProblem, type WeightTiling,
} from './grouped-tiling.js';
import { checkBinding, checkF32, fmt, limitsOf, noEpilogue, withSplitK } from './plan.js';

/**
 * Grouped conv3d and its two gradients in WGSL (NCDHW, contiguous float32, PyTorch semantics; the definition and
 * the oracle are in grouped-cpu.ts), for few channels per group: depthwise convolutions (one input channel per
 * group) above all, which the split-per-group path ran as one convolution per group. All groups in one dispatch
 * per direction (the weight gradient: two when it splits its reduction):
 *
 * - forward, and input gradient at stride 1: the halo-tiled kernel (tiledSource);
 * - input gradient at other strides: one invocation per input element, summing over its group's Mg output channels
 *   × the taps whose output position o = (i + p − t·dil)/s is whole and inside the output (sizes as uniforms:
 *   one pipeline for all shapes);
 * - weight gradient: workgroups per (output channel, input channel) row over staged tiles (weightSource).
 */

/** The uniform block of the strided input gradient. */
const paramsStruct = /* wgsl */ `
struct Params {
  len: u32, cg: u32, mg: u32, co: u32,
  ci: u32, vox: u32, kvol: u32, OD: u32,
  OH: u32, OW: u32, KD: u32, KH: u32,
  KW: u32, D: i32, H: i32, W: i32,
  sd: i32, sh: i32, sw: i32, pd: i32,
  ph: i32, pw: i32, dd: i32, dh: i32,
  dw: i32,
}`;

function paramsOf(g: GroupedGeometry, len: number): ArrayBuffer {
  const [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  return new Params()
    .u32(len, g.ci, g.co / g.groups, g.co, g.ci * g.groups, OD * OH * OW, KD * KH * KW, OD, OH, OW, KD, KH, KW)
    .i32(...g.in, ...g.s, ...g.p, ...g.dil)
    .done();
}

const backwardInputSource = (): string => /* wgsl */ `${paramsStruct}
@group(0) @binding(0) var<storage, read> GY: array<f32>;
@group(0) @binding(1) var<storage, read> Wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> GX: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;
// the output position along one axis that reads input position i through tap t, or -1
fn outputAt(i: i32, t: u32, p: i32, dil: i32, s: i32, size: u32) -> i32 {
  let q = i + p - i32(t) * dil;
  if (q < 0 || q % s != 0 || q / s >= i32(size)) { return -1; }
  return q / s;
}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(256)};
  if (i >= P.len) { return; }
  let iw = i32(i % u32(P.W)); var t = i / u32(P.W);
  let ih = i32(t % u32(P.H)); t = t / u32(P.H);
  let id = i32(t % u32(P.D)); t = t / u32(P.D);
  let c = t % P.ci; let n = t / P.ci;
  let local = c % P.cg; let firstOut = (c / P.cg) * P.mg;
  var acc = 0.0;
  for (var m = 0u; m < P.mg; m++) {
    let co = firstOut + m;
    let gyBase = (n * P.co + co) * P.vox;
    let wBase = (co * P.cg + local) * P.kvol;
    for (var kd = 0u; kd < P.KD; kd++) {
      let od = outputAt(id, kd, P.pd, P.dd, P.sd, P.OD);
      if (od < 0) { continue; }
      for (var kh = 0u; kh < P.KH; kh++) {
        let oh = outputAt(ih, kh, P.ph, P.dh, P.sh, P.OH);
        if (oh < 0) { continue; }
        let row = gyBase + (u32(od) * P.OH + u32(oh)) * P.OW;
        for (var kw = 0u; kw < P.KW; kw++) {
          let ow = outputAt(iw, kw, P.pw, P.dw, P.sw, P.OW);
          if (ow >= 0) { acc += GY[row + u32(ow)] * Wt[wBase + (kd * P.KH + kh) * P.KW + kw]; }
        }
      }
    }
  }
  GX[i] = acc;
}`;


function tiledSource(q: TiledProblem, t: Tiling): string {
  const [D, H, W] = q.inSize as [number, number, number], [OD, OH, OW] = q.outSize as [number, number, number];
  const [KD, KH, KW] = q.k as [number, number, number], [TD, TH, TWI] = t.threads, tw = t.tw;
  const voxels = blockVoxels(t);
  const [ED, EH, EW] = haloOf(q, voxels) as [number, number, number];
  const threads = TD * TH * TWI, halo = ED * EH * EW, kvol = KD * KH * KW, ovox = OD * OH * OW;
  const nb = [0, 1, 2].map((a) => Math.ceil(q.outSize[a]! / voxels[a]!)) as [number, number, number];
  const mg = q.transposed ? q.inPer : q.outPer, cg = q.transposed ? q.outPer : q.inPer;
  // flat weight index of written channel m, read channel r, tap (kd, kh, kw) (u32 expressions; kd, kh runtime)
  const tap = (kw: number): string => `(kd * ${KH}u + kh) * ${KW}u + ${kw}u`;
  const weight = (m: number, kw: number): string => q.transposed
    ? `((j * ${mg}u + r) * ${cg}u + m0 + ${m}u) * ${kvol}u + ${kvol - 1}u - (${tap(kw)})`
    : `((j * ${mg}u + m0 + ${m}u) * ${cg}u + r) * ${kvol}u + ${tap(kw)}`;
  const chunks = q.outPer / t.mc;
  const ms = Array.from({ length: t.mc }, (_, m) => m), us = Array.from({ length: tw }, (_, u) => u);
  const offsets = [...new Set(us.flatMap((u) => Array.from({ length: KW }, (_, kw) => kw * q.dil[2]! + u * q.s[2]!)))];
  const lines: string[] = [];
  const emit = (l: string): void => { lines.push(l); };
  emit(`@group(0) @binding(0) var<storage, read> Src: array<f32>;`);
  emit(`@group(0) @binding(1) var<storage, read> Wt: array<f32>;`);
  if (q.bias) emit(`@group(0) @binding(2) var<storage, read> B: array<f32>;`);
  emit(`@group(0) @binding(${q.bias ? 3 : 2}) var<storage, read_write> Out: array<f32>;`);
  emit(`var<workgroup> xs: array<f32, ${halo}>;`);
  emit(`@compute @workgroup_size(${threads})`);
  emit(`fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {`);
  emit(`  let flat = wg.x + wg.y * nwg.x;`);
  emit(`  if (flat >= ${nb[0] * nb[1] * nb[2] * chunks * q.n * q.groups}u) { return; }`);
  emit(`  let bw = flat % ${nb[2]}u; let bh = (flat / ${nb[2]}u) % ${nb[1]}u; let bd = (flat / ${nb[2] * nb[1]}u) % ${nb[0]}u;`);
  emit(`  let mj = flat / ${nb[0] * nb[1] * nb[2]}u; let m0 = (mj % ${chunks}u) * ${t.mc}u; let ng = mj / ${chunks}u;`);
  emit(`  let j = ng % ${q.groups}u; let n = ng / ${q.groups}u;`);
  emit(`  let td = tid / ${TH * TWI}u; let th = (tid / ${TWI}u) % ${TH}u; let tx = tid % ${TWI}u;`);
  emit(`  let od = bd * ${voxels[0]}u + td; let oh = bh * ${voxels[1]}u + th; let ow = bw * ${voxels[2]}u + tx * ${tw}u;`);
  emit(`  let hd0 = i32(bd * ${voxels[0]! * q.s[0]!}u) + (${q.base[0]}); let hh0 = i32(bh * ${voxels[1]! * q.s[1]!}u) + (${q.base[1]}); let hw0 = i32(bw * ${voxels[2]! * q.s[2]!}u) + (${q.base[2]});`);
  emit(`  let local = td * ${q.s[0]! * EH * EW}u + th * ${q.s[1]! * EW}u + tx * ${tw * q.s[2]!}u;`);
  for (const m of ms) for (const u of us) emit(`  var acc${m}_${u} = ${q.bias ? `B[j * ${q.outPer}u + m0 + ${m}u]` : '0.0'};`);
  emit(`  for (var r = 0u; r < ${q.inPer}u; r++) {`);
  emit(`    let plane = (n * ${q.groups * q.inPer}u + j * ${q.inPer}u + r) * ${D * H * W}u;`);
  emit(`    workgroupBarrier();`);
  emit(`    for (var e = tid; e < ${halo}u; e += ${threads}u) {`);
  emit(`      let id = hd0 + i32(e / ${EH * EW}u); let ih = hh0 + i32((e / ${EW}u) % ${EH}u); let iw = hw0 + i32(e % ${EW}u);`);
  emit(`      let inside = id >= 0 && id < ${D} && ih >= 0 && ih < ${H} && iw >= 0 && iw < ${W};`);
  emit(`      xs[e] = select(0.0, Src[plane + u32(select(0, (id * ${H} + ih) * ${W} + iw, inside))], inside);`);
  emit(`    }`);
  emit(`    workgroupBarrier();`);
  emit(`    for (var kd = 0u; kd < ${KD}u; kd++) {`);
  emit(`      for (var kh = 0u; kh < ${KH}u; kh++) {`);
  emit(`        let row = local + kd * ${q.dil[0]! * EH * EW}u + kh * ${q.dil[1]! * EW}u;`);
  for (const off of offsets) emit(`        let x${off} = xs[row + ${off}u];`);
  for (let kw = 0; kw < KW; kw++) {
    for (const m of ms) {
      emit(`        let w${m}_${kw} = Wt[${weight(m, kw)}];`);
      for (const u of us) emit(`        acc${m}_${u} += x${kw * q.dil[2]! + u * q.s[2]!} * w${m}_${kw};`);
    }
  }
  emit(`      }`);
  emit(`    }`);
  emit(`  }`);
  emit(`  if (od >= ${OD}u || oh >= ${OH}u) { return; }`);
  emit(`  let o = (n * ${q.groups * q.outPer}u + j * ${q.outPer}u + m0) * ${ovox}u + (od * ${OH}u + oh) * ${OW}u + ow;`);
  for (const u of us) {
    emit(`  if (ow + ${u}u < ${OW}u) {`);
    for (const m of ms) emit(`    Out[o + ${m * ovox + u}u] = acc${m}_${u};`);
    emit(`  }`);
  }
  emit(`}`);
  return lines.join('\n');
}

/** each runtime's tilings and pipeline keys by problem (their choice and the key's JSON cost several µs per call) */
const plans = new WeakMap<GpuRuntime, Map<string, { t: unknown; key: string }>>();
/** a runtime's plans start over past this many (shapes that keep changing would grow them) */
const MAX_PLANS = 4096;

/** The tiling `choose` picks for problem q on rt's limits and its pipeline key, worked out once per problem. */
function planned<T>(rt: GpuRuntime, kind: string, q: TiledProblem | WeightProblem, choose: () => T): { t: T; key: string } {
  let byProblem = plans.get(rt);
  if (!byProblem) plans.set(rt, byProblem = new Map());
  const problem = `${kind}|${Object.values(q).join('|')}`;
  let plan = byProblem.get(problem) as { t: T; key: string } | undefined;
  if (!plan) {
    if (byProblem.size >= MAX_PLANS) byProblem.clear();
    const t = choose();
    plan = { t, key: `conv3d:grouped:${kind}:${JSON.stringify(q)}:${JSON.stringify(t)}` };
    byProblem.set(problem, plan);
  }
  return plan;
}

/** Records the tiled kernel writing the last of `buffers` (src, weight, [bias], out). */
function runTiled(rt: GpuRuntime, q: TiledProblem, buffers: GPUBuffer[]): void {
  const { t, key } = planned(rt, 'tiled', q, () => chooseTiling(q, limitsOf(rt)));
  const kernel = rt.kernel(key, () => tiledSource(q, t), buffers.length);
  const voxels = blockVoxels(t);
  const blocks = [0, 1, 2].reduce((acc, a) => acc * Math.ceil(q.outSize[a]! / voxels[a]!), 1);
  rt.dispatch(kernel, buffers, null, grid1d(blocks * (q.outPer / t.mc) * q.n * q.groups, 1));
}


function weightSource(q: WeightProblem, t: WeightTiling): string {
  const [D, H, W] = q.inSize as [number, number, number], [OD, OH, OW] = q.outSize as [number, number, number];
  const [KD, KH, KW] = q.k as [number, number, number], [BD, BH, BW] = t.block;
  const [ED, EH, EW] = haloOf(q, t.block) as [number, number, number];
  const kvol = KD * KH * KW, bv = BD * BH * BW, triples = KD * KH * t.vg, mg = q.co / q.groups, mr = t.mr;
  const sets = q.co * q.cg / mr, chunks = mg / mr;
  const nb = [0, 1, 2].map((a) => Math.ceil(q.outSize[a]! / t.block[a]!)) as [number, number, number];
  const tiles = q.n * nb[0] * nb[1] * nb[2];
  const kws = Array.from({ length: KW }, (_, kw) => kw), ws = Array.from({ length: BW }, (_, w) => w);
  const ms = Array.from({ length: mr }, (_, m) => m);
  // the row's distinct halo words (w·s + kw·dil), each loaded once
  const offsets = [...new Set(ws.flatMap((w) => kws.map((kw) => w * q.s[2]! + kw * q.dil[2]!)))];
  const lines: string[] = [];
  const emit = (l: string): void => { lines.push(l); };
  emit(`@group(0) @binding(0) var<storage, read> X: array<f32>;`);
  emit(`@group(0) @binding(1) var<storage, read> GY: array<f32>;`);
  emit(`@group(0) @binding(2) var<storage, read_write> Out: array<f32>;`);
  emit(`var<workgroup> xs: array<f32, ${ED * EH * EW}>;`);
  emit(`var<workgroup> gys: array<f32, ${mr * bv}>;`);
  emit(`var<workgroup> acc: array<f32, ${triples * mr * KW}>;`);
  emit(`@compute @workgroup_size(${t.threads})`);
  emit(`fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {`);
  // rowSet = (j·Cg + c)·chunks + chunk: input channel c of group j against its output channels co0 … co0 + mr − 1
  emit(`  let rowSet = wg.x + wg.z * nwg.x;`);
  emit(`  if (rowSet >= ${sets}u) { return; }`);
  emit(`  let jc = rowSet / ${chunks}u; let c = jc % ${q.cg}u;`);
  emit(`  let co0 = (jc / ${q.cg}u) * ${mg}u + (rowSet % ${chunks}u) * ${mr}u;`);
  emit(`  for (var e = tid; e < ${triples * mr * KW}u; e += ${t.threads}u) { acc[e] = 0.0; }`);
  emit(`  let first = wg.y * ${t.perSplit}u; let last = min(${tiles}u, first + ${t.perSplit}u);`);
  emit(`  for (var tile = first; tile < last; tile++) {`);
  emit(`    let bw = tile % ${nb[2]}u; let bh = (tile / ${nb[2]}u) % ${nb[1]}u; let bd = (tile / ${nb[2] * nb[1]}u) % ${nb[0]}u;`);
  emit(`    let n = tile / ${nb[0] * nb[1] * nb[2]}u;`);
  emit(`    let xPlane = (n * ${q.groups * q.cg}u + jc) * ${D * H * W}u;`);
  emit(`    let gyPlane = (n * ${q.co}u + co0) * ${OD * OH * OW}u;`);
  emit(`    let hd0 = i32(bd * ${BD * q.s[0]!}u) - ${q.p[0]}; let hh0 = i32(bh * ${BH * q.s[1]!}u) - ${q.p[1]}; let hw0 = i32(bw * ${BW * q.s[2]!}u) - ${q.p[2]};`);
  emit(`    workgroupBarrier();`);
  // staged only up to the last input a real output voxel reads: the block's padding voxels (gy 0) past the output
  // may read further, and 0 · a non-finite input there would be a NaN that the convolution never computes
  const [RD, RH, RW] = [0, 1, 2].map((a) => Math.min(q.inSize[a]!, (q.outSize[a]! - 1) * q.s[a]! - q.p[a]! + (q.k[a]! - 1) * q.dil[a]! + 1));
  emit(`    for (var e = tid; e < ${ED * EH * EW}u; e += ${t.threads}u) {`);
  emit(`      let id = hd0 + i32(e / ${EH * EW}u); let ih = hh0 + i32((e / ${EW}u) % ${EH}u); let iw = hw0 + i32(e % ${EW}u);`);
  emit(`      let inside = id >= 0 && id < ${RD} && ih >= 0 && ih < ${RH} && iw >= 0 && iw < ${RW};`);
  emit(`      xs[e] = select(0.0, X[xPlane + u32(select(0, (id * ${H} + ih) * ${W} + iw, inside))], inside);`);
  emit(`    }`);
  emit(`    for (var e = tid; e < ${mr * bv}u; e += ${t.threads}u) {`);
  emit(`      let m = e / ${bv}u; let v = e % ${bv}u;`);
  emit(`      let od = bd * ${BD}u + v / ${BH * BW}u; let oh = bh * ${BH}u + (v / ${BW}u) % ${BH}u; let ow = bw * ${BW}u + v % ${BW}u;`);
  emit(`      let inside = od < ${OD}u && oh < ${OH}u && ow < ${OW}u;`);
  emit(`      gys[e] = select(0.0, GY[gyPlane + m * ${OD * OH * OW}u + select(0u, (od * ${OH}u + oh) * ${OW}u + ow, inside)], inside);`);
  emit(`    }`);
  emit(`    workgroupBarrier();`);
  emit(`    for (var e = tid; e < ${triples}u; e += ${t.threads}u) {`);
  emit(`      let col = e / ${t.vg}u; let lane = e % ${t.vg}u;`);
  emit(`      let colOffset = (col / ${KH}u) * ${q.dil[0]! * EH * EW}u + (col % ${KH}u) * ${q.dil[1]! * EW}u;`);
  for (const m of ms) for (const kw of kws) emit(`      var a${m}_${kw} = 0.0;`);
  emit(`      for (var r = lane; r < ${BD * BH}u; r += ${t.vg}u) {`);
  emit(`        let xRow = (r / ${BH}u) * ${q.s[0]! * EH * EW}u + (r % ${BH}u) * ${q.s[1]! * EW}u + colOffset;`);
  for (const off of offsets) emit(`        let x${off} = xs[xRow + ${off}u];`);
  for (const m of ms) {
    for (const w of ws) {
      emit(`        let g${m}_${w} = gys[${m * bv}u + r * ${BW}u + ${w}u];`);
      for (const kw of kws) emit(`        a${m}_${kw} += g${m}_${w} * x${w * q.s[2]! + kw * q.dil[2]!};`);
    }
  }
  emit(`      }`);
  for (const m of ms) for (const kw of kws) emit(`      acc[(e * ${mr}u + ${m}u) * ${KW}u + ${kw}u] += a${m}_${kw};`);
  emit(`    }`);
  emit(`  }`);
  emit(`  workgroupBarrier();`);
  // each tap of each row sums its lanes in lane order
  emit(`  for (var i = tid; i < ${mr * kvol}u; i += ${t.threads}u) {`);
  emit(`    let m = i / ${kvol}u; let tap = i % ${kvol}u;`);
  emit(`    let base = ((tap / ${KW}u) * ${t.vg * mr}u + m) * ${KW}u + tap % ${KW}u;`);
  emit(`    var sum = 0.0;`);
  emit(`    for (var lane = 0u; lane < ${t.vg}u; lane++) { sum += acc[base + lane * ${mr * KW}u]; }`);
  emit(`    Out[wg.y * ${q.co * q.cg * kvol}u + ((co0 + m) * ${q.cg}u + c) * ${kvol}u + tap] = sum;`);
  emit(`  }`);
  emit(`}`);
  return lines.join('\n');
}


export function conv3dGrouped(rt: GpuRuntime, x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[],
  bias: Storage | null, p: Conv3dParams, groups: number): Storage {
  const g = groupedForwardGeometry(x, xShape, w, wShape, p, groups);
  checkF32(x, 'input'); checkF32(w, 'weight');
  if (bias) { checkF32(bias, 'bias'); checkConvBias(bias, g, wShape); }
  const len = g.n * g.co * g.out[0] * g.out[1] * g.out[2];
  checkBinding(rt, x.length, () => `input ${fmt(xShape)}`);
  checkBinding(rt, len, () => `output [${g.n}, ${g.co}, ${g.out.join(', ')}]`);
  const out = rt.alloc(len, 'float32');
  const buffers = bias ? [gpuBuffer(x), gpuBuffer(w), gpuBuffer(bias), out.buffer] : [gpuBuffer(x), gpuBuffer(w), out.buffer];
  runTiled(rt, forwardProblem(g, bias !== null), buffers);
  return out;
}

export function conv3dGroupedBackwardInput(rt: GpuRuntime, gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[],
  xShape: readonly number[], p: Conv3dParams, groups: number): Storage {
  const g = groupedBackwardInputGeometry(gy, gyShape, w, wShape, xShape, p, groups);
  checkF32(gy, 'output gradient'); checkF32(w, 'weight');
  const len = g.n * g.ci * groups * g.in[0] * g.in[1] * g.in[2];
  checkBinding(rt, gy.length, () => `output gradient ${fmt(gyShape)}`);
  checkBinding(rt, len, () => `input gradient ${fmt(xShape)}`);
  const out = rt.alloc(len, 'float32');
  const buffers = [gpuBuffer(gy), gpuBuffer(w), out.buffer];
  if (g.s.every((s) => s === 1)) {
    runTiled(rt, inputGradientProblem(g), buffers);
  } else {
    rt.dispatch(rt.kernel('conv3d:grouped:backwardInput', backwardInputSource, 3), buffers, paramsOf(g, len), grid1d(len, 256));
  }
  return out;
}

export function conv3dGroupedBackwardWeight(rt: GpuRuntime, x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[],
  wShape: readonly number[], p: Conv3dParams, groups: number): Storage {
  const g = groupedBackwardWeightGeometry(x, xShape, gy, gyShape, wShape, p, groups);
  checkF32(x, 'input'); checkF32(gy, 'output gradient');
  checkBinding(rt, x.length, () => `input ${fmt(xShape)}`);
  checkBinding(rt, gy.length, () => `output gradient ${fmt(gyShape)}`);
  const len = g.co * g.ci * g.k[0] * g.k[1] * g.k[2];
  const q = weightProblem(g);
  const { t, key } = planned(rt, 'weight', q, () => chooseWeightTiling(q, limitsOf(rt), Math.floor(rt.limits.maxStorageBufferBindingSize / (4 * len))));
  const kernel = rt.kernel(key, () => weightSource(q, t), 3);
  const out = rt.alloc(len, 'float32');
  const [gx, gz] = grid1d(g.co * g.ci / t.mr, 1);
  withSplitK(rt, t.splits, { len, inner: 1, channels: 1 }, out, noEpilogue, [],
    (dst) => rt.dispatch(kernel, [gpuBuffer(x), gpuBuffer(gy), dst], null, [gx, t.splits, gz]), 'grouped weight-gradient partials');
  return out;
}
