import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import { LASource, LA_CASE_DIR, LA_CASE_FILE, h5wasmReady, isLARoot, readLAFile, readList, throwCaseProblems } from '../../../src/imaging/io/la.js';

/** Checks that mutation testing found unchecked: the superblock reader, the dataset and list checks, LASource's options. */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-la-mutants-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const escape = (s: string): RegExp => new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

type Sets = Record<string, { data: Float32Array | Uint8Array | Uint16Array | Int32Array | Float64Array; shape: number[] } | 'group'>;

async function writeH5(file: string, sets: Sets): Promise<void> {
  await h5wasmReady();
  mkdirSync(path.dirname(file), { recursive: true });
  const f = new h5wasm.File(file, 'w');
  try {
    for (const [name, s] of Object.entries(sets)) {
      if (s === 'group') f.create_group(name);
      else f.create_dataset({ name, data: s.data, shape: s.shape });
    }
  } finally {
    f.close();
  }
}

const image = (n = 24): { data: Float32Array; shape: number[] } => ({ data: Float32Array.from({ length: n }, (_, i) => i / 7), shape: [4, 3, 2] });
const label = (values: number[] = []): { data: Uint8Array; shape: number[] } => ({ data: Uint8Array.from({ length: 24 }, (_, i) => values[i] ?? i % 2), shape: [4, 3, 2] });

/** A file of `length` bytes with the HDF5 signature at `at`, the superblock `version` and the given bytes after it. */
function superblock(file: string, at: number, version: number, fields: Record<number, number[]>, length = at + 64): string {
  const b = new Uint8Array(length);
  b.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, version], at);
  for (const [off, bytes] of Object.entries(fields)) b.set(bytes, at + Number(off));
  const p = path.join(tmp, file);
  writeFileSync(p, b);
  return p;
}

const le = (v: number, size: number): number[] => Array.from({ length: size }, (_, i) => Math.floor(v / 256 ** i) % 256);

