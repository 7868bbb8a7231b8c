import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  Compose, decodeStoredSample, encodeStoredSample, Flip, PersistentDataset, RandGaussianNoise, Rng, ScaleIntensity,
} from '../../src/imaging.js';
import type { Volume } from '../../src/imaging/volume.js';

/** MONAI's PersistentDataset: the deterministic transforms' result stored on disk, found again by the item's hash. */

const root = mkdtempSync(join(tmpdir(), 'voxgrad-persistent-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => { vi.restoreAllMocks(); });
let dirs = 0;
const freshDir = () => join(root, `cache${dirs++}`);

interface Item { path: string; scale: number }
interface Sample { image: Volume<Float32Array>; label: Volume<Uint8Array>; path: string; affine: number[][] }

/** A "loader" transform that counts its calls: item → a 2×2×2 image holding scale·(0..7) and a label. */
class CountingLoad {
  calls = 0;
  apply<T extends object>(data: T): T {
    this.calls++;
    const item = data as unknown as Item;
    const image = { data: Float32Array.from({ length: 8 }, (_, k) => item.scale * k), shape: [2, 2, 2] as [number, number, number] };
    const label = { data: Uint8Array.from({ length: 8 }, (_, k) => k % 2), shape: [2, 2, 2] as [number, number, number] };
    return { ...data, image, label, affine: [[2, 0, 0, -1], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]] } as T;
  }
}

const items: Item[] = [{ path: 'a.nii.gz', scale: 1 }, { path: 'b.nii.gz', scale: 3 }];

describe('encodeStoredSample / decodeStoredSample', () => {
  it('give back any sample of typed arrays, arrays, plain objects, strings, numbers (NaN, ±∞, −0), booleans, null and undefined', () => {
    const leaf = fc.oneof(
      fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.double(),
      fc.float32Array({ maxLength: 9 }), fc.uint8Array({ maxLength: 9 }), fc.int32Array({ maxLength: 5 }), fc.float64Array({ maxLength: 5 }),
      fc.int16Array({ maxLength: 5 }), fc.uint32Array({ maxLength: 5 }),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('node'), { maxKeys: 4, noNullPrototype: true })),
    })).node;
    fc.assert(fc.property(value, (v) => {
      const back = decodeStoredSample(encodeStoredSample(v), 'x.vxs');
      expect(back).toStrictEqual(v);
    }), { numRuns: 300 });
  });

  it('a typed array that is a view into a larger buffer is stored as the view', () => {
    const big = Float32Array.from({ length: 10 }, (_, k) => k);
    const back = decodeStoredSample(encodeStoredSample({ v: big.subarray(3, 6) }), 'x.vxs') as { v: Float32Array };
    expect(Array.from(back.v)).toEqual([3, 4, 5]);
    expect(back.v.buffer.byteLength).toBe(12);
  });

  it('a key named __proto__ stays a key', () => {
    const v = JSON.parse('{"__proto__": {"a": 1}, "b": [2]}') as Record<string, unknown>;
    const back = decodeStoredSample(encodeStoredSample(v), 'x.vxs') as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__', 'b']);
    expect(back).toStrictEqual(v);
  });

  it('refuses what it cannot store, naming the key', () => {
    expect(() => encodeStoredSample({ meta: { when: new Date(0) } })).toThrow(/'meta\.when' is a Date, which cannot be stored/);
    expect(() => encodeStoredSample({ list: [1, () => 2] })).toThrow(/'list\[1\]' is a function/);
    expect(() => encodeStoredSample({ m: new Map() })).toThrow(/'m' is a Map/);
  });

  it('a truncated, damaged or foreign file is an error naming it', () => {
    const bytes = encodeStoredSample({ image: Float32Array.of(1, 2, 3, 4) });
    expect(() => decodeStoredSample(bytes.subarray(0, bytes.length - 4), 'c.vxs')).toThrow(/c\.vxs: not a complete stored sample \(12 bytes of data, the header says 16\)/);
    const flipped = bytes.slice();
    flipped[flipped.length - 1]! ^= 1;
    expect(() => decodeStoredSample(flipped, 'c.vxs')).toThrow(/c\.vxs: .*do not match their SHA-256/);
    expect(() => decodeStoredSample(new TextEncoder().encode('hello world, no sample'), 'd.vxs')).toThrow(/d\.vxs: .*no VXSAMPL1 signature/);
    expect(() => decodeStoredSample(bytes.subarray(0, 20), 'e.vxs')).toThrow(/e\.vxs: .*its header says \d+ bytes, the file has 20/);
  });
});

