import { describe, expect, it, vi } from 'vitest';
import { Compose, isRandomTransform, Rng, type LambdaVolume } from '../../src/imaging.js';
import {
  CastToType, ConcatItems, CopyItems, DataStats, DeleteItems, Identity, RandLambda, SelectItems, SplitDim, SqueezeDim, castVolumeData,
} from '../../src/imaging/transforms-utility.js';
import type { MultiChannelVolume, Volume } from '../../src/imaging/volume.js';

/**
 * MONAI's utility transforms (monai/transforms/utility/dictionary.py; tests/transforms/test_copy_itemsd.py,
 * test_concat_itemsd.py, test_delete_itemsd.py, test_select_itemsd.py, test_cast_to_typed.py, test_data_statsd.py,
 * utility/test_rand_lambdad.py). Volumes are C-order [X, Y, Z] or channel first [C, X, Y, Z].
 */

const vol = (shape: [number, number, number], f: (i: number) => number = (i) => i): Volume => ({ data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => f(i)), shape });
const multi = (shape: [number, number, number, number], f: (i: number) => number = (i) => i): MultiChannelVolume => ({ data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i)), shape });
const arr = (v: unknown): number[] => Array.from((v as { data: ArrayLike<number> }).data);
const shapeOf = (v: unknown): number[] => [...(v as { shape: number[] }).shape];

describe('CopyItems', () => {
  it('copies volumes and other entries deeply under `${key}_${i}`, times times; the originals untouched', () => {
    const data = { img: vol([1, 2, 2]), seg: { data: Uint8Array.of(0, 1, 1, 0), shape: [1, 2, 2] as [number, number, number] }, meta: { spacing: [1, 2, 3] } };
    const out = new CopyItems({ keys: ['img', 'seg', 'meta'], times: 2 }).apply(data) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['img', 'seg', 'meta', 'img_0', 'seg_0', 'meta_0', 'img_1', 'seg_1', 'meta_1']);
    expect(arr(out.img_1)).toEqual([0, 1, 2, 3]);
    expect(out.seg_0).toEqual(data.seg);
    expect((out.seg_0 as { data: unknown }).data).toBeInstanceOf(Uint8Array);
    expect(out.meta_1).toEqual({ spacing: [1, 2, 3] });
    (out.img_0 as Volume).data[0] = 99;
    (out.meta_0 as { spacing: number[] }).spacing[0] = 99;
    expect(data.img.data[0]).toBe(0);
    expect(data.meta.spacing[0]).toBe(1);
    expect(out.img).toBe(data.img);
  });

  it('names are read copy by copy, MONAI\'s order: ["img_1", "seg_1", "img_2", "seg_2"]', () => {
    const data = { img: vol([1, 1, 2]), seg: vol([1, 1, 2], (i) => 10 + i) };
    const out = new CopyItems({ keys: ['img', 'seg'], times: 2, names: ['img_1', 'seg_1', 'img_2', 'seg_2'] }).apply(data) as Record<string, unknown>;
    expect(arr(out.img_2)).toEqual([0, 1]);
    expect(arr(out.seg_1)).toEqual([10, 11]);
    expect(arr(out.seg_2)).toEqual([10, 11]);
    expect(arr((new CopyItems({ keys: 'img', names: 'copy' }).apply(data) as Record<string, unknown>).copy)).toEqual([0, 1]);
  });

  it('errors: times, the number of names, a name given twice or already in the sample, a missing key', () => {
    expect(() => new CopyItems({ keys: 'img', times: 0 })).toThrow(/times must be an integer ≥ 1, got 0/);
    expect(() => new CopyItems({ keys: ['a', 'b'], times: 2, names: ['x', 'y', 'z'] })).toThrow(/names has 3 entries, but keys × times is 2 × 2 = 4/);
    expect(() => new CopyItems({ keys: ['a', 'b'], names: ['x', 'x'] })).toThrow(/the name 'x' is given to two copies/);
    expect(() => new CopyItems({ keys: 'img', names: 'seg' }).apply({ img: vol([1, 1, 1]), seg: vol([1, 1, 1]) })).toThrow(/key 'seg' \(a copy of 'img'\) is already in the sample/);
    expect(() => new CopyItems({ keys: 'nope' }).apply({ img: vol([1, 1, 1]) })).toThrow(/CopyItems: key 'nope' is missing from the sample \(it has 'img'\)/);
  });
});

