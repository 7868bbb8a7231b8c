/**
 * NIfTI-1 / NIfTI-2 single-file (`.nii`, `.nii.gz`) reading and NIfTI-1 writing. Header/image pairs (`.hdr` and
 * `.img`) are refused, naming the file.
 *
 * Axis order: NIfTI stores voxels with x fastest (Fortran order: disk index = x + X·(y + Y·z)).
 * Our {@link Volume} is C order with z fastest (index = (x·Y + y)·Z + z), so the reader transposes
 * on load and the writer transposes back; `volume[x, y, z]` equals nibabel's `img.get_fdata()[x, y, z]`.
 *
 * Reading: the header is parsed with nifti-reader-js; the voxel data are read here (datatypes
 * uint8, int8, int16, uint16, int32, uint32, float32, float64, either endianness), scaled by
 * `scl_slope · v + scl_inter` when scl_slope is finite and nonzero, and returned as Float32Array
 * (float64 data lose precision). readNifti accepts 3-D data only (trailing dimensions of size 1 are
 * dropped; a 2-D image becomes [X, Y, 1]). The affine is the sform when sform_code > 0, else the
 * qform when qform_code > 0, else diag(pixdim[1..3], 1) (nifti1_io "method 1").
 *
 * Channels: NIfTI-1 reserves dim 4 for time and dim 5 for the values of a vector at each voxel, but nibabel
 * users and MONAI's SaveImage store C channels as a 4th axis: [X, Y, Z, C], dim[0] = 4, dim[4] = C. On disk that
 * is x fastest, then y, z and the channel, i.e. channel after channel, each a 3-D image. Ours are channels first,
 * a MultiChannelVolume [C, X, Y, Z] (MONAI's [C, H, W, D] after EnsureChannelFirst), and `volume[c, x, y, z]` is
 * nibabel's `img.get_fdata()[x, y, z, c]`. readNiftiChannels reads [X, Y, Z, C] and the spec's [X, Y, Z, 1, C]
 * (and 3-D data, as C = 1) channels first; writeNifti writes a MultiChannelVolume as [X, Y, Z, C], pixdim[4] = 1,
 * except that one channel is written as the 3-D image [X, Y, Z] (MONAI's default `squeeze_end_dims`).
 *
 * Writing: NIfTI-1 (sizeof_hdr 348, vox_offset 352, magic "n+1\0", 4 zero extension bytes),
 * little endian, datatype uint8 or float32, sform_code = qform_code = 2 (aligned anat.) with the
 * qform the closest rigid+qfac decomposition of the affine, pixdim the affine's column norms,
 * xyzt_units = mm, scl_slope 1, scl_inter 0. `.gz` paths are gzip-compressed (fflate).
 *
 * Every error message names the file.
 */

import { promises as fsp, readFileSync } from 'node:fs';
import { gunzipSync as zlibGunzipSync, gunzip as zlibGunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { gzipSync } from 'fflate';
import * as nifti from 'nifti-reader-js';
import { writeFileAtomicSync } from '../../models/atomic.js';
import { fileProblem, fileProblemSync, type MultiChannelVolume, type Shape3, type Volume } from '../volume.js';

const gunzipAsync = promisify(zlibGunzip);
/** the largest decompressed NIfTI read (1 GiB; a BraTS volume is about 9 MB): a gzip bomb is refused, not allocated */
export const NIFTI_MAX_BYTES = 2 ** 30;

export type NiftiDatatypeName = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

const DATATYPES: Record<number, { name: NiftiDatatypeName; bytes: number }> = {
  2: { name: 'uint8', bytes: 1 },
  4: { name: 'int16', bytes: 2 },
  8: { name: 'int32', bytes: 4 },
  16: { name: 'float32', bytes: 4 },
  64: { name: 'float64', bytes: 8 },
  256: { name: 'int8', bytes: 1 },
  512: { name: 'uint16', bytes: 2 },
  768: { name: 'uint32', bytes: 4 },
};

/** Header information kept from a NIfTI file. */
export interface NiftiInfo {
  version: 1 | 2;
  /** Datatype as stored on disk (before scaling). */
  datatype: NiftiDatatypeName;
  datatypeCode: number;
  littleEndian: boolean;
  /** Voxel sizes pixdim[1..3]. */
  pixdim: Shape3;
  /** 4×4 voxel-to-world matrix (row major): sform if sform_code > 0, else qform, else diag(pixdim). */
  affine: number[][];
  affineSource: 'sform' | 'qform' | 'pixdim';
  qformCode: number;
  sformCode: number;
  /** Scaling as stored (slope 0 or non-finite means no scaling was applied). */
  sclSlope: number;
  sclInter: number;
  voxOffset: number;
  description: string;
}

export interface NiftiImage {
  volume: Volume<Float32Array>;
  info: NiftiInfo;
}

/** An image read channels first by readNiftiChannels: [C, X, Y, Z] from the file's [X, Y, Z, C]. */
export interface NiftiChannelsImage {
  image: MultiChannelVolume<Float32Array>;
  info: NiftiInfo;
}

function fail(path: string, what: string): never {
  throw new Error(`NIfTI ${path}: ${what}`);
}

function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** An ArrayBuffer holding exactly the bytes of `b` (a copy unless `b` spans its whole buffer; note Buffer#slice does not copy). */
function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(typeof SharedArrayBuffer !== 'undefined' && b.buffer instanceof SharedArrayBuffer)) {
    return b.buffer as ArrayBuffer;
  }
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy.buffer;
}

