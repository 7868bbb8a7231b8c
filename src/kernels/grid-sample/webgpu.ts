import type { Backend, GridSampleParams, Storage } from '../backend.js';
import type { KernelBenchmark } from '../benchmark.js';
import { fill } from '../elementwise/webgpu.js';
import { sizeOf } from '../layout.js';
import { randomArray } from '../random.js';
import type { GpuRuntime, GpuStorage } from '../webgpu/runtime.js';
import { Params, gpuBuffer, grid1d, wgslFlatIndex, wgslType } from '../webgpu/runtime.js';
import { checkGridSampleShapes } from './checks.js';

/**
 * F.grid_sample for 5-D float32 input, the arithmetic of cpu.ts (the voxel position in f32 in the
 * same order of operations). Mode, padding and alignment are compiled into each kernel.
 *
 * - Forward: one invocation per output element (n, c, point), up to 8 reads.
 * - Input gradient: a scatter. One invocation per output element adds weight·gy into each of its corners with
 *   a compare-exchange loop on the float's bits (WGSL has no float atomics) into a zeroed buffer. A gather
 *   form would need, per input voxel, the list of grid points falling in its 8 cells: for an arbitrary grid
 *   that is a binning pass (count, prefix sum, fill) before the gather, three extra dispatches and a point-index
 *   buffer, to avoid contention that a smooth deformation field hardly has (neighbouring points land in
 *   neighbouring cells; a collision needs several points within one voxel). The float sum's order, hence its
 *   last bits, then depends on scheduling.
 * - Grid gradient: a gather, one invocation per grid point summing over the channels and its corners.
 */

const WG = 256;

const paramsStruct = /* wgsl */ `
struct Params { n: u32, C: u32, D: i32, H: i32, W: i32, points: u32, }`;

/** WGSL: the voxel position of a grid coordinate along one axis → its first corner, the two weights and ∂pos/∂g. */
function axisSource(p: GridSampleParams): string {
  const pos = p.alignCorners ? '(g + 1.0) / 2.0 * (s - 1.0)' : '((g + 1.0) * s - 1.0) / 2.0';
  const dpos = p.alignCorners ? '(s - 1.0) / 2.0' : 's / 2.0';
  const clip = '  if (pos <= 0.0) { pos = 0.0; dpos = 0.0; } else if (pos >= s - 1.0) { pos = s - 1.0; dpos = 0.0; }';
  // reflection: mirrored at low and high (the centres [0, S − 1] or the edges [−½, S − ½]) as cpu.ts's reflect
  const [low, span] = p.alignCorners ? ['0.0', 's - 1.0'] : ['-0.5', 's'];
  const reflect = `  if (${span} == 0.0) { pos = 0.0; dpos = 0.0; } else {
    var x = pos - (${low});
    if (x < 0.0) { x = -x; dpos = -dpos; }
    let flips = floor(x / (${span}));
    let extra = x % (${span});
    if (flips % 2.0 == 0.0) { pos = extra + (${low}); } else { pos = (${span}) - extra + (${low}); dpos = -dpos; }
  }
${clip}`;
  const pad = p.paddingMode === 'border' ? clip : p.paddingMode === 'reflection' ? reflect
    // keeps the conversion to i32 in range: every corner beyond [−2, S + 1] is outside the volume anyway
    : '  pos = clamp(pos, -2.0, s + 1.0);';
  const corners = p.mode === 'nearest'
    ? '  return Axis(i32(round(pos)), 1.0, 0.0, 0.0);'
    : `  let f = floor(pos);
  return Axis(i32(f), f + 1.0 - pos, pos - f, dpos);`;
  return /* wgsl */ `
struct Axis { i0: i32, w0: f32, w1: f32, dpos: f32, }
fn axis(g: f32, size: i32) -> Axis {
  let s = f32(size);
  var pos = ${pos};
  var dpos = ${dpos};
${pad}
${corners}
}
fn weight(a: Axis, k: i32) -> f32 { return select(a.w0, a.w1, k == 1); }
fn dweight(a: Axis, k: i32) -> f32 { return select(-a.dpos, a.dpos, k == 1); }
fn inside(i: i32, size: i32) -> bool { return i >= 0 && i < size; }
const K = ${p.mode === 'nearest' ? 1 : 2};`;
}

/** WGSL: the three axes of grid point q of sample n (grid bound as `grid`). */
const wgslAxes = `  let at = (n * P.points + q) * 3u;
  let ax = axis(grid[at], P.W);
  let ay = axis(grid[at + 1u], P.H);
  let az = axis(grid[at + 2u], P.D);`;