describe('ConcatItems', () => {
  it('joins along the channels by default ([X, Y, Z] as one channel), a new array (MONAI\'s test: the inputs stay)', () => {
    const a = vol([1, 2, 2]), b = multi([2, 1, 2, 2], (i) => 10 + i);
    const out = new ConcatItems({ keys: ['a', 'b'], name: 'ab' }).apply({ a, b }) as Record<string, unknown>;
    expect(shapeOf(out.ab)).toEqual([3, 1, 2, 2]);
    expect(arr(out.ab)).toEqual([0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17]);
    const single = new ConcatItems({ keys: 'a', name: 'cat' }).apply({ a }) as Record<string, unknown>;
    (single.cat as MultiChannelVolume).data[0] = 5;
    expect(a.data[0]).toBe(0);
    expect(shapeOf(single.cat)).toEqual([1, 1, 2, 2]);
  });

  it('along a spatial dim: the blocks interleave as numpy.concatenate does', () => {
    // a: [1, 2, 1, 2] = [[0, 1]], [[2, 3]] along x; b: [1, 2, 2, 2]; along dim 2 (y): each x row gets a's y then b's
    const a = multi([1, 2, 1, 2]), b = multi([1, 2, 2, 2], (i) => 10 + i);
    const out = new ConcatItems({ keys: ['a', 'b'], name: 'ab', dim: 2 }).apply({ a, b }) as Record<string, unknown>;
    expect(shapeOf(out.ab)).toEqual([1, 2, 3, 2]);
    expect(arr(out.ab)).toEqual([0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17]);
    const last = new ConcatItems({ keys: ['a', 'a'], name: 'aa', dim: -1 }).apply({ a }) as Record<string, unknown>;
    expect(shapeOf(last.aa)).toEqual([1, 2, 1, 4]);
    expect(arr(last.aa)).toEqual([0, 1, 0, 1, 2, 3, 2, 3]);
    const labels = new ConcatItems({ keys: ['l', 'l'], name: 'll' }).apply({ l: { data: Uint8Array.of(1, 2), shape: [1, 1, 2] } }) as Record<string, unknown>;
    expect((labels.ll as { data: unknown }).data).toBeInstanceOf(Uint8Array);
  });

  it('errors: the element types or shapes differ, a bad dim or name', () => {
    const a = vol([1, 2, 2]);
    expect(() => new ConcatItems({ keys: ['a', 'l'], name: 'x' }).apply({ a, l: { data: new Uint8Array(4), shape: [1, 2, 2] } })).toThrow(/key 'l' holds a Uint8Array, key 'a' a Float32Array; the items must be of one type/);
    expect(() => new ConcatItems({ keys: ['a', 'b'], name: 'x' }).apply({ a, b: vol([2, 2, 1]) })).toThrow(/key 'b' is \[1, 2, 2, 1\] and key 'a' is \[1, 1, 2, 2\] \(as \[C, X, Y, Z\]\); they must agree but along dim 0/);
    expect(() => new ConcatItems({ keys: 'a', name: 'x', dim: 4 })).toThrow(/dim must be an integer in \[-4, 3\]/);
    expect(() => new ConcatItems({ keys: 'a', name: '' })).toThrow(/ConcatItems: name must be a key/);
  });
});

