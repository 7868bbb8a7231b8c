import { describe, expect, expectTypeOf, it } from 'vitest';
import fc from 'fast-check';
import { backward, sum } from '../../src/autograd/index.js';
import {
  CacheDataset, Compose, DataLoader, Dataset, Flip, Lambda, RandCropByPosNegLabel, RandFlip, RandGaussianNoise, Rng, decollateBatch, hashSeed,
  isRandomTransform, listDataCollate, partitionDataset, type Batch, type LambdaVolume, type Transform,
} from '../../src/imaging.js';
import { fromArray, Tensor } from '../../src/tensor/index.js';
import type { MultiChannelVolume, Volume } from '../../src/imaging/volume.js';
import { cpu } from '../helpers/backends.js';

/** MONAI's Dataset / CacheDataset / DataLoader / list_data_collate / decollate_batch / partition_dataset. */

interface Sample { image: Volume<Float32Array>; label: Volume<Uint8Array>; id: string }

/** Sample i: a 2×2×2 image holding 8i … 8i + 7 and a label with voxel i mod 8 set. */
function sample(i: number): Sample {
  const label = new Uint8Array(8);
  label[i % 8] = 1;
  return { image: { data: Float32Array.from({ length: 8 }, (_, k) => 8 * i + k), shape: [2, 2, 2] }, label: { data: label, shape: [2, 2, 2] }, id: `case${i}` };
}

/** A Lambda adding `delta` to the image, counting its calls. */
function counting(delta: number): { transform: Lambda; calls: () => number } {
  let calls = 0;
  const transform = new Lambda({
    keys: 'image',
    func: (v: LambdaVolume) => { calls++; return { data: (v.data as Float32Array).map((x) => x + delta), shape: v.shape }; },
  });
  return { transform, calls: () => calls };
}

const values = async (t: Tensor): Promise<number[]> => Array.from(await t.toArray());

describe('Dataset', () => {
  it('getItem is the item through the transform (a list of transforms is a Compose), negative indices from the end, the item itself without one', () => {
    const data = [0, 1, 2].map(sample);
    const plain = new Dataset<Sample>(data);
    expect(plain.length).toBe(3);
    expect(plain.getItem(1)).toBe(data[1]);
    expect(plain.getItem(-1)).toBe(data[2]);
    const flipped = new Dataset<Sample>(data, [new Flip({ keys: 'image', spatialAxis: 0 })]);
    const got = flipped.getItem(2) as Sample;
    expect(Array.from(got.image.data)).toEqual([20, 21, 22, 23, 16, 17, 18, 19]);
    expect(got.label).toBe(data[2]!.label);
    expect(Array.from(data[2]!.image.data)).toEqual([16, 17, 18, 19, 20, 21, 22, 23]);
  });

  it('random transforms draw from the rng given: one seed, one sample; none given is an error naming the transform', () => {
    const ds = new Dataset<Sample>([sample(0)], new RandGaussianNoise({ keys: 'image', prob: 1 }));
    const a = ds.getItem(0, new Rng(5)) as Sample, b = ds.getItem(0, new Rng(5)) as Sample, c = ds.getItem(0, new Rng(6)) as Sample;
    expect(a.image.data).toEqual(b.image.data);
    expect(a.image.data).not.toEqual(c.image.data);
    expect(() => ds.getItem(0)).toThrow(/Dataset: item 0: RandGaussianNoise: a random transform needs an Rng/);
  });

  it('clear errors: the index, the data, the transform, an item that is not an object', () => {
    const ds = new Dataset([sample(0), sample(1)]);
    expect(() => ds.getItem(2)).toThrow(/Dataset.getItem: index 2 is out of range for 2 items/);
    expect(() => ds.getItem(-3)).toThrow(/index -3 is out of range/);
    expect(() => ds.getItem(0.5)).toThrow(/index 0.5 is out of range/);
    expect(() => new Dataset('files' as unknown as object[])).toThrow(/Dataset: data must be an array of samples, got string/);
    expect(() => new Dataset([], { transform: 1 } as unknown as Transform)).toThrow(/Dataset: transform must be a transform, a Compose or a list/);
    expect(() => new Dataset([sample(0)], [{} as Transform])).toThrow(/Compose: transforms\[0\] has no apply/);
    expect(() => new Dataset(['a.nii' as unknown as object]).getItem(0)).toThrow(/Dataset: item 0: not a sample object \(got string\)/);
  });
});

