import type { Backend, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { sizeOf } from '../layout.js';
import { randomArray } from '../random.js';
import type { GpuRuntime } from '../webgpu/runtime.js';
import { Params, gpuBuffer, grid1d, wgslFlatIndex, wgslType, wgslUnravelNcdhw } from '../webgpu/runtime.js';
import { axisRatio, checkInterpolateBackwardShapes, checkInterpolateShapes, type InterpolateMode, type InterpolateScales } from './checks.js';

/**
 * F.interpolate for NCDHW float32 given `size` (and optionally the scale factors, PyTorch's scales_d/h/w)
 * ('nearest' legacy, 'nearest-exact' and 'trilinear', align_corners either way), the same arithmetic as cpu.ts: the per-axis scale is rounded to float32 on the host (as PyTorch
 * computes it) and the source position is computed in float32 per output coordinate.
 *
 * - Forward: one invocation per output voxel, 1 (nearest) or 8 (trilinear) reads.
 * - Backward: gather form, one invocation per input voxel. Per axis it walks the output coordinates that can
 *   reference input coordinate c (from the inverse of the source map, widened by one on each side against
 *   float32 rounding), recomputes each one's (i0, i1, λ0, λ1) with the forward's code and adds the weight of
 *   c: every term the forward spreads is found, so it is the exact adjoint, deterministic, without atomics.
 */

const WG = 256;

function coefSource(mode: InterpolateMode, alignCorners: boolean): string {
  const body = mode !== 'trilinear'
    ? `  let s = min(i32(floor(${mode === 'nearest' ? 'f32(dst)' : '(f32(dst) + 0.5)'} * ratio)), n_in - 1);
  return Coef(s, s, 1.0, 0.0);`
    : `  if (n_in == n_out) { return Coef(dst, dst, 1.0, 0.0); }
  ${alignCorners ? 'let src = ratio * f32(dst);' : 'let src = max(ratio * (f32(dst) + 0.5) - 0.5, 0.0);'}
  let i0 = min(i32(floor(src)), n_in - 1);
  let l1 = clamp(src - f32(i0), 0.0, 1.0);
  return Coef(i0, select(i0, i0 + 1, i0 < n_in - 1), 1.0 - l1, l1);`;
  return /* wgsl */ `
struct Coef { i0: i32, i1: i32, l0: f32, l1: f32, }
// output coordinate dst along one axis → its two source coordinates and weights
fn coef(dst: i32, n_in: i32, n_out: i32, ratio: f32) -> Coef {
${body}
}`;
}

/** WGSL: the output coordinates along one axis that can reference input coordinate c, [lo, hi]. */
function candidatesSource(mode: InterpolateMode, alignCorners: boolean): string {
  let body: string;
  if (mode === 'nearest') {
    // floor(dst · r) = c ⇔ c/r ≤ dst < (c+1)/r
    body = `  var lo = i32(floor(f32(c) / ratio)) - 1;
  var hi = i32(ceil(f32(c + 1) / ratio));`;
  } else if (mode === 'nearest-exact') {
    // floor((dst + ½) · r) = c ⇔ c/r − ½ ≤ dst < (c+1)/r − ½
    body = `  var lo = i32(floor(f32(c) / ratio - 0.5)) - 1;
  var hi = i32(ceil(f32(c + 1) / ratio - 0.5));`;
  } else if (alignCorners) {
    // src = r·dst ∈ [c − 1, c + 1)
    body = `  if (n_in == n_out) { return vec2i(c, c); }
  if (ratio == 0.0) { return vec2i(0, n_out - 1); }
  var lo = i32(floor(f32(c - 1) / ratio)) - 1;
  var hi = i32(ceil(f32(c + 1) / ratio)) + 1;`;
  } else {
    // src = r·(dst + 0.5) − 0.5 ∈ [c − 1, c + 1) (the clamp at 0 only feeds c = 0 and c = 1, whose lo is ≤ 0 anyway)
    body = `  if (n_in == n_out) { return vec2i(c, c); }
  var lo = i32(floor((f32(c) - 0.5) / ratio - 0.5)) - 1;
  var hi = i32(ceil((f32(c) + 1.5) / ratio - 0.5)) + 1;`;
  }
  return /* wgsl */ `
fn candidates(c: i32, n_in: i32, n_out: i32, ratio: f32) -> vec2i {
${body}
  if (c == n_in - 1) { hi = n_out - 1; }
  return vec2i(max(lo, 0), min(hi, n_out - 1));
}`;
}

const paramsStruct = /* wgsl */ `
struct Params {
  n: u32, nc: u32,
  D: i32, H: i32, W: i32, OD: i32, OH: i32, OW: i32,
  rd: f32, rh: f32, rw: f32,
}`;

function forwardSource(mode: InterpolateMode, alignCorners: boolean): string {
  const gather = mode !== 'trilinear'
    ? `  y[i] = x[base + u32((cd.i0 * P.H + ch.i0) * P.W + cw.i0)];`
    : `  let r00 = base + u32((cd.i0 * P.H + ch.i0) * P.W);
  let r01 = base + u32((cd.i0 * P.H + ch.i1) * P.W);
  let r10 = base + u32((cd.i1 * P.H + ch.i0) * P.W);
  let r11 = base + u32((cd.i1 * P.H + ch.i1) * P.W);
  let w0 = u32(cw.i0);
  let w1 = u32(cw.i1);
  let v0 = ch.l0 * (cw.l0 * x[r00 + w0] + cw.l1 * x[r00 + w1]) + ch.l1 * (cw.l0 * x[r01 + w0] + cw.l1 * x[r01 + w1]);
  let v1 = ch.l0 * (cw.l0 * x[r10 + w0] + cw.l1 * x[r10 + w1]) + ch.l1 * (cw.l0 * x[r11 + w0] + cw.l1 * x[r11 + w1]);
  y[i] = cd.l0 * v0 + cd.l1 * v1;`;
  return /* wgsl */ `
${paramsStruct}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;
${coefSource(mode, alignCorners)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
${wgslUnravelNcdhw(['od', 'oh', 'ow'], ['P.OD', 'P.OH', 'P.OW'])}
  let base = nc * u32(P.D * P.H * P.W);
  let cd = coef(od, P.D, P.OD, P.rd);
  let ch = coef(oh, P.H, P.OH, P.rh);
  let cw = coef(ow, P.W, P.OW, P.rw);
${gather}
}`;
}

function backwardSource(mode: InterpolateMode, alignCorners: boolean): string {
  return /* wgsl */ `
${paramsStruct}
@group(0) @binding(0) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read_write> gx: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;
${coefSource(mode, alignCorners)}
${candidatesSource(mode, alignCorners)}

// the weight input coordinate c receives from output coordinate dst
fn weight(c: i32, dst: i32, n_in: i32, n_out: i32, ratio: f32) -> f32 {
  let k = coef(dst, n_in, n_out, ratio);
  return select(0.0, k.l0, k.i0 == c) + select(0.0, k.l1, k.i1 == c);
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }
${wgslUnravelNcdhw(['d', 'h', 'w'], ['P.D', 'P.H', 'P.W'])}
  let base = nc * u32(P.OD * P.OH * P.OW);
  let rd = candidates(d, P.D, P.OD, P.rd);
  let rh = candidates(h, P.H, P.OH, P.rh);
  let rw = candidates(w, P.W, P.OW, P.rw);
  var sum = 0.0;
  for (var od = rd.x; od <= rd.y; od++) {
    let wd = weight(d, od, P.D, P.OD, P.rd);
    if (wd == 0.0) { continue; }
    for (var oh = rh.x; oh <= rh.y; oh++) {
      let wh = weight(h, oh, P.H, P.OH, P.rh);
      if (wh == 0.0) { continue; }
      let row = base + u32((od * P.OH + oh) * P.OW);
      var rowSum = 0.0;
      for (var ow = rw.x; ow <= rw.y; ow++) {
        let ww = weight(w, ow, P.W, P.OW, P.rw);
        if (ww != 0.0) { rowSum += ww * gy[row + u32(ow)]; }
      }
      sum += wd * wh * rowSum;
    }
  }
  gx[i] = sum;
}`;
}

function params(n: number, nc: number, inSize: readonly number[], outSize: readonly number[], mode: InterpolateMode, alignCorners: boolean,
  scales: InterpolateScales | undefined): ArrayBuffer {
  return new Params().u32(n, nc).i32(...inSize, ...outSize)
    .f32(...[0, 1, 2].map((a) => axisRatio(inSize[a], outSize[a], mode, alignCorners, scales?.[a]))).done();
}

export function interpolate(rt: GpuRuntime, x: Storage, xShape: readonly number[], size: readonly [number, number, number],
  mode: InterpolateMode, alignCorners: boolean, scales?: InterpolateScales): Storage {
  if (wgslType(x.dtype) !== 'f32') throw new Error(`webgpu: interpolate takes float32, got ${x.dtype}`);
  checkInterpolateShapes(xShape, size, 'webgpu: interpolate', scales);
  const nc = xShape[0] * xShape[1];
  const n = nc * sizeOf(size);
  const y = rt.alloc(n, 'float32');
  const align = mode === 'trilinear' && alignCorners;
  const k = rt.kernel(`interp:${mode}:${align ? 'ac' : 'hp'}`, () => forwardSource(mode, align), 2);
  rt.dispatch(k, [gpuBuffer(x), y.buffer], params(n, nc, xShape.slice(2), size, mode, align, scales), grid1d(n, WG));
  return y;
}

export function interpolateBackward(rt: GpuRuntime, gy: Storage, gyShape: readonly number[], xShape: readonly number[],
  mode: InterpolateMode, alignCorners: boolean, scales?: InterpolateScales): Storage {
  if (wgslType(gy.dtype) !== 'f32') throw new Error(`webgpu: interpolateBackward takes float32, got ${gy.dtype}`);
  checkInterpolateBackwardShapes(gyShape, xShape, 'webgpu: interpolateBackward', scales);
  const outSize = gyShape.slice(2);
  const nc = xShape[0] * xShape[1];
  const n = nc * sizeOf(xShape.slice(2));
  const gx = rt.alloc(n, 'float32');
  const align = mode === 'trilinear' && alignCorners;
  const k = rt.kernel(`interp-bwd:${mode}:${align ? 'ac' : 'hp'}`, () => backwardSource(mode, align), 2);
  rt.dispatch(k, [gpuBuffer(gy), gx.buffer], params(n, nc, xShape.slice(2), outSize, mode, align, scales), grid1d(n, WG));
  return gx;
}

// ---------------------------------------------------------------------------------------------------------
// microbenchmarks

/** benchmark inputs in [−0.5, 0.5) */
const randomData = (n: number, seed: number): Float32Array => randomArray(n, seed, -0.5, 0.5);

function cases(label: string, xShape: number[], size: [number, number, number], mode: InterpolateMode, alignCorners: boolean, large: boolean): KernelBenchmark[] {
  const nIn = sizeOf(xShape), nOut = xShape[0] * xShape[1] * sizeOf(size);
  const gyShape = [xShape[0], xShape[1], ...size];
  // trilinear: 8 reads, 14 multiply-adds per output; nearest: a copy
  const flopsPerOut = mode === 'trilinear' ? 28 : 0;
  const opt = large ? { large: true } : {};
  return [
    {
      group: 'interpolate', name: `fwd ${mode} ${label}`, flops: nOut * flopsPerOut, bytes: 4 * (nIn + nOut), ...opt,
      setup(b: Backend) {
        const x = b.upload(randomData(nIn, 5), 'float32');
        return { run() { b.free(b.interpolate(x, xShape, size, mode, alignCorners)); }, dispose() { b.free(x); } };
      },
    },
    {
      group: 'interpolate', name: `bwd ${mode} ${label}`, flops: nOut * flopsPerOut, bytes: 4 * (nIn + nOut), ...opt,
      setup(b: Backend) {
        const gy = b.upload(randomData(nOut, 6), 'float32');
        return { run() { b.free(b.interpolateBackward(gy, gyShape, xShape, mode, alignCorners)); }, dispose() { b.free(gy); } };
      },
    },
  ];
}

export const benchmarks: KernelBenchmark[] = [
  ...cases('×2 [4,16,56,56,40]→112×112×80', [4, 16, 56, 56, 40], [112, 112, 80], 'trilinear', false, true),
  ...cases('×2 [1,4,16,16,12]→32×32×24', [1, 4, 16, 16, 12], [32, 32, 24], 'trilinear', false, false),
  ...cases('×2 [1,4,16,16,12]→32×32×24', [1, 4, 16, 16, 12], [32, 32, 24], 'nearest', false, false),
];
