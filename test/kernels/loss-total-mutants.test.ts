import { describe, expect, it } from 'vitest';
import type { Backend, LossTotal } from '../../src/kernels/index.js';
import { cpu, webgpu } from '../helpers/backends.js';

/**
 * lossTotal's behaviours the random-layout tests in loss-total.test.ts leave open (found by mutation testing): a row in
 * no group (a logged term) gives no gradient even where its own would be NaN, and the messages name the op that refused.
 * The values are by hand: an MSE (scale ½) of a = [0.5, 0.25], b = [0, 1] in group 0 of weight 2, and a BCE of
 * x = [∞], y = [0] in no group (its value softplus(∞) = ∞, its y-gradient −x·0 = NaN if it were taken).
 */
function logged(b: Backend): LossTotal {
  const upload = (...v: number[]) => ({ storage: b.upload(Float64Array.from(v), 'float32'), offset: 0, length: v.length });
  return {
    inputs: [upload(0.5, 0.25), upload(0, 1), upload(Infinity), upload(0)],
    items: [
      { loss: { kind: 'mse', scale: 0.5, eps: 0 }, rows: 1, n: 2, operands: [{ input: 0, offset: 0, rowStride: 2 }, { input: 1, offset: 0, rowStride: 2 }, null] },
      { loss: { kind: 'bce', scale: 1 }, rows: 1, n: 1, operands: [{ input: 2, offset: 0, rowStride: 1 }, { input: 3, offset: 0, rowStride: 1 }, null] },
    ],
    group: [0, -1], weights: [1, 1], groupWeights: [2],
  };
}

async function valuesAndGradients(b: Backend): Promise<number[][]> {
  const total = logged(b);
  const { values, sums } = b.lossTotal(total);
  const grads = b.lossTotalBackward(total, sums, b.upload(Float32Array.of(1), 'float32'), [true, true, true, true]);
  return Promise.all([values, ...grads].map(async (s) => Array.from(await b.read(s))));
}

// MSE = ½(0.5² + 0.75²) = 0.40625, total 2·0.40625; ∂total/∂a = 2·½·2·(a − b) = [1, −1.5], ∂/∂b its negative
const EXPECTED = [[0.40625, Infinity, 0.40625, 0.8125], [1, -1.5], [-1, 1.5], [0], [0]];

describe('lossTotal: a row in no group', () => {
  it('is logged with its value (∞ here) and gives its inputs no gradient, not 0·(its NaN gradient)', async () => {
    expect(await valuesAndGradients(cpu)).toEqual(EXPECTED);
  });

  it('the same on WebGPU', async () => {
    expect(await valuesAndGradients(await webgpu())).toEqual(EXPECTED);
  });
});

describe('lossTotal: refusals name the op', () => {
  it("the forward's as lossTotal, the backward's as lossTotalBackward", () => {
    const total = logged(cpu);
    expect(() => cpu.lossTotal({ ...total, items: [] })).toThrow(/^lossTotal: expected at least one item$/);
    const { sums } = cpu.lossTotal(total);
    const g = cpu.upload(Float32Array.of(1), 'float32');
    expect(() => cpu.lossTotalBackward({ ...total, items: [] }, sums, g, [true, true, true, true])).toThrow(/^lossTotalBackward: expected at least one item$/);
  });
});
