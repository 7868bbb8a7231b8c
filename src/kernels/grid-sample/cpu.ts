import type { GridSampleParams, Storage } from '../backend.js';
import { cpuData, storageFrom, type CpuStorage } from '../cpu/storage.js';
import { sizeOf } from '../layout.js';
import { checkGridSampleShapes } from './checks.js';

/**
 * F.grid_sample for 5-D input as PyTorch defines it (see GridSampleParams): the voxel position of a grid
 * coordinate is computed in the data's precision (float32 arithmetic for float32 data, as PyTorch's kernels
 * do), the corner weights and sums in float64. 'bilinear' takes the corners i0 = ⌊pos⌋ and i0 + 1 with
 * weights i0 + 1 − pos and pos − i0 per axis; corners outside the volume add nothing (after the clamp of
 * 'border'). 'nearest' rounds half to even (nearbyint). The grid gradient is Σ_c gy·Σ_corners x·∂weight/∂g,
 * with ∂pos/∂g = (S − 1)/2 or S/2, and 0 where 'border' clamps (PyTorch counts the border itself as clamped).
 * 'reflection' mirrors the position at the extreme voxels' centres (alignCorners) or outer edges (without), as
 * often as needed, then clamps as 'border' (∂pos/∂g changes sign with each mirroring).
 */

/** One axis of one grid point: the voxel position and ∂pos/∂g. */
interface AxisPosition { pos: number; dpos: number }

function axisPosition(g: number, size: number, p: GridSampleParams, r: (v: number) => number): AxisPosition {
  let pos = p.alignCorners ? r(r(r(g + 1) / 2) * (size - 1)) : r(r(r(g + 1) * size) - 1) / 2;
  let dpos = p.alignCorners ? (size - 1) / 2 : size / 2;
  if (p.paddingMode === 'reflection') {
    const reflected = reflect(pos, p.alignCorners ? 0 : -1, p.alignCorners ? 2 * (size - 1) : 2 * size - 1, r);
    pos = reflected.pos;
    dpos *= reflected.sign;
  }
  if (p.paddingMode !== 'zeros') {
    if (pos <= 0) { pos = 0; dpos = 0; } else if (pos >= size - 1) { pos = size - 1; dpos = 0; }
  }
  return { pos, dpos };
}

/**
 * PyTorch's reflect_coordinates: pos mirrored at low and high (given doubled, so that half-integers are
 * integers) until it lies between them, and ±1, the sign of ∂reflected/∂pos (0 for an empty span).
 */
function reflect(pos: number, twiceLow: number, twiceHigh: number, r: (v: number) => number): { pos: number; sign: number } {
  if (twiceLow === twiceHigh) return { pos: 0, sign: 0 };
  const low = twiceLow / 2, span = (twiceHigh - twiceLow) / 2;
  let x = r(pos - low), sign = 1;
  if (x < 0) { x = -x; sign = -1; }
  const extra = x % span, flips = Math.floor(r(x / span));
  return flips % 2 === 0 ? { pos: r(extra + low), sign } : { pos: r(r(span - extra) + low), sign: -sign };
}

/** The corners along one axis: index, weight and ∂weight/∂g. */
interface AxisCorner { i: number; w: number; dw: number }

function roundHalfEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function axisCorners(a: AxisPosition, size: number, mode: GridSampleParams['mode']): AxisCorner[] {
  const corners = mode === 'nearest'
    ? [{ i: roundHalfEven(a.pos), w: 1, dw: 0 }]
    : (() => {
      const i0 = Math.floor(a.pos);
      return [{ i: i0, w: i0 + 1 - a.pos, dw: -a.dpos }, { i: i0 + 1, w: a.pos - i0, dw: a.dpos }];
    })();
  return corners.filter((c) => c.i >= 0 && c.i < size);
}

/** A corner of a grid point inside the volume: its flat index in one D·H·W channel, weight and weight's grid gradient. */
interface Corner { at: number; w: number; dx: number; dy: number; dz: number }