describe('DeleteItems and SelectItems', () => {
  it('DeleteItems removes keys, nested keys through sep, and patterns (MONAI\'s test_re); a missing key is no error', () => {
    const data = { image: [1, 2, 3], meta: { '0008|0005': 1, '0008|1050': 2, '0008test': 3 }, a: 1, b: 2 };
    const re = new DeleteItems({ keys: 'meta%0008\\|[0-9]', sep: '%', useRe: true }).apply(data) as unknown as Record<string, Record<string, number>>;
    expect(re.meta).toEqual({ '0008test': 3 });
    expect(data.meta['0008|0005']).toBe(1);
    const out = new DeleteItems({ keys: ['a', 'meta.0008test', 'missing'] }).apply(data) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['image', 'meta', 'b']);
    expect(Object.keys(out.meta as object)).toEqual(['0008|0005', '0008|1050']);
    const perKey = new DeleteItems({ keys: ['^[ab]$', 'image'], useRe: [true, false] }).apply(data) as Record<string, unknown>;
    expect(Object.keys(perKey)).toEqual(['meta']);
    // MONAI's test_memory: 50 keys, 30 deleted
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [String(i), i]));
    expect(Object.keys(new DeleteItems({ keys: Array.from({ length: 30 }, (_, i) => String(i)) }).apply(many)).length).toBe(20);
  });

  it('DeleteItems errors: a bad pattern, a missing or non-object entry on the way, useRe per key count', () => {
    expect(() => new DeleteItems({ keys: 'a[', useRe: true })).toThrow(/key 'a\[': 'a\[' is not a regular expression/);
    expect(() => new DeleteItems({ keys: 'x.y' }).apply({ a: 1 })).toThrow(/DeleteItems: 'x' is missing, so nothing under it can be deleted/);
    expect(() => new DeleteItems({ keys: 'a.y' }).apply({ a: 1 })).toThrow(/'a' is not an object of entries/);
    expect(() => new DeleteItems({ keys: ['a', 'b'], useRe: [true] })).toThrow(/useRe has 1 entries for 2 keys/);
    expect(() => new DeleteItems({ keys: 'a', sep: '' })).toThrow(/sep must be a non-empty string/);
  });

  it('SelectItems keeps only the keys, in their order; a missing one is an error', () => {
    const data = { image: vol([1, 1, 1]), label: 3, extra: 'x' };
    const out = new SelectItems({ keys: ['label', 'image'] }).apply(data);
    expect(Object.keys(out)).toEqual(['label', 'image']);
    expect((out as Record<string, unknown>).image).toBe(data.image);
    expect(() => new SelectItems({ keys: ['image', 'nope'] }).apply(data)).toThrow(/SelectItems: key 'nope' is missing from the sample \(it has 'image', 'label', 'extra'\)/);
  });
});

