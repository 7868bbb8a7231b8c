import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import h5wasm from 'h5wasm/node';
import { LASource, LA_CASE_DIR, LA_CASE_FILE, h5wasmReady, isLARoot, readLAFile } from '../../../src/imaging/io/la.js';
import { foregroundRatio } from '../../../src/imaging/volume.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const LA_ROOT = path.resolve(REPO, '../shared/data/LA');
const HAVE_LA = isLARoot(LA_ROOT);
if (!HAVE_LA) console.log(`LA tests on the real data skipped: no LA data folder at ${LA_ROOT} (expected train.list, test.list and '${LA_CASE_DIR}')`);

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-la-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Writes a small HDF5 file with the given datasets (h5wasm, gzip-compressed like LA). */
async function writeH5(file: string, sets: Record<string, { data: Float32Array | Uint8Array | Float64Array | Int8Array; shape: number[] }>): Promise<void> {
  await h5wasmReady();
  const f = new h5wasm.File(file, 'w');
  try {
    for (const [name, s] of Object.entries(sets)) {
      f.create_dataset({ name, data: s.data, shape: s.shape, chunks: s.shape, compression: 'gzip' });
    }
  } finally {
    f.close();
  }
}

function small(shape: [number, number, number], labelValue = 1): { image: Float32Array; label: Uint8Array } {
  const n = shape[0] * shape[1] * shape[2];
  return { image: Float32Array.from({ length: n }, (_, i) => Math.sin(i)), label: Uint8Array.from({ length: n }, (_, i) => (i % 5 === 0 ? labelValue : 0)) };
}

