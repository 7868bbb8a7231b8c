/**
 * MONAI's `PersistentDataset` (monai/data/dataset.py): like `CacheDataset`, each item is kept as it is after the
 * transforms before the first random one, but on disk, in `cacheDir`, so that a second run (or a second process)
 * skips the deterministic work (loading, resampling, cropping) altogether. An item's file is named by a hash of the
 * item itself (usually its dictionary of file paths), as MONAI's, and of the cached steps' classes; their settings are
 * private to them, so a `cacheKey` of one's own (a version, the settings as JSON) is what tells a changed setting apart
 * (MONAI's `hash_transform` hashes the transforms' settings).
 *
 * The files are written atomically (a reader never sees a partial file) and carry the SHA-256 of their data: a
 * truncated or damaged file is reported on stderr, computed again from the item and rewritten, never read as it is.
 *
 * A cached sample is stored with its structure: volumes and other typed arrays as raw little-endian bytes, arrays,
 * plain objects, strings, numbers (NaN and ±∞ included), booleans, null and undefined. Anything else in a sample (a
 * Tensor, a class instance, a function) cannot be stored and is an error naming its key.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../models/atomic.js';
import type { Rng } from './random.js';
import { Compose } from './transforms.js';
import { fileProblemSync } from './volume.js';
import {
  applyDeterministic, applyRandom, Dataset, itemIndex, naming, sampleAt, splitAtFirstRandom, type DatasetTransform, type SplitTransform,
} from './dataset.js';

const TYPED_ARRAYS = {
  Float32Array, Float64Array, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
} as const;
type TypedArrayName = keyof typeof TYPED_ARRAYS;
type StoredTypedArray = InstanceType<(typeof TYPED_ARRAYS)[TypedArrayName]>;

/** The JSON tree of a stored value: typed arrays point into the file's data; plain objects are tagged so their keys are free. */
type Node = string | number | boolean | null | Node[] | { $o: Record<string, Node> } | { $t: TypedArrayName; offset: number; length: number }
  | { $n: 'NaN' | 'Infinity' | '-Infinity' | '-0' } | { $u: true };

const MAGIC = 'VXSAMPL1';
const ALIGN = 8;

function typedArrayName(v: unknown): TypedArrayName | null {
  if (!ArrayBuffer.isView(v) || v instanceof DataView) return null;
  const name = v.constructor.name;
  return name in TYPED_ARRAYS && v.constructor === TYPED_ARRAYS[name as TypedArrayName] ? name as TypedArrayName : null;
}

/** obj[key] = value as an own property (a key named __proto__ is a key, not the prototype). */
function setOwn(obj: object, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === Object.prototype || proto === null;
}

/** The value as a JSON tree and the typed arrays' bytes (in order, each aligned to 8 bytes); `sortKeys` for hashing. */
function encodeValue(value: unknown, sortKeys: boolean): { tree: Node; chunks: Uint8Array[]; bytes: number } {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const encode = (v: unknown, where: string): Node => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (v === undefined) return { $u: true };
    if (typeof v === 'number') {
      if (Number.isNaN(v)) return { $n: 'NaN' };
      if (v === Infinity) return { $n: 'Infinity' };
      if (v === -Infinity) return { $n: '-Infinity' };
      return Object.is(v, -0) ? { $n: '-0' } : v;
    }
    const typed = typedArrayName(v);
    if (typed) {
      const view = v as StoredTypedArray;
      const offset = bytes;
      chunks.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      const padded = Math.ceil(view.byteLength / ALIGN) * ALIGN;
      if (padded > view.byteLength) chunks.push(new Uint8Array(padded - view.byteLength));
      bytes += padded;
      return { $t: typed, offset, length: view.length };
    }
    if (Array.isArray(v)) return v.map((e, i) => encode(e, `${where}[${i}]`));
    if (typeof v === 'object' && isPlainObject(v)) {
      const keys = Object.keys(v);
      if (sortKeys) keys.sort();
      const out: Record<string, Node> = {};
      for (const k of keys) setOwn(out, k, encode((v as Record<string, unknown>)[k], where === '' ? k : `${where}.${k}`));
      return { $o: out };
    }
    const kind = typeof v === 'object' ? `a ${(v as object).constructor?.name ?? 'object'}` : `a ${typeof v}`;
    throw new Error(`'${where || '(the sample)'}' is ${kind}, which cannot be stored (typed arrays, arrays, plain objects, strings, numbers, booleans, null and undefined can)`);
  };
  const tree = encode(value, '');
  return { tree, chunks, bytes };
}