describe('the superblock check', () => {
  it('reads the end-of-file address of versions 0 and 1 (size of offsets at byte 13) and 2 and 3 (at byte 9), plus the base address', async () => {
    const v0 = superblock('v0.h5', 0, 0, { 13: [4], 24: le(0, 4), 32: le(5000, 4) });
    await expect(readLAFile(v0)).rejects.toThrow(escape(`LA ${v0}: truncated or corrupt HDF5 file (64 bytes, the superblock says 5000)`));
    const v1 = superblock('v1.h5', 0, 1, { 13: [8], 28: le(100, 8), 44: le(5000, 8) });
    await expect(readLAFile(v1)).rejects.toThrow(escape(`LA ${v1}: truncated or corrupt HDF5 file (64 bytes, the superblock says 5100)`));
    for (const version of [2, 3]) {
      const v = superblock(`v${version}.h5`, 0, version, { 9: [8], 12: le(7, 8), 28: le(4000, 8) });
      await expect(readLAFile(v)).rejects.toThrow(escape(`LA ${v}: truncated or corrupt HDF5 file (64 bytes, the superblock says 4007)`));
    }
  });

  it('the address of a file written here is its length: a copy 100 bytes short is named with both numbers', async () => {
    const ok = path.join(tmp, 'whole.h5');
    await writeH5(ok, { image: image(), label: label() });
    const bytes = readFileSync(ok);
    const short = path.join(tmp, 'short.h5');
    writeFileSync(short, bytes.subarray(0, bytes.length - 100));
    await expect(readLAFile(short)).rejects.toThrow(escape(`LA ${short}: truncated or corrupt HDF5 file (${bytes.length - 100} bytes, the superblock says ${bytes.length})`));
  });

  it('finds the signature at 512 and 1024 (after a user block), up to the last 8 bytes of the file', async () => {
    for (const at of [512, 1024]) {
      const p = superblock(`at${at}.h5`, at, 2, { 9: [8], 28: le(4000, 8) });
      await expect(readLAFile(p)).rejects.toThrow(escape(`LA ${p}: truncated or corrupt HDF5 file (${at + 64} bytes, the superblock says 4000)`));
    }
    const end = path.join(tmp, 'at-end.h5'); // the signature in the last 8 bytes, no version byte after it
    writeFileSync(end, Uint8Array.from({ length: 520 }, (_, i) => (i < 512 ? 0 : [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a][i - 512]!)));
    await expect(readLAFile(end)).rejects.toThrow(escape(`LA ${end}: unsupported HDF5 superblock version undefined`));
    const none = superblock('at-700.h5', 700, 2, {}, 800);
    await expect(readLAFile(none)).rejects.toThrow(escape(`LA ${none}: not an HDF5 file (no HDF5 signature; 800 bytes)`));
  });

  it('a superblock that just fits is read; a first byte of the signature alone is no signature', async () => {
    const v0 = superblock('fit0.h5', 0, 0, { 13: [8], 40: le(4000, 8) }, 56);
    await expect(readLAFile(v0)).rejects.toThrow(escape(`LA ${v0}: truncated or corrupt HDF5 file (56 bytes, the superblock says 4000)`));
    const v2 = superblock('fit2.h5', 0, 2, { 9: [8], 28: le(4000, 8) }, 44);
    await expect(readLAFile(v2)).rejects.toThrow(escape(`LA ${v2}: truncated or corrupt HDF5 file (44 bytes, the superblock says 4000)`));
    const partial = path.join(tmp, 'partial.h5');
    writeFileSync(partial, Uint8Array.from({ length: 64 }, (_, i) => (i === 0 ? 0x89 : 0)));
    await expect(readLAFile(partial)).rejects.toThrow(escape(`LA ${partial}: not an HDF5 file (no HDF5 signature; 64 bytes)`));
  });

  it('an end-of-file address of 2⁵² or more (all ones: undefined) is not compared; HDF5 then refuses the file', async () => {
    for (const [name, eof] of [['2^52', le(2 ** 52, 8)], ['undefined', new Array<number>(8).fill(255)]] as const) {
      const p = superblock(`eof-${name}.h5`, 0, 2, { 9: [8], 28: [...eof] });
      await expect(readLAFile(p)).rejects.toThrow(escape(`LA ${p}: cannot open as HDF5`));
    }
  });

  it('refuses a superblock cut short, and an unknown version', async () => {
    const v0 = superblock('cut0.h5', 0, 0, { 13: [8] }, 55);
    await expect(readLAFile(v0)).rejects.toThrow(escape(`LA ${v0}: truncated HDF5 superblock (55 bytes)`));
    const v1 = superblock('cut1.h5', 0, 1, { 13: [8] }, 59);
    await expect(readLAFile(v1)).rejects.toThrow(escape(`LA ${v1}: truncated HDF5 superblock (59 bytes)`));
    const v2 = superblock('cut2.h5', 0, 2, { 9: [8] }, 43);
    await expect(readLAFile(v2)).rejects.toThrow(escape(`LA ${v2}: truncated HDF5 superblock (43 bytes)`));
    const v4 = superblock('v4.h5', 0, 4, {});
    await expect(readLAFile(v4)).rejects.toThrow(escape(`LA ${v4}: unsupported HDF5 superblock version 4`));
  });
});

