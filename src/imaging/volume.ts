/**
 * Common volume / case types of the data layer.
 *
 * Layout convention used everywhere in `src/imaging`: a volume of shape [X, Y, Z] is stored in
 * C order with z fastest, `index = (x * Y + y) * Z + z`. This is the layout of the LA HDF5 arrays
 * (numpy C order of an array shaped (W, H, D) = (x, y, z)) and of a nibabel array `img[x, y, z]`.
 */

import { statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';

/** A 3-D extent or position [X, Y, Z]: a volume's shape, a patch, a stride, a voxel spacing, a point. */
export type Shape3 = [number, number, number];

/** A 3-D volume in C order: index = (x * Y + y) * Z + z, shape [X, Y, Z] (LA's (W, H, D) = (x, y, z)). */
export interface Volume<T extends Float32Array | Uint8Array = Float32Array> {
  data: T;
  shape: Shape3;
}

/**
 * C maps of one volume [X, Y, Z], channels first (MONAI's [C, H, W, D] of one image): `shape` is [C, X, Y, Z] and
 * channel c is `data.subarray(c·X·Y·Z, (c + 1)·X·Y·Z)`, a volume in the usual C order.
 */
export interface MultiChannelVolume<T extends Float32Array | Uint8Array = Float32Array> {
  data: T;
  shape: [number, number, number, number];
}

/** One case: the image and, when known, its binary label (0 background, 1 foreground). */
export interface Case {
  id: string;
  image: Volume<Float32Array>;
  label: Volume<Uint8Array> | null;
}

/**
 * A plain-data description from which a data-loading worker re-creates a source (see data/pipeline.ts):
 * it crosses `postMessage`, so it holds only JSON values.
 */
export type SourceDescription =
  | { kind: 'la'; root: string }
  | { kind: 'la-pack'; root: string }
  | { kind: 'synthetic'; count: number; testCount: number; shape: Shape3; seed: number; foregroundRange: [number, number] }
  | { kind: 'brats'; root: string; splitSeed: number; backgroundNoise: boolean };

/** Any source of cases with split lists, LA, BraTS or synthetic. */
export interface CaseSource {
  readonly name: string;
  trainIds(): string[];
  testIds(): string[];
  load(id: string): Promise<Case>;
  /** How to re-create this source in a worker thread; a source without one is loaded on the training thread. */
  describe?(): SourceDescription;
  /**
   * Cheap checks of the given cases' files (a regular file, plausible headers) without decoding them, run before
   * training; throws naming every bad file.
   */
  checkCases?(ids: readonly string[]): Promise<void>;
}

/** Number of voxels of a shape. */
export function voxelCount(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** C-order linear index of (x, y, z) in a volume of shape [X, Y, Z]. */
export function voxelIndex(shape: Readonly<Shape3>, x: number, y: number, z: number): number {
  return (x * shape[1] + y) * shape[2] + z;
}

/** Fraction of nonzero voxels of a label volume. */
export function foregroundRatio(label: Volume<Uint8Array>): number {
  const d = label.data;
  let n = 0;
  for (let i = 0; i < d.length; i++) if (d[i] !== 0) n++;
  return d.length === 0 ? 0 : n / d.length;
}

/** Throws unless `shape` is three positive integers and `data.length` equals their product. */
export function assertVolume(v: Volume<Float32Array | Uint8Array>, what = 'volume'): void {
  const s = v.shape;
  if (!Array.isArray(s) || s.length !== 3 || !s.every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error(`${what}: shape must be three positive integers, got ${JSON.stringify(s)}`);
  }
  if (v.data.length !== s[0] * s[1] * s[2]) {
    throw new Error(`${what}: data length ${v.data.length} does not match shape [${s.join(', ')}]`);
  }
}

/** A new zero-filled array of the same element type as `like`. */
export function allocLike<T extends Float32Array | Uint8Array>(like: T, n: number): T {
  return (like instanceof Float32Array ? new Float32Array(n) : new Uint8Array(n)) as T;
}

/**
 * Why `file` cannot be read as a data file, or null: it is missing (`missing`), unreadable, or not a regular
 * file (a FIFO would block the reader forever, a device could be endless). Stats only; opens nothing.
 */
export async function fileProblem(file: string, missing = 'missing file'): Promise<string | null> {
  try {
    return statProblem(await stat(file));
  } catch (e) {
    return statError(e, missing);
  }
}

/** Synchronous {@link fileProblem}, for the synchronous readers (a transform reads synchronously). */
export function fileProblemSync(file: string, missing = 'missing file'): string | null {
  try {
    return statProblem(statSync(file));
  } catch (e) {
    return statError(e, missing);
  }
}

function statProblem(st: Stats): string | null {
  if (st.isFile()) return null;
  return `not a regular file (${st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device or other special file'})`;
}

function statError(e: unknown, missing: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? missing : `cannot read file (${code ?? (e as Error).message})`;
}
