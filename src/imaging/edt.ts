/**
 * Exact Euclidean distance transforms on 3-D volumes in C order
 * (index = (x * Y + y) * Z + z, shape [X, Y, Z]), and DTC's ground-truth signed distance map.
 *
 * The transform is Felzenszwalb & Huttenlocher's separable lower-envelope algorithm
 * ("Distance Transforms of Sampled Functions", 2012): a 1-D squared-distance pass along z, then
 * y, then x, each linear in the line length, all in Float64. Squared distances are integers, so
 * they are exact, and `sqrt` of them is bit-identical to what scipy returns.
 */

import type { Shape3 } from './volume.js';

function checkShape(n: number, shape: Readonly<Shape3>, what: string): void {
  const [X, Y, Z] = shape;
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 1) throw new Error(`${what}: bad shape [${shape.join(', ')}]`);
  }
  if (X * Y * Z !== n) {
    throw new Error(`${what}: ${n} voxels do not match shape [${shape.join(', ')}]`);
  }
}

/**
 * 1-D squared distance transform of the sampled function f (read with stride from `src` at
 * `off`), written back to `dst` with the same stride, samples `spacing` apart (w2 = spacing²; 1
 * leaves every operation exact on integers). Sites with f = +Infinity are not part of the lower
 * envelope; a line without any finite site comes out as all +Infinity.
 * `f`, `v`, `z` are scratch buffers of at least n (n + 1 for z) entries.
 */
function dt1d(
  buf: Float64Array, off: number, stride: number, n: number, w2: number,
  f: Float64Array, v: Int32Array, z: Float64Array,
): void {
  for (let q = 0; q < n; q++) f[q] = buf[off + q * stride]!;
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q]!;
    if (fq === Infinity) continue;
    if (k < 0) {
      k = 0; v[0] = q; z[0] = -Infinity; z[1] = Infinity;
      continue;
    }
    let s: number;
    for (;;) {
      const p = v[k]!;
      // intersection of the parabolas rooted at p and q
      s = (fq + w2 * q * q - (f[p]! + w2 * p * p)) / (2 * w2 * (q - p));
      if (s <= z[k]!) k--;
      else break;
      // z[0] = -Infinity, so k never goes below 0 here
    }
    k++;
    v[k] = q; z[k] = s; z[k + 1] = Infinity;
  }
  if (k < 0) {
    for (let q = 0; q < n; q++) buf[off + q * stride] = Infinity;
    return;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1]! < q) k++;
    const p = v[k]!;
    const d = q - p;
    buf[off + q * stride] = w2 * d * d + f[p]!;
  }
}

/** Runs the separable transform in place on `g` (0 at sites, +Infinity elsewhere), voxels `spacing` apart. */
function separable(g: Float64Array, shape: Readonly<Shape3>, spacing: Readonly<Shape3> = [1, 1, 1]): void {
  const [X, Y, Z] = shape;
  const [wx, wy, wz] = [spacing[0] * spacing[0], spacing[1] * spacing[1], spacing[2] * spacing[2]];
  const m = Math.max(X, Y, Z);
  const f = new Float64Array(m);
  const v = new Int32Array(m);
  const zz = new Float64Array(m + 1);
  // along z (contiguous)
  // (a line of length 1 is its own transform, so such passes are skipped)
  if (Z > 1) for (let l = 0; l < X * Y; l++) dt1d(g, l * Z, 1, Z, wz, f, v, zz);
  // along y (stride Z)
  if (Y > 1) {
    for (let x = 0; x < X; x++) {
      for (let z = 0; z < Z; z++) dt1d(g, x * Y * Z + z, Z, Y, wy, f, v, zz);
    }
  }
  // along x (stride Y * Z)
  if (X > 1) {
    const YZ = Y * Z;
    for (let l = 0; l < YZ; l++) dt1d(g, l, YZ, X, wx, f, v, zz);
  }
}

/**
 * Squared Euclidean distance of every voxel to the nearest voxel with `sites[i] !== 0`
 * (0 on the sites themselves), voxels `spacing` apart (default 1: exact integers). Returns
 * +Infinity everywhere when there is no site at all.
 */
export function sqDistanceToSet(sites: Uint8Array, shape: Readonly<Shape3>, spacing?: Readonly<Shape3>): Float64Array {
  checkShape(sites.length, shape, 'sqDistanceToSet');
  if (spacing) checkSpacing(spacing, 'sqDistanceToSet');
  const g = new Float64Array(sites.length);
  for (let i = 0; i < sites.length; i++) g[i] = sites[i] !== 0 ? 0 : Infinity;
  separable(g, shape, spacing);
  return g;
}

/** A voxel spacing: three positive finite numbers (a NIfTI's `info.pixdim`). */
export function checkSpacing(spacing: Readonly<Shape3>, what: string): void {
  if (spacing.length !== 3 || !spacing.every((s) => Number.isFinite(s) && s > 0)) {
    throw new Error(`${what}: spacing must be three positive numbers, got [${spacing.join(', ')}]`);
  }
}