describe('the datasets', () => {
  const cases: Array<[string, Sets, string]> = [
    ['no-datasets', {}, "missing dataset 'image' (found: none)"],
    ['only-label', { label: label() }, "missing dataset 'image' (found: label)"],
    ['no-label', { image: image(), mask: label() }, "missing dataset 'label' (found: image, mask)"],
    ['label-group', { image: image(), label: 'group' }, "'label' is not a dataset"],
    ['rank0', { image: { data: new Float32Array(1), shape: [] }, label: label() }, "dataset 'image' has rank 0 (shape []), expected 3"],
    ['int32', { image: { data: new Int32Array(24), shape: [4, 3, 2] }, label: label() }, "dataset 'image' has dtype <i, expected float32"],
    ['uint16-label', { image: image(), label: { data: new Uint16Array(24), shape: [4, 3, 2] } }, "dataset 'label' has dtype <H, expected uint8"],
    ['float64', { image: { data: new Float64Array(24), shape: [4, 3, 2] }, label: label() }, "dataset 'image' has dtype <d, expected float32"],
    ['inf', { image: { data: Float32Array.from(image().data, (v, i) => (i === 3 ? -Infinity : v)), shape: [4, 3, 2] }, label: label() }, 'non-finite image value -Infinity at flat index 3'],
    ['labels-2-3', { image: image(), label: label([0, 1, 2, 0, 3]) }, 'label is not binary (value 2 at flat index 2; 2 voxels outside {0, 1})'],
  ];
  for (const [name, sets, message] of cases) {
    it(`${name}: the error names the file and the problem exactly`, async () => {
      const f = path.join(tmp, `${name}.h5`);
      await writeH5(f, sets);
      await expect(readLAFile(f)).rejects.toThrow(escape(`LA ${f}: ${message}`));
    });
  }

  it('a corrupt compressed chunk fails the checked read, naming the dataset and the HDF5 status', async () => {
    const f = path.join(tmp, 'chunk.h5');
    await h5wasmReady();
    const n = 32 * 32 * 16;
    const h = new h5wasm.File(f, 'w');
    h.create_dataset({ name: 'image', data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)), shape: [32, 32, 16], chunks: [32, 32, 16], compression: 'gzip' });
    h.create_dataset({ name: 'label', data: new Uint8Array(n), shape: [32, 32, 16], chunks: [32, 32, 16], compression: 'gzip' });
    h.close();
    const b = readFileSync(f);
    b.fill(0x55, Math.floor(b.length * 0.4), Math.floor(b.length * 0.6)); // inside the image's deflate stream; the length is kept
    writeFileSync(f, b);
    const esc = f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await expect(readLAFile(f)).rejects.toThrow(new RegExp(`^LA ${esc}: reading dataset 'image' failed \\(corrupt or truncated data, HDF5 status -\\d+\\)$`));
  });

  it('a dataset with a side of 0 is refused as empty', async () => {
    const f = path.join(tmp, 'empty.h5');
    await h5wasmReady();
    const h = new h5wasm.File(f, 'w');
    h.create_dataset({ name: 'image', data: new Float32Array(0), shape: [0, 3, 2], maxshape: [null, 3, 2], chunks: [1, 3, 2] });
    h.close();
    await expect(readLAFile(f)).rejects.toThrow(escape(`LA ${f}: dataset 'image' has an empty shape [0,3,2]`));
  });
});

describe('lists', () => {
  it('trims lines, skips blank ones, and refuses an empty list, a duplicate and an id that is a path', () => {
    const f = path.join(tmp, 'ids.list');
    writeFileSync(f, '  a \r\n\nb\n');
    expect(readList(f)).toEqual(['a', 'b']);
    writeFileSync(f, '\n \r\n');
    expect(() => readList(f)).toThrow(escape(`LA ${f}: empty list file`));
    writeFileSync(f, 'a\nb\na\n');
    expect(() => readList(f)).toThrow(escape(`LA ${f}: duplicate id 'a'`));
    for (const id of ['x/y', 'x\\y', '.', '..']) {
      writeFileSync(f, `a\n${id}\n`);
      expect(() => readList(f)).toThrow(escape(`LA ${f}: invalid id '${id}'`));
    }
  });

  it('throwCaseProblems lists at most ten problems and counts the rest', () => {
    expect(() => throwCaseProblems([], 3)).not.toThrow();
    const p = Array.from({ length: 12 }, (_, i) => `p${i}`);
    expect(() => throwCaseProblems(p.slice(0, 10), 20)).toThrow(escape(`10 of 20 LA case files fail the check:\n  ${p.slice(0, 10).join('\n  ')}`));
    expect(() => throwCaseProblems(p, 20)).toThrow(escape(`12 of 20 LA case files fail the check:\n  ${p.slice(0, 10).join('\n  ')}\n  … and 2 more`));
  });
});

