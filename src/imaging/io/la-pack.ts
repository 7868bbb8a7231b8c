/**
 * The LA pack: a lossless, compact copy of the LA data set for moving it to a machine that can only receive a few
 * tens of MiB at a time (the lent GPU machine, see `bench/la-run.sh`), and for decoding it there without HDF5.
 *
 * Each LA image is a z-scored MRI whose float32 values take only a few hundred distinct values (68–191 in the
 * cases looked at), so a case is stored as its sorted table of distinct float32 values plus one index per voxel
 * (uint8, or uint16 past 256 values), the indices delta-coded along memory order (neighbouring voxels along z are
 * alike, so the deltas compress better), and the label as uint8. The pack is not compressed itself: moving it, a
 * general compressor (xz) does that, and reading it back is a table look-up, no inflate.
 *
 * Layout (beside `train.list` and `test.list`, copied unchanged):
 *
 *     <root>/cases/<ID>.vxla   magic "VXLA0001", u32 LE header length, header JSON, index bytes, label bytes
 *
 * The header holds the shape, the value table (as the float32 bit patterns), the index width, and the SHA-256 of
 * the decoded image's and label's bytes: `readLAPackCase` checks both, so a damaged copy is named, never used.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { readList, throwCaseProblems } from './la.js';
import { cachedLoad, Lru } from './lru.js';
import { fileProblem, type Case, type CaseSource, type Shape3, type SourceDescription, type Volume } from '../volume.js';

/** The folder of case files inside a pack root. */
export const LA_PACK_CASE_DIR = 'cases';
export const LA_PACK_EXTENSION = '.vxla';
const MAGIC = 'VXLA0001';

interface PackHeader {
  shape: Shape3;
  /** the distinct image values, as float32 bit patterns (uint32), in increasing index order */
  valueBits: number[];
  indexBytes: 1 | 2;
  imageSha256: string;
  labelSha256: string;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function bytesOf(a: Float32Array | Uint8Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Encodes one case (throws when the image has more than 65 536 distinct values: the pack is not for it). */
export function encodeLAPackCase(image: Volume<Float32Array>, label: Volume<Uint8Array>): Uint8Array {
  const n = image.data.length;
  if (label.data.length !== n || image.shape.some((s, i) => s !== label.shape[i])) {
    throw new Error(`LA pack: image [${image.shape.join(', ')}] and label [${label.shape.join(', ')}] differ in shape`);
  }
  const bits = new Uint32Array(image.data.buffer, image.data.byteOffset, n);
  const table = [...new Set(bits)].sort((a, b) => a - b);
  if (table.length > 65536) throw new Error(`LA pack: ${table.length} distinct image values, more than 16-bit indices can hold`);
  const indexOf = new Map(table.map((v, i) => [v, i]));
  const indexBytes: 1 | 2 = table.length <= 256 ? 1 : 2;
  const deltas = indexBytes === 1 ? new Uint8Array(n) : new Uint16Array(n);
  const modulus = indexBytes === 1 ? 256 : 65536;
  let previous = 0;
  for (let i = 0; i < n; i++) {
    const index = indexOf.get(bits[i]!)!;
    deltas[i] = (index - previous + modulus) % modulus;
    previous = index;
  }
  const header: PackHeader = {
    shape: [image.shape[0], image.shape[1], image.shape[2]], valueBits: table, indexBytes,
    imageSha256: sha256(bytesOf(image.data)), labelSha256: sha256(label.data),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(MAGIC.length + 4 + json.length + n * indexBytes + n);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, json.length, true);
  out.set(json, MAGIC.length + 4);
  out.set(bytesOf(deltas), MAGIC.length + 4 + json.length);
  out.set(label.data, MAGIC.length + 4 + json.length + n * indexBytes);
  return out;
}

/**
 * The header at the start of a case file (`head`: at least its first bytes, `size`: the whole file's) with the
 * offset of its data; throws naming `file` when the header is bad or the size does not match it.
 */
function parseHeader(head: Uint8Array, size: number, file: string): { header: PackHeader; dataStart: number; n: number } {
  const fail = (why: string): never => { throw new Error(`LA pack ${file}: ${why}`); };
  if (head.length < MAGIC.length + 4 || new TextDecoder().decode(head.subarray(0, MAGIC.length)) !== MAGIC) fail('not an LA pack case file (bad magic)');
  const headerLength = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(MAGIC.length, true);
  const dataStart = MAGIC.length + 4 + headerLength;
  if (dataStart > head.length) fail(`truncated header (${size} bytes)`);
  let header: PackHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(head.subarray(MAGIC.length + 4, dataStart))) as PackHeader;
  } catch (e) {
    return fail(`corrupt header (${(e as Error).message})`);
  }
  const { shape, valueBits, indexBytes } = header;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((s) => Number.isInteger(s) && s > 0)) fail(`bad shape ${JSON.stringify(shape)}`);
  if (indexBytes !== 1 && indexBytes !== 2) fail(`bad index width ${String(indexBytes)}`);
  if (!Array.isArray(valueBits) || valueBits.length === 0 || valueBits.length > 256 ** indexBytes) fail('bad value table');
  const n = shape[0] * shape[1] * shape[2];
  if (size !== dataStart + n * indexBytes + n) fail(`${size} bytes, expected ${dataStart + n * indexBytes + n} for shape [${shape.join(', ')}] (truncated or padded)`);
  return { header, dataStart, n };
}