describe('SplitDim', () => {
  it('splits the channels into `${key}_${i}` (or the postfixes), [1, X, Y, Z] or with keepdim false [X, Y, Z]', () => {
    const image = multi([3, 1, 1, 2]);
    const out = new SplitDim({ keys: 'image' }).apply({ image }) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['image', 'image_0', 'image_1', 'image_2']);
    expect(shapeOf(out.image_1)).toEqual([1, 1, 1, 2]);
    expect(arr(out.image_2)).toEqual([4, 5]);
    const named = new SplitDim({ keys: 'image', outputPostfixes: ['tc', 'wt', 'et'], keepdim: false }).apply({ image }) as Record<string, unknown>;
    expect(shapeOf(named.image_wt)).toEqual([1, 1, 2]);
    expect(arr(named.image_et)).toEqual([4, 5]);
    (named.image_tc as Volume).data[0] = 7;
    expect(image.data[0]).toBe(0); // copies
  });

  it('a spatial split as a list of samples, each with its affine shifted to its slab, other entries copied', () => {
    const image = multi([1, 2, 3, 1]), label = { data: Uint8Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3, 1] as [number, number, number] };
    const affine = [[2, 0, 0, 10], [0, 3, 0, 20], [0, 0, 4, 30], [0, 0, 0, 1]];
    const t = new SplitDim({ keys: ['image', 'label'], dim: 2, listOutput: true });
    const out = t.apply({ image, label, affine, spacing: [2, 3, 4], id: { name: 'case' } });
    expect(out.length).toBe(3);
    expect(shapeOf(out[1]!.image)).toEqual([1, 2, 1, 1]);
    expect(arr(out[1]!.image)).toEqual([1, 4]);
    expect(shapeOf(out[2]!.label)).toEqual([1, 2, 1, 1]);
    expect(arr(out[2]!.label)).toEqual([3, 6]);
    expect(out[2]!.affine).toEqual([[2, 0, 0, 10], [0, 3, 0, 26], [0, 0, 4, 30], [0, 0, 0, 1]]);
    expect(out[2]!.spacing).toEqual([2, 3, 4]);
    expect(out[0]!.id).toEqual({ name: 'case' });
    expect(out[0]!.id).not.toBe(out[1]!.id);
    const channels = new SplitDim({ keys: 'image', listOutput: true }).apply({ image: multi([2, 1, 1, 1]), affine });
    expect(channels.map((s) => arr(s.image))).toEqual([[0], [1]]);
    expect(channels[1]!.affine).toEqual(affine);
  });

  it('errors: keepdim false on a spatial dim, a spatial split of a sample with one affine, postfix count, listOutput counts', () => {
    expect(() => new SplitDim({ keys: 'image', dim: 1, keepdim: false })).toThrow(/keepdim false is for dim 0 only/);
    expect(() => new SplitDim({ keys: 'image', listOutput: true, outputPostfixes: ['a'] })).toThrow(/outputPostfixes name new keys, but listOutput keeps the keys/);
    const image = multi([2, 2, 1, 1]), affine = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
    expect(() => new SplitDim({ keys: 'image', dim: 1 }).apply({ image, affine })).toThrow(/SplitDim: the parts of a split along dim 1 each have their own affine, but the sample has one \('affine'\)/);
    expect(Object.keys(new SplitDim({ keys: 'image', dim: 1, updateMeta: false }).apply({ image, affine }))).toEqual(['image', 'affine', 'image_0', 'image_1']);
    expect(() => new SplitDim({ keys: 'image', outputPostfixes: ['a', 'b', 'c'] }).apply({ image })).toThrow(/key 'image' splits into 2 parts but outputPostfixes has 3 entries/);
    expect(() => new SplitDim({ keys: ['image', 'b'], listOutput: true }).apply({ image, b: multi([3, 2, 1, 1]) })).toThrow(/key 'b' splits into 3 parts, key 'image' into 2/);
    expect(() => new SplitDim({ keys: 'image' }).apply({ image, image_1: 0 })).toThrow(/key 'image_1' \(part 1 of 'image'\) is already in the sample/);
  });
});

describe('SqueezeDim, CastToType, Identity', () => {
  it('SqueezeDim: [1, X, Y, Z] → [X, Y, Z], sharing the data; other dims and sizes are clear errors', () => {
    const image = multi([1, 1, 2, 2]);
    const out = new SqueezeDim({ keys: 'image' }).apply({ image });
    expect(out.image.shape).toEqual([1, 2, 2]);
    expect(out.image.data).toBe(image.data);
    expect(new SqueezeDim({ keys: 'image', dim: -4 }).dim).toBe(0);
    expect(() => new SqueezeDim({ keys: 'image', dim: 1 })).toThrow(/only dim 0 \(the channel axis of \[C, X, Y, Z\]\) can be squeezed; removing dim 1 would make a 2-D image/);
    expect(() => new SqueezeDim({ keys: 'image' }).apply({ image: multi([2, 1, 1, 1]) })).toThrow(/key 'image' is \[2, 1, 1, 1\]; only an axis of size 1 can be squeezed, dim 0 is 2/);
    expect(() => new SqueezeDim({ keys: 'image' }).apply({ image: vol([1, 1, 1]) })).toThrow(/key 'image' is \[1, 1, 1\], a volume without a channel axis to squeeze/);
  });

  it('CastToType: float32 ↔ uint8 (truncating toward zero, as numpy\'s astype), one dtype or one per key', () => {
    const data = { image: vol([1, 1, 4], (i) => [0.9, 1.5, 254.99, 3][i]!), label: { data: Uint8Array.of(0, 1, 2, 3), shape: [1, 1, 4] as [number, number, number] } };
    const out = new CastToType({ keys: ['image', 'label'], dtype: ['uint8', 'float32'] }).apply(data) as Record<string, { data: Float32Array | Uint8Array; shape: number[] }>;
    expect(out.image!.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(out.image!.data)).toEqual([0, 1, 254, 3]);
    expect(out.label!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(out.label!.data)).toEqual([0, 1, 2, 3]);
    expect(out.label!.shape).toEqual([1, 1, 4]);
    const same = new CastToType({ keys: 'image' }).apply(data) as Record<string, { data: unknown }>;
    expect(same.image!.data).toBe(data.image.data); // float32 by default (MONAI's), already
    expect(() => castVolumeData(Float32Array.of(1, -1.5), 'uint8', 'x')).toThrow(/x: casting to uint8 needs values in \(-1, 256\) \(truncated to 0\.\.255\), voxel 1 is -1\.5/);
    expect(() => castVolumeData(Float32Array.of(NaN), 'uint8', 'x')).toThrow(/voxel 0 is NaN/);
    expect(() => castVolumeData(Float32Array.of(256), 'uint8', 'x')).toThrow(/voxel 0 is 256/);
    expect(Array.from(castVolumeData(Float32Array.of(-0.5, 255.5), 'uint8', 'x'))).toEqual([0, 255]);
    expect(() => new CastToType({ keys: 'image', dtype: 'int16' as 'uint8' })).toThrow(/CastToType: dtype \('float32' or 'uint8'\) is not valid, got "int16"/);
    expect(() => new CastToType({ keys: ['a', 'b'], dtype: ['uint8'] })).toThrow(/dtype \('float32' or 'uint8'\) has 1 entries for 2 keys/);
  });

  it('Identity: the sample as it is (a new object, the entries shared); a missing key is an error', () => {
    const data = { image: vol([1, 1, 1]), n: 1 };
    const out = new Identity({ keys: 'image' }).apply(data);
    expect(out).not.toBe(data);
    expect(out).toEqual(data);
    expect(out.image).toBe(data.image);
    expect(() => new Identity({ keys: 'label' }).apply(data)).toThrow(/Identity: key 'label' is missing/);
  });
});