/** Calls visit(n, point, corners) for every grid point (points in C order within each sample). */
function eachPoint(xShape: readonly number[], grid: ArrayLike<number>, gridShape: readonly number[], p: GridSampleParams,
  float32: boolean, visit: (n: number, point: number, corners: Corner[]) => void): void {
  const [D, H, W] = xShape.slice(2);
  const points = sizeOf(gridShape.slice(1, 4));
  const r = float32 ? Math.fround : (v: number) => v;
  for (let n = 0; n < gridShape[0]; n++) {
    for (let q = 0; q < points; q++) {
      const g = (n * points + q) * 3;
      const cx = axisCorners(axisPosition(grid[g], W, p, r), W, p.mode);
      const cy = axisCorners(axisPosition(grid[g + 1], H, p, r), H, p.mode);
      const cz = axisCorners(axisPosition(grid[g + 2], D, p, r), D, p.mode);
      const corners: Corner[] = [];
      for (const z of cz) for (const y of cy) for (const x of cx) {
        corners.push({ at: (z.i * H + y.i) * W + x.i, w: z.w * y.w * x.w, dx: z.w * y.w * x.dw, dy: z.w * y.dw * x.w, dz: z.dw * y.w * x.w });
      }
      visit(n, q, corners);
    }
  }
}

export function gridSample(x: Storage, xShape: readonly number[], grid: Storage, gridShape: readonly number[], p: GridSampleParams): CpuStorage {
  checkGridSampleShapes(xShape, gridShape, 'gridSample');
  const X = cpuData(x), C = xShape[1], volume = sizeOf(xShape.slice(2)), points = sizeOf(gridShape.slice(1, 4));
  const y = new Float64Array(xShape[0] * C * points);
  eachPoint(xShape, cpuData(grid), gridShape, p, x.dtype !== 'float64', (n, q, corners) => {
    for (let c = 0; c < C; c++) {
      let v = 0;
      for (const k of corners) v += k.w * X[(n * C + c) * volume + k.at];
      y[(n * C + c) * points + q] = v;
    }
  });
  return storageFrom(x.dtype, y);
}

export function gridSampleBackwardInput(gy: Storage, grid: Storage, gridShape: readonly number[], xShape: readonly number[],
  p: GridSampleParams): CpuStorage {
  checkGridSampleShapes(xShape, gridShape, 'gridSampleBackwardInput');
  const G = cpuData(gy), C = xShape[1], volume = sizeOf(xShape.slice(2)), points = sizeOf(gridShape.slice(1, 4));
  const gx = new Float64Array(sizeOf(xShape));
  eachPoint(xShape, cpuData(grid), gridShape, p, gy.dtype !== 'float64', (n, q, corners) => {
    for (let c = 0; c < C; c++) {
      const g = G[(n * C + c) * points + q];
      for (const k of corners) gx[(n * C + c) * volume + k.at] += k.w * g;
    }
  });
  return storageFrom(gy.dtype, gx);
}

export function gridSampleBackwardGrid(gy: Storage, x: Storage, xShape: readonly number[], grid: Storage, gridShape: readonly number[],
  p: GridSampleParams): CpuStorage {
  checkGridSampleShapes(xShape, gridShape, 'gridSampleBackwardGrid');
  const G = cpuData(gy), X = cpuData(x), C = xShape[1], volume = sizeOf(xShape.slice(2)), points = sizeOf(gridShape.slice(1, 4));
  const gGrid = new Float64Array(sizeOf(gridShape));
  eachPoint(xShape, cpuData(grid), gridShape, p, x.dtype !== 'float64', (n, q, corners) => {
    let gx = 0, gyy = 0, gz = 0;
    for (let c = 0; c < C; c++) {
      const g = G[(n * C + c) * points + q], base = (n * C + c) * volume;
      for (const k of corners) {
        const v = X[base + k.at] * g;
        gx += k.dx * v; gyy += k.dy * v; gz += k.dz * v;
      }
    }
    const at = (n * points + q) * 3;
    gGrid[at] = gx; gGrid[at + 1] = gyy; gGrid[at + 2] = gz;
  });
  return storageFrom(x.dtype, gGrid);
}