describe('isRandomTransform (MONAI\'s RandomizableTrait)', () => {
  it('the Rand… classes, a Compose holding one, and a transform of one\'s own by its randomizable property', () => {
    expect(isRandomTransform(new RandFlip({ keys: 'image' }))).toBe(true);
    expect(isRandomTransform(new RandCropByPosNegLabel({ keys: 'image', labelKey: 'label', spatialSize: 2 }))).toBe(true);
    expect(isRandomTransform(new Flip({ keys: 'image' }))).toBe(false);
    expect(isRandomTransform(counting(1).transform)).toBe(false);
    expect(isRandomTransform(new Compose([new Flip({ keys: 'image' }), new Compose([new RandFlip({ keys: 'image' })])]))).toBe(true);
    expect(isRandomTransform(new Compose([new Flip({ keys: 'image' })]))).toBe(false);
    const own = { randomizable: true, apply: <T extends object>(d: T): T => d };
    expect(isRandomTransform(own)).toBe(true);
    class RandomLooking { readonly randomizable = false; apply<T extends object>(d: T): T { return d; } }
    expect(isRandomTransform(new RandomLooking())).toBe(false);
    class Randomize { apply<T extends object>(d: T): T { return d; } }
    expect(isRandomTransform(new Randomize())).toBe(false); // Rand followed by a lower-case letter is not MONAI's prefix
  });
});