describe('RandLambda', () => {
  const addNoise = (v: LambdaVolume, _k: string, rng: Rng): LambdaVolume => ({ data: (v.data as Float32Array).map((x) => x + rng.random()), shape: v.shape });

  it('draws u < prob first, then func draws key by key from the same Rng (MONAI\'s RandLambdad)', () => {
    const data = { a: vol([1, 1, 2]), b: vol([1, 1, 1], () => 10) };
    const out = new RandLambda({ keys: ['a', 'b'], func: addNoise }).apply(data, new Rng(7));
    const ref = new Rng(7);
    ref.random(); // the prob gate (drawn even at prob 1, as MONAI's randomize)
    const [r0, r1, r2] = [ref.random(), ref.random(), ref.random()];
    expect(arr(out.a)).toEqual([Math.fround(0 + r0), Math.fround(1 + r1)]);
    expect(arr(out.b)).toEqual([Math.fround(10 + r2)]);
    expect(arr(data.a)).toEqual([0, 1]);
  });

  it('prob: applied in about prob of the calls (5σ binomial bound), the sample unchanged otherwise', () => {
    const t = new RandLambda({ keys: 'a', func: addNoise, prob: 0.3 });
    const rng = new Rng(2), n = 4000;
    let applied = 0;
    for (let i = 0; i < n; i++) if (t.apply({ a: vol([1, 1, 1]) }, rng).a.data[0] !== 0) applied++;
    expect(Math.abs(applied - 0.3 * n)).toBeLessThanOrEqual(5 * Math.sqrt(n * 0.3 * 0.7));
    const skipped = new RandLambda({ keys: 'a', func: () => { throw new Error('not called'); }, prob: 0 }).apply({ a: vol([1, 1, 1]) }, new Rng(0));
    expect(arr(skipped.a)).toEqual([0]);
  });

  it('overwrite: false drops the result, a key stores it there; it is random for CacheDataset; errors', () => {
    const data = { a: vol([1, 1, 1]) };
    const t = new RandLambda({ keys: ['a', 'a'], func: addNoise, overwrite: [false, 'noisy'] });
    const out = t.apply(data, new Rng(1)) as Record<string, unknown>;
    expect(out.a).toBe(data.a);
    expect(arr(out.noisy)[0]).toBeGreaterThan(0);
    expect(isRandomTransform(t)).toBe(true);
    expect(new Compose([t]).apply(data, new Rng(1))).toEqual(out);
    expect(() => new RandLambda({ keys: 'a', func: 3 as unknown as typeof addNoise })).toThrow(/RandLambda: func must be a function/);
    expect(() => new RandLambda({ keys: 'a', func: addNoise, prob: 2 })).toThrow(/RandLambda: prob must be in \[0, 1\], got 2/);
    expect(() => new RandLambda({ keys: 'a', func: addNoise, overwrite: '' })).toThrow(/overwrite \(true, false or a key\) is not valid/);
    expect(() => new RandLambda({ keys: 'a', func: addNoise }).apply(data)).toThrow(/RandLambda: a random transform needs an Rng/);
    expect(() => new RandLambda({ keys: 'a', func: () => ({ data: new Float32Array(2), shape: [1, 1, 1] }) }).apply(data, new Rng(0))).toThrow(/RandLambda \(func's result\): key 'a'/);
    expect(() => new RandLambda({ keys: 'z', func: addNoise }).apply(data, new Rng(0))).toThrow(/RandLambda: key 'z' is missing/);
  });
});

describe('DataStats', () => {
  it('logs one line per key: type, shape, range, mean and std (population); the sample passes through', () => {
    const lines: string[] = [];
    const image = multi([1, 2, 1, 2], (i) => [1, 2, 3, 6][i]!); // mean 3, variance (4 + 1 + 0 + 9)/4 = 3.5
    const data = { image, label: { data: Uint8Array.of(0, 1, 1, 0), shape: [2, 1, 2] as [number, number, number] }, affine: [[1, 0, 0, 0]] };
    const out = new DataStats({ keys: ['image', 'label', 'affine'], logger: (l) => lines.push(l) }).apply(data);
    expect(out).toEqual(data);
    expect(lines).toEqual([
      `Data statistics: 'image' type Float32Array, shape [1, 2, 1, 2], range [1, 6], mean 3, std ${Number(Math.sqrt(3.5).toPrecision(6))}`,
      "Data statistics: 'label' type Uint8Array, shape [2, 1, 2], range [0, 1], mean 0.5, std 0.5",
      "Data statistics: 'affine' type Array",
    ]);
  });

  it('options: prefix per key, each part on or off, dataValue, additionalInfo; a NaN makes the stats NaN', () => {
    const lines: string[] = [];
    const data = { a: vol([1, 1, 3], (i) => [0, NaN, 1][i]!), n: 5 };
    new DataStats({
      keys: ['a', 'n'], prefix: ['img', 'num'], dataType: false, dataShape: false, meanStd: false, dataValue: true,
      additionalInfo: (v, k) => `${k}!${typeof v}`, logger: (l) => lines.push(l),
    }).apply(data);
    expect(lines).toEqual([
      "img statistics: 'a' range [NaN, NaN], value [0, NaN, 1], additional info a!object",
      "num statistics: 'n' value 5, additional info n!number",
    ]);
    expect(() => new DataStats({ keys: 'a', dataType: 1 as unknown as boolean })).toThrow(/DataStats: dataType must be true or false, got 1/);
    expect(() => new DataStats({ keys: 'a', logger: 'x' as unknown as () => void })).toThrow(/logger must be a function/);
    expect(() => new DataStats({ keys: ['a', 'b'], prefix: ['x'] })).toThrow(/prefix has 1 entries for 2 keys/);
    expect(() => new DataStats({ keys: 'q', logger: () => {} }).apply(data)).toThrow(/DataStats: key 'q' is missing/);
    expect(() => new DataStats({ keys: 'a', logger: () => {} }).apply({ a: { data: new Float32Array(2), shape: [1, 1, 1] } })).toThrow(/DataStats: key 'a'/);
  });

  it('logs through console.log by default (MONAI\'s logger writes INFO lines to stdout)', () => {
    const spy = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      new DataStats({ keys: 'a', dataShape: false, valueRange: false, meanStd: false }).apply({ a: vol([1, 1, 1]) });
      expect(spy.mock.calls).toEqual([["Data statistics: 'a' type Float32Array"]]);
    } finally {
      spy.mockRestore();
    }
  });
});
