import type { Backend, Pool3dParams, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { sizeOf } from '../layout.js';
import { randomArray } from '../random.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { Params, gpuBuffer, grid1d, wgslFlatIndex, wgslIndexCheck, wgslIsNaN, wgslType, wgslUnravelNcdhw } from '../webgpu/runtime.js';
import { checkMaxUnpool, checkPoolGradShape, invalidUnpoolIndex, poolGeometry, type PoolGeometry } from './checks.js';

/**
 * 3-D max and average pooling (PyTorch semantics, floor or ceil mode, dilation for max) and their gradients, NCDHW
 * contiguous float32.
 *
 * - Forward: one invocation per output voxel walks its window clipped to the volume (the padding is −inf for
 *   max, counted zeros for avg with count_include_pad).
 * - avgPool3dBackward: gather form, one invocation per input voxel sums gy/divisor over the output windows
 *   that contain it (od ∈ [⌈(d + pad − k + 1)/s⌉, ⌊(d + pad)/s⌋] per axis): deterministic, no atomics.
 * - maxPool3dBackward: gather form too, but the Backend contract gives it no kernel/stride/padding, so the
 *   ranges of output windows are recovered from the indices themselves: (1) for every output coordinate of
 *   every axis, the min and max of its argmaxes' coordinate along that axis (partial per chunk of the other
 *   outputs), (2) those partials merged, (3) for every input coordinate, the first and last output
 *   coordinate whose [min, max] holds it. Every output whose index names voxel q lies in q's three ranges,
 *   and the ranges are no wider than the true window overlap, so (4) one invocation per input voxel sums gy
 *   over the outputs in its ranges whose index equals q, in ascending output order (the cpu oracle's order).
 * - maxUnpool3d: (1) every output voxel's writer set to −1, (2) one invocation per input element raises its target's
 *   writer to the element's position (atomicMax: the last in C order wins, as the cpu oracle's loop), (3) one
 *   invocation per output voxel copies its writer's value or writes 0. Deterministic.
 */

const WG = 256;

function geometryParams(g: PoolGeometry, n: number): Params {
  return new Params().u32(n, g.nc).i32(...g.inSize, ...g.outSize, ...g.kernel, ...g.stride, ...g.padding, ...g.dilation, g.divisorOverride);
}

const geometryStruct = /* wgsl */ `
struct Params {
  n: u32, nc: u32,
  D: i32, H: i32, W: i32, OD: i32, OH: i32, OW: i32,
  kd: i32, kh: i32, kw: i32, sd: i32, sh: i32, sw: i32, pd: i32, ph: i32, pw: i32,
  dd: i32, dh: i32, dw: i32, // the dilation (max pooling; 1 for avg)
  divisor: i32, // the divisor override, 0 for none
}`;

/**
 * WGSL: splits flat output index i into (nc, od, oh, ow), the window's unclipped start and its taps inside the
 * volume: the first (start plus a multiple of the dilation) and the end, exclusive (checks.ts's windowTaps).
 */
const outputCoords = /* wgsl */ `
${wgslUnravelNcdhw(['od', 'oh', 'ow'], ['P.OD', 'P.OH', 'P.OW'])}
  let d0 = od * P.sd - P.pd;
  let h0 = oh * P.sh - P.ph;
  let w0 = ow * P.sw - P.pw;
  let ds = select(d0, d0 + (-d0 + P.dd - 1) / P.dd * P.dd, d0 < 0); let de = min(d0 + (P.kd - 1) * P.dd + 1, P.D);
  let hs = select(h0, h0 + (-h0 + P.dh - 1) / P.dh * P.dh, h0 < 0); let he = min(h0 + (P.kh - 1) * P.dh + 1, P.H);
  let ws = select(w0, w0 + (-w0 + P.dw - 1) / P.dw * P.dw, w0 < 0); let we = min(w0 + (P.kw - 1) * P.dw + 1, P.W);
  let base = nc * u32(P.D * P.H * P.W);`;

const maxPoolSource = (): string => /* wgsl */ `
${geometryStruct}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> indices: array<i32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
${outputCoords}
  // PyTorch starts from −inf with the window's first voxel as index; starting from that voxel's value is the
  // same (the window is never empty, and a strict > keeps the first of equal values)
  var bestAt = (ds * P.H + hs) * P.W + ws;
  var best = x[base + u32(bestAt)];
  for (var d = ds; d < de; d += P.dd) {
    for (var h = hs; h < he; h += P.dh) {
      let row = (d * P.H + h) * P.W;
      for (var w = ws; w < we; w += P.dw) {
        let v = x[base + u32(row + w)];
        if (v > best || ${wgslIsNaN('v')}) { best = v; bestAt = row + w; }
      }
    }
  }
  values[i] = best;
  indices[i] = bestAt;
}`;

const avgPoolSource = (): string => /* wgsl */ `
${geometryStruct}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
${outputCoords}
  var sum = 0.0;
  for (var d = ds; d < de; d++) {
    for (var h = hs; h < he; h++) {
      let row = base + u32((d * P.H + h) * P.W);
      for (var w = ws; w < we; w++) { sum += x[row + u32(w)]; }
    }
  }
  let count = (min(d0 + P.kd, P.D + P.pd) - d0) * (min(h0 + P.kh, P.H + P.ph) - h0) * (min(w0 + P.kw, P.W + P.pw) - w0);
  y[i] = sum / f32(select(count, P.divisor, P.divisor != 0));
}`;

const avgPoolBackwardSource = (): string => /* wgsl */ `
${geometryStruct}
@group(0) @binding(0) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read_write> gx: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

// the output windows along one axis that contain input coordinate c: [lo, hi]
fn window_range(c: i32, k: i32, s: i32, pad: i32, n: i32) -> vec2i {
  let a = c + pad - k + 1;
  let lo = select(0, (a + s - 1) / s, a > 0);
  let hi = min((c + pad) / s, n - 1);
  return vec2i(lo, hi);
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
${wgslUnravelNcdhw(['d', 'h', 'w'], ['P.D', 'P.H', 'P.W'])}
  let rd = window_range(d, P.kd, P.sd, P.pd, P.OD);
  let rh = window_range(h, P.kh, P.sh, P.ph, P.OH);
  let rw = window_range(w, P.kw, P.sw, P.pw, P.OW);
  let base = nc * u32(P.OD * P.OH * P.OW);
  var sum = 0.0;
  for (var od = rd.x; od <= rd.y; od++) {
    let d0 = od * P.sd - P.pd;
    let cd = min(d0 + P.kd, P.D + P.pd) - d0;
    for (var oh = rh.x; oh <= rh.y; oh++) {
      let h0 = oh * P.sh - P.ph;
      let cdh = cd * (min(h0 + P.kh, P.H + P.ph) - h0);
      let row = base + u32((od * P.OH + oh) * P.OW);
      for (var ow = rw.x; ow <= rw.y; ow++) {
        let w0 = ow * P.sw - P.pw;
        let count = cdh * (min(w0 + P.kw, P.W + P.pw) - w0);
        sum += gy[row + u32(ow)] / f32(select(count, P.divisor, P.divisor != 0));
      }
    }
  }
  gx[i] = sum;
}`;

/** Kernel (1): per (axis, output coordinate, chunk) the min and max of the argmaxes' coordinate on that axis. */
const extentSource = (): string => /* wgsl */ `
struct Params {
  D: i32, H: i32, W: i32, OD: i32, OH: i32, OW: i32, nc: u32, chunks: u32,
}
@group(0) @binding(0) var<storage, read> indices: array<i32>;
@group(0) @binding(1) var<storage, read_write> partial: array<vec2i>;
@group(0) @binding(2) var<uniform> P: Params;

var<workgroup> lo: array<i32, ${WG}>;
var<workgroup> hi: array<i32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  // wid.x: the output coordinate over the three axes (OD, then OH, then OW); wid.y: the chunk
  let g = i32(wid.x);
  var axis = 0; var c = g;
  if (g >= P.OD + P.OH) { axis = 2; c = g - P.OD - P.OH; } else if (g >= P.OD) { axis = 1; c = g - P.OD; }
  // the outputs with this coordinate: e over nc × (the other two output axes)
  var n1 = P.OH; var n2 = P.OW;
  if (axis == 1) { n1 = P.OD; } else if (axis == 2) { n1 = P.OD; n2 = P.OH; }
  let count = P.nc * u32(n1 * n2);
  let per = (count + P.chunks - 1u) / P.chunks;
  let start = wid.y * per;
  let end = min(start + per, count);
  var mn = 0x7fffffff;
  var mx = -1;
  for (var e = start + li; e < end; e += ${WG}u) {
    let b = i32(e % u32(n2));
    let t = e / u32(n2);
    let a = i32(t % u32(n1));
    let nc = t / u32(n1);
    var o = 0u;
    if (axis == 0) { o = u32((c * P.OH + a) * P.OW + b); }
    else if (axis == 1) { o = u32((a * P.OH + c) * P.OW + b); }
    else { o = u32((a * P.OH + b) * P.OW + c); }
    let at = indices[nc * u32(P.OD * P.OH * P.OW) + o];
    var coord = at / (P.H * P.W);
    if (axis == 1) { coord = (at / P.W) % P.H; } else if (axis == 2) { coord = at % P.W; }
    mn = min(mn, coord);
    mx = max(mx, coord);
  }
  lo[li] = mn;
  hi[li] = mx;
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    workgroupBarrier();
    if (li < s) { lo[li] = min(lo[li], lo[li + s]); hi[li] = max(hi[li], hi[li + s]); }
  }
  if (li == 0u) { partial[wid.x * P.chunks + wid.y] = vec2i(lo[0], hi[0]); }
}`;

/** Kernel (2): merge the chunks of each output coordinate. */
const extentMergeSource = (): string => /* wgsl */ `
struct Params { n: u32, chunks: u32, }
@group(0) @binding(0) var<storage, read> partial: array<vec2i>;
@group(0) @binding(1) var<storage, read_write> extent: array<vec2i>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let g = gid.x;
  if (g >= P.n) { return; }
  var r = vec2i(0x7fffffff, -1);
  for (var j = 0u; j < P.chunks; j++) {
    let v = partial[g * P.chunks + j];
    r = vec2i(min(r.x, v.x), max(r.y, v.y));
  }
  extent[g] = r;
}`;

/** Kernel (3): for each input coordinate of each axis, the first and last output coordinate that can name it. */
const rangeSource = (): string => /* wgsl */ `
struct Params { D: i32, H: i32, W: i32, OD: i32, OH: i32, OW: i32, }
@group(0) @binding(0) var<storage, read> extent: array<vec2i>;
@group(0) @binding(1) var<storage, read_write> range: array<vec2i>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let g = i32(gid.x);
  if (g >= P.D + P.H + P.W) { return; }
  // input coordinate x of axis a; the extents of that axis start at e0 in the extent array
  var x = g; var e0 = 0; var n = P.OD;
  if (g >= P.D + P.H) { x = g - P.D - P.H; e0 = P.OD + P.OH; n = P.OW; }
  else if (g >= P.D) { x = g - P.D; e0 = P.OD; n = P.OH; }
  var r = vec2i(n, -1);
  for (var o = 0; o < n; o++) {
    let e = extent[e0 + o];
    if (e.x <= x && x <= e.y) { r = vec2i(min(r.x, o), o); }
  }
  range[g] = r;
}`;

/** Kernel (4): per input voxel, gy summed over the outputs in its ranges whose index names it. */
const maxPoolBackwardSource = (): string => /* wgsl */ `
struct Params { n: u32, D: i32, H: i32, W: i32, OD: i32, OH: i32, OW: i32, }
@group(0) @binding(0) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read> range: array<vec2i>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  let vol = u32(P.D * P.H * P.W);
  let q = i32(i % vol);
  let nc = i / vol;
  let w = q % P.W;
  let h = (q / P.W) % P.H;
  let d = q / (P.W * P.H);
  let rd = range[d];
  let rh = range[P.D + h];
  let rw = range[P.D + P.H + w];
  let base = nc * u32(P.OD * P.OH * P.OW);
  var sum = 0.0;
  for (var od = rd.x; od <= rd.y; od++) {
    for (var oh = rh.x; oh <= rh.y; oh++) {
      let row = base + u32((od * P.OH + oh) * P.OW);
      for (var ow = rw.x; ow <= rw.y; ow++) {
        if (indices[row + u32(ow)] == q) { sum += gy[row + u32(ow)]; }
      }
    }
  }
  gx[i] = sum;
}`;

const unpoolStruct = /* wgsl */ `struct Params { n: u32, inVol: u32, outVol: u32, site: u32, }`;

/** maxUnpool3d (1): no writer yet */
const unpoolInitSource = (): string => /* wgsl */ `
${unpoolStruct}
@group(0) @binding(0) var<storage, read_write> writer: array<i32>;
@group(0) @binding(1) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i < P.n) { writer[i] = -1; }
}`;

/** maxUnpool3d (2): each input element claims its target voxel; the largest position inside the (N, C) volume wins */
const unpoolMarkSource = (): string => /* wgsl */ `
${unpoolStruct}
@group(0) @binding(0) var<storage, read> indices: array<i32>;
@group(0) @binding(1) var<storage, read_write> writer: array<atomic<i32>>;
@group(0) @binding(3) var<uniform> P: Params;
${wgslIndexCheck(2)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  let at = indices[i];
  if (at < 0 || u32(at) >= P.outVol) { reportBadIndex(P.site, at, P.outVol, i); return; }
  atomicMax(&writer[(i / P.inVol) * P.outVol + u32(at)], i32(i % P.inVol));
}`;

/** maxUnpool3d (3): each output voxel takes its writer's value, or 0 */
const unpoolWriteSource = (): string => /* wgsl */ `
${unpoolStruct}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> writer: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
  let w = writer[i];
  var v = 0.0;
  if (w >= 0) { v = x[(i / P.outVol) * P.inVol + u32(w)]; }
  y[i] = v;
}`;

export function maxUnpool3d(rt: GpuRuntime, x: Storage, indices: Storage, xShape: readonly number[], outSize: readonly [number, number, number]): Storage {
  checkFloat(x, 'maxUnpool3d');
  const { nc, inVol, outVol } = checkMaxUnpool(x, indices, xShape, outSize, 'webgpu: maxUnpool3d');
  const n = nc * outVol, count = nc * inVol;
  const y = rt.alloc(n, 'float32');
  if (n === 0) return y;
  const writer = rt.alloc(n, 'int32');
  const site = rt.errorSite(`maxUnpool3d:${outSize.join('x')}`, (index, _bound, element) => invalidUnpoolIndex(index, outSize, element));
  rt.dispatch(rt.kernel('pool:unpool:init', unpoolInitSource, 1), [writer.buffer], new Params().u32(n, inVol, outVol, site).done(), grid1d(n, WG));
  if (count > 0) {
    rt.dispatch(rt.kernel('pool:unpool:mark', unpoolMarkSource, 3), [gpuBuffer(indices), writer.buffer, rt.errorWord],
      new Params().u32(count, inVol, outVol, site).done(), grid1d(count, WG));
  }
  rt.dispatch(rt.kernel('pool:unpool:write', unpoolWriteSource, 3), [gpuBuffer(x), writer.buffer, y.buffer],
    new Params().u32(n, inVol, outVol, site).done(), grid1d(n, WG));
  rt.free(writer);
  return y;
}

function checkFloat(s: Storage, what: string): void {
  if (wgslType(s.dtype) !== 'f32') throw new Error(`webgpu: ${what} takes float32, got ${s.dtype}`);
}

export function maxPool3d(rt: GpuRuntime, x: Storage, xShape: readonly number[], p: Pool3dParams): { values: Storage; indices: Storage } {
  checkFloat(x, 'maxPool3d');
  const g = poolGeometry(xShape, p, 'maxPool3d', true);
  const n = g.nc * sizeOf(g.outSize);
  const values = rt.alloc(n, 'float32'), indices = rt.alloc(n, 'int32');
  const k = rt.kernel('pool:max', maxPoolSource, 3);
  rt.dispatch(k, [gpuBuffer(x), values.buffer, indices.buffer], geometryParams(g, n).done(), grid1d(n, WG));
  return { values, indices };
}

/** partial extents per workgroup of kernel (1): chunks of about this many outputs */
const EXTENT_CHUNK = 4096;

export function maxPool3dBackward(rt: GpuRuntime, gy: Storage, indices: Storage, gyShape: readonly number[], xShape: readonly number[]): Storage {
  checkFloat(gy, 'maxPool3dBackward');
  if (indices.dtype !== 'int32') throw new Error(`webgpu: maxPool3dBackward takes int32 indices, got ${indices.dtype}`);
  if (xShape.length !== 5 || gyShape.length !== 5 || xShape[0] * xShape[1] !== gyShape[0] * gyShape[1]) {
    throw new Error(`webgpu: maxPool3dBackward: gy [${gyShape.join(', ')}] does not pair with x [${xShape.join(', ')}]`);
  }
  const nc = xShape[0] * xShape[1];
  const [D, H, W] = xShape.slice(2), [OD, OH, OW] = gyShape.slice(2);
  const n = nc * D * H * W;
  const gx = rt.alloc(n, 'float32');
  if (n === 0) return gx;
  if (OD < 1 || OH < 1 || OW < 1) throw new Error(`webgpu: maxPool3dBackward: empty gy [${gyShape.join(', ')}]`);
  const coords = OD + OH + OW;
  const perCoord = nc * Math.max(OH * OW, OD * OW, OD * OH);
  const chunks = Math.max(1, Math.min(Math.ceil(perCoord / EXTENT_CHUNK), 65535));
  const partial = rt.alloc(2 * coords * chunks, 'int32');
  const extent = rt.alloc(2 * coords, 'int32');
  const range = rt.alloc(2 * (D + H + W), 'int32');
  rt.dispatch(rt.kernel('pool:max-bwd:extent', extentSource, 2), [gpuBuffer(indices), partial.buffer],
    new Params().i32(D, H, W, OD, OH, OW).u32(nc, chunks).done(), [coords, chunks]);
  rt.dispatch(rt.kernel('pool:max-bwd:merge', extentMergeSource, 2), [partial.buffer, extent.buffer],
    new Params().u32(coords, chunks).done(), [Math.ceil(coords / 64)]);
  rt.dispatch(rt.kernel('pool:max-bwd:range', rangeSource, 2), [extent.buffer, range.buffer],
    new Params().i32(D, H, W, OD, OH, OW).done(), [Math.ceil((D + H + W) / 64)]);
  rt.dispatch(rt.kernel('pool:max-bwd', maxPoolBackwardSource, 4), [gpuBuffer(gy), gpuBuffer(indices), range.buffer, gx.buffer],
    new Params().u32(n).i32(D, H, W, OD, OH, OW).done(), grid1d(n, WG));
  rt.free(partial); rt.free(extent); rt.free(range);
  return gx;
}

export function avgPool3d(rt: GpuRuntime, x: Storage, xShape: readonly number[], p: Pool3dParams): Storage {
  checkFloat(x, 'avgPool3d');
  const g = poolGeometry(xShape, p, 'avgPool3d');
  const n = g.nc * sizeOf(g.outSize);
  const y = rt.alloc(n, 'float32');
  rt.dispatch(rt.kernel('pool:avg', avgPoolSource, 2), [gpuBuffer(x), y.buffer], geometryParams(g, n).done(), grid1d(n, WG));
  return y;
}

export function avgPool3dBackward(rt: GpuRuntime, gy: Storage, gyShape: readonly number[], xShape: readonly number[], p: Pool3dParams): Storage {
  checkFloat(gy, 'avgPool3dBackward');
  const g = poolGeometry(xShape, p, 'avgPool3dBackward');
  checkPoolGradShape(g, gyShape, xShape, 'webgpu: avgPool3dBackward');
  const n = g.nc * sizeOf(g.inSize);
  const gx = rt.alloc(n, 'float32');
  rt.dispatch(rt.kernel('pool:avg-bwd', avgPoolBackwardSource, 2), [gpuBuffer(gy), gx.buffer], geometryParams(g, n).done(), grid1d(n, WG));
  return gx;
}

// ---------------------------------------------------------------------------------------------------------
// microbenchmarks

/** benchmark inputs in [−0.5, 0.5) */
const randomData = (n: number, seed: number): Float32Array => randomArray(n, seed, -0.5, 0.5);

function poolCases(label: string, xShape: number[], p: Pool3dParams, large: boolean): KernelBenchmark[] {
  const g = poolGeometry(xShape, p, 'benchmark');
  const nIn = sizeOf(xShape), nOut = g.nc * sizeOf(g.outSize), taps = sizeOf(p.kernel);
  const gyShape = [xShape[0], xShape[1], ...g.outSize];
  const opt = large ? { large: true } : {};
  return [
    {
      group: 'maxPool3d', name: `fwd ${label}`, flops: nOut * taps, bytes: 4 * (nIn + 2 * nOut), ...opt,
      setup(b: Backend) {
        const x = b.upload(randomData(nIn, 1), 'float32');
        return { run() { const r = b.maxPool3d(x, xShape, p); b.free(r.values); b.free(r.indices); }, dispose() { b.free(x); } };
      },
    },
    {
      group: 'maxPool3d', name: `bwd ${label}`, flops: nIn, bytes: 4 * (2 * nOut + nIn), ...opt,
      setup(b: Backend) {
        const x = b.upload(randomData(nIn, 2), 'float32');
        const { values, indices } = b.maxPool3d(x, xShape, p);
        return {
          run() { b.free(b.maxPool3dBackward(values, indices, gyShape, xShape)); },
          dispose() { b.free(x); b.free(values); b.free(indices); },
        };
      },
    },
    {
      group: 'maxUnpool3d', name: `${label}`, flops: 0, bytes: 4 * (2 * nOut + 3 * nIn), ...opt,
      setup(b: Backend) {
        const x = b.upload(randomData(nIn, 5), 'float32');
        const { values, indices } = b.maxPool3d(x, xShape, p);
        const size: [number, number, number] = [xShape[2], xShape[3], xShape[4]];
        return {
          run() { b.free(b.maxUnpool3d(values, indices, gyShape, size)); },
          dispose() { b.free(x); b.free(values); b.free(indices); },
        };
      },
    },
    {
      group: 'avgPool3d', name: `fwd ${label}`, flops: nOut * taps, bytes: 4 * (nIn + nOut), ...opt,
      setup(b: Backend) {
        const x = b.upload(randomData(nIn, 3), 'float32');
        return { run() { b.free(b.avgPool3d(x, xShape, p)); }, dispose() { b.free(x); } };
      },
    },
    {
      group: 'avgPool3d', name: `bwd ${label}`, flops: nIn * Math.ceil(taps / sizeOf(p.stride)), bytes: 4 * (nOut + nIn), ...opt,
      setup(b: Backend) {
        const gy = b.upload(randomData(nOut, 4), 'float32');
        return { run() { b.free(b.avgPool3dBackward(gy, gyShape, xShape, p)); }, dispose() { b.free(gy); } };
      },
    },
  ];
}

const pool2: Pool3dParams = { kernel: [2, 2, 2], stride: [2, 2, 2], padding: [0, 0, 0] };

export const benchmarks: KernelBenchmark[] = [
  ...poolCases('2³/2 [4,16,56,56,40]', [4, 16, 56, 56, 40], pool2, true),
  ...poolCases('2³/2 [1,4,16,16,12]', [1, 4, 16, 16, 12], pool2, false),
  ...poolCases('3³/2 pad 1 [1,4,16,16,12]', [1, 4, 16, 16, 12], { kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1] }, false),
];