/** WGSL: a loop over the corners inside the volume, with `w` their weight and `v` their index in one channel. */
function wgslCorners(body: string): string {
  return `  for (var kz = 0; kz < K; kz++) {
    let vz = az.i0 + kz;
    if (!inside(vz, P.D)) { continue; }
    for (var ky = 0; ky < K; ky++) {
      let vy = ay.i0 + ky;
      if (!inside(vy, P.H)) { continue; }
      for (var kx = 0; kx < K; kx++) {
        let vx = ax.i0 + kx;
        if (!inside(vx, P.W)) { continue; }
        let v = u32((vz * P.H + vy) * P.W + vx);
        let w = weight(az, kz) * weight(ay, ky) * weight(ax, kx);
${body}
      }
    }
  }`;
}

/** the kernel's bindings: its storage buffers in order, then the uniform parameters */
function kernelHead(p: GridSampleParams, storages: readonly string[]): string {
  return /* wgsl */ `
${paramsStruct}
${storages.map((decl, b) => `@group(0) @binding(${b}) var<storage, ${decl}>;`).join('\n')}
@group(0) @binding(${storages.length}) var<uniform> P: Params;
${axisSource(p)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${wgslFlatIndex(WG)};
  if (i >= P.n) { return; }`;
}

function forwardSource(p: GridSampleParams): string {
  return `${kernelHead(p, ['read> x: array<f32', 'read> grid: array<f32', 'read_write> y: array<f32'])}
  let q = i % P.points;
  let nc = i / P.points;
  let n = nc / P.C;
${wgslAxes}
  let base = nc * u32(P.D * P.H * P.W);
  var sum = 0.0;
${wgslCorners('        sum += w * x[base + v];')}
  y[i] = sum;
}`;
}

function backwardInputSource(p: GridSampleParams): string {
  return `${kernelHead(p, ['read> gy: array<f32', 'read> grid: array<f32', 'read_write> gx: array<atomic<u32>'])}
  let q = i % P.points;
  let nc = i / P.points;
  let n = nc / P.C;
  let g = gy[i];
  if (g == 0.0) { return; }
${wgslAxes}
  let base = nc * u32(P.D * P.H * P.W);
${wgslCorners(`        let add = w * g;
        if (add == 0.0) { continue; }
        var old = atomicLoad(&gx[base + v]);
        loop {
          let res = atomicCompareExchangeWeak(&gx[base + v], old, bitcast<u32>(bitcast<f32>(old) + add));
          if (res.exchanged) { break; }
          old = res.old_value;
        }`)}
}`;
}

function backwardGridSource(p: GridSampleParams): string {
  return `${kernelHead(p, ['read> gy: array<f32', 'read> x: array<f32', 'read> grid: array<f32', 'read_write> gGrid: array<f32'])}
  let q = i % P.points;
  let n = i / P.points;
${wgslAxes}
  let volume = u32(P.D * P.H * P.W);
  var gxyz = vec3f(0.0);
  for (var c = 0u; c < P.C; c++) {
    let g = gy[(n * P.C + c) * P.points + q];
    if (g == 0.0) { continue; }
    let base = (n * P.C + c) * volume;
${wgslCorners(`        let xv = x[base + v] * g;
        gxyz += xv * vec3f(weight(az, kz) * weight(ay, ky) * dweight(ax, kx),
                           weight(az, kz) * dweight(ay, ky) * weight(ax, kx),
                           dweight(az, kz) * weight(ay, ky) * weight(ax, kx));`)}
  }
  gGrid[i * 3u] = gxyz.x;
  gGrid[i * 3u + 1u] = gxyz.y;
  gGrid[i * 3u + 2u] = gxyz.z;
}`;
}

const key = (p: GridSampleParams): string => `${p.mode}:${p.paddingMode}:${p.alignCorners ? 'ac' : 'hp'}`;

function params(n: number, xShape: readonly number[], gridShape: readonly number[]): ArrayBuffer {
  return new Params().u32(n, xShape[1]).i32(xShape[2], xShape[3], xShape[4]).u32(sizeOf(gridShape.slice(1, 4))).done();
}

function checkFloat32(what: string, ...ss: Storage[]): void {
  for (const s of ss) if (wgslType(s.dtype) !== 'f32') throw new Error(`webgpu: ${what} takes float32, got ${s.dtype}`);
}

export function gridSample(rt: GpuRuntime, x: Storage, xShape: readonly number[], grid: Storage, gridShape: readonly number[],
  p: GridSampleParams): GpuStorage {
  checkFloat32('gridSample', x, grid);
  checkGridSampleShapes(xShape, gridShape, 'webgpu: gridSample');
  const n = xShape[0] * xShape[1] * sizeOf(gridShape.slice(1, 4));
  const y = rt.alloc(n, 'float32');
  const k = rt.kernel(`gridSample:${key(p)}`, () => forwardSource(p), 3);
  rt.dispatch(k, [gpuBuffer(x), gpuBuffer(grid), y.buffer], params(n, xShape, gridShape), grid1d(n, WG));
  return y;
}