/**
 * Squared EDT with scipy's `distance_transform_edt(mask)` semantics: for every voxel with
 * `mask !== 0`, the squared distance to the nearest voxel with `mask === 0`; 0 on background.
 *
 * No background voxel at all: scipy's feature transform then measures the distance to the
 * virtual point (-1, 0, 0) (one step before the first voxel along the first axis), i.e.
 * (x + 1)² + y² + z². We return exactly that, so results match scipy in this corner too.
 */
export function edtSquared(mask: Uint8Array, shape: Readonly<Shape3>): Float64Array {
  checkShape(mask.length, shape, 'edtSquared');
  const g = new Float64Array(mask.length);
  let anyBackground = false;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] === 0) { g[i] = 0; anyBackground = true; } else g[i] = Infinity;
  }
  if (!anyBackground) {
    const [X, Y, Z] = shape;
    let i = 0;
    for (let x = 0; x < X; x++) {
      for (let y = 0; y < Y; y++) {
        for (let z = 0; z < Z; z++) g[i++] = (x + 1) * (x + 1) + y * y + z * z;
      }
    }
    return g;
  }
  separable(g, shape);
  return g;
}

/** `distance_transform_edt(mask)`: Euclidean distance of each foreground voxel to the background. */
export function edt(mask: Uint8Array, shape: Readonly<Shape3>): Float32Array {
  const d2 = edtSquared(mask, shape);
  const out = new Float32Array(d2.length);
  for (let i = 0; i < d2.length; i++) out[i] = Math.sqrt(d2[i]!);
  return out;
}

/**
 * Euclidean distance of every voxel to the nearest voxel of `sites` (non-zero entries), in
 * Float64 (exact `sqrt` of the integer squared distance, as scipy, without `spacing`; with it, in
 * its units, as scipy's `sampling` up to rounding). +Infinity without sites.
 */
export function distanceToSet(sites: Uint8Array, shape: Readonly<Shape3>, spacing?: Readonly<Shape3>): Float64Array {
  const d2 = sqDistanceToSet(sites, shape, spacing);
  for (let i = 0; i < d2.length; i++) d2[i] = Math.sqrt(d2[i]!);
  return d2;
}

/** MONAI's chamfer surface-distance metrics: L∞ over the 26-neighbourhood, L1 over the 6-neighbourhood. */
export type ChamferMetric = 'chessboard' | 'taxicab';

/**
 * Chessboard (max(|dx|, |dy|, |dz|)) or taxicab (|dx| + |dy| + |dz|) distance of every voxel to the nearest voxel of
 * `sites` (non-zero entries), in voxels; +Infinity without sites. scipy's `distance_transform_cdt(~sites, metric)`
 * on a volume with a site: the two raster passes of a chamfer transform with unit steps to the 26 (chessboard) or 6
 * (taxicab) neighbours, the first over the neighbours before a voxel in C order, the second, backwards, over those
 * after it. With unit steps these passes give the exact L∞ and L1 distances (Borgefors 1984), integers.
 */
export function chamferDistanceToSet(sites: Uint8Array, shape: Readonly<Shape3>, metric: ChamferMetric): Float64Array {
  checkShape(sites.length, shape, 'chamferDistanceToSet');
  if (metric !== 'chessboard' && metric !== 'taxicab') {
    throw new Error(`chamferDistanceToSet: metric must be 'chessboard' or 'taxicab', got ${JSON.stringify(metric)}`);
  }
  const [X, Y, Z] = shape;
  const d = new Float64Array(sites.length);
  for (let i = 0; i < sites.length; i++) d[i] = sites[i] !== 0 ? 0 : Infinity;
  // the neighbours before a voxel in C order; the backward pass uses their mirror images
  const before: [number, number, number][] = [];
  for (let dx = -1; dx <= 1; dx++) {
    for (let dy = -1; dy <= 1; dy++) {
      for (let dz = -1; dz <= 1; dz++) {
        const precedes = dx < 0 || (dx === 0 && (dy < 0 || (dy === 0 && dz < 0)));
        const steps = Math.abs(dx) + Math.abs(dy) + Math.abs(dz);
        if (precedes && (metric === 'chessboard' || steps === 1)) before.push([dx, dy, dz]);
      }
    }
  }
  const pass = (sign: 1 | -1): void => {
    const offsets = before.map(([dx, dy, dz]) => [sign * dx, sign * dy, sign * dz, sign * ((dx * Y + dy) * Z + dz)] as const);
    const start = sign === 1 ? 0 : X - 1, stop = sign === 1 ? X : -1;
    for (let x = start; x !== stop; x += sign) {
      for (let y = sign === 1 ? 0 : Y - 1; y !== (sign === 1 ? Y : -1); y += sign) {
        for (let z = sign === 1 ? 0 : Z - 1; z !== (sign === 1 ? Z : -1); z += sign) {
          const i = (x * Y + y) * Z + z;
          let best = d[i]!;
          for (const [ox, oy, oz, step] of offsets) {
            const nx = x + ox, ny = y + oy, nz = z + oz;
            if (nx < 0 || nx >= X || ny < 0 || ny >= Y || nz < 0 || nz >= Z) continue;
            const candidate = d[i + step]! + 1;
            if (candidate < best) best = candidate;
          }
          d[i] = best;
        }
      }
    }
  };
  pass(1);
  pass(-1);
  return d;
}