/**
 * Throws, naming the key, unless the value is made only of what a sample may hold here (typed arrays, arrays, plain
 * objects, strings, numbers, booleans, null, undefined): what is stored on disk, and what a worker thread sends back
 * unchanged (a class instance would arrive as a plain object).
 */
export function assertPlainSample(value: unknown): void {
  encodeValue(value, false);
}

function sha256(parts: readonly (Uint8Array | string)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** A stored sample's file: magic, the header's length (u32 LE), the JSON header (padded to 8 bytes), the data. */
export function encodeStoredSample(value: unknown): Uint8Array {
  const { tree, chunks, bytes } = encodeValue(value, false);
  const header = new TextEncoder().encode(JSON.stringify({ tree, dataBytes: bytes, sha256: sha256(chunks) }));
  const headerEnd = Math.ceil((MAGIC.length + 4 + header.length) / ALIGN) * ALIGN;
  const out = new Uint8Array(headerEnd + bytes);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, header.length, true);
  out.set(header, MAGIC.length + 4);
  let at = headerEnd;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

/** The sample stored in `bytes` (from `file`, named in the errors); throws on a damaged or truncated file. */
export function decodeStoredSample(bytes: Uint8Array, file: string): unknown {
  const bad = (why: string) => new Error(`${file}: not a complete stored sample (${why})`);
  if (bytes.length < MAGIC.length + 4 || new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) throw bad('no VXSAMPL1 signature');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(MAGIC.length, true);
  if (MAGIC.length + 4 + headerLength > bytes.length) throw bad(`its header says ${headerLength} bytes, the file has ${bytes.length}`);
  let header: { tree: Node; dataBytes: number; sha256: string };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + headerLength))) as typeof header;
  } catch (e) {
    throw bad(`unreadable header: ${e instanceof Error ? e.message : String(e)}`);
  }
  const headerEnd = Math.ceil((MAGIC.length + 4 + headerLength) / ALIGN) * ALIGN;
  const data = bytes.subarray(headerEnd);
  if (data.length !== header.dataBytes) throw bad(`${data.length} bytes of data, the header says ${header.dataBytes}`);
  if (sha256([data]) !== header.sha256) throw bad('its data do not match their SHA-256');
  const decode = (n: Node): unknown => {
    if (n === null || typeof n !== 'object') return n;
    if (Array.isArray(n)) return n.map(decode);
    if ('$o' in n) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(n.$o)) setOwn(out, k, decode(v));
      return out;
    }
    if ('$t' in n) {
      const Ctor = TYPED_ARRAYS[n.$t];
      if (!Ctor || n.offset + n.length * Ctor.BYTES_PER_ELEMENT > data.length) throw bad(`a typed array outside the data`);
      const bytes = new Uint8Array(n.length * Ctor.BYTES_PER_ELEMENT);
      bytes.set(data.subarray(n.offset, n.offset + bytes.length));
      return new Ctor(bytes.buffer);
    }
    if ('$n' in n) return n.$n === '-0' ? -0 : Number(n.$n);
    return undefined;
  };
  return decode(header.tree);
}

