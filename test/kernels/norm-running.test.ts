import { describe, expect, it } from 'vitest';
import type { Backend, ChannelLayout, Storage } from '../../src/kernels/index.js';
import { channelChunks } from '../../src/kernels/norm/webgpu.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * moments given batch norm's running statistics updates them in its own pass: bit for bit what moments followed
 * by updateRunningStats gives, for either or both buffers, on the direct and the chunked path, on both backends.
 */

const bits = async (b: Backend, s: Storage): Promise<number[]> => {
  const data = await b.read(s);
  return Array.from(new Uint32Array(Float32Array.from(data).buffer));
};

describe('moments with the running statistics', () => {
  const layouts: ChannelLayout[] = [{ outer: 2, channels: 5, inner: 37 }, { outer: 2, channels: 3, inner: 16 * 16 * 40 + 7 }];

  it('updates them as moments then updateRunningStats do, bit for bit', async () => {
    const g = await webgpu();
    expect(layouts.map((l) => channelChunks(l.channels, l.outer * l.inner).chunks > 1)).toEqual([false, true]);
    for (const backend of [g, cpu]) {
      for (const layout of layouts) {
        const n = layout.outer * layout.channels * layout.inner, count = layout.outer * layout.inner;
        for (const [withMean, withVar] of [[true, true], [true, false], [false, true]]) {
          const x = backend.upload(randomArray(n, 3, -1, 3), 'float32');
          const start = [randomArray(layout.channels, 4, -1, 1), randomArray(layout.channels, 5, 0.1, 2)];
          const [rm, rv, sm, sv] = [0, 1, 0, 1].map((i) => backend.upload(start[i]!, 'float32'));
          const fused = backend.moments(x, layout, { mean: withMean ? rm : null, variance: withVar ? rv : null, momentum: 0.1, count });
          const apart = backend.moments(x, layout);
          backend.updateRunningStats(withMean ? sm : null, withVar ? sv : null, apart, 0.1, count);
          const what = `${backend.name} ${JSON.stringify(layout)} mean ${withMean} var ${withVar}`;
          expect(await bits(backend, fused.mean), what).toEqual(await bits(backend, apart.mean));
          expect(await bits(backend, fused.variance), what).toEqual(await bits(backend, apart.variance));
          expect(await bits(backend, rm), what).toEqual(await bits(backend, sm));
          expect(await bits(backend, rv), what).toEqual(await bits(backend, sv));
          expect(await bits(backend, withMean ? rm : rv), what).not.toEqual(Array.from(new Uint32Array(start[withMean ? 0 : 1]!.buffer)));
          for (const s of [x, rm, rv, sm, sv, fused.mean, fused.variance, apart.mean, apart.variance]) backend.free(s);
        }
      }
    }
  });

  it('checks them as updateRunningStats does', async () => {
    const g = await webgpu();
    for (const backend of [g, cpu]) {
      const x = backend.upload(randomArray(12, 1, -1, 1), 'float32'), k = backend.upload(randomArray(3, 2, 0, 1), 'float32');
      const layout = { outer: 2, channels: 3, inner: 2 };
      expect(() => backend.moments(x, layout, { mean: k, variance: x, momentum: 0.1, count: 4 })).toThrow(/moments: a statistic has 12 elements, expected 3/);
      expect(() => backend.moments(x, layout, { mean: k, variance: k, momentum: 0.1, count: 1 })).toThrow(/moments: the count of the batch statistics must be > 1/);
      backend.free(x);
      backend.free(k);
    }
  });
});