describe('LA HDF5 validation (small files made here)', () => {
  it('reads a valid gzip-compressed file', async () => {
    const f = path.join(tmp, 'ok.h5');
    const s = small([4, 3, 2]);
    await writeH5(f, { image: { data: s.image, shape: [4, 3, 2] }, label: { data: s.label, shape: [4, 3, 2] } });
    const r = await readLAFile(f);
    expect(r.image.shape).toEqual([4, 3, 2]);
    expect(Array.from(r.image.data)).toEqual(Array.from(s.image));
    expect(Array.from(r.label.data)).toEqual(Array.from(s.label));
  });

  const bad: Array<[string, () => Record<string, { data: Float32Array | Uint8Array | Float64Array | Int8Array; shape: number[] }>, RegExp]> = [
    ['missing label', () => ({ image: { data: small([4, 3, 2]).image, shape: [4, 3, 2] } }), /missing dataset 'label'/],
    ['missing image', () => ({ label: { data: small([4, 3, 2]).label, shape: [4, 3, 2] } }), /missing dataset 'image'/],
    ['shape mismatch', () => ({ image: { data: small([4, 3, 2]).image, shape: [4, 3, 2] }, label: { data: small([4, 2, 3]).label, shape: [4, 2, 3] } }), /image shape \[4, 3, 2\] differs from label shape \[4, 2, 3\]/],
    ['rank 2', () => ({ image: { data: small([4, 3, 2]).image, shape: [12, 2] }, label: { data: small([4, 3, 2]).label, shape: [12, 2] } }), /'image' has rank 2/],
    ['non-binary label', () => ({ image: { data: small([4, 3, 2]).image, shape: [4, 3, 2] }, label: { data: small([4, 3, 2], 2).label, shape: [4, 3, 2] } }), /label is not binary \(value 2/],
    ['float64 image', () => ({ image: { data: Float64Array.from(small([4, 3, 2]).image), shape: [4, 3, 2] }, label: { data: small([4, 3, 2]).label, shape: [4, 3, 2] } }), /'image' has dtype .*expected float32/],
    ['float label', () => ({ image: { data: small([4, 3, 2]).image, shape: [4, 3, 2] }, label: { data: Float32Array.from(small([4, 3, 2]).label), shape: [4, 3, 2] } }), /'label' has dtype .*expected uint8/],
    ['int8 label', () => ({ image: { data: small([4, 3, 2]).image, shape: [4, 3, 2] }, label: { data: Int8Array.from(small([4, 3, 2]).label), shape: [4, 3, 2] } }), /'label' has dtype .*expected uint8/],
    ['NaN image', () => ({ image: { data: Float32Array.from(small([4, 3, 2]).image, (v, i) => (i === 7 ? NaN : v)), shape: [4, 3, 2] }, label: { data: small([4, 3, 2]).label, shape: [4, 3, 2] } }), /non-finite image value NaN at flat index 7/],
  ];
  for (const [name, make, re] of bad) {
    it(`${name} → error naming the file`, async () => {
      const f = path.join(tmp, `${name.replace(/\W+/g, '_')}.h5`);
      await writeH5(f, make());
      await expect(readLAFile(f)).rejects.toThrow(new RegExp(`^LA ${esc(f)}: .*${re.source}`));
    });
  }

  it('missing file, garbage and truncated files → errors naming the file', async () => {
    const missing = path.join(tmp, 'none.h5');
    await expect(readLAFile(missing)).rejects.toThrow(`LA ${missing}: missing case file`);
    const garbage = path.join(tmp, 'garbage.h5');
    writeFileSync(garbage, Buffer.alloc(5000, 0x41));
    await expect(readLAFile(garbage)).rejects.toThrow(`LA ${garbage}: not an HDF5 file`);
    const ok = path.join(tmp, 'ok2.h5');
    const s = small([16, 16, 16]);
    await writeH5(ok, { image: { data: s.image, shape: [16, 16, 16] }, label: { data: s.label, shape: [16, 16, 16] } });
    const bytes = readFileSync(ok);
    const trunc = path.join(tmp, 'trunc.h5');
    writeFileSync(trunc, bytes.subarray(0, bytes.length - 100));
    await expect(readLAFile(trunc)).rejects.toThrow(new RegExp(`^LA ${esc(trunc)}: truncated`));
    const tiny = path.join(tmp, 'tiny.h5');
    writeFileSync(tiny, bytes.subarray(0, 20));
    await expect(readLAFile(tiny)).rejects.toThrow(new RegExp(`^LA ${esc(tiny)}: truncated`));
  });

  it('LASource: missing root, missing list, unlisted id, missing case file', async () => {
    const missing = path.join(tmp, 'no-root');
    expect(() => new LASource(missing)).toThrow(`LA ${missing}: missing data root folder`);
    const root = path.join(tmp, 'fake-la');
    mkdirSync(path.join(root, LA_CASE_DIR, 'A'), { recursive: true });
    mkdirSync(path.join(root, LA_CASE_DIR, 'B'), { recursive: true });
    writeFileSync(path.join(root, 'train.list'), 'A\nB\r\n\n');
    expect(() => new LASource(root)).toThrow(`LA ${path.join(root, 'test.list')}: missing list file`);
    writeFileSync(path.join(root, 'test.list'), 'C\n');
    const s = small([6, 5, 4]);
    await writeH5(path.join(root, LA_CASE_DIR, 'A', LA_CASE_FILE), { image: { data: s.image, shape: [6, 5, 4] }, label: { data: s.label, shape: [6, 5, 4] } });
    const src = new LASource(root, { cacheSize: 1 });
    expect(src.trainIds()).toEqual(['A', 'B']);
    expect(src.labeledIds(1)).toEqual(['A']);
    expect(src.unlabeledIds(1)).toEqual(['B']);
    expect(() => src.labeledIds(3)).toThrow(/labeled count/);
    const a = await src.load('A');
    expect(a.image.shape).toEqual([6, 5, 4]);
    expect(await src.load('A')).toBe(a);
    const bFile = path.join(root, LA_CASE_DIR, 'B', LA_CASE_FILE);
    await expect(src.load('B')).rejects.toThrow(`LA ${bFile}: missing case file`);
    expect(src.cachedCount()).toBe(0); // the failed load is not cached, and it evicted A (cache size 1)
    await expect(src.load('Z')).rejects.toThrow(/neither train\.list nor test\.list/);
    writeFileSync(path.join(root, 'test.list'), 'A\n');
    expect(() => new LASource(root)).toThrow(/ids also in train\.list: A/);
  });
});

describe.skipIf(!HAVE_LA)('LA on the real data', () => {
  const firstLines = (f: string): string[] => readFileSync(path.join(LA_ROOT, f), 'utf8').split(/\r?\n/).map((s) => s.trim()).filter(Boolean);

  it('lists: 80 train, 20 test; labeled = the first N lines of train.list', () => {
    const src = new LASource(LA_ROOT);
    expect(src.trainIds()).toHaveLength(80);
    expect(src.testIds()).toHaveLength(20);
    const lines = firstLines('train.list');
    for (const n of [4, 8, 16, 40]) {
      expect(src.labeledIds(n)).toEqual(lines.slice(0, n));
      expect(src.unlabeledIds(n)).toEqual(lines.slice(n));
    }
    expect(src.testIds()).toEqual(firstLines('test.list'));
  });

  it('loads real cases: shape (W 148–244, H 132–160, 88), binary label, 3.5–19.2 % foreground', async () => {
    const src = new LASource(LA_ROOT);
    for (const id of [src.trainIds()[0]!, src.testIds()[0]!]) {
      const c = await src.load(id);
      const [W, H, D] = c.image.shape;
      expect(W).toBeGreaterThanOrEqual(148);
      expect(W).toBeLessThanOrEqual(244);
      expect(H).toBeGreaterThanOrEqual(132);
      expect(H).toBeLessThanOrEqual(160);
      expect(D).toBe(88);
      expect(c.label!.shape).toEqual(c.image.shape);
      expect(c.image.data.length).toBe(W * H * D);
      expect(c.label!.data.every((v) => v === 0 || v === 1)).toBe(true);
      const r = foregroundRatio(c.label!);
      expect(r).toBeGreaterThanOrEqual(0.035);
      expect(r).toBeLessThanOrEqual(0.192);
      // z-scored over the whole scan: the values are of order 1 and not constant
      let m = 0;
      for (const v of c.image.data) m += v;
      m /= c.image.data.length;
      expect(Math.abs(m)).toBeLessThan(2);
    }
  });

  it('a truncated or corrupted copy of a real file → clear error naming the copy', async () => {
    const src = new LASource(LA_ROOT);
    const real = src.casePath(src.trainIds()[0]!);
    const bytes = readFileSync(real);
    const trunc = path.join(tmp, 'real-trunc.h5');
    writeFileSync(trunc, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await expect(readLAFile(trunc)).rejects.toThrow(new RegExp(`^LA ${esc(trunc)}: truncated`));
    // overwrite compressed chunk bytes: the file length is right, the deflate stream is not
    const corrupt = path.join(tmp, 'real-corrupt.h5');
    copyFileSync(real, corrupt);
    const b = readFileSync(corrupt);
    for (let i = 100_000; i < 140_000; i++) b[i] = 0x55;
    writeFileSync(corrupt, b);
    await expect(readLAFile(corrupt)).rejects.toThrow(new RegExp(`^LA ${esc(corrupt)}: .*(failed|corrupt)`));
    expect(existsSync(real)).toBe(true);
  });
});
