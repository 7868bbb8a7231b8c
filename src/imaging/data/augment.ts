/**
 * LA training-time augmentation, la-protocol §2, as the reference code (UA-MT / DTC
 * `RandomRotFlip` then `RandomCrop`) runs it:
 *
 * 1. rot90 in the (x, y) plane by k ∈ {0,1,2,3}: `np.rot90(m, k)` on axes (0, 1). numpy defines
 *    rot90(m, 1) = transpose(flip(m, axis=1)), so `out[a, b, z] = m[b, Y-1-a, z]` (out has shape
 *    [Y, X, Z]); equivalently m[i, j] goes to out[Y-1-j, i]. For the 2×3 matrix [[1,2,3],[4,5,6]]
 *    rot90 gives [[3,6],[2,5],[1,4]]. k = 2: out[a, b] = m[X-1-a, Y-1-b]; k = 3: out[a, b] =
 *    m[X-1-b, a] (shape [Y, X]).
 * 2. flip along x or y, each equally likely (`np.flip(axis = 0 | 1)`), always applied.
 * 3. pad-if-needed: when ANY side is not larger than the patch (size <= patch), every axis is
 *    padded at both ends with zeros by max((patch - size) // 2 + 3, 0) (Python floor division,
 *    so an axis a little larger than the patch, size - patch <= 4, is also padded). This is the
 *    reference code's rule; la-protocol §2 words it per side, which only differs when one side
 *    triggers and another is within 4 voxels above the patch (never the case on LA).
 * 4. random crop: offset uniform in [0, size - patch) per axis (numpy `randint(0, size - patch)`,
 *    upper bound excluded). After the padding size - patch >= 1 always holds.
 *
 * Image and label get exactly the same transform. The image and label are padded with zeros.
 *
 * Random draws: {@link drawAugment} takes, in this order, k = int(4), flip axis = int(2) and three
 * uniforms u ∈ [0, 1); the crop offset along an axis is floor(u · (size - patch)), so the draws do
 * not depend on the volume shape (the sampler draws before the case is loaded).
 */

import { allocLike, type Shape3, type Volume } from '../volume.js';
import type { Rng } from '../random.js';


/** Shape-independent random draws of one augmentation. */
export interface AugmentDraw {
  /** rot90 count in the (x, y) plane. */
  k: 0 | 1 | 2 | 3;
  /** Flip axis after the rotation: 0 = x, 1 = y; null = no flip (only used by the no-aug variant). */
  flipAxis: 0 | 1 | null;
  /** Uniform [0, 1) draws that choose the crop offset per axis. */
  u: [number, number, number];
}

/** A fully resolved augmentation for one source shape. */
export interface AugmentParams {
  k: 0 | 1 | 2 | 3;
  flipAxis: 0 | 1 | null;
  /** Zero padding at each end of each axis, applied after rot/flip. */
  pad: Shape3;
  /** Crop start in the padded, rotated and flipped volume. */
  offset: Shape3;
  /** Output (patch) shape. */
  patch: Shape3;
}

function checkPatch(patch: Readonly<Shape3>): void {
  if (patch.length !== 3 || !patch.every((p) => Number.isInteger(p) && p > 0)) {
    throw new Error(`augment: patch must be three positive integers, got ${JSON.stringify(patch)}`);
  }
}

/** Shape after rot90 by k in the (x, y) plane. */
export function rotatedShape(shape: Readonly<Shape3>, k: number): Shape3 {
  return (k & 1) === 1 ? [shape[1], shape[0], shape[2]] : [shape[0], shape[1], shape[2]];
}

/** `np.rot90(v, k, axes=(0, 1))` of a [X, Y, Z] volume (see the module comment for the mapping). */
export function rot90xy<T extends Float32Array | Uint8Array>(v: Volume<T>, k: number): Volume<T> {
  const kk = (((k % 4) + 4) % 4) as 0 | 1 | 2 | 3;
  const [X, Y, Z] = v.shape;
  const shape = rotatedShape(v.shape, kk);
  const out = allocLike(v.data, v.data.length);
  const [A, B] = shape;
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < B; b++) {
      let x: number;
      let y: number;
      if (kk === 0) [x, y] = [a, b];
      else if (kk === 1) [x, y] = [b, Y - 1 - a];
      else if (kk === 2) [x, y] = [X - 1 - a, Y - 1 - b];
      else [x, y] = [X - 1 - b, a];
      const src = (x * Y + y) * Z;
      const dst = (a * B + b) * Z;
      for (let z = 0; z < Z; z++) out[dst + z] = v.data[src + z]!;
    }
  }
  return { data: out, shape };
}

