import { describe, expect, it } from 'vitest';
import { layerNorm } from '../../src/autograd/index.js';
import { LayerNorm } from '../../src/models/index.js';
import { fromArray } from '../../src/tensor/index.js';
import { cpu, expectClose, valuesOf } from '../helpers/backends.js';

/** nn.LayerNorm(bias=False) (PyTorch ≥ 2.1) and F.layerNorm with one number as the normalized shape. */

describe('LayerNorm options', () => {
  it('bias: false keeps the weight only; the state holds no bias', async () => {
    const layer = new LayerNorm(4, { bias: false, backend: cpu });
    expect(layer.weight?.shape).toEqual([4]);
    expect(layer.bias).toBeNull();
    expect(layer.namedParameters().map(([name]) => name)).toEqual(['weight']);
    const x = fromArray([1, 2, 3, 6], [1, 4], { backend: cpu, dtype: 'float32' });
    // mean 3, biased variance (4 + 1 + 0 + 9)/4 = 3.5
    const want = [1, 2, 3, 6].map((v) => (v - 3) / Math.sqrt(3.5 + 1e-5));
    expectClose(await valuesOf(layer.forward(x)), want, 1e-6, 0);
    expect(new LayerNorm(4, { elementwiseAffine: false, bias: true, backend: cpu }).namedParameters()).toEqual([]);
  });

  it('F.layerNorm takes one number as the last axis', async () => {
    const x = fromArray([1, 2, 3, 6, 0, 0, 1, 1], [2, 4], { backend: cpu, dtype: 'float64' });
    expect(await valuesOf(layerNorm(x, 4))).toEqual(await valuesOf(layerNorm(x, [4])));
  });
});
