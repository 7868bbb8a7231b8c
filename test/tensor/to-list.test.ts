import { describe, expect, it } from 'vitest';
import { transpose, unsqueeze } from '../../src/autograd/index.js';
import { dispose, fromArray, scalar } from '../../src/tensor/index.js';
import { cpu, webgpu } from '../helpers/backends.js';

describe('reading tensors back', () => {
  it('toArray()\'s typed array supports reduce without Array.from (this file type-checks under tsc)', async () => {
    const x = fromArray([1, 2, 3, 4], [2, 2], { backend: cpu });
    const ints = fromArray(Int32Array.from([5, -1]), [2], { backend: cpu });
    const values = await x.toArray();
    const total: number = values.reduce((s, v) => s + v, 0);
    const largest: number = (await ints.toArray()).reduce((m, v) => Math.max(m, v));
    const labels: string[] = values.reduce<string[]>((out, v, i) => [...out, `${i}:${v}`], []);
    expect([total, largest, labels]).toEqual([10, 5, ['0:1', '1:2', '2:3', '3:4']]);
    expect(values).toBeInstanceOf(Float32Array);
    dispose([x, ints]);
  });

  it('toList() nests one array per dimension and gives a number for a 0-d tensor (torch.Tensor.tolist), views included', async () => {
    for (const backend of [cpu, await webgpu()]) {
      const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3], { backend });
      expect(await x.toList()).toEqual([[1, 2, 3], [4, 5, 6]]);
      const xt = transpose(x), t = unsqueeze(xt, 0);
      expect(await t.toList()).toEqual([[[1, 4], [2, 5], [3, 6]]]);
      const s = scalar(2.5, { backend });
      expect(await s.toList()).toBe(2.5);
      const empty = fromArray([], [2, 0], { backend });
      expect(await empty.toList()).toEqual([[], []]);
      dispose([x, xt, t, s, empty]);
    }
  });
});
