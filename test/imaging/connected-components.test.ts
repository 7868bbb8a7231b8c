import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeepLargestConnectedComponent } from '../../src/imaging.js';
import { connectedComponents, largestComponents, largestConnectedComponent, type Connectivity } from '../../src/imaging/metrics.js';
import type { Shape3 } from '../../src/imaging/volume.js';
import type { Backend } from '../../src/kernels/index.js';
import { fromArray } from '../../src/tensor/index.js';
import { cpu, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * skimage's `label` with connectivity 1–3 (against union-find over every voxel pair), MONAI's
 * get_largest_connected_component_mask with numComponents, and MONAI's KeepLargestConnectedComponent with its
 * docstring's examples.
 */
function unionFindLabels(mask: Uint8Array, [X, Y, Z]: Shape3, connectivity: number): Int32Array {
  const n = mask.length, parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const at = (i: number) => [Math.floor(i / (Y * Z)), Math.floor(i / Z) % Y, i % Z];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (!mask[i] || !mask[j]) continue;
      const [a, b] = [at(i), at(j)];
      const d = a.map((v, k) => Math.abs(v - b[k]!));
      if (Math.max(...d) === 1 && d.filter((v) => v === 1).length <= connectivity) parent[find(i)] = find(j);
    }
  }
  // relabel by first voxel in C order
  const ids = new Map<number, number>(), out = new Int32Array(n);
  for (let i = 0; i < n; i++) if (mask[i]) out[i] = ids.get(find(i)) ?? (ids.set(find(i), ids.size + 1), ids.size);
  void X;
  return out;
}

const volume = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }))
  .chain((shape) => fc.tuple(fc.constant(shape as Shape3), fc.uint8Array({ minLength: shape[0] * shape[1] * shape[2], maxLength: shape[0] * shape[1] * shape[2], max: 1 })));

describe('connectedComponents and largestComponents', () => {
  it('label like union-find for connectivity 1, 2 and 3, numbered by first voxel, with their sizes', () => {
    fc.assert(fc.property(volume, fc.constantFrom<Connectivity>(1, 2, 3), ([shape, mask], connectivity) => {
      const { labels, sizes } = connectedComponents(mask, shape, connectivity);
      const want = unionFindLabels(mask, shape, connectivity);
      expect(Array.from(labels)).toEqual(Array.from(want));
      expect(sizes).toEqual(Array.from({ length: sizes.length }, (_, id) => (id === 0 ? 0 : want.filter((v) => v === id).length)));
    }), propertyOptions(80));
  });

  it('keep the k largest; ties go to the component met first; the default is the old largestConnectedComponent', () => {
    // along z: sizes 1, 3, 2, 3 (6-connected runs separated by zeros)
    const mask = Uint8Array.from([1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1]);
    const shape: Shape3 = [1, 1, 12];
    expect(Array.from(largestComponents(mask, shape))).toEqual([0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(largestComponents(mask, shape, 2))).toEqual([0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1]);
    expect(Array.from(largestComponents(mask, shape, 3))).toEqual([0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1]);
    expect(Array.from(largestComponents(mask, shape, 9))).toEqual(Array.from(mask));
    expect(Array.from(largestConnectedComponent(mask, shape))).toEqual(Array.from(largestComponents(mask, shape)));
    // two voxels touching at a corner: one component with 26 neighbours, two with 6 or 18
    const corner = new Uint8Array(8);
    corner[0] = corner[7] = 1;
    expect(connectedComponents(corner, [2, 2, 2], 3).sizes).toEqual([0, 2]);
    expect(connectedComponents(corner, [2, 2, 2], 2).sizes).toEqual([0, 1, 1]);
    // five equal singletons: the first ones in C order are kept
    expect(Array.from(largestComponents(Uint8Array.from([1, 0, 1, 0, 1, 0, 1, 0, 1]), [1, 1, 9], 2))).toEqual([1, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(largestComponents(Uint8Array.from([1, 0, 1, 0, 1, 0, 1, 0, 1]), [1, 1, 9], 4))).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 0]);
    expect(() => connectedComponents(corner, [2, 2, 3])).toThrow(/^connectedComponents: arrays do not match shape \[2, 2, 3\]/);
    expect(() => connectedComponents(corner, [2, 2, 2], 4 as never)).toThrow(/^connectedComponents: connectivity must be 1, 2 or 3 \(orthogonal hops in 3-D\), got 4$/);
    expect(() => largestComponents(corner, [2, 2, 2], 0)).toThrow(/^largestComponents: numComponents must be a positive integer, got 0$/);
  });
});