describe('CacheDataset', () => {
  it('runs the transforms before the first random one once per item, the rest at each read, and reads as a Dataset does', () => {
    const data = [0, 1, 2].map(sample);
    const first = counting(100), after = counting(1000);
    const steps = [first.transform, new RandGaussianNoise({ keys: 'image', prob: 1 }), after.transform];
    const cache = new CacheDataset<Sample>(data, steps);
    expect([cache.firstRandom, cache.cacheNum, first.calls(), after.calls()]).toEqual([1, 3, 3, 0]);
    expect([0, 1, 2].map((i) => cache.isCached(i))).toEqual([true, true, true]);
    const plain = new Dataset<Sample>(data, [counting(100).transform, new RandGaussianNoise({ keys: 'image', prob: 1 }), counting(1000).transform]);
    for (const i of [0, 1, 2, 1]) {
      const got = cache.getItem(i, new Rng(hashSeed(7, i))) as Sample;
      expect(got.image.data).toEqual((plain.getItem(i, new Rng(hashSeed(7, i))) as Sample).image.data);
      expect(got.id).toBe(`case${i}`);
    }
    expect([first.calls(), after.calls()]).toEqual([3, 4]);
  });

  it('cacheNum and cacheRate: the first min(cacheNum, ⌊n · cacheRate⌋, n) items; the others run every transform at each read', () => {
    const data = [0, 1, 2, 3, 4].map(sample);
    const counter = counting(1);
    expect(new CacheDataset(data, [counter.transform], { cacheNum: 2 }).cacheNum).toBe(2);
    expect(new CacheDataset(data, [counter.transform], { cacheRate: 0.5 }).cacheNum).toBe(2);
    expect(new CacheDataset(data, [counter.transform], { cacheNum: 4, cacheRate: 0.99 }).cacheNum).toBe(4);
    expect(new CacheDataset(data, [counter.transform], { cacheNum: 10 }).cacheNum).toBe(5);
    const partial = counting(1);
    const ds = new CacheDataset<Sample>(data, [partial.transform], { cacheNum: 2 });
    expect(partial.calls()).toBe(2);
    expect([ds.isCached(1), ds.isCached(2)]).toEqual([true, false]);
    expect(Array.from((ds.getItem(3) as Sample).image.data)).toEqual(Array.from({ length: 8 }, (_, k) => 24 + k + 1));
    ds.getItem(3);
    ds.getItem(0);
    expect(partial.calls()).toBe(4);
  });

  it('runtimeCache fills an item at its first read; without random transforms a read is a copy of the cache (copyCache)', () => {
    const counter = counting(1);
    const ds = new CacheDataset<Sample>([sample(0), sample(1)], [counter.transform], { runtimeCache: true });
    expect([counter.calls(), ds.isCached(0), ds.isCached(1)]).toEqual([0, false, false]);
    const a = ds.getItem(1) as Sample, b = ds.getItem(1) as Sample;
    expect([counter.calls(), ds.isCached(0), ds.isCached(1)]).toEqual([1, false, true]);
    expect(a.image.data).toEqual(b.image.data);
    expect(a.image.data).not.toBe(b.image.data);
    const shared = new CacheDataset<Sample>([sample(0)], [counter.transform], { copyCache: false });
    expect((shared.getItem(0) as Sample).image.data).toBe((shared.getItem(0) as Sample).image.data);
  });

  it('copyCache keeps the cache from a random transform that modifies its input; copyCache false lets it (MONAI\'s semantics)', () => {
    const inPlace = {
      randomizable: true,
      apply<T extends object>(d: T, rng?: Rng): T {
        const image = (d as unknown as Sample).image;
        image.data[0] = image.data[0]! + 1 + 0 * rng!.random();
        return d;
      },
    };
    const copied = new CacheDataset<Sample>([sample(0)], [new Flip({ keys: 'image', spatialAxis: 2 }), inPlace]);
    const reads = [1, 2, 3].map(() => (copied.getItem(0, new Rng(1)) as Sample).image.data[0]);
    expect(reads).toEqual([2, 2, 2]);
    const uncopied = new CacheDataset<Sample>([sample(0)], [new Flip({ keys: 'image', spatialAxis: 2 }), inPlace], { copyCache: false });
    expect([1, 2, 3].map(() => (uncopied.getItem(0, new Rng(1)) as Sample).image.data[0])).toEqual([2, 3, 4]);
  });

  it('a transform that draws from the Rng without saying it is random is an error naming it, not a frozen draw', () => {
    class Jitter { apply<T extends object>(d: T, rng?: Rng): T { return { ...d, jitter: rng!.random() }; } }
    expect(() => new CacheDataset([sample(0)], [new Flip({ keys: 'image' }), new Jitter()])).toThrow(/CacheDataset: item 0: transforms\[1\] \(Jitter\) draws from the Rng but is cached as deterministic/);
    const lazy = new CacheDataset([sample(0)], [new Jitter()], { runtimeCache: true });
    expect(() => lazy.getItem(0, new Rng(0))).toThrow(/CacheDataset: item 0: transforms\[0\] \(Jitter\)/);
  });

  it('items that split before the random transforms: each cached sample goes through the rest', () => {
    const split = { apply: <T extends object>(d: T): T[] => [d, { ...d, id: 'copy' }] };
    const ds = new CacheDataset<Sample>([sample(1)], [split, new RandGaussianNoise({ keys: 'image', prob: 1 })]);
    const out = ds.getItem(0, new Rng(3)) as Sample[];
    expect(out.map((s) => s.id)).toEqual(['case1', 'copy']);
    const rng = new Rng(3);
    const noise = new RandGaussianNoise({ keys: 'image', prob: 1 });
    expect(out.map((s) => s.image.data)).toEqual([noise.apply(sample(1), rng).image.data, noise.apply(sample(1), rng).image.data]);
  });

  it('clear errors for its options', () => {
    expect(() => new CacheDataset([], null, { cacheNum: -1 })).toThrow(/CacheDataset: cacheNum must be a non-negative integer, got -1/);
    expect(() => new CacheDataset([], null, { cacheNum: 1.5 })).toThrow(/cacheNum must be a non-negative integer, got 1.5/);
    expect(() => new CacheDataset([], null, { cacheRate: 1.5 })).toThrow(/CacheDataset: cacheRate must be in \[0, 1\], got 1.5/);
    expect(() => new CacheDataset([sample(0)]).isCached(1)).toThrow(/CacheDataset.isCached: index 1 is out of range for 1 item$/);
  });
});