/**
 * skimage `find_boundaries(mask, mode='inner')` with connectivity 1: foreground voxels that have
 * a background voxel among their (in-volume) 6 face neighbours. skimage computes
 * `dilation(img) != erosion(img)` with scipy's grey morphology in its default mode 'reflect', in
 * which the outside of the volume repeats the border voxel; a voxel on the volume border is thus
 * NOT a boundary voxel merely because it touches the border.
 */
export function innerBoundary(mask: Uint8Array, shape: Readonly<Shape3>): Uint8Array {
  checkShape(mask.length, shape, 'innerBoundary');
  return faceBoundary(mask, shape, 'reflect');
}

/**
 * Foreground voxels of `mask` with a background voxel among their 6 face neighbours (no shape check). Outside
 * the volume counts as background with `outside = 'background'` (scipy's erosion with border_value 0, medpy's
 * surface) and as a copy of the border voxel with 'reflect' (skimage's find_boundaries): then touching the
 * volume border alone does not make a boundary voxel.
 */
export function faceBoundary(mask: Uint8Array, shape: Readonly<Shape3>, outside: 'background' | 'reflect'): Uint8Array {
  const [X, Y, Z] = shape;
  const sx = Y * Z, sy = Z;
  const border = outside === 'background';
  const out = new Uint8Array(mask.length);
  let i = 0;
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      for (let z = 0; z < Z; z++, i++) {
        if (mask[i] === 0) continue;
        if (
          (x > 0 ? mask[i - sx] === 0 : border) || (x < X - 1 ? mask[i + sx] === 0 : border) ||
          (y > 0 ? mask[i - sy] === 0 : border) || (y < Y - 1 ? mask[i + sy] === 0 : border) ||
          (z > 0 ? mask[i - 1] === 0 : border) || (z < Z - 1 ? mask[i + 1] === 0 : border)
        ) out[i] = 1;
      }
    }
  }
  return out;
}

/**
 * DTC's `compute_sdf` for one binary label (la-protocol §5):
 * `sdf = (negdis − min)/(max − min) − (posdis − min)/(max − min)`, with posdis = EDT of the
 * foreground and negdis = EDT of the background, then 0 on the inner boundary. The result is
 * negative inside the object, positive outside, in [−1, 1]. An all-background label gives zeros.
 *
 * Corner case: an all-foreground label makes numpy divide 0 by 0 for negdis (NaN everywhere in
 * DTC). Here a side whose max equals its min contributes 0 instead, so such a label gives
 * `−(posdis − min)/(max − min)` with scipy's all-foreground posdis (see {@link edtSquared}).
 */
export function computeSdf(label: Uint8Array, shape: Readonly<Shape3>): Float32Array {
  checkShape(label.length, shape, 'computeSdf');
  const n = label.length;
  const out = new Float32Array(n);
  let anyFg = false;
  for (let i = 0; i < n; i++) if (label[i] !== 0) { anyFg = true; break; }
  if (!anyFg) return out;
  const neg = new Uint8Array(n);
  for (let i = 0; i < n; i++) neg[i] = label[i] === 0 ? 1 : 0;
  const pos2 = edtSquared(label, shape);
  const neg2 = edtSquared(neg, shape);
  const norm = (d2: Float64Array): Float64Array => {
    const d = new Float64Array(n);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = Math.sqrt(d2[i]!);
      d[i] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const r = hi - lo;
    for (let i = 0; i < n; i++) d[i] = r > 0 ? (d[i]! - lo) / r : 0;
    return d;
  };
  const posN = norm(pos2);
  const negN = norm(neg2);
  const boundary = innerBoundary(label, shape);
  for (let i = 0; i < n; i++) out[i] = boundary[i] ? 0 : negN[i]! - posN[i]!;
  return out;
}

/** {@link computeSdf} of each of the first `rows` volumes of a label batch [≥ rows, X, Y, Z], as one [rows, X, Y, Z] array. */
export function computeSdfRows(label: Uint8Array, rows: number, shape: Readonly<Shape3>): Float32Array {
  const P = shape[0] * shape[1] * shape[2];
  if (label.length < rows * P) throw new Error(`computeSdfRows: ${label.length} label values for ${rows} rows of [${shape.join(', ')}]`);
  const out = new Float32Array(rows * P);
  for (let b = 0; b < rows; b++) out.set(computeSdf(label.subarray(b * P, (b + 1) * P), shape), b * P);
  return out;
}