function num(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : (v as number);
}

/**
 * Parses an uncompressed NIfTI byte buffer of a 3-D image. `path` is only used in error messages.
 */
export function parseNifti(bytes: Uint8Array, path: string): NiftiImage {
  const { data, shape, info } = decode(bytes, path, false);
  return { volume: { data, shape }, info };
}

/** Parses an uncompressed NIfTI byte buffer channels first, [C, X, Y, Z] (see the file's comment). */
export function parseNiftiChannels(bytes: Uint8Array, path: string): NiftiChannelsImage {
  const { data, channels, shape, info } = decode(bytes, path, true);
  return { image: { data, shape: [channels, ...shape] }, info };
}

/** The voxels channel after channel, each channel in our C order, and the header information. */
function decode(bytes: Uint8Array, path: string, withChannels: boolean): { data: Float32Array; channels: number; shape: Shape3; info: NiftiInfo } {
  if (bytes.length < 4) fail(path, `file too short (${bytes.length} bytes) for a NIfTI header`);
  const ab = toArrayBuffer(bytes);
  if (!nifti.isNIFTI(ab)) {
    const unsupported = `header/image pairs (.hdr/.img) are unsupported, only single-file .nii or .nii.gz (nibabel converts one: nib.save(nib.load('x.hdr'), 'x.nii.gz'))`;
    // the header of a pair: magic "ni1" / "ni2" (what nifti-reader-js reads when asked to accept pairs)
    if (nifti.isNIFTI(ab, true)) fail(path, `not a NIfTI-1/NIfTI-2 single file: the header of a header/image pair; ${unsupported}`);
    fail(path, `not a NIfTI-1/NIfTI-2 single file (bad sizeof_hdr or magic)${/\.(hdr|img)(\.gz)?$/i.test(path) ? `; ${unsupported}` : ''}`);
  }
  let header: nifti.NIFTI1 | nifti.NIFTI2;
  try {
    header = nifti.readHeader(ab);
  } catch (e) {
    fail(path, `cannot parse the header: ${(e as Error).message}`);
  }
  const version: 1 | 2 = header instanceof nifti.NIFTI2 ? 2 : 1;
  const hdrSize = version === 1 ? 348 : 540;
  if (bytes.length < hdrSize) fail(path, `truncated header (${bytes.length} of ${hdrSize} bytes)`);
  const dt = DATATYPES[header.datatypeCode];
  if (!dt) fail(path, `unsupported datatype code ${header.datatypeCode}`);
  if (header.numBitsPerVoxel !== dt.bytes * 8) {
    fail(path, `bitpix ${header.numBitsPerVoxel} does not match datatype ${dt.name}`);
  }
  const dims = header.dims.map(num);
  const rank = dims[0]!;
  if (!Number.isInteger(rank) || rank < 1 || rank > 7) fail(path, `bad dim[0] = ${rank}`);
  const sizes = dims.slice(1, rank + 1);
  if (!sizes.every((d) => Number.isInteger(d) && d >= 1)) fail(path, `bad dimensions [${sizes.join(', ')}]`);
  while (sizes.length > 3 && sizes[sizes.length - 1] === 1) sizes.pop();
  // the channels: [X, Y, Z, C], or the spec's vector per voxel [X, Y, Z, 1, C]
  const channelAxis = sizes.length === 4 || (sizes.length === 5 && sizes[3] === 1) ? sizes.length - 1 : -1;
  if (sizes.length > 3 && (!withChannels || channelAxis < 0)) {
    const hint = channelAxis < 0 ? '' : `; readNiftiChannels() reads the ${channelAxis === 3 ? '4th' : '5th'} axis as channels`;
    fail(path, `expected a 3-D image${withChannels ? ' or channels on the 4th axis (or the 5th after a 4th of 1)' : ''}, got dimensions [${sizes.join(', ')}]${hint}`);
  }
  const channels = sizes.length > 3 ? sizes[channelAxis]! : 1;
  sizes.length = Math.min(sizes.length, 3);
  while (sizes.length < 3) sizes.push(1);
  const [X, Y, Z] = sizes as Shape3;
  const spatial = X * Y * Z, n = channels * spatial;
  const voxOffset = num(header.vox_offset);
  if (!Number.isFinite(voxOffset) || voxOffset < hdrSize) fail(path, `bad vox_offset ${voxOffset}`);
  const need = voxOffset + n * dt.bytes;
  if (bytes.length < need) {
    fail(path, `truncated: image data needs ${need} bytes (vox_offset ${voxOffset} + ${n} voxels × ${dt.bytes}), file has ${bytes.length}`);
  }

  const slopeRaw = num(header.scl_slope);
  const interRaw = num(header.scl_inter);
  const scaled = Number.isFinite(slopeRaw) && slopeRaw !== 0;
  const slope = scaled ? slopeRaw : 1;
  const inter = scaled && Number.isFinite(interRaw) ? interRaw : 0;

  const view = new DataView(bytes.buffer, bytes.byteOffset + voxOffset, n * dt.bytes);
  const le = header.littleEndian;
  const read: (i: number) => number = (() => {
    switch (dt.name) {
      case 'uint8': return (i: number) => view.getUint8(i);
      case 'int8': return (i: number) => view.getInt8(i);
      case 'int16': return (i: number) => view.getInt16(2 * i, le);
      case 'uint16': return (i: number) => view.getUint16(2 * i, le);
      case 'int32': return (i: number) => view.getInt32(4 * i, le);
      case 'uint32': return (i: number) => view.getUint32(4 * i, le);
      case 'float32': return (i: number) => view.getFloat32(4 * i, le);
      case 'float64': return (i: number) => view.getFloat64(8 * i, le);
    }
  })();
  const out = new Float32Array(n);
  // disk index f = x + X*(y + Y*(z + Z*c))  →  ours (c·X·Y·Z) + (x*Y + y)*Z + z
  let f = 0;
  for (let c = 0; c < channels; c++) {
    for (let z = 0; z < Z; z++) {
      for (let y = 0; y < Y; y++) {
        for (let x = 0; x < X; x++, f++) {
          const v = read(f);
          out[c * spatial + (x * Y + y) * Z + z] = scaled ? v * slope + inter : v;
        }
      }
    }
  }

  const pixdim = header.pixDims.map(num);
  const pd: Shape3 = [pixdim[1] ?? 1, pixdim[2] ?? 1, pixdim[3] ?? 1];
  let affine: number[][];
  let affineSource: NiftiInfo['affineSource'];
  const sformCode = num(header.sform_code);
  const qformCode = num(header.qform_code);
  if (sformCode > 0) {
    affineSource = 'sform';
    if (version === 1) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, 348);
      affine = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => dv.getFloat32(280 + (r * 4 + c) * 4, le)));
    } else {
      affine = header.affine.slice(0, 3).map((row) => row.slice(0, 4).map(num));
    }
    affine.push([0, 0, 0, 1]);
  } else if (qformCode > 0) {
    affineSource = 'qform';
    affine = header
      .convertNiftiQFormToNiftiSForm(
        num(header.quatern_b), num(header.quatern_c), num(header.quatern_d),
        num(header.qoffset_x), num(header.qoffset_y), num(header.qoffset_z),
        pd[0], pd[1], pd[2], pixdim[0] ?? 1,
      )
      .map((row) => row.map(num));
  } else {
    affineSource = 'pixdim';
    affine = [[pd[0], 0, 0, 0], [0, pd[1], 0, 0], [0, 0, pd[2], 0], [0, 0, 0, 1]];
  }

  return {
    data: out,
    channels,
    shape: [X, Y, Z],
    info: {
      version,
      datatype: dt.name,
      datatypeCode: header.datatypeCode,
      littleEndian: le,
      pixdim: pd,
      affine,
      affineSource,
      qformCode,
      sformCode,
      sclSlope: slopeRaw,
      sclInter: interRaw,
      voxOffset,
      description: header.description,
    },
  };
}