describe('listDataCollate (MONAI\'s list_data_collate)', () => {
  it('volumes to [B, C, X, Y, Z] (a volume [X, Y, Z] is one channel), uint8 to int32, other values to arrays', async () => {
    const batch = listDataCollate([sample(0), sample(1)], { backend: cpu });
    expect(batch.image).toBeInstanceOf(Tensor);
    expect([batch.image.shape, batch.image.dtype, batch.label.shape, batch.label.dtype]).toEqual([[2, 1, 2, 2, 2], 'float32', [2, 1, 2, 2, 2], 'int32']);
    expect(await values(batch.image)).toEqual(Array.from({ length: 16 }, (_, k) => k));
    expect(await values(batch.label)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(batch.id).toEqual(['case0', 'case1']);
    const typed = listDataCollate([sample(0)], { dtypes: { label: 'float32', image: 'float64' } });
    expect([typed.label.dtype, typed.image.dtype]).toEqual(['float32', 'float64']);
  });

  it('types: Batch<S> holds a tensor for each volume or tensor key and an array for the others; decollated, the per-sample types', () => {
    interface Typed { image: MultiChannelVolume; label: Volume<Uint8Array>; affine: number[][]; id: string; t: Tensor }
    expectTypeOf<Batch<Typed>>().toEqualTypeOf<{ image: Tensor; label: Tensor; affine: number[][][]; id: string[]; t: Tensor }>();
    expectTypeOf<Batch<Record<string, unknown>>>().toEqualTypeOf<{ [k: string]: Tensor | unknown[] }>();
    expectTypeOf<Batch<{ v: Volume<Float32Array | Uint8Array> | MultiChannelVolume<Float32Array | Uint8Array> }>>().toEqualTypeOf<{ v: Tensor }>();
    const samples = decollateBatch({ image: fromArray([1, 2], [2, 1]), id: ['a', 'b'], meta: { fold: [1, 2] } });
    expectTypeOf(samples).toEqualTypeOf<{ image: Tensor; id: string; meta: { fold: number } }[]>();
    expect(samples.map((s) => [s.image.shape, s.id, s.meta.fold])).toEqual([[[1], 'a', 1], [[1], 'b', 2]]);
  });

  it('channel-first volumes keep their channels; tensors are stacked; lists of samples are flattened into the batch', async () => {
    const two = (i: number): { image: MultiChannelVolume; t: Tensor; n: number } => ({
      image: { data: Float32Array.from([i, i + 0.5]), shape: [2, 1, 1, 1] }, t: fromArray([i, -i], [2]), n: i,
    });
    const batch = listDataCollate([[two(1), two(2)], two(3)]);
    expect([batch.image.shape, await values(batch.image)]).toEqual([[3, 2, 1, 1, 1], [1, 1.5, 2, 2.5, 3, 3.5]]);
    expect([batch.t.shape, await values(batch.t)]).toEqual([[3, 2], [1, -1, 2, -2, 3, -3]]);
    expect(batch.n).toEqual([1, 2, 3]);
  });

  it('clear errors naming the key and the sample', () => {
    const other = { ...sample(1), image: { data: new Float32Array(4), shape: [2, 2, 1] } };
    expect(() => listDataCollate([sample(0), other])).toThrow(/listDataCollate: key 'image' has shape \[C, X, Y, Z\] = \[1, 2, 2, 1\] in sample 1 but \[1, 2, 2, 2\] in sample 0/);
    const { id: _, ...noId } = sample(1);
    expect(() => listDataCollate([sample(0), noId])).toThrow(/listDataCollate: sample 1 has no key 'id'/);
    expect(() => listDataCollate([sample(0), { ...sample(1), label: 'x' }])).toThrow(/key 'label' holds a volume in sample 0 but not in sample 1/);
    expect(() => listDataCollate([sample(0), { ...sample(1), label: { ...sample(1).label, data: new Float32Array(8) } }])).toThrow(/key 'label' holds a Float32Array in sample 1 but a Uint8Array in sample 0/);
    expect(() => listDataCollate([{ image: { data: new Float32Array(3), shape: [2, 2, 2] } }])).toThrow(/listDataCollate: sample 0: key 'image'/);
    expect(() => listDataCollate([])).toThrow(/listDataCollate: expected a non-empty array of samples/);
    expect(() => listDataCollate([[]])).toThrow(/the items hold no samples/);
    expect(() => listDataCollate([sample(0), 3 as unknown as Sample])).toThrow(/sample 1 is not a sample object \(got number\)/);
    expect(() => listDataCollate([{ t: fromArray([1], [1]) }, { t: fromArray([1, 2], [2]) }])).toThrow(/key 't' holds a tensor \[2\] in sample 1 but \[1\] in sample 0/);
    expect(() => listDataCollate([sample(0)], { dtypes: { image: 'uint8' as 'int32' } })).toThrow(/dtypes\['image'\] must be one of float32, int32, float64, got "uint8"/);
  });
});

describe('DataLoader', () => {
  const ids = (b: Batch<Sample>): string[] => b.id;
  const epoch = async (loader: DataLoader<Sample>): Promise<Batch<Sample>[]> => { const out: Batch<Sample>[] = []; for await (const b of loader) out.push(b); return out; };

  it('batches in order, the last one smaller unless dropLast; length counts the batches', async () => {
    const ds = new Dataset<Sample>([0, 1, 2, 3, 4].map(sample));
    const loader = new DataLoader(ds, { batchSize: 2 });
    expect(loader.length).toBe(3);
    expect((await epoch(loader)).map(ids)).toEqual([['case0', 'case1'], ['case2', 'case3'], ['case4']]);
    const dropping = new DataLoader(ds, { batchSize: 2, dropLast: true });
    expect(dropping.length).toBe(2);
    expect((await epoch(dropping)).map(ids)).toEqual([['case0', 'case1'], ['case2', 'case3']]);
    expect((await epoch(new DataLoader(ds))).map(ids)).toEqual([0, 1, 2, 3, 4].map((i) => [`case${i}`]));
  });

  it('shuffle: each epoch its seed then a permutation from the generator; one seed, the same epochs', async () => {
    const n = 7;
    const ds = new Dataset<Sample>(Array.from({ length: n }, (_, i) => sample(i)));
    const loader = new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 11 });
    const rng = new Rng(11);
    for (let e = 0; e < 3; e++) {
      rng.nextU32();
      const order = rng.permutation(n);
      expect((await epoch(loader)).flatMap(ids)).toEqual(order.map((i) => `case${i}`));
    }
    const a = await epoch(new DataLoader(ds, { shuffle: true, generator: new Rng(4) }));
    const b = await epoch(new DataLoader(ds, { shuffle: true, generator: new Rng(4) }));
    expect(a.map(ids)).toEqual(b.map(ids));
  });

  it('item i of an epoch draws from new Rng(hashSeed(epochSeed, i)): samples do not depend on batchSize, dropLast or shuffle', async () => {
    const data = [0, 1, 2, 3, 4].map(sample);
    const steps = [new RandGaussianNoise({ keys: 'image', prob: 1 }), new RandFlip({ keys: ['image', 'label'], prob: 0.5 })];
    const ds = new Dataset<Sample>(data, steps);
    const epochSeed = new Rng(3).nextU32();
    const want = await Promise.all(data.map((_, i) => values(listDataCollate([ds.getItem(i, new Rng(hashSeed(epochSeed, i)))]).image)));
    const byOne = (await epoch(new DataLoader(ds, { seed: 3 }))).map((b) => b.image);
    expect(await Promise.all(byOne.map(values))).toEqual(want);
    const byTwo = await epoch(new DataLoader(ds, { seed: 3, batchSize: 2, dropLast: true }));
    expect(await Promise.all(byTwo.map((b) => values(b.image)))).toEqual([[...want[0]!, ...want[1]!], [...want[2]!, ...want[3]!]]);
    const shuffled = await epoch(new DataLoader(ds, { seed: 3, shuffle: true, batchSize: 5 }));
    const order = shuffled[0]!.id.map((id) => Number(id.slice(4)));
    expect(await values(shuffled[0]!.image)).toEqual(order.flatMap((i) => want[i]!));
  });

  it('a CacheDataset gives the batches of a Dataset with the same transforms and seed', async () => {
    const data = [0, 1, 2, 3].map(sample);
    const steps = () => [counting(5).transform, new Flip({ keys: 'image', spatialAxis: 1 }), new RandGaussianNoise({ keys: 'image', prob: 0.7 }), counting(-2).transform];
    const fromCache = await epoch(new DataLoader(new CacheDataset<Sample>(data, steps()), { batchSize: 2, shuffle: true, seed: 9 }));
    const plain = await epoch(new DataLoader(new Dataset<Sample>(data, steps()), { batchSize: 2, shuffle: true, seed: 9 }));
    expect(fromCache.map(ids)).toEqual(plain.map(ids));
    for (let b = 0; b < 2; b++) expect(await values(fromCache[b]!.image)).toEqual(await values(plain[b]!.image));
  });

  it('items of several samples (RandCropByPosNegLabel\'s numSamples) are flattened: batchSize items, numSamples each', async () => {
    const crop = new RandCropByPosNegLabel({ keys: ['image', 'label'], labelKey: 'label', spatialSize: [1, 1, 2], numSamples: 3 });
    const loader = new DataLoader(new Dataset<Sample>([0, 1, 2].map(sample), crop), { batchSize: 2, backend: cpu });
    const batches = await epoch(loader);
    expect(batches.map((b) => b.image.shape)).toEqual([[6, 1, 1, 1, 2], [3, 1, 1, 1, 2]]);
    expect(batches[0]!.id).toEqual(['case0', 'case0', 'case0', 'case1', 'case1', 'case1']);
  });

  it('a collation error names the batch and its dataset items; clear option errors', async () => {
    const odd = { ...sample(1), image: { data: new Float32Array(1), shape: [1, 1, 1] } };
    await expect(epoch(new DataLoader(new Dataset<Sample>([sample(0), odd, sample(2)]), { batchSize: 2 })))
      .rejects.toThrow(/DataLoader: batch 0 \(dataset items 0, 1\): listDataCollate: key 'image' has shape/);
    const ds = new Dataset([sample(0)]);
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(/DataLoader: batchSize must be a positive integer, got 0/);
    expect(() => new DataLoader([sample(0)] as unknown as Dataset)).toThrow(/DataLoader: dataset must be a Dataset or CacheDataset/);
    expect(() => new DataLoader(ds, { generator: { nextU32: () => 1 } as unknown as Rng })).toThrow(/DataLoader: generator must be an Rng/);
    expect(() => new DataLoader(ds, { seed: NaN })).toThrow(/DataLoader: seed must be a finite number, got NaN/);
  });
});

