/**
 * The LA (2018 Atrial Segmentation Challenge) data set in its published layout
 * (la-protocol §1):
 *
 *     <root>/2018LA_Seg_Training Set/<ID>/mri_norm2.h5   datasets `image` (float32) and `label` (uint8 {0,1}), shape (W, H, 88)
 *     <root>/train.list                                  80 IDs; the labeled set is the first N
 *     <root>/test.list                                   20 IDs
 *
 * HDF5 is read with h5wasm's Node build, which opens files on the real file system; the
 * gzip-compressed (deflate filter) datasets are decoded by the HDF5 library inside it.
 * The arrays are C order (W, H, D) = (x, y, z), which is already our {@link Volume} layout.
 *
 * Validation: a missing root / list / case file, a file that is not HDF5 or is truncated (size
 * smaller than the superblock's end-of-file address), a missing `image` or `label` dataset, a
 * dtype other than float32 / uint8, rank ≠ 3, image/label shape mismatch, a failed read (e.g. a
 * corrupt compressed chunk: h5wasm itself ignores the read status, so the datasets are read here
 * through its low-level binding and the status is checked), non-finite image values or a label
 * value outside {0, 1} all throw an Error naming the file and the problem. Nothing half-loaded
 * is returned or cached. (The HDF5 library may print its own diagnostic trace to stderr on a
 * corrupt file before the Error is thrown.)
 */