export function gridSampleBackwardInput(rt: GpuRuntime, gy: Storage, grid: Storage, gridShape: readonly number[], xShape: readonly number[],
  p: GridSampleParams): GpuStorage {
  checkFloat32('gridSampleBackwardInput', gy, grid);
  checkGridSampleShapes(xShape, gridShape, 'webgpu: gridSampleBackwardInput');
  const gx = fill(rt, sizeOf(xShape), 0, 'float32');
  const n = xShape[0] * xShape[1] * sizeOf(gridShape.slice(1, 4));
  const k = rt.kernel(`gridSample-bwd-input:${key(p)}`, () => backwardInputSource(p), 3);
  rt.dispatch(k, [gpuBuffer(gy), gpuBuffer(grid), gx.buffer], params(n, xShape, gridShape), grid1d(n, WG));
  return gx;
}

export function gridSampleBackwardGrid(rt: GpuRuntime, gy: Storage, x: Storage, xShape: readonly number[], grid: Storage,
  gridShape: readonly number[], p: GridSampleParams): GpuStorage {
  checkFloat32('gridSampleBackwardGrid', gy, x, grid);
  checkGridSampleShapes(xShape, gridShape, 'webgpu: gridSampleBackwardGrid');
  const n = xShape[0] * sizeOf(gridShape.slice(1, 4));
  // 'nearest' is piecewise constant in the grid
  if (p.mode === 'nearest') return fill(rt, 3 * n, 0, 'float32');
  const gGrid = rt.alloc(3 * n, 'float32');
  const k = rt.kernel(`gridSample-bwd-grid:${key(p)}`, () => backwardGridSource(p), 4);
  rt.dispatch(k, [gpuBuffer(gy), gpuBuffer(x), gpuBuffer(grid), gGrid.buffer], params(n, xShape, gridShape), grid1d(n, WG));
  return gGrid;
}

// ---------------------------------------------------------------------------------------------------------
// microbenchmarks

/** a smooth-ish random deformation of the identity grid (what a registration network's spatial transformer samples) */
function deformedGrid(gridShape: readonly number[], seed: number): Float32Array {
  const [N, D, H, W] = gridShape, g = new Float32Array(sizeOf(gridShape));
  const noise = randomArray(g.length, seed, -0.05, 0.05);
  let at = 0;
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    for (const [i, s] of [[w, W], [h, H], [d, D]]) { g[at] = (2 * i + 1) / s - 1 + noise[at]; at++; }
  }
  return g;
}

function cases(label: string, xShape: number[], large: boolean): KernelBenchmark[] {
  const gridShape = [xShape[0], ...xShape.slice(2), 3];
  const p: GridSampleParams = { mode: 'bilinear', paddingMode: 'zeros', alignCorners: false };
  const nOut = xShape[0] * xShape[1] * sizeOf(xShape.slice(2)), nGrid = sizeOf(gridShape);
  // per output element: 8 reads and 8 multiply-adds, plus the weights (~20 flops per point)
  const opt = large ? { large: true } : {};
  const setupWith = (run: (b: Backend, x: Storage, grid: Storage, gy: Storage) => Storage) => (b: Backend) => {
    const x = b.upload(randomArray(sizeOf(xShape), 3, -0.5, 0.5), 'float32');
    const grid = b.upload(deformedGrid(gridShape, 4), 'float32');
    const gy = b.upload(randomArray(nOut, 5, -0.5, 0.5), 'float32');
    return { run() { b.free(run(b, x, grid, gy)); }, dispose() { for (const s of [x, grid, gy]) b.free(s); } };
  };
  return [
    {
      group: 'gridSample', name: `fwd ${label}`, flops: 16 * nOut + 20 * nGrid / 3, bytes: 4 * (nOut + sizeOf(xShape) + nGrid), ...opt,
      setup: setupWith((b, x, grid) => b.gridSample(x, xShape, grid, gridShape, p)),
    },
    {
      group: 'gridSample', name: `bwd input (atomics) ${label}`, flops: 16 * nOut, bytes: 4 * (nOut + 3 * sizeOf(xShape) + nGrid), ...opt,
      setup: setupWith((b, _x, grid, gy) => b.gridSampleBackwardInput(gy, grid, gridShape, xShape, p)),
    },
    {
      group: 'gridSample', name: `bwd grid ${label}`, flops: 48 * nOut, bytes: 4 * (2 * nOut + sizeOf(xShape) + 2 * nGrid), ...opt,
      setup: setupWith((b, x, grid, gy) => b.gridSampleBackwardGrid(gy, x, xShape, grid, gridShape, p)),
    },
  ];
}

export const benchmarks: KernelBenchmark[] = [
  ...cases('[1,2,112,112,80] at its own deformed grid', [1, 2, 112, 112, 80], true),
  ...cases('[1,2,24,24,24] at its own deformed grid', [1, 2, 24, 24, 24], false),
];