/** Reads a `.nii` / `.nii.gz` file of a 3-D image (gzip detected from the content, not the name). */
export async function readNifti(path: string): Promise<NiftiImage> {
  return parseNifti(await readNiftiBytes(path), path);
}

/**
 * Reads a `.nii` / `.nii.gz` file channels first: [X, Y, Z, C] as the MultiChannelVolume [C, X, Y, Z] (MONAI's
 * LoadImage with `ensure_channel_first`); a 3-D image is one channel.
 */
export async function readNiftiChannels(path: string): Promise<NiftiChannelsImage> {
  return parseNiftiChannels(await readNiftiBytes(path), path);
}

/** Synchronous {@link readNiftiChannels} (a transform reads synchronously: `LoadImage`). */
export function readNiftiChannelsSync(path: string): NiftiChannelsImage {
  return parseNiftiChannels(readNiftiBytesSync(path), path);
}

/** Synchronous {@link readNifti}. */
export function readNiftiSync(path: string): NiftiImage {
  return parseNifti(readNiftiBytesSync(path), path);
}

/** The file's bytes, decompressed: only a regular file is read (a FIFO would wait for a writer forever). */
async function readNiftiBytes(path: string): Promise<Uint8Array> {
  const problem = await fileProblem(path);
  if (problem) fail(path, problem);
  let raw: Uint8Array;
  try {
    raw = await fsp.readFile(path);
  } catch (e) {
    readFailure(path, e);
  }
  if (!isGzip(raw)) return raw;
  try {
    return new Uint8Array(await gunzipAsync(raw, { maxOutputLength: NIFTI_MAX_BYTES }));
  } catch (e) {
    gunzipFailure(path, e);
  }
}