describe('decollateBatch (MONAI\'s decollate_batch)', () => {
  it('undoes the collation: each sample\'s volumes as tensors [C, X, Y, Z], its other values as they were', async () => {
    const batch = listDataCollate([sample(0), sample(1), sample(2)]);
    const samples = decollateBatch(batch);
    expect(samples).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      const s = samples[i]!;
      expect([s.image.shape, s.label.shape, s.id]).toEqual([[1, 2, 2, 2], [1, 2, 2, 2], `case${i}`]);
      expect(await values(s.image)).toEqual(Array.from(sample(i).image.data));
      expect(await values(s.label)).toEqual(Array.from(sample(i).label.data));
    }
    const slices = decollateBatch(fromArray([1, 2, 3, 4, 5, 6], [3, 2]));
    expect(await Promise.all(slices.map(values))).toEqual([[1, 2], [3, 4], [5, 6]]);
  });

  it('decollateBatch(listDataCollate(samples)) gives back every sample\'s voxels, channel-first (random shapes, batch sizes, element types)', async () => {
    const side = fc.integer({ min: 1, max: 3 });
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), fc.tuple(side, side, side), fc.boolean(), fc.integer(),
      async (b, c, [x, y, z], u8, seed) => {
        const n = Math.max(c, 1) * x * y * z;
        const make = (i: number) => {
          const values = Array.from({ length: n }, (_, k) => (seed + 31 * i + 7 * k) % 251);
          const data = u8 ? Uint8Array.from(values) : Float32Array.from(values, (v) => v / 8 - 3);
          return { v: (c === 0 ? { data, shape: [x, y, z] } : { data, shape: [c, x, y, z] }) as Volume<Float32Array | Uint8Array> | MultiChannelVolume<Float32Array | Uint8Array>, i };
        };
        const samples = Array.from({ length: b }, (_, i) => make(i));
        const batch = listDataCollate(samples);
        expect([batch.v.shape, batch.v.dtype, batch.i]).toEqual([[b, Math.max(c, 1), x, y, z], u8 ? 'int32' : 'float32', samples.map((s) => s.i)]);
        const back = decollateBatch(batch);
        expect(back.map((s) => [s.v.shape, s.i])).toEqual(samples.map((s) => [[Math.max(c, 1), x, y, z], s.i]));
        expect(await Promise.all(back.map((s) => values(s.v)))).toEqual(samples.map((s) => Array.from(s.v.data)));
      },
    ), { numRuns: 40 });
  });

  it('MONAI\'s docstring example: different lengths padded with fillValue, or cut with pad false; single values repeated; nested batches', () => {
    const batch = { image: [1, 2, 3], meta: [4, 5] };
    expect(decollateBatch(batch, { pad: true, fillValue: 0 })).toEqual([{ image: 1, meta: 4 }, { image: 2, meta: 5 }, { image: 3, meta: 0 }]);
    expect(decollateBatch(batch, { pad: false })).toEqual([{ image: 1, meta: 4 }, { image: 2, meta: 5 }]);
    expect(decollateBatch(batch)).toEqual([{ image: 1, meta: 4 }, { image: 2, meta: 5 }, { image: 3, meta: null }]);
    expect(decollateBatch({ a: [1, 2], fold: 3, meta: { name: ['x', 'y'], kind: 'ct' } })).toEqual([
      { a: 1, fold: 3, meta: { name: 'x', kind: 'ct' } }, { a: 2, fold: 3, meta: { name: 'y', kind: 'ct' } },
    ]);
    expect(decollateBatch({ fold: 3 })).toEqual([]);
  });

  it('detaches the slices by default (MONAI\'s detach), keeps them in the graph with detach false; 0-d tensors are repeated', async () => {
    const x = fromArray([1, 2, 3, 4], [2, 2], { requiresGrad: true });
    const detached = decollateBatch({ x });
    expect(detached.map((s) => s.x.requiresGrad)).toEqual([false, false]);
    const kept = decollateBatch({ x }, { detach: false });
    backward(sum(kept[1]!.x));
    expect(await values(x.grad!)).toEqual([0, 0, 1, 1]);
    const loss = fromArray([0.5], []);
    const withScalar = decollateBatch({ x, loss });
    expect(withScalar.map((s) => s.loss)).toEqual([loss, loss]);
    expect(() => decollateBatch(loss)).toThrow(/decollateBatch: a 0-d tensor has no batch axis/);
    expect(() => decollateBatch([1, 2])).toThrow(/decollateBatch: expected a batch object \(a DataLoader's\) or a tensor \[B, ...\], got an array/);
  });
});