/** `np.flip(v, axis)`. */
export function flipAxis<T extends Float32Array | Uint8Array>(v: Volume<T>, axis: 0 | 1 | 2): Volume<T> {
  const [X, Y, Z] = v.shape;
  const out = allocLike(v.data, v.data.length);
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      for (let z = 0; z < Z; z++) {
        const sx = axis === 0 ? X - 1 - x : x;
        const sy = axis === 1 ? Y - 1 - y : y;
        const sz = axis === 2 ? Z - 1 - z : z;
        out[(x * Y + y) * Z + z] = v.data[(sx * Y + sy) * Z + sz]!;
      }
    }
  }
  return { data: out, shape: [X, Y, Z] };
}

/** Python's floor division for integers. */
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/**
 * Padding per axis (each end) of the reference RandomCrop: if any side is <= the patch, every axis
 * gets max((patch - size) // 2 + 3, 0); otherwise no padding.
 */
export function padAmounts(shape: Readonly<Shape3>, patch: Readonly<Shape3>): Shape3 {
  checkPatch(patch);
  const needs = shape[0] <= patch[0] || shape[1] <= patch[1] || shape[2] <= patch[2];
  if (!needs) return [0, 0, 0];
  return [0, 1, 2].map((i) => Math.max(floorDiv(patch[i]! - shape[i]!, 2) + 3, 0)) as Shape3;
}

/** Zero-pads both ends of each axis by `pad[axis]` voxels. */
export function padVolume<T extends Float32Array | Uint8Array>(v: Volume<T>, pad: Readonly<Shape3>): Volume<T> {
  const [X, Y, Z] = v.shape;
  const shape: Shape3 = [X + 2 * pad[0], Y + 2 * pad[1], Z + 2 * pad[2]];
  const out = allocLike(v.data, shape[0] * shape[1] * shape[2]);
  for (let x = 0; x < X; x++) {
    for (let y = 0; y < Y; y++) {
      const src = (x * Y + y) * Z;
      const dst = ((x + pad[0]) * shape[1] + (y + pad[1])) * shape[2] + pad[2];
      out.set(v.data.subarray(src, src + Z), dst);
    }
  }
  return { data: out, shape };
}

/** The sub-volume [offset, offset + patch) (must lie inside the volume). */
export function cropVolume<T extends Float32Array | Uint8Array>(v: Volume<T>, offset: Readonly<Shape3>, patch: Readonly<Shape3>): Volume<T> {
  checkPatch(patch);
  const [, Y, Z] = v.shape;
  for (let i = 0; i < 3; i++) {
    if (offset[i]! < 0 || offset[i]! + patch[i]! > v.shape[i]!) {
      throw new Error(`cropVolume: crop [${offset.join(', ')}] + [${patch.join(', ')}] outside shape [${v.shape.join(', ')}]`);
    }
  }
  const [P, Q, R] = patch;
  const out = allocLike(v.data, P * Q * R);
  for (let a = 0; a < P; a++) {
    for (let b = 0; b < Q; b++) {
      const src = ((a + offset[0]) * Y + (b + offset[1])) * Z + offset[2];
      out.set(v.data.subarray(src, src + R), (a * Q + b) * R);
    }
  }
  return { data: out, shape: [P, Q, R] };
}

/** Draws k, the flip axis and the crop uniforms, in that order, from `rng`. */
export function drawAugment(rng: Rng): AugmentDraw {
  const k = rng.int(4) as 0 | 1 | 2 | 3;
  const flip = rng.int(2) as 0 | 1;
  const u: [number, number, number] = [rng.random(), rng.random(), rng.random()];
  return { k, flipAxis: flip, u };
}

/** Resolves a draw against a source shape: padding per the reference rule, offsets floor(u · (size − patch)). */
export function resolveAugment(draw: AugmentDraw, shape: Readonly<Shape3>, patch: Readonly<Shape3>): AugmentParams {
  checkPatch(patch);
  const rs = rotatedShape(shape, draw.k);
  const pad = padAmounts(rs, patch);
  const offset = [0, 1, 2].map((i) => {
    const range = rs[i]! + 2 * pad[i]! - patch[i]!;
    if (range < 1) throw new Error(`augment: axis ${i} of size ${rs[i]} padded by ${pad[i]} is smaller than the patch ${patch[i]}`);
    return Math.min(range - 1, Math.floor(draw.u[i]! * range));
  }) as Shape3;
  return { k: draw.k, flipAxis: draw.flipAxis, pad, offset, patch: [patch[0], patch[1], patch[2]] };
}

/**
 * Deterministic no-augmentation variant: no rotation or flip, the same padding rule, and the crop
 * centred: offset = floor((size − patch) / 2) on the padded axis.
 */
