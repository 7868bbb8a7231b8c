import { describe, expect, it } from 'vitest';
import {
  CacheDataset, DataLoader, Dataset, Lambda, RandGaussianNoise, ThreadDataLoader, type LambdaVolume,
} from '../../src/imaging.js';
import type { Tensor } from '../../src/tensor/index.js';
import type { Volume } from '../../src/imaging/volume.js';
import { cpu } from '../helpers/backends.js';

/** DataLoader's prefetch and MONAI's ThreadDataLoader (batches transformed while the loop awaits, the same batches); CacheDataset's progress bar. */

interface Sample { image: Volume<Float32Array>; id: string }

const sample = (i: number): Sample => ({ image: { data: Float32Array.from({ length: 8 }, (_, k) => 8 * i + k), shape: [2, 2, 2] }, id: `case${i}` });

/** A dataset of n samples whose transform records which items it has transformed, then adds noise. */
function recording(n: number, fail?: number): { dataset: Dataset<Sample>; transformed: number[] } {
  const transformed: number[] = [];
  const dataset = new Dataset<Sample>(Array.from({ length: n }, (_, i) => sample(i)), [
    new Lambda({
      keys: 'image',
      func: (v: LambdaVolume) => {
        const item = Math.floor((v.data as Float32Array)[0]! / 8);
        if (item === fail) throw new Error(`cannot read case${item}`);
        transformed.push(item);
        return v;
      },
    }),
    new RandGaussianNoise({ keys: 'image', prob: 1, std: 1 }),
  ]);
  return { dataset, transformed };
}

/** lets the event loop run the callbacks queued so far (setImmediate runs them in order) */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function collect(loader: DataLoader<Sample>): Promise<{ ids: string[][]; images: number[][] }> {
  const ids: string[][] = [], images: number[][] = [];
  for await (const batch of loader) {
    ids.push(batch.id as string[]);
    images.push(Array.from(await (batch.image as Tensor).toArray()));
  }
  return { ids, images };
}

describe('DataLoader prefetch', () => {
  it('gives the same batches as without it, for any prefetch, shuffled or not, with a short last batch', async () => {
    for (const shuffle of [false, true]) {
      const opts = { batchSize: 3, shuffle, seed: 7, backend: cpu };
      const plain = await collect(new DataLoader(recording(8).dataset, opts));
      expect(plain.ids.map((b) => b.length)).toEqual([3, 3, 2]);
      for (const prefetch of [1, 2, 5]) expect(await collect(new DataLoader(recording(8).dataset, { ...opts, prefetch }))).toEqual(plain);
    }
  });

  it('transforms the next batch while the loop awaits, and not further than prefetch', async () => {
    const { dataset, transformed } = recording(8);
    const loader = new DataLoader(dataset, { batchSize: 2, prefetch: 2, backend: cpu });
    const it = loader[Symbol.asyncIterator]();
    await it.next();
    expect(transformed).toEqual([0, 1]);
    await turn();
    expect(transformed).toEqual([0, 1, 2, 3, 4, 5]);
    await turn();
    expect(transformed).toEqual([0, 1, 2, 3, 4, 5]);
    await it.next();
    await turn();
    expect(transformed).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await it.return(undefined);
  });

  it('without prefetch, a batch is transformed only when asked for', async () => {
    const { dataset, transformed } = recording(4);
    const it = new DataLoader(dataset, { batchSize: 2, backend: cpu })[Symbol.asyncIterator]();
    await it.next();
    await turn();
    expect(transformed).toEqual([0, 1]);
    await it.return(undefined);
  });

  it('an item that fails is reported at its own batch, after the batches before it; leaving early transforms no more', async () => {
    const { dataset } = recording(6, 3);
    const got: string[][] = [];
    await expect((async () => {
      for await (const batch of new DataLoader(dataset, { batchSize: 2, prefetch: 2, backend: cpu })) got.push(batch.id as string[]);
    })()).rejects.toThrow(/Dataset: item 3: .*cannot read case3/);
    expect(got).toEqual([['case0', 'case1']]);
    const { dataset: ok, transformed } = recording(8);
    for await (const batch of new DataLoader(ok, { batchSize: 2, prefetch: 1, backend: cpu })) {
      expect(batch.id).toEqual(['case0', 'case1']);
      break;
    }
    const before = transformed.length;
    await turn();
    await turn();
    expect(transformed.length).toBe(before);
  });

  it('refuses a prefetch that is not a non-negative integer', () => {
    const { dataset } = recording(2);
    for (const prefetch of [-1, 1.5, Number.NaN]) expect(() => new DataLoader(dataset, { prefetch })).toThrow(/DataLoader: prefetch must be a non-negative integer, got/);
  });
});

describe('ThreadDataLoader', () => {
  it('gives each batch repeats times (the same object), prepares bufferSize batches ahead, and has the length to match', async () => {
    const { dataset, transformed } = recording(4);
    const loader = new ThreadDataLoader(dataset, { batchSize: 2, repeats: 3, backend: cpu });
    expect(loader.length).toBe(6);
    expect(loader.prefetch).toBe(1);
    const batches = [];
    for await (const batch of loader) {
      batches.push(batch);
      await turn();
    }
    expect(batches.map((b) => b.id)).toEqual([...Array(3).fill(['case0', 'case1']), ...Array(3).fill(['case2', 'case3'])]);
    expect(await (batches[1]!.image as Tensor).toArray()).toEqual(await (batches[0]!.image as Tensor).toArray());
    expect(transformed).toEqual([0, 1, 2, 3]);
    const plain = await collect(new DataLoader(recording(4).dataset, { batchSize: 2, backend: cpu }));
    const threaded = await collect(new ThreadDataLoader(recording(4).dataset, { batchSize: 2, backend: cpu }));
    expect(threaded).toEqual(plain);
  });

  it('a loop that disposes each batch after its step still gets the next repeat alive (views of one storage)', async () => {
    const { dataset } = recording(2);
    const seen: number[][] = [];
    for await (const batch of new ThreadDataLoader(dataset, { batchSize: 2, repeats: 3, backend: cpu })) {
      const image = batch.image as Tensor;
      seen.push(Array.from(await image.toArray()));
      image.dispose();
    }
    expect(seen).toHaveLength(3);
    expect(seen[2]).toEqual(seen[0]);
  });

  it('clear errors for bufferSize and repeats', () => {
    const { dataset } = recording(2);
    expect(() => new ThreadDataLoader(dataset, { bufferSize: -1 })).toThrow(/ThreadDataLoader: bufferSize must be a non-negative integer, got -1/);
    expect(() => new ThreadDataLoader(dataset, { repeats: 0 })).toThrow(/ThreadDataLoader: repeats must be a positive integer, got 0/);
  });
});

describe('CacheDataset progress', () => {
  it('draws a progress bar while the constructor caches, when asked (or on a terminal), and not with runtimeCache', () => {
    let text = '';
    const stream = { write: (s: string) => { text += s; }, isTTY: false };
    const samples = Array.from({ length: 4 }, (_, i) => sample(i));
    new CacheDataset(samples, [], { progress: stream });
    expect(text).toMatch(/Loading dataset.*4\/4/);
    text = '';
    new CacheDataset(samples, [], { progress: stream, runtimeCache: true });
    new CacheDataset(samples, [], { progress: false });
    expect(text).toBe('');
  });
});