describe('partitionDataset (MONAI\'s partition_dataset)', () => {
  const data = [1, 2, 3, 4, 5];
  it('MONAI\'s docstring examples', () => {
    expect(partitionDataset(data, { ratios: [0.6, 0.2, 0.2] })).toEqual([[1, 2, 3], [4], [5]]);
    expect(partitionDataset(data, { numPartitions: 2 })).toEqual([[1, 3, 5], [2, 4]]);
    expect(partitionDataset(data, { numPartitions: 2, evenDivisible: true, dropLast: true })).toEqual([[1, 3], [2, 4]]);
    expect(partitionDataset(data, { numPartitions: 2, evenDivisible: true, dropLast: false })).toEqual([[1, 3, 5], [2, 4, 1]]);
    expect(partitionDataset(data, { numPartitions: 2, evenDivisible: false, dropLast: false })).toEqual([[1, 3, 5], [2, 4]]);
  });

  it('ratios round half up and stop at the data\'s end; shuffle is the permutation of new Rng(seed)', () => {
    const ten = Array.from({ length: 10 }, (_, i) => i);
    expect(partitionDataset(ten, { ratios: [8, 1, 1] }).map((p) => p.length)).toEqual([8, 1, 1]);
    expect(partitionDataset([0, 1, 2], { ratios: [1, 1] })).toEqual([[0, 1], [2]]);
    expect(partitionDataset([0, 1, 2], { ratios: [3, 3, 3, 1] })).toEqual([[0], [1], [2], []]);
    const order = new Rng(42).permutation(10);
    expect(partitionDataset(ten, { ratios: [7, 3], shuffle: true, seed: 42 })).toEqual([order.slice(0, 7), order.slice(7)]);
    expect(partitionDataset(ten, { numPartitions: 3, shuffle: true, seed: 42 })).toEqual([0, 1, 2].map((p) => order.filter((_, k) => k % 3 === p)));
    expect(partitionDataset(ten, { numPartitions: 3, shuffle: true })).toEqual(partitionDataset(ten, { numPartitions: 3, shuffle: true, seed: 0 }));
  });

  it('clear errors', () => {
    expect(() => partitionDataset(data)).toThrow(/partitionDataset: give ratios or numPartitions/);
    expect(() => partitionDataset(data, { numPartitions: 2, dropLast: true })).toThrow(/dropLast only applies with evenDivisible true/);
    expect(() => partitionDataset(data, { numPartitions: 6 })).toThrow(/partitionDataset: 5 items cannot be split into 6 partitions/);
    expect(() => partitionDataset(data, { numPartitions: 0 })).toThrow(/numPartitions must be a positive integer, got 0/);
    expect(() => partitionDataset(data, { ratios: [1, -1] })).toThrow(/ratios must be non-negative numbers, got \[1,-1\]/);
    expect(() => partitionDataset(data, { ratios: [0, 0] })).toThrow(/ratios must not all be 0/);
    expect(() => partitionDataset('abc' as unknown as string[], { numPartitions: 1 })).toThrow(/partitionDataset: data must be an array/);
  });
});
