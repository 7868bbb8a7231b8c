import { describe, expect, it } from 'vitest';
import { AsDiscrete, DataLoader, Dataset, RandGaussianNoise, decollateBatch, type Batch } from '../../src/imaging.js';
import type { Backend } from '../../src/kernels/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import type { Volume } from '../../src/imaging/volume.js';
import { cpu, webgpu } from '../helpers/backends.js';

/** The DataLoader's batches on WebGPU: the cpu batch's values, decollated into per-sample tensors on the GPU. */

interface Sample { image: Volume<Float32Array>; label: Volume<Uint8Array> }

const sample = (i: number): Sample => ({
  image: { data: Float32Array.from({ length: 8 }, (_, k) => Math.sin(i * 8 + k)), shape: [2, 2, 2] },
  label: { data: Uint8Array.from({ length: 8 }, (_, k) => (k + i) % 3), shape: [2, 2, 2] },
});

describe('DataLoader on WebGPU', () => {
  it('collates onto the chosen backend the cpu batch\'s values; decollated samples go through a post transform there', async () => {
    const g = await webgpu();
    const ds = new Dataset<Sample>([0, 1, 2].map(sample), new RandGaussianNoise({ keys: 'image', prob: 1 }));
    const run = async (backend: Backend) => {
      const batches: Batch<Sample>[] = [];
      for await (const b of new DataLoader(ds, { batchSize: 2, shuffle: true, seed: 1, backend })) batches.push(b);
      const read = async (t: Tensor) => ({ backend: t.backend.name, shape: t.shape, values: Array.from(await t.toArray()) });
      const oneHot = decollateBatch(batches[0]!).map((s) => new AsDiscrete({ toOnehot: 3 }).apply(s.label));
      return { images: await Promise.all(batches.map((b) => read(b.image))), labels: await Promise.all(batches.map((b) => read(b.label))), oneHot: await Promise.all(oneHot.map(read)) };
    };
    const [onGpu, onCpu] = [await run(g), await run(cpu)];
    expect(onGpu.images.map((i) => i.backend)).toEqual(['webgpu', 'webgpu']);
    expect(onGpu.oneHot.map((o) => [o.backend, o.shape])).toEqual([['webgpu', [3, 2, 2, 2]], ['webgpu', [3, 2, 2, 2]]]);
    const values = (r: typeof onCpu) => ({ images: r.images.map((i) => [i.shape, i.values]), labels: r.labels.map((i) => [i.shape, i.values]), oneHot: r.oneHot.map((o) => o.values) });
    expect(values(onGpu)).toEqual(values(onCpu));
  });
});