describe('PersistentDataset', () => {
  it('computes the deterministic steps once per item, also across instances, and runs the random steps on every read', () => {
    const cacheDir = freshDir();
    const load = new CountingLoad();
    const transforms = () => [load, new ScaleIntensity({ keys: 'image' }), new RandGaussianNoise({ keys: 'image', prob: 1, std: 0.1 })];
    const first = new PersistentDataset<Sample>(items, transforms(), { cacheDir });
    expect(first.firstRandom).toBe(2);
    const a = first.getItem(1, new Rng(4)) as Sample;
    expect(load.calls).toBe(1);
    expect(existsSync(first.cacheFile(1))).toBe(true);
    expect(readdirSync(cacheDir)).toEqual([first.cacheFile(1).split(/[\\/]/).pop()]);
    const second = new PersistentDataset<Sample>(items, transforms(), { cacheDir });
    const b = second.getItem(1, new Rng(4)) as Sample, c = second.getItem(1, new Rng(5)) as Sample;
    expect(load.calls).toBe(1);
    expect(b.image.data).toEqual(a.image.data);
    expect(c.image.data).not.toEqual(a.image.data);
    expect(b.affine).toEqual([[2, 0, 0, -1], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]]);
    expect(b.path).toBe('b.nii.gz');
    expect(Array.from(b.label.data)).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    second.getItem(0, new Rng(4));
    expect(load.calls).toBe(2);
    expect(readdirSync(cacheDir).sort()).toEqual([second.cacheFile(0), second.cacheFile(1)].map((f) => f.split(/[\\/]/).pop()).sort());
  });

  it('gives what the transforms give (the stored sample is exact)', () => {
    const transforms = [new CountingLoad(), new Flip({ keys: ['image', 'label'], spatialAxis: 1 }), new ScaleIntensity({ keys: 'image', minv: -1, maxv: 2 })];
    const direct = new Compose(transforms).apply({ ...items[1]! }) as unknown as Sample;
    const cacheDir = freshDir();
    new PersistentDataset<Sample>(items, transforms, { cacheDir }).getItem(1);
    const loaded = new PersistentDataset<Sample>(items, transforms, { cacheDir }).getItem(1) as Sample;
    expect(loaded).toStrictEqual(direct);
  });

  it('the file name is the item\'s hash: equal items share it, key order does not matter; the cached steps\' classes and cacheKey are part of it', () => {
    const cacheDir = freshDir();
    const ds = new PersistentDataset([{ a: 1, b: 'x' }, { b: 'x', a: 1 }, { a: 2, b: 'x' }], null, { cacheDir });
    expect(ds.cacheFile(0)).toBe(ds.cacheFile(1));
    expect(ds.cacheFile(0)).not.toBe(ds.cacheFile(2));
    expect(ds.cacheFile(-1)).toBe(ds.cacheFile(2));
    const scaled = (maxv: number, cacheKey?: string) => new PersistentDataset(items, [new ScaleIntensity({ keys: 'image', maxv })], { cacheDir, cacheKey });
    expect(scaled(1).cacheFile(0)).toBe(scaled(2).cacheFile(0));
    expect(scaled(1, 'maxv 1').cacheFile(0)).not.toBe(scaled(2, 'maxv 2').cacheFile(0));
    expect(scaled(1, 'maxv 1').cacheFile(0)).toBe(scaled(1, 'maxv 1').cacheFile(0));
    expect(scaled(1).cacheFile(0)).not.toBe(new PersistentDataset(items, [new Flip({ keys: 'image' })], { cacheDir }).cacheFile(0));
    expect(scaled(1).cacheFile(0)).not.toBe(new PersistentDataset(items, [new ScaleIntensity({ keys: 'image' }), new Flip({ keys: 'image' })], { cacheDir }).cacheFile(0));
    // the random steps are not part of the name
    expect(scaled(1).cacheFile(0)).toBe(new PersistentDataset(items, [new ScaleIntensity({ keys: 'image' }), new RandGaussianNoise({ keys: 'image' })], { cacheDir }).cacheFile(0));
  });

  it('a damaged cache file is reported, computed again and rewritten; never read as it is', () => {
    const cacheDir = freshDir();
    const load = new CountingLoad();
    const ds = new PersistentDataset<Sample>(items, [load], { cacheDir });
    const good = ds.getItem(0) as Sample;
    const file = ds.cacheFile(0);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 8));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const again = ds.getItem(0) as Sample;
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/PersistentDataset: item 0: .*\.vxs: not a complete stored sample .*; computing it again/);
    expect(load.calls).toBe(2);
    expect(again).toStrictEqual(good);
    expect(readFileSync(file)).toEqual(bytes);
    ds.getItem(0);
    expect(load.calls).toBe(2);
  });

  it('clear errors: cacheDir, an item that cannot be hashed, a cache file that cannot be written, what the transforms give', () => {
    const file = join(root, 'plain-file');
    writeFileSync(file, 'x');
    expect(() => new PersistentDataset(items, null, { cacheDir: file })).toThrow(/PersistentDataset: cacheDir .*plain-file exists and is not a folder/);
    expect(() => new PersistentDataset(items, null, {} as { cacheDir: string })).toThrow(/PersistentDataset: cacheDir must be a folder path/);
    const dated = new PersistentDataset([{ when: new Date(0) }], null, { cacheDir: freshDir() });
    expect(() => dated.getItem(0)).toThrow(/PersistentDataset: item 0: 'when' is a Date, which cannot be stored/);
    expect(() => dated.cacheFile(1)).toThrow(/index 1 is out of range for 1 item/);
    const withMap = new PersistentDataset(items, [{ apply: <T extends object>(d: T): T => ({ ...d, meta: new Map() }) as T }], { cacheDir: freshDir() });
    expect(() => withMap.getItem(0)).toThrow(/PersistentDataset: item 0: 'meta' is a Map/);
    if (process.getuid?.() !== 0) {
      const locked = freshDir();
      const ds = new PersistentDataset(items, [new CountingLoad()], { cacheDir: locked });
      ds.getItem(0);
      chmodSync(locked, 0o500);
      try {
        expect(() => ds.getItem(1)).toThrow(/PersistentDataset: item 1: cannot write the cache file .*\.vxs/);
      } finally {
        chmodSync(locked, 0o700);
      }
    }
    // a folder where an item's file belongs: reported as not a regular file, then the write fails, naming the file
    const blocked = new PersistentDataset(items, [new CountingLoad()], { cacheDir: freshDir() });
    mkdirSync(join(blocked.cacheFile(0), 'inside'), { recursive: true });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(() => blocked.getItem(0)).toThrow(/PersistentDataset: item 0: cannot write the cache file .*\.vxs/);
    expect(String(warn.mock.calls[0]![0])).toMatch(/\.vxs: not a regular file \(a folder\); computing it again/);
  });
});
