import type { Conv3dParams, Storage } from '../backend.js';
import { checkConvBias } from '../geometry.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { Params, gpuBuffer, grid1d, wgslFlatIndex } from '../webgpu/runtime.js';
import { groupedBackwardInputGeometry, groupedBackwardWeightGeometry, groupedForwardGeometry, type GroupedGeometry } from './grouped-cpu.js';
import { checkBinding, fmt, limitsOf } from './plan.js';

/**
 * Grouped conv3d and its two gradients in WGSL (NCDHW, contiguous float32, PyTorch semantics; the definition and
 * the oracle are in grouped-cpu.ts), for few channels per group: depthwise convolutions (one input channel per
 * group) above all, which the split-per-group path ran as one convolution per group. One dispatch each, one
 * pipeline for every shape (the sizes are uniforms):
 *
 * - forward: one invocation per output element, summing its group's Cg input channels × taps;
 * - input gradient: one invocation per input element, summing over its group's Mg output channels × the taps
 *   whose output position o = (i + p − t·dil)/s is whole and inside the output;
 * - weight gradient: one workgroup per weight element; its invocations stride over the N·Do·Ho·Wo output voxels
 *   and meet in a fixed tree in workgroup memory (deterministic, no atomics).
 */

/** The uniform block all three kernels read (one layout: one Params writer). */
const paramsStruct = /* wgsl */ `
struct Params {
  len: u32, cg: u32, mg: u32, co: u32,
  ci: u32, vox: u32, n: u32, kvol: u32,
  OD: u32, OH: u32, OW: u32, KD: u32,
  KH: u32, KW: u32, D: i32, H: i32,
  W: i32, sd: i32, sh: i32, sw: i32,
  pd: i32, ph: i32, pw: i32, dd: i32,
  dh: i32, dw: i32,
}`;