/** The classes of a Compose's steps, nested Composes as lists. */
function stepClasses(compose: Compose | null): unknown[] {
  return (compose?.transforms ?? []).map((t) => (t instanceof Compose ? stepClasses(t) : t.constructor?.name ?? 'Object'));
}

export interface PersistentDatasetOptions {
  /** the folder of the cached items (created when missing) */
  cacheDir: string;
  /**
   * mixed into every file's name (default ''): change it when you change the cached transforms' settings, e.g. a
   * version or the settings as JSON (the names already cover the cached steps' classes, but settings are private)
   */
  cacheKey?: string;
}

/**
 * MONAI's `PersistentDataset`: each item through the transforms before the first random one (`isRandomTransform`), stored
 * in `cacheDir` under a hash of the item the first time it is read and loaded from there afterwards, also by later
 * runs; the random transforms run on each read. After changing a cached transform's settings, change `cacheKey` (or
 * empty cacheDir), as MONAI asks without `hash_transform`.
 */
export class PersistentDataset<S extends object = Record<string, unknown>> extends Dataset<S> {
  readonly cacheDir: string;
  readonly cacheKey: string;
  /** the index of the first random transform (the number of cached steps) */
  readonly firstRandom: number;
  readonly #split: SplitTransform;
  /** what the files' names cover besides the item: the cached steps' classes and cacheKey */
  readonly #transformHash: string;
  /** the items' cache files, worked out on first use (the data do not change) */
  readonly #files: (string | undefined)[] = [];

  constructor(data: readonly object[], transform: DatasetTransform | null | undefined, opts: PersistentDatasetOptions) {
    super(data, transform);
    const name = 'PersistentDataset';
    if (typeof opts?.cacheDir !== 'string' || opts.cacheDir === '') throw new Error(`${name}: cacheDir must be a folder path`);
    if (existsSync(opts.cacheDir) && !statSync(opts.cacheDir).isDirectory()) throw new Error(`${name}: cacheDir ${opts.cacheDir} exists and is not a folder`);
    this.cacheDir = opts.cacheDir;
    if (opts.cacheKey !== undefined && typeof opts.cacheKey !== 'string') throw new Error(`${name}: cacheKey must be a string`);
    this.cacheKey = opts.cacheKey ?? '';
    this.#split = splitAtFirstRandom(this.transform);
    this.firstRandom = this.#split.firstRandom;
    this.#transformHash = JSON.stringify([stepClasses(this.#split.cached), this.cacheKey]);
  }

  /** The file that holds item `index` once it is cached (whether or not it exists yet). */
  cacheFile(index: number): string {
    const i = itemIndex(index, this.length, 'PersistentDataset.cacheFile');
    return (this.#files[i] ??= naming(`PersistentDataset: item ${i}`, () => {
      const item = encodeValue(sampleAt(this.data, i), true);
      return join(this.cacheDir, `${sha256([JSON.stringify(item.tree), ...item.chunks, this.#transformHash])}.vxs`);
    }));
  }

  protected override transformItem(i: number, rng?: Rng): S | S[] {
    const file = this.cacheFile(i);
    let start: object | object[] | null = null;
    if (existsSync(file)) {
      try {
        const problem = fileProblemSync(file);
        if (problem) throw new Error(`${file}: ${problem}`);
        start = decodeStoredSample(readFileSync(file), file) as object | object[];
      } catch (e) {
        console.warn(`PersistentDataset: item ${i}: ${e instanceof Error ? e.message : String(e)}; computing it again`);
      }
    }
    if (start === null) {
      start = applyDeterministic(this.#split.cached, sampleAt(this.data, i));
      const bytes = encodeStoredSample(start);
      try {
        writeFileAtomicSync(file, bytes);
      } catch (e) {
        throw new Error(`cannot write the cache file ${file} (${e instanceof Error ? e.message : String(e)})`, { cause: e });
      }
    }
    return applyRandom(this.#split.rest, start, rng) as S | S[];
  }
}