describe("MONAI's KeepLargestConnectedComponent", () => {
  // MONAI's docstring examples, 5 × 5 as [1, 5, 5, 1]
  const image = [0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 1, 2, 1, 0, 0, 1, 2, 0, 1, 0, 2, 2, 0, 0, 2];
  const run = async (values: number[], options: ConstructorParameters<typeof KeepLargestConnectedComponent>[0], shape = [1, 5, 5, 1], backend: Backend = cpu) => {
    const out = await new KeepLargestConnectedComponent(options).apply(fromArray(values, shape, { backend }));
    expect(out.shape).toEqual(shape);
    return Array.from(await out.toArray());
  };

  it('the docstring examples: applied labels, independent or their union, connectivity 1 and 2', async () => {
    expect(await run([1, 0, 0, 0, 1, 1, 0, 1, 1], { appliedLabels: [1], isOnehot: false, connectivity: 1 }, [1, 3, 3, 1])).toEqual([0, 0, 0, 0, 1, 1, 0, 1, 1]);
    expect(await run(image, { appliedLabels: [1, 2], isOnehot: false, independent: false, connectivity: 1 }))
      .toEqual([0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 1, 2, 1, 0, 0, 1, 2, 0, 0, 0, 2, 2, 0, 0, 0]);
    expect(await run(image, { appliedLabels: [1, 2], isOnehot: false, independent: true, connectivity: 1 }))
      .toEqual([0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 0, 2, 1, 0, 0, 0, 2, 0, 0, 0, 2, 2, 0, 0, 0]);
    expect(await run(image, { appliedLabels: [1, 2], isOnehot: false, independent: false, connectivity: 2 })).toEqual(image);
  });

  it('one-hot channels give what the class map gives, channel by channel; labels default to those present; on WebGPU too', async () => {
    const onehot = [0, 1, 2].flatMap((c) => image.map((v) => (v === c ? 1 : 0)));
    for (const independent of [true, false]) {
      const byMap = await run(image, { independent, connectivity: 1 });
      const byChannels = await run(onehot, { independent, connectivity: 1, appliedLabels: [1, 2] }, [3, 5, 5, 1]);
      expect(byChannels.slice(25, 50)).toEqual(byMap.map((v) => (v === 1 ? 1 : 0)));
      expect(byChannels.slice(50)).toEqual(byMap.map((v) => (v === 2 ? 1 : 0)));
      expect(byChannels.slice(0, 25)).toEqual(onehot.slice(0, 25)); // background untouched
      expect(await run(onehot, { independent, connectivity: 1 }, [3, 5, 5, 1])).toEqual(byChannels); // isOnehot and labels inferred
    }
    expect(await run(image, { connectivity: 1 }, [1, 5, 5, 1], await webgpu())).toEqual(await run(image, { connectivity: 1 }));
  });

  it('numComponents keeps more; the input tensor is left as it was; errors name the input', async () => {
    // sizes 1, 2, 1: the two largest are the pair and, of the equal singles, the first
    expect(await run([1, 0, 1, 1, 0, 1], { numComponents: 2 }, [1, 1, 6, 1])).toEqual([1, 0, 1, 1, 0, 0]);
    expect(await run([1, 0, 1, 1, 0, 1], { numComponents: 3 }, [1, 1, 6, 1])).toEqual([1, 0, 1, 1, 0, 1]);
    expect(await run([1, 0, 1, 1, 0, 1], {}, [1, 1, 6, 1])).toEqual([0, 0, 1, 1, 0, 0]);
    const input = fromArray([1, 0, 1, 1], [1, 1, 4, 1], { backend: cpu });
    await new KeepLargestConnectedComponent().apply(input);
    expect(Array.from(await input.toArray())).toEqual([1, 0, 1, 1]);
    const keep = new KeepLargestConnectedComponent();
    await expect(keep.apply(fromArray([1, 0], [2, 1], { backend: cpu }))).rejects.toThrow(/^KeepLargestConnectedComponent: expected one case \[C, X, Y, Z\], got \[2, 1\]$/);
    await expect(new KeepLargestConnectedComponent({ isOnehot: false }).apply(fromArray([1, 0], [2, 1, 1, 1], { backend: cpu })))
      .rejects.toThrow(/^KeepLargestConnectedComponent: a class map has one channel, got \[2, 1, 1, 1\] \(isOnehot false\)$/);
    await expect(new KeepLargestConnectedComponent({ appliedLabels: 3 }).apply(fromArray([1, 0], [2, 1, 1, 1], { backend: cpu })))
      .rejects.toThrow(/^KeepLargestConnectedComponent: appliedLabels 3 is not a channel of \[2, 1, 1, 1\] \(one-hot\)$/);
    expect(() => new KeepLargestConnectedComponent({ connectivity: 0 as never })).toThrow(/^KeepLargestConnectedComponent: connectivity must be 1, 2 or 3/);
    expect(() => new KeepLargestConnectedComponent({ numComponents: 1.5 })).toThrow(/^KeepLargestConnectedComponent: numComponents must be a positive integer, got 1.5$/);
    expect(() => new KeepLargestConnectedComponent({ appliedLabels: [NaN] })).toThrow(/^KeepLargestConnectedComponent: appliedLabels must be numbers/);
  });
});
