import { afterAll, describe, expect, it } from 'vitest';
import { DataLoader } from '../../src/imaging.js';
import type { Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { createDataset } from '../fixtures/dataset-module.js';

/** The DataLoader's worker threads: each makes the dataset from a module and gives the items the calling thread would. */

const module = new URL('../fixtures/dataset-module.ts', import.meta.url);
const loaders: DataLoader[] = [];
afterAll(async () => { await Promise.all(loaders.map((l) => l.close())); });

function loader(n: number, opts: ConstructorParameters<typeof DataLoader>[1] = {}, args: unknown[] = [n]): DataLoader {
  const l = new DataLoader(createDataset(n), { backend: cpu, workerDataset: { module, args }, ...opts });
  loaders.push(l);
  return l;
}

async function collect(l: DataLoader): Promise<{ ids: unknown[]; images: number[][] }> {
  const ids: unknown[] = [], images: number[][] = [];
  for await (const batch of l) {
    ids.push(batch.id);
    images.push(Array.from(await (batch.image as Tensor).toArray()));
  }
  return { ids, images };
}

describe('DataLoader workers', () => {
  it('give the batches of the calling thread, over two epochs, shuffled; an async factory works too', async () => {
    const opts = { batchSize: 3, shuffle: true, seed: 11 };
    const plain = new DataLoader(createDataset(7), { ...opts, backend: cpu });
    const threaded = loader(7, { ...opts, workers: 2 });
    expect(threaded.prefetch).toBe(4);
    for (let epoch = 0; epoch < 2; epoch++) expect(await collect(threaded)).toEqual(await collect(plain));
    const later = loader(7, { ...opts, workers: 1, workerDataset: { module, export: 'createDatasetLater', args: [7] } });
    expect(await collect(later)).toEqual(await collect(new DataLoader(createDataset(7), { ...opts, backend: cpu, generator: undefined, seed: 11 })));
  }, 60_000);

  it('an item that fails in a worker is reported at its batch, naming the item and the problem', async () => {
    const got: unknown[] = [];
    await expect((async () => {
      for await (const batch of loader(6, { batchSize: 2, workers: 2 }, [6, { failAt: 3 }])) got.push(batch.id);
    })()).rejects.toThrow(/DataLoader: Dataset: item 3: .*cannot read case3/);
    expect(got).toEqual([['case0', 'case1']]);
    await expect(collect(loader(4, { batchSize: 2, workers: 1 }, [4, { mapAt: 2 }])))
      .rejects.toThrow(/DataLoader: item 2 cannot be sent back from a worker thread: 'meta' is a Map/);
  }, 60_000);

  it('a worker that exits fails the batch and every later one, naming the worker', async () => {
    const l = loader(4, { batchSize: 1, workers: 1, prefetch: 1 }, [4, { exitAt: 1 }]);
    const it = l[Symbol.asyncIterator]();
    expect((await it.next()).value?.id).toEqual(['case0']);
    await expect(it.next()).rejects.toThrow(/DataLoader: worker 0 exited with code 3/);
    await expect(collect(l)).rejects.toThrow(/DataLoader: the DataLoader's workers stopped: worker 0 exited with code 3/);
    await l.close();
    expect((await collect(loader(2, { batchSize: 1, workers: 1 }))).ids).toEqual([['case0'], ['case1']]);
  }, 60_000);

  it('a module that does not make the dataset is an error naming the module and the export', async () => {
    await expect(collect(loader(2, { workers: 1, workerDataset: { module, export: 'missing' } })))
      .rejects.toThrow(/dataset-module\.ts has no function export 'missing' \(its functions: createDataset, createDatasetLater\)/);
    await expect(collect(loader(2, { workers: 1 }, [5]))).rejects.toThrow(/the dataset createDataset\(…\) made in the worker has 5 items, the DataLoader's has 2/);
  }, 60_000);

  it('clear errors when it is made: no workerDataset, a missing module, bad counts', () => {
    const ds = createDataset(2);
    expect(() => new DataLoader(ds, { workers: 2 })).toThrow(/DataLoader: workers need workerDataset, a module that makes the dataset in each worker/);
    expect(() => new DataLoader(ds, { workers: 1, workerDataset: { module: 'no/such/module.ts' } })).toThrow(/DataLoader: workerDataset\.module .*no\/such\/module\.ts does not exist/);
    expect(() => new DataLoader(ds, { workers: 1, workerDataset: { module: 'https://example.com/x.js' } })).toThrow(/workerDataset\.module must be a file/);
    expect(() => new DataLoader(ds, { workers: -1 })).toThrow(/DataLoader: workers must be a non-negative integer, got -1/);
    expect(() => new DataLoader(ds, { workers: 1, prefetch: 0, workerDataset: { module } })).toThrow(/DataLoader: prefetch must be a positive \(with workers\) integer, got 0/);
  });
});
