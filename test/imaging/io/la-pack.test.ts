import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { isLARoot, LASource } from '../../../src/imaging/io/la.js';
import {
  decodeLAPackCase, encodeLAPackCase, isLAPackRoot, LA_PACK_CASE_DIR, laPackCasePath, LAPackSource,
} from '../../../src/imaging/io/la-pack.js';
import type { Volume } from '../../../src/imaging/volume.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const LA_ROOT = path.resolve(REPO, '../shared/data/LA');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-la-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function volumeOf(values: number[], shape: [number, number, number], seed: number): { image: Volume<Float32Array>; label: Volume<Uint8Array> } {
  const n = shape[0] * shape[1] * shape[2];
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  return {
    image: { data: Float32Array.from({ length: n }, () => values[next() % values.length]!), shape },
    label: { data: Uint8Array.from({ length: n }, () => next() & 1), shape },
  };
}

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('LA pack: lossless case encoding', () => {
  it('round-trips any float32 values (-0, subnormals, both index widths) bit for bit', () => {
    fc.assert(fc.property(
      fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 700 }),
      fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 })),
      fc.integer(),
      (values, shape, seed) => {
        const { image, label } = volumeOf(values, shape, seed);
        const back = decodeLAPackCase(encodeLAPackCase(image, label), 'x.vxla');
        expect(back.image.shape).toEqual(shape);
        expect(sameBits(back.image.data, image.data)).toBe(true);
        expect(Array.from(back.label.data)).toEqual(Array.from(label.data));
      },
    ), { numRuns: 60 });
  });

  it('uses one byte per voxel up to 256 distinct values and two above', () => {
    const shape: [number, number, number] = [8, 8, 8];
    const few = volumeOf(Array.from({ length: 256 }, (_, i) => i / 7), shape, 1);
    const many = volumeOf(Array.from({ length: 300 }, (_, i) => i / 7), shape, 1);
    const header = 8 + 4;
    expect(encodeLAPackCase(few.image, few.label).length).toBeLessThan(header + 4096 + 2 * 512);
    expect(encodeLAPackCase(many.image, many.label).length).toBeGreaterThan(header + 2 * 512 + 512);
    expect(sameBits(decodeLAPackCase(encodeLAPackCase(many.image, many.label), 'm').image.data, many.image.data)).toBe(true);
  });

  it('names the file and the problem for damaged bytes', () => {
    const { image, label } = volumeOf([0.5, -1.25, 3], [4, 4, 4], 7);
    const good = encodeLAPackCase(image, label);
    const flipped = good.slice();
    flipped[flipped.length - 70]! ^= 1; // an index byte: another value, so the image checksum differs
    expect(() => decodeLAPackCase(flipped, 'c.vxla')).toThrow(/LA pack c\.vxla: (image checksum mismatch|voxel \d+: value index)/);
    const labelFlip = good.slice();
    labelFlip[labelFlip.length - 1]! ^= 1;
    expect(() => decodeLAPackCase(labelFlip, 'c.vxla')).toThrow('LA pack c.vxla: label checksum mismatch (damaged copy)');
    expect(() => decodeLAPackCase(good.subarray(0, good.length - 1), 'c.vxla')).toThrow(/LA pack c\.vxla: \d+ bytes, expected \d+ for shape \[4, 4, 4\]/);
    expect(() => decodeLAPackCase(new TextEncoder().encode('NOTAPACK and more'), 'c.vxla')).toThrow('LA pack c.vxla: not an LA pack case file (bad magic)');
    expect(() => encodeLAPackCase(image, { data: label.data.subarray(1), shape: [4, 4, 3] })).toThrow(/differ in shape/);
  });

  it('a pack root: lists, lazily loaded cases, and errors naming the missing case file', async () => {
    const root = path.join(tmp, 'synthetic-pack');
    mkdirSync(path.join(root, LA_PACK_CASE_DIR), { recursive: true });
    writeFileSync(path.join(root, 'train.list'), 'a\nb\n');
    writeFileSync(path.join(root, 'test.list'), 'c\n');
    const cases = { a: volumeOf([1, 2], [3, 3, 3], 1), c: volumeOf([4, 5, 6], [2, 3, 4], 2) };
    for (const [id, v] of Object.entries(cases)) writeFileSync(laPackCasePath(root, id), encodeLAPackCase(v.image, v.label));
    expect(isLAPackRoot(root)).toBe(true);
    expect(isLARoot(root)).toBe(false);
    const src = new LAPackSource(root);
    expect(src.trainIds()).toEqual(['a', 'b']);
    expect(src.testIds()).toEqual(['c']);
    const c = await src.load('c');
    expect(sameBits(c.image.data, cases.c.image.data)).toBe(true);
    await expect(src.load('b')).rejects.toThrow(`LA pack ${laPackCasePath(src.root, 'b')}: cannot read the case file (ENOENT)`);
    await expect(src.load('zzz')).rejects.toThrow(/case id 'zzz' is in neither train\.list nor test\.list/);
    // the cheap check before training names every bad file: missing, truncated
    await expect(src.checkCases(['a', 'c'])).resolves.toBeUndefined();
    const bytes = readFileSync(laPackCasePath(root, 'a'));
    writeFileSync(laPackCasePath(root, 'c'), bytes.subarray(0, bytes.length - 3));
    const check = src.checkCases(['a', 'b', 'c']);
    await expect(check).rejects.toThrow(/2 of 3 LA case files fail the check/);
    await expect(check).rejects.toThrow(`LA pack ${laPackCasePath(src.root, 'b')}: missing case file`);
    await expect(check).rejects.toThrow(/c\.vxla: \d+ bytes, expected \d+ for shape \[3, 3, 3\] \(truncated or padded\)/);
  });
});

describe.runIf(isLARoot(LA_ROOT))('LA pack of the real data (../shared/data/LA)', () => {
  it('gives the same ids and bit-identical arrays as the HDF5 files (a labeled and a test case)', async () => {
    const h5 = new LASource(LA_ROOT, { cacheSize: 0 });
    const root = path.join(tmp, 'la-pack');
    mkdirSync(path.join(root, LA_PACK_CASE_DIR), { recursive: true });
    writeFileSync(path.join(root, 'train.list'), readFileSync(path.join(LA_ROOT, 'train.list')));
    writeFileSync(path.join(root, 'test.list'), readFileSync(path.join(LA_ROOT, 'test.list')));
    const ids = [h5.trainIds()[0]!, h5.testIds()[0]!];
    for (const id of ids) {
      const c = await h5.load(id);
      const bytes = encodeLAPackCase(c.image, c.label!);
      // the pack is smaller than the raw arrays (one index byte instead of four per voxel)
      expect(bytes.length).toBeLessThan(0.5 * (c.image.data.byteLength + c.label!.data.length));
      writeFileSync(laPackCasePath(root, id), bytes);
    }
    const pack = new LAPackSource(root);
    expect(pack.trainIds()).toEqual(h5.trainIds());
    expect(pack.testIds()).toEqual(h5.testIds());
    for (const id of ids) {
      const [a, b] = await Promise.all([h5.load(id), pack.load(id)]);
      expect(b.image.shape).toEqual(a.image.shape);
      expect(sameBits(b.image.data, a.image.data), id).toBe(true);
      expect(Buffer.from(b.label!.data).equals(Buffer.from(a.label!.data)), id).toBe(true);
    }
  });
});