import { existsSync, readFileSync, statSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import type H5Wasm from 'h5wasm/node';
import { cachedLoad, Lru } from './lru.js';
import { fileProblem, type Case, type CaseSource, type Shape3, type SourceDescription, type Volume } from '../volume.js';

/** The folder inside the LA root that holds one sub-folder per case. */
export const LA_CASE_DIR = '2018LA_Seg_Training Set';
/** The file name of a case inside its folder. */
export const LA_CASE_FILE = 'mri_norm2.h5';
/**
 * The largest dataset read (1 GiB; an LA image is about 0.1 GiB): h5wasm's 32-bit heap cannot hold 4 GiB, and a
 * failed allocation there breaks the HDF5 module for the rest of the process, so the size is checked first.
 */
export const LA_MAX_DATASET_BYTES = 2 ** 30;

export interface LAOptions {
  /** Cases kept in memory (least recently used evicted). Default 24 (≈ 0.3 GB). 0 disables caching. */
  cacheSize?: number;
}

/** The part of h5wasm's emscripten module used for checked reads. */
export interface H5RawModule {
  _malloc(n: number): number;
  _free(ptr: number): void;
  HEAPU8: Uint8Array;
  get_dataset_data(fileId: bigint, path: string, count: null, offset: null, strides: null, ptr: bigint): number;
}

type H5Library = typeof H5Wasm;

let h5Loaded: Promise<{ lib: H5Library; raw: H5RawModule }> | null = null;

/**
 * h5wasm, imported on first use: its Node build is 4 MB of JavaScript with the WebAssembly inlined, which takes
 * seconds to load (under tsx, to transform), so `voxgrad/imaging` does not load it until an LA file is read.
 */
function loadH5wasm(): Promise<{ lib: H5Library; raw: H5RawModule }> {
  h5Loaded ??= import('h5wasm/node').then(async ({ default: lib }) => ({ lib, raw: (await lib.ready) as unknown as H5RawModule }));
  return h5Loaded;
}

/** Resolves once h5wasm's WebAssembly module is loaded and initialized (shared by all readers). */
export async function h5wasmReady(): Promise<H5RawModule> {
  return (await loadH5wasm()).raw;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

function readUInt(b: Uint8Array, off: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + b[off + i]!;
  return v;
}

/** Throws naming the file unless it is a regular file (a FIFO, for one, would block the open forever). */
async function checkRegularFile(file: string): Promise<void> {
  const problem = await fileProblem(file, 'missing case file');
  if (problem) throw new Error(`LA ${file}: ${problem}`);
}

/**
 * Checks the HDF5 signature and that the file is at least as long as the superblock's
 * end-of-file address (catches truncated copies before the HDF5 library sees them).
 */
async function checkHdf5File(file: string): Promise<void> {
  let size: number;
  let head: Uint8Array;
  try {
    const fh = await fsp.open(file, 'r');
    try {
      size = (await fh.stat()).size;
      head = new Uint8Array(Math.min(size, 65536));
      await fh.read(head, 0, head.length, 0);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new Error(`LA ${file}: cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let sb = -1;
  for (let off = 0; off + 8 <= head.length; off = off === 0 ? 512 : off * 2) {
    if (HDF5_SIGNATURE.every((v, i) => head[off + i] === v)) {
      sb = off;
      break;
    }
  }
  if (sb < 0) throw new Error(`LA ${file}: not an HDF5 file (no HDF5 signature; ${size} bytes)`);
  const version = head[sb + 8];
  let eofAddr: number;
  let base: number;
  if (version === 0 || version === 1) {
    const o = head[sb + 13]!;
    const a0 = sb + (version === 0 ? 24 : 28);
    if (a0 + 4 * o > head.length) throw new Error(`LA ${file}: truncated HDF5 superblock (${size} bytes)`);
    base = readUInt(head, a0, o);
    eofAddr = readUInt(head, a0 + 2 * o, o);
  } else if (version === 2 || version === 3) {
    const o = head[sb + 9]!;
    const a0 = sb + 12;
    if (a0 + 4 * o > head.length) throw new Error(`LA ${file}: truncated HDF5 superblock (${size} bytes)`);
    base = readUInt(head, a0, o);
    eofAddr = readUInt(head, a0 + 2 * o, o);
  } else {
    throw new Error(`LA ${file}: unsupported HDF5 superblock version ${version}`);
  }
  if (Number.isFinite(eofAddr) && eofAddr < 2 ** 52 && size < base + eofAddr) {
    throw new Error(`LA ${file}: truncated or corrupt HDF5 file (${size} bytes, the superblock says ${base + eofAddr})`);
  }
}

interface RawDataset {
  data: Float32Array | Uint8Array;
  shape: Shape3;
}

function readDataset({ lib, raw: M }: { lib: H5Library; raw: H5RawModule }, f: InstanceType<H5Library['File']>, file: string, key: 'image' | 'label'): RawDataset {
  const keys = f.keys();
  if (!keys.includes(key)) throw new Error(`LA ${file}: missing dataset '${key}' (found: ${keys.join(', ') || 'none'})`);
  const ds = f.get(key);
  if (!(ds instanceof lib.Dataset)) throw new Error(`LA ${file}: '${key}' is not a dataset`);
  const md = ds.metadata;
  const shape = md.shape;
  if (!shape || shape.length !== 3) {
    throw new Error(`LA ${file}: dataset '${key}' has rank ${shape ? shape.length : 0} (shape ${JSON.stringify(shape)}), expected 3`);
  }
  if (!shape.every((s) => Number.isInteger(s) && s > 0)) throw new Error(`LA ${file}: dataset '${key}' has an empty shape ${JSON.stringify(shape)}`);
  const isFloat32 = md.type === 1 && md.size === 4;
  const isUint8 = md.type === 0 && md.size === 1 && !md.signed;
  if (key === 'image' && !isFloat32) throw new Error(`LA ${file}: dataset 'image' has dtype ${String(ds.dtype)}, expected float32`);
  if (key === 'label' && !isUint8) throw new Error(`LA ${file}: dataset 'label' has dtype ${String(ds.dtype)}, expected uint8`);
  const n = shape[0]! * shape[1]! * shape[2]!;
  const nbytes = n * md.size;
  if (nbytes > LA_MAX_DATASET_BYTES) {
    throw new Error(`LA ${file}: dataset '${key}' is too large (shape ${JSON.stringify(shape)}, ${nbytes} bytes; at most ${LA_MAX_DATASET_BYTES} are read)`);
  }
  const ptr = M._malloc(nbytes);
  if (ptr === 0) throw new Error(`LA ${file}: cannot allocate ${nbytes} bytes for '${key}'`);
  try {
    const status = M.get_dataset_data(ds.file_id, ds.path, null, null, null, BigInt(ptr));
    if (status < 0) throw new Error(`LA ${file}: reading dataset '${key}' failed (corrupt or truncated data, HDF5 status ${status})`);
    const bytes = M.HEAPU8.slice(ptr, ptr + nbytes);
    const data = key === 'image' ? new Float32Array(bytes.buffer, 0, n) : bytes;
    return { data, shape: [shape[0]!, shape[1]!, shape[2]!] };
  } finally {
    M._free(ptr);
  }
}

/**
 * Reads and validates one LA `mri_norm2.h5` file. Throws an Error naming the file on any problem.
 */
export async function readLAFile(file: string): Promise<{ image: Volume<Float32Array>; label: Volume<Uint8Array> }> {
  await checkRegularFile(file);
  await checkHdf5File(file);
  const h5 = await loadH5wasm();
  let f: InstanceType<H5Library['File']> | null = null;
  let image: RawDataset;
  let label: RawDataset;
  try {
    try {
      f = new h5.lib.File(file, 'r');
    } catch (e) {
      throw new Error(`LA ${file}: cannot open as HDF5 (${e instanceof Error ? e.message : String(e)})`);
    }
    if (f.file_id < 0n) throw new Error(`LA ${file}: cannot open as HDF5`);
    try {
      image = readDataset(h5, f, file, 'image');
      label = readDataset(h5, f, file, 'label');
    } catch (e) {
      if (e instanceof Error && e.message.startsWith(`LA ${file}`)) throw e;
      throw new Error(`LA ${file}: corrupt HDF5 file (${e instanceof Error ? e.message : String(e)})`);
    }
  } finally {
    if (f && f.file_id >= 0n) {
      try {
        f.close();
      } catch {
        /* ignore close errors of a broken file */
      }
    }
  }
  if (image.shape.some((s, i) => s !== label.shape[i])) {
    throw new Error(`LA ${file}: image shape [${image.shape.join(', ')}] differs from label shape [${label.shape.join(', ')}]`);
  }
  const im = image.data as Float32Array;
  for (let i = 0; i < im.length; i++) {
    if (!Number.isFinite(im[i]!)) throw new Error(`LA ${file}: non-finite image value ${im[i]} at flat index ${i}`);
  }
  const lb = label.data as Uint8Array;
  for (let i = 0; i < lb.length; i++) {
    if (lb[i]! > 1) {
      let bad = 0;
      for (let j = i; j < lb.length; j++) if (lb[j]! > 1) bad++;
      throw new Error(`LA ${file}: label is not binary (value ${lb[i]} at flat index ${i}; ${bad} voxels outside {0, 1})`);
    }
  }
  return { image: { data: im, shape: image.shape }, label: { data: lb, shape: label.shape } };
}

export function readList(file: string): string[] {
  if (!existsSync(file)) throw new Error(`LA ${file}: missing list file`);
  const ids = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (ids.length === 0) throw new Error(`LA ${file}: empty list file`);
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new Error(`LA ${file}: duplicate id '${id}'`);
    if (id.includes('/') || id.includes('\\') || id === '.' || id === '..') throw new Error(`LA ${file}: invalid id '${id}'`);
    seen.add(id);
  }
  return ids;
}

/** Throws one Error listing (the first ten of) the problems found checking `checked` LA case files; nothing when none. */
export function throwCaseProblems(problems: readonly string[], checked: number): void {
  if (problems.length === 0) return;
  const shown = problems.slice(0, 10);
  throw new Error(`${problems.length} of ${checked} LA case files fail the check:\n  ${shown.join('\n  ')}${problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''}`);
}

/** True when `root` looks like an LA data folder (both lists and the case folder exist). */
export function isLARoot(root: string): boolean {
  return (
    existsSync(path.join(root, 'train.list')) &&
    existsSync(path.join(root, 'test.list')) &&
    existsSync(path.join(root, LA_CASE_DIR))
  );
}

/** The LA data set as a {@link CaseSource}; cases are loaded lazily and kept in a bounded LRU cache. */
export class LASource implements CaseSource {
  readonly name = 'LA';
  readonly root: string;
  readonly #train: string[];
  readonly #test: string[];
  readonly #known: Set<string>;
  readonly #cache: Lru<Promise<Case>>;

  /** Reads train.list and test.list synchronously; throws naming the missing root or list. */
  constructor(root: string, opts: LAOptions = {}) {
    this.root = path.resolve(root);
    let st;
    try {
      st = statSync(this.root);
    } catch {
      throw new Error(`LA ${this.root}: missing data root folder`);
    }
    if (!st.isDirectory()) throw new Error(`LA ${this.root}: data root is not a folder`);
    const caseDir = path.join(this.root, LA_CASE_DIR);
    if (!existsSync(caseDir)) throw new Error(`LA ${caseDir}: missing case folder`);
    this.#train = readList(path.join(this.root, 'train.list'));
    this.#test = readList(path.join(this.root, 'test.list'));
    const overlap = this.#test.filter((id) => this.#train.includes(id));
    if (overlap.length > 0) throw new Error(`LA ${path.join(this.root, 'test.list')}: ids also in train.list: ${overlap.slice(0, 5).join(', ')}`);
    this.#known = new Set([...this.#train, ...this.#test]);
    const cs = opts.cacheSize ?? 24;
    if (!Number.isInteger(cs) || cs < 0) throw new Error(`LASource: cacheSize must be a non-negative integer, got ${cs}`);
    this.#cache = new Lru(cs);
  }

  trainIds(): string[] {
    return [...this.#train];
  }

  testIds(): string[] {
    return [...this.#test];
  }

  /** The first n IDs of train.list: the labeled set (n = 4 / 8 / 16 / 40 for 5 / 10 / 20 / 50 %). */
  labeledIds(n: number): string[] {
    if (!Number.isInteger(n) || n < 0 || n > this.#train.length) {
      throw new Error(`LASource: labeled count ${n} not in [0, ${this.#train.length}]`);
    }
    return this.#train.slice(0, n);
  }

  /** The rest of train.list after the first n: the unlabeled pool. */
  unlabeledIds(n: number): string[] {
    return this.#train.slice(this.labeledIds(n).length);
  }

  /** Path of a case's HDF5 file. */
  casePath(id: string): string {
    return path.join(this.root, LA_CASE_DIR, id, LA_CASE_FILE);
  }

  /** Loads a case (cached). The returned arrays are shared with the cache: treat them as read-only. */
  load(id: string): Promise<Case> {
    if (!this.#known.has(id)) return Promise.reject(new Error(`LA ${this.root}: case id '${id}' is in neither train.list nor test.list`));
    return cachedLoad(this.#cache, id, () => readLAFile(this.casePath(id)).then(({ image, label }): Case => ({ id, image, label })));
  }

  describe(): SourceDescription {
    return { kind: 'la', root: this.root };
  }

  /**
   * Checks every given case's file without decoding it: a regular file (a FIFO would hang the reader), with an
   * HDF5 signature, not truncated (the checks {@link readLAFile} starts with). Throws one Error naming each bad file.
   */
  async checkCases(ids: readonly string[]): Promise<void> {
    const problems: string[] = [];
    for (const id of ids) {
      const file = this.casePath(id);
      if (!this.#known.has(id)) problems.push(`LA ${this.root}: case id '${id}' is in neither train.list nor test.list`);
      else await checkRegularFile(file).then(() => checkHdf5File(file)).catch((e: Error) => problems.push(e.message));
    }
    throwCaseProblems(problems, ids.length);
  }

  /** Number of cases currently cached. */
  cachedCount(): number {
    return this.#cache.size;
  }
}