describe('LASource', () => {
  const root = path.join(tmp, 'root');
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  mkdirSync(path.join(root, LA_CASE_DIR), { recursive: true });
  writeFileSync(path.join(root, 'train.list'), `${ids.join('\n')}\n`);
  writeFileSync(path.join(root, 'test.list'), 't\n');

  it('isLARoot needs both lists and the case folder', () => {
    expect(isLARoot(root)).toBe(true);
    const partial = path.join(tmp, 'partial');
    mkdirSync(path.join(partial, LA_CASE_DIR), { recursive: true });
    writeFileSync(path.join(partial, 'train.list'), 'a\n');
    expect(isLARoot(partial)).toBe(false); // no test.list
    writeFileSync(path.join(partial, 'test.list'), 'b\n');
    rmSync(path.join(partial, 'train.list'));
    expect(isLARoot(partial)).toBe(false); // no train.list
    writeFileSync(path.join(partial, 'train.list'), 'a\n');
    rmSync(path.join(partial, LA_CASE_DIR), { recursive: true });
    expect(isLARoot(partial)).toBe(false); // no case folder
    expect(() => new LASource(partial)).toThrow(escape(`LA ${path.join(partial, LA_CASE_DIR)}: missing case folder`));
  });

  it('refuses a root that is a file, ids in both lists (naming five), and a bad cache size', () => {
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(() => new LASource(file)).toThrow(escape(`LA ${file}: data root is not a folder`));
    const both = path.join(tmp, 'both');
    mkdirSync(path.join(both, LA_CASE_DIR), { recursive: true });
    writeFileSync(path.join(both, 'train.list'), `${ids.join('\n')}\n`);
    writeFileSync(path.join(both, 'test.list'), `x\n${ids.join('\n')}\n`);
    expect(() => new LASource(both)).toThrow(escape(`LA ${path.join(both, 'test.list')}: ids also in train.list: a, b, c, d, e`));
    for (const cacheSize of [-1, 1.5]) {
      expect(() => new LASource(root, { cacheSize })).toThrow(escape(`LASource: cacheSize must be a non-negative integer, got ${cacheSize}`));
    }
  });

  it('lists, labeled counts at both ends, copies, paths and its description', () => {
    const src = new LASource(root);
    expect(src.testIds()).toEqual(['t']);
    src.trainIds().push('z');
    src.testIds().push('z');
    expect(src.trainIds()).toEqual(ids);
    expect(src.testIds()).toEqual(['t']);
    expect(src.labeledIds(0)).toEqual([]);
    expect(src.labeledIds(7)).toEqual(ids);
    expect(src.unlabeledIds(7)).toEqual([]);
    expect(src.unlabeledIds(5)).toEqual(['f', 'g']);
    for (const n of [-1, 8, 2.5]) expect(() => src.labeledIds(n)).toThrow(escape(`LASource: labeled count ${n} not in [0, 7]`));
    expect(src.casePath('a')).toBe(path.join(path.resolve(root), LA_CASE_DIR, 'a', LA_CASE_FILE));
    expect(src.describe()).toEqual({ kind: 'la', root: path.resolve(root) });
    expect(src.name).toBe('LA');
  });

  it('loads through a cache of the given size (default 24, 0 = none); an unknown id is named', async () => {
    for (const id of ['a', 'b']) await writeH5(path.join(root, LA_CASE_DIR, id, LA_CASE_FILE), { image: image(), label: label() });
    const uncached = new LASource(root, { cacheSize: 0 });
    const a = await uncached.load('a');
    expect(a.id).toBe('a');
    expect(Array.from(a.image.data)).toEqual(Array.from(image().data));
    expect(Array.from(a.label!.data)).toEqual(Array.from(label().data));
    expect(await uncached.load('a')).not.toBe(a);
    expect(uncached.cachedCount()).toBe(0);
    const cached = new LASource(root);
    await cached.load('a');
    await cached.load('b');
    expect(cached.cachedCount()).toBe(2);
    await expect(cached.load('q')).rejects.toThrow(escape(`LA ${path.resolve(root)}: case id 'q' is in neither train.list nor test.list`));
  });

  it('checkCases names an unknown id, a missing file and a non-HDF5 file in one error', async () => {
    const src = new LASource(root);
    writeFileSync(path.join(root, LA_CASE_DIR, 'c'), 'x'); // a file where the folder c should be: c's case file is missing
    mkdirSync(path.join(root, LA_CASE_DIR, 'd'), { recursive: true });
    writeFileSync(path.join(root, LA_CASE_DIR, 'd', LA_CASE_FILE), 'not hdf5');
    await expect(src.checkCases(['a', 'q', 'e', 'd'])).rejects.toThrow(
      escape(
        `3 of 4 LA case files fail the check:\n  LA ${path.resolve(root)}: case id 'q' is in neither train.list nor test.list\n` +
          `  LA ${src.casePath('e')}: missing case file\n  LA ${src.casePath('d')}: not an HDF5 file (no HDF5 signature; 8 bytes)`,
      ),
    );
    await expect(src.checkCases(['a', 'b'])).resolves.toBeUndefined();
  });
});