function paramsOf(g: GroupedGeometry, len: number): ArrayBuffer {
  const [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  return new Params()
    .u32(len, g.ci, g.co / g.groups, g.co, g.ci * g.groups, OD * OH * OW, g.n, KD * KH * KW, OD, OH, OW, KD, KH, KW)
    .i32(...g.in, ...g.s, ...g.p, ...g.dil)
    .done();
}

const forwardSource = (bias: boolean): string => /* wgsl */ `${paramsStruct}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Wt: array<f32>;
${bias ? '@group(0) @binding(2) var<storage, read> B: array<f32>;' : ''}
@group(0) @binding(${bias ? 3 : 2}) var<storage, read_write> Y: array<f32>;
@group(0) @binding(${bias ? 4 : 3}) var<uniform> P: Params;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(256)};
  if (i >= P.len) { return; }
  let ow = i32(i % P.OW); var t = i / P.OW;
  let oh = i32(t % P.OH); t = t / P.OH;
  let od = i32(t % P.OD); t = t / P.OD;
  let co = t % P.co; let n = t / P.co;
  let d0 = od * P.sd - P.pd; let h0 = oh * P.sh - P.ph; let w0 = ow * P.sw - P.pw;
  let firstChannel = n * P.ci + (co / P.mg) * P.cg;
  var acc = ${bias ? 'B[co]' : '0.0'};
  for (var c = 0u; c < P.cg; c++) {
    let xc = firstChannel + c;
    var wi = (co * P.cg + c) * P.kvol;
    for (var kd = 0u; kd < P.KD; kd++) {
      let id = d0 + i32(kd) * P.dd;
      if (id < 0 || id >= P.D) { wi += P.KH * P.KW; continue; }
      for (var kh = 0u; kh < P.KH; kh++) {
        let ih = h0 + i32(kh) * P.dh;
        if (ih < 0 || ih >= P.H) { wi += P.KW; continue; }
        let row = (i32(xc) * P.D + id) * P.H + ih;
        for (var kw = 0u; kw < P.KW; kw++) {
          let iw = w0 + i32(kw) * P.dw;
          if (iw >= 0 && iw < P.W) { acc += X[u32(row * P.W + iw)] * Wt[wi]; }
          wi++;
        }
      }
    }
  }
  Y[i] = acc;
}`;

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

const backwardWeightSource = (threads: number): string => /* wgsl */ `${paramsStruct}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> GY: array<f32>;
@group(0) @binding(2) var<storage, read_write> GW: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;
var<workgroup> partial: array<f32, ${threads}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let e = wg.x + wg.y * nwg.x;
  let valid = e < P.len;
  let kw = e % P.KW; var t = e / P.KW;
  let kh = t % P.KH; t = t / P.KH;
  let kd = t % P.KD; t = t / P.KD;
  let c = t % P.cg; let co = t / P.cg;
  let xc = (co / P.mg) * P.cg + c;
  let dd = i32(kd) * P.dd - P.pd; let dh = i32(kh) * P.dh - P.ph; let dw = i32(kw) * P.dw - P.pw;
  var acc = 0.0;
  let count = select(0u, P.n * P.vox, valid);
  for (var v = tid; v < count; v += ${threads}u) {
    let r = v % P.vox; let n = v / P.vox;
    let ow = r % P.OW; let oh = (r / P.OW) % P.OH; let od = r / (P.OW * P.OH);
    let id = i32(od) * P.sd + dd; let ih = i32(oh) * P.sh + dh; let iw = i32(ow) * P.sw + dw;
    if (id < 0 || id >= P.D || ih < 0 || ih >= P.H || iw < 0 || iw >= P.W) { continue; }
    let xi = ((i32(n * P.ci + xc) * P.D + id) * P.H + ih) * P.W + iw;
    acc += GY[(n * P.co + co) * P.vox + r] * X[u32(xi)];
  }
  partial[tid] = acc;
  workgroupBarrier();
  for (var half = ${threads / 2}u; half > 0u; half = half >> 1u) {
    if (tid < half) { partial[tid] += partial[tid + half]; }
    workgroupBarrier();
  }
  if (tid == 0u && valid) { GW[e] = partial[0]; }
}`;

function checkF32(s: Storage, what: string): void {
  if (s.dtype !== 'float32') throw new Error(`webgpu conv3d: ${what} must be float32, got ${s.dtype} (use the cpu backend for float64)`);
}

/** the largest power of two the device runs in one workgroup, at most 256 (the weight gradient's tree) */
function reductionThreads(rt: GpuRuntime): number {
  return 2 ** Math.floor(Math.log2(limitsOf(rt).threads));
}

export function conv3dGrouped(rt: GpuRuntime, x: Storage, xShape: readonly number[], w: Storage, wShape: readonly number[],
  bias: Storage | null, p: Conv3dParams, groups: number): Storage {
  const g = groupedForwardGeometry(x, xShape, w, wShape, p, groups);
  checkF32(x, 'input'); checkF32(w, 'weight');
  if (bias) { checkF32(bias, 'bias'); checkConvBias(bias, g, wShape); }
  const len = g.n * g.co * g.out[0] * g.out[1] * g.out[2];
  checkBinding(rt, x.length, () => `input ${fmt(xShape)}`);
  checkBinding(rt, len, () => `output [${g.n}, ${g.co}, ${g.out.join(', ')}]`);
  const kernel = bias ? rt.kernel('conv3d:grouped:forward:bias', () => forwardSource(true), 4)
    : rt.kernel('conv3d:grouped:forward', () => forwardSource(false), 3);
  const out = rt.alloc(len, 'float32');
  const buffers = bias ? [gpuBuffer(x), gpuBuffer(w), gpuBuffer(bias), out.buffer] : [gpuBuffer(x), gpuBuffer(w), out.buffer];
  rt.dispatch(kernel, buffers, paramsOf(g, len), grid1d(len, 256));
  return out;
}

export function conv3dGroupedBackwardInput(rt: GpuRuntime, gy: Storage, gyShape: readonly number[], w: Storage, wShape: readonly number[],
  xShape: readonly number[], p: Conv3dParams, groups: number): Storage {
  const g = groupedBackwardInputGeometry(gy, gyShape, w, wShape, xShape, p, groups);
  checkF32(gy, 'output gradient'); checkF32(w, 'weight');
  const len = g.n * g.ci * groups * g.in[0] * g.in[1] * g.in[2];
  checkBinding(rt, gy.length, () => `output gradient ${fmt(gyShape)}`);
  checkBinding(rt, len, () => `input gradient ${fmt(xShape)}`);
  const kernel = rt.kernel('conv3d:grouped:backwardInput', backwardInputSource, 3);
  const out = rt.alloc(len, 'float32');
  rt.dispatch(kernel, [gpuBuffer(gy), gpuBuffer(w), out.buffer], paramsOf(g, len), grid1d(len, 256));
  return out;
}

export function conv3dGroupedBackwardWeight(rt: GpuRuntime, x: Storage, xShape: readonly number[], gy: Storage, gyShape: readonly number[],
  wShape: readonly number[], p: Conv3dParams, groups: number): Storage {
  const g = groupedBackwardWeightGeometry(x, xShape, gy, gyShape, wShape, p, groups);
  checkF32(x, 'input'); checkF32(gy, 'output gradient');
  checkBinding(rt, x.length, () => `input ${fmt(xShape)}`);
  checkBinding(rt, gy.length, () => `output gradient ${fmt(gyShape)}`);
  const len = g.co * g.ci * g.k[0] * g.k[1] * g.k[2];
  const threads = reductionThreads(rt);
  const kernel = rt.kernel(`conv3d:grouped:backwardWeight:${threads}`, () => backwardWeightSource(threads), 3);
  const out = rt.alloc(len, 'float32');
  rt.dispatch(kernel, [gpuBuffer(x), gpuBuffer(gy), out.buffer], paramsOf(g, len), grid1d(len, 1));
  return out;
}