/** Synchronous {@link readNiftiBytes}. */
function readNiftiBytesSync(path: string): Uint8Array {
  const problem = fileProblemSync(path);
  if (problem) fail(path, problem);
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    readFailure(path, e);
  }
  if (!isGzip(raw)) return raw;
  try {
    return new Uint8Array(zlibGunzipSync(raw, { maxOutputLength: NIFTI_MAX_BYTES }));
  } catch (e) {
    gunzipFailure(path, e);
  }
}

function readFailure(path: string, e: unknown): never {
  fail(path, `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
}

/** A gzip bomb is refused as too large, not allocated; anything else is a corrupt stream. */
function gunzipFailure(path: string, e: unknown): never {
  if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') fail(path, `too large: decompresses to more than ${NIFTI_MAX_BYTES} bytes`);
  fail(path, `corrupt gzip stream: ${(e as Error).message}`);
}

export interface WriteNiftiOptions {
  /** 4×4 (or 3×4) voxel-to-world matrix; default diag(1, 1, 1, 1). */
  affine?: number[][];
  /** the stored datatype; default the data's own (uint8 for a Uint8Array, float32 for a Float32Array) */
  datatype?: 'uint8' | 'float32';
  description?: string;
}

/**
 * Quaternion (b, c, d), offsets, voxel sizes and qfac of an affine (nifti1_io's
 * nifti_mat44_to_quatern: orthogonalizes the rotation part by polar decomposition).
 */
export function affineToQuatern(affine: number[][]): {
  b: number; c: number; d: number; qx: number; qy: number; qz: number; dx: number; dy: number; dz: number; qfac: number;
} {
  const a = affine;
  const qx = a[0]![3]!, qy = a[1]![3]!, qz = a[2]![3]!;
  let r11 = a[0]![0]!, r12 = a[0]![1]!, r13 = a[0]![2]!;
  let r21 = a[1]![0]!, r22 = a[1]![1]!, r23 = a[1]![2]!;
  let r31 = a[2]![0]!, r32 = a[2]![1]!, r33 = a[2]![2]!;
  let dx = Math.hypot(r11, r21, r31);
  let dy = Math.hypot(r12, r22, r32);
  let dz = Math.hypot(r13, r23, r33);
  if (dx === 0) { r11 = 1; r21 = r31 = 0; dx = 1; }
  if (dy === 0) { r22 = 1; r12 = r32 = 0; dy = 1; }
  if (dz === 0) { r33 = 1; r13 = r23 = 0; dz = 1; }
  const sx = Math.hypot(r11, r21, r31), sy = Math.hypot(r12, r22, r32), sz = Math.hypot(r13, r23, r33);
  let m = [[r11 / sx, r12 / sy, r13 / sz], [r21 / sx, r22 / sy, r23 / sz], [r31 / sx, r32 / sy, r33 / sz]];
  // polar decomposition: iterate M ← (M + M^-T)/2
  for (let it = 0; it < 100; it++) {
    const inv = invert3(m);
    if (!inv) break;
    const next = m.map((row, i) => row.map((v, j) => 0.5 * (v + inv[j]![i]!)));
    let diff = 0;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) diff += Math.abs(next[i]![j]! - m[i]![j]!);
    m = next;
    if (diff < 1e-12) break;
  }
  let det = det3(m);
  let qfac = 1;
  if (det < 0) {
    qfac = -1;
    m = m.map((row) => [row[0]!, row[1]!, -row[2]!]);
    det = -det;
  }
  const [[R11, R12, R13], [R21, R22, R23], [R31, R32, R33]] = m as [[number, number, number], [number, number, number], [number, number, number]];
  let aa = R11 + R22 + R33 + 1;
  let b: number, c: number, d: number;
  if (aa > 0.5) {
    aa = 0.5 * Math.sqrt(aa);
    b = (0.25 * (R32 - R23)) / aa;
    c = (0.25 * (R13 - R31)) / aa;
    d = (0.25 * (R21 - R12)) / aa;
  } else {
    const xd = 1 + R11 - (R22 + R33);
    const yd = 1 + R22 - (R11 + R33);
    const zd = 1 + R33 - (R11 + R22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (R12 + R21)) / b;
      d = (0.25 * (R13 + R31)) / b;
      aa = (0.25 * (R32 - R23)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (R12 + R21)) / c;
      d = (0.25 * (R23 + R32)) / c;
      aa = (0.25 * (R13 - R31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (R13 + R31)) / d;
      c = (0.25 * (R23 + R32)) / d;
      aa = (0.25 * (R21 - R12)) / d;
    }
    if (aa < 0) { b = -b; c = -c; d = -d; }
  }
  return { b, c, d, qx, qy, qz, dx, dy, dz, qfac };
}

function det3(m: number[][]): number {
  const [a, b, c] = m[0]!, [d, e, f] = m[1]!, [g, h, i] = m[2]!;
  return a! * (e! * i! - f! * h!) - b! * (d! * i! - f! * g!) + c! * (d! * h! - e! * g!);
}

function invert3(m: number[][]): number[][] | null {
  const det = det3(m);
  if (Math.abs(det) < 1e-300) return null;
  const [a, b, c] = m[0]! as [number, number, number];
  const [d, e, f] = m[1]! as [number, number, number];
  const [g, h, i] = m[2]! as [number, number, number];
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

/** What writeNifti writes: a 3-D volume [X, Y, Z], or C of them channels first [C, X, Y, Z] (written as [X, Y, Z, C]). */
export type NiftiWritable = Volume<Float32Array | Uint8Array> | MultiChannelVolume<Float32Array | Uint8Array>;

/** NIfTI-1's dim[] is int16. */
const MAX_NIFTI1_SIZE = 32767;

/** Encodes a volume as NIfTI-1 bytes (uncompressed); a MultiChannelVolume [C, X, Y, Z] as [X, Y, Z, C] (see the file's comment). */
export function encodeNifti(volume: NiftiWritable, opts: WriteNiftiOptions = {}): Uint8Array {
  const shape: readonly number[] = volume.shape;
  if ((shape.length !== 3 && shape.length !== 4) || !shape.every((d) => Number.isInteger(d) && d >= 1 && d <= MAX_NIFTI1_SIZE)) {
    throw new Error(`encodeNifti: shape [${shape.join(', ')}] is not [X, Y, Z] or channels first [C, X, Y, Z] of sizes 1 to ${MAX_NIFTI1_SIZE} (NIfTI-1's dim is int16)`);
  }
  const [channels, X, Y, Z] = (shape.length === 3 ? [1, ...shape] : shape) as [number, number, number, number];
  const spatial = X * Y * Z, n = channels * spatial;
  if (volume.data.length !== n) throw new Error(`encodeNifti: data length ${volume.data.length} does not match shape [${shape.join(', ')}]`);
  const aff = opts.affine ?? [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  if (aff.length < 3 || aff.slice(0, 3).some((r) => r.length !== 4 || r.some((v) => !Number.isFinite(v)))) {
    throw new Error('encodeNifti: affine must be 3×4 or 4×4 finite numbers');
  }
  const isU8 = (opts.datatype ?? (volume.data instanceof Uint8Array ? 'uint8' : 'float32')) === 'uint8';
  const bpv = isU8 ? 1 : 4;
  const VOX = 352;
  const buf = new Uint8Array(VOX + n * bpv);
  const dv = new DataView(buf.buffer);
  dv.setInt32(0, 348, true); // sizeof_hdr
  dv.setUint8(39, 0); // dim_info
  const dim = channels > 1 ? [4, X, Y, Z, channels, 1, 1, 1] : [3, X, Y, Z, 1, 1, 1, 1];
  dim.forEach((v, i) => dv.setInt16(40 + 2 * i, v, true));
  dv.setInt16(70, isU8 ? 2 : 16, true); // datatype
  dv.setInt16(72, bpv * 8, true); // bitpix
  const q = affineToQuatern(aff);
  const pix = [q.qfac, q.dx, q.dy, q.dz, 1, 1, 1, 1];
  pix.forEach((v, i) => dv.setFloat32(76 + 4 * i, v, true));
  dv.setFloat32(108, VOX, true); // vox_offset
  dv.setFloat32(112, 1, true); // scl_slope
  dv.setFloat32(116, 0, true); // scl_inter
  dv.setUint8(123, 2); // xyzt_units: mm
  const desc = (opts.description ?? 'voxgrad').slice(0, 79);
  for (let i = 0; i < desc.length; i++) dv.setUint8(148 + i, desc.charCodeAt(i) & 0x7f);
  dv.setInt16(252, 2, true); // qform_code: aligned anat
  dv.setInt16(254, 2, true); // sform_code: aligned anat
  dv.setFloat32(256, q.b, true);
  dv.setFloat32(260, q.c, true);
  dv.setFloat32(264, q.d, true);
  dv.setFloat32(268, q.qx, true);
  dv.setFloat32(272, q.qy, true);
  dv.setFloat32(276, q.qz, true);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) dv.setFloat32(280 + (r * 4 + c) * 4, aff[r]![c]!, true);
  buf.set([0x6e, 0x2b, 0x31, 0x00], 344); // magic "n+1\0"
  // bytes 348..351: extension flag, all zero
  // ours (c·X·Y·Z) + (x*Y + y)*Z + z  →  disk f = x + X*(y + Y*(z + Z*c))
  const src = volume.data;
  let f = VOX;
  for (let c = 0; c < channels; c++) {
    const at = c * spatial;
    if (isU8) {
      for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) {
        const v = src[at + (x * Y + y) * Z + z]!;
        buf[f++] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
      }
    } else {
      for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++, f += 4) {
        dv.setFloat32(f, src[at + (x * Y + y) * Z + z]!, true);
      }
    }
  }
  return buf;
}

/**
 * Writes a NIfTI-1 file, atomically (a failed write leaves the file that was there); a path ending in `.gz` is
 * gzip-compressed. A MultiChannelVolume [C, X, Y, Z] is written channel last, [X, Y, Z, C] (dim[0] = 4, dim[4] = C),
 * as MONAI's SaveImage does; one channel as [X, Y, Z].
 */
export function writeNifti(path: string, volume: NiftiWritable, opts: WriteNiftiOptions = {}): void {
  let bytes = encodeNifti(volume, opts);
  if (path.toLowerCase().endsWith('.gz')) bytes = gzipSync(bytes, { level: 6 });
  try {
    writeFileAtomicSync(path, bytes, { mkdir: false });
  } catch (e) {
    fail(path, `cannot write file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