/** Decodes one case file's bytes; throws naming `file` on any inconsistency or a checksum mismatch. */
export function decodeLAPackCase(bytes: Uint8Array, file: string): { image: Volume<Float32Array>; label: Volume<Uint8Array> } {
  const fail = (why: string): never => { throw new Error(`LA pack ${file}: ${why}`); };
  const { header, dataStart, n } = parseHeader(bytes, bytes.length, file);
  const { shape, valueBits, indexBytes } = header;
  const table = Uint32Array.from(valueBits);
  const raw = bytes.slice(dataStart, dataStart + n * indexBytes);
  const deltas = indexBytes === 1 ? raw : new Uint16Array(raw.buffer, 0, n);
  const mask = indexBytes === 1 ? 0xff : 0xffff;
  const imageBits = new Uint32Array(n);
  let index = 0;
  for (let i = 0; i < n; i++) {
    index = (index + deltas[i]!) & mask;
    if (index >= table.length) fail(`voxel ${i}: value index ${index} outside the table of ${table.length}`);
    imageBits[i] = table[index]!;
  }
  const image = new Float32Array(imageBits.buffer);
  const label = bytes.slice(dataStart + n * indexBytes);
  if (sha256(bytesOf(image)) !== header.imageSha256) fail('image checksum mismatch (damaged copy)');
  if (sha256(label) !== header.labelSha256) fail('label checksum mismatch (damaged copy)');
  return { image: { data: image, shape: [shape[0], shape[1], shape[2]] }, label: { data: label, shape: [shape[0], shape[1], shape[2]] } };
}

/** The case file of `id` in a pack root. */
export function laPackCasePath(root: string, id: string): string {
  return path.join(root, LA_PACK_CASE_DIR, id + LA_PACK_EXTENSION);
}

/** Reads and checks one packed case. */
export async function readLAPackCase(root: string, id: string): Promise<{ image: Volume<Float32Array>; label: Volume<Uint8Array> }> {
  const file = laPackCasePath(root, id);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new Error(`LA pack ${file}: cannot read the case file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeLAPackCase(bytes, file);
}

/** Checks a case file without decoding it: a regular file whose header is sound and whose size matches it. */
async function checkCaseFile(file: string): Promise<void> {
  const problem = await fileProblem(file, 'missing case file');
  if (problem) throw new Error(`LA pack ${file}: ${problem}`);
  const fh = await open(file, 'r');
  try {
    const st = await fh.stat();
    const prefix = new Uint8Array(Math.min(st.size, MAGIC.length + 4));
    await fh.read(prefix, 0, prefix.length, 0);
    const headerLength = prefix.length === MAGIC.length + 4 ? new DataView(prefix.buffer).getUint32(MAGIC.length, true) : 0;
    const head = new Uint8Array(Math.min(st.size, MAGIC.length + 4 + headerLength));
    await fh.read(head, 0, head.length, 0);
    parseHeader(head, st.size, file);
  } finally {
    await fh.close();
  }
}

/** True when `root` holds an LA pack (both lists and the case folder, no HDF5 case folder needed). */
export function isLAPackRoot(root: string): boolean {
  return existsSync(path.join(root, 'train.list')) && existsSync(path.join(root, 'test.list')) && existsSync(path.join(root, LA_PACK_CASE_DIR));
}

/** An LA pack as a {@link CaseSource}: the same ids, splits and arrays as {@link LASource} on the original. */
export class LAPackSource implements CaseSource {
  readonly name = 'LA';
  readonly root: string;
  readonly #train: string[];
  readonly #test: string[];
  readonly #cache: Lru<Promise<Case>>;

  constructor(root: string, opts: { cacheSize?: number } = {}) {
    this.root = path.resolve(root);
    if (!existsSync(this.root) || !statSync(this.root).isDirectory()) throw new Error(`LA pack ${this.root}: missing data root folder`);
    this.#train = readList(path.join(this.root, 'train.list'));
    this.#test = readList(path.join(this.root, 'test.list'));
    this.#cache = new Lru(opts.cacheSize ?? 100);
  }

  describe(): SourceDescription { return { kind: 'la-pack', root: this.root }; }

  trainIds(): string[] { return [...this.#train]; }

  testIds(): string[] { return [...this.#test]; }

  /** Checks every given case's file cheaply (header and size, not the checksums); one Error naming each bad file. */
  async checkCases(ids: readonly string[]): Promise<void> {
    const problems: string[] = [];
    for (const id of ids) await checkCaseFile(laPackCasePath(this.root, id)).catch((e: Error) => problems.push(e.message));
    throwCaseProblems(problems, ids.length);
  }

  load(id: string): Promise<Case> {
    if (!this.#train.includes(id) && !this.#test.includes(id)) {
      return Promise.reject(new Error(`LA pack ${this.root}: case id '${id}' is in neither train.list nor test.list`));
    }
    return cachedLoad(this.#cache, id, () => readLAPackCase(this.root, id).then(({ image, label }): Case => ({ id, image, label })));
  }
}