export function centerParams(shape: Readonly<Shape3>, patch: Readonly<Shape3>): AugmentParams {
  checkPatch(patch);
  const pad = padAmounts(shape, patch);
  const offset = [0, 1, 2].map((i) => {
    const range = shape[i]! + 2 * pad[i]! - patch[i]!;
    if (range < 0) throw new Error(`augment: axis ${i} too small for the patch`);
    return Math.floor(range / 2);
  }) as Shape3;
  return { k: 0, flipAxis: null, pad, offset, patch: [patch[0], patch[1], patch[2]] };
}

/**
 * Applies resolved params (rot90 → flip → pad → crop) to `src`, writing the patch into
 * `dst[dstOffset .. dstOffset + patch volume)`. One fused pass, no intermediate volumes; equal to
 * cropVolume(padVolume(flipAxis(rot90xy(src, k), f), pad), offset, patch).
 */
export function applyAugmentInto<T extends Float32Array | Uint8Array>(
  src: Volume<T>,
  p: AugmentParams,
  dst: T,
  dstOffset = 0,
): void {
  const [X, Y, Z] = src.shape;
  const [P, Q, R] = p.patch;
  if (dstOffset < 0 || dstOffset + P * Q * R > dst.length) throw new Error('applyAugmentInto: destination too small');
  const rs = rotatedShape(src.shape, p.k);
  const [RX, RY] = rs;
  const s = src.data;
  for (let a = 0; a < P; a++) {
    // coordinate in the rotated+flipped (unpadded) volume
    const u = a + p.offset[0] - p.pad[0];
    for (let b = 0; b < Q; b++) {
      const v = b + p.offset[1] - p.pad[1];
      const rowDst = dstOffset + (a * Q + b) * R;
      if (u < 0 || u >= RX || v < 0 || v >= RY) {
        dst.fill(0, rowDst, rowDst + R);
        continue;
      }
      // undo the flip
      let fu = u;
      let fv = v;
      if (p.flipAxis === 0) fu = RX - 1 - u;
      else if (p.flipAxis === 1) fv = RY - 1 - v;
      // undo the rotation: rotated (fu, fv) ← source (x, y)
      let x: number;
      let y: number;
      switch (p.k) {
        case 0: x = fu; y = fv; break;
        case 1: x = fv; y = Y - 1 - fu; break;
        case 2: x = X - 1 - fu; y = Y - 1 - fv; break;
        default: x = X - 1 - fv; y = fu; break;
      }
      const rowSrc = (x * Y + y) * Z;
      const z0 = p.offset[2] - p.pad[2];
      for (let c = 0; c < R; c++) {
        const z = z0 + c;
        dst[rowDst + c] = z >= 0 && z < Z ? s[rowSrc + z]! : 0;
      }
    }
  }
}

/** Applies resolved params to one volume and returns the patch. */
export function applyAugment<T extends Float32Array | Uint8Array>(src: Volume<T>, p: AugmentParams): Volume<T> {
  const out = allocLike(src.data, p.patch[0] * p.patch[1] * p.patch[2]);
  applyAugmentInto(src, p, out, 0);
  return { data: out, shape: [p.patch[0], p.patch[1], p.patch[2]] };
}

function checkPair(image: Volume<Float32Array>, label: Volume<Uint8Array> | null): void {
  if (label && label.shape.some((s, i) => s !== image.shape[i])) {
    throw new Error(`augment: image shape [${image.shape.join(', ')}] differs from label shape [${label.shape.join(', ')}]`);
  }
}

/** The random LA augmentation of an image/label pair (la-protocol §2), seeded through `rng`. */
export function randomRotFlipCrop(
  image: Volume<Float32Array>,
  label: Volume<Uint8Array> | null,
  patch: Readonly<Shape3>,
  rng: Rng,
): { image: Volume<Float32Array>; label: Volume<Uint8Array> | null; params: AugmentParams } {
  checkPair(image, label);
  const params = resolveAugment(drawAugment(rng), image.shape, patch);
  return { image: applyAugment(image, params), label: label ? applyAugment(label, params) : null, params };
}

/** Deterministic centre crop (with the same pad-if-needed rule), no rotation or flip. */
export function centerCrop(
  image: Volume<Float32Array>,
  label: Volume<Uint8Array> | null,
  patch: Readonly<Shape3>,
): { image: Volume<Float32Array>; label: Volume<Uint8Array> | null; params: AugmentParams } {
  checkPair(image, label);
  const params = centerParams(image.shape, patch);
  return { image: applyAugment(image, params), label: label ? applyAugment(label, params) : null, params };
}
