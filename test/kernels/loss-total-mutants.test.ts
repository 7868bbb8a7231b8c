import { describe, expect, it } from 'vitest';
import type { Backend, LossTotal } from '../../src/kernels/index.js';
import { cpuData } from '../../src/kernels/cpu/storage.js';
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

describe('lossTotal: the checks, each refusal alone and each bound accepted', () => {
  const x = cpu.upload(Float64Array.of(0.5, 0.25, 1, 0), 'float64');
  const mse = { kind: 'mse', scale: 0.5, eps: 0 } as const;
  // an MSE of two rows [x0, x1] and [x2, x3] against the row [x2, x3] shared by both (row stride 0)
  const item = { loss: mse, rows: 2, n: 2, operands: [{ input: 0, offset: 0, rowStride: 2 }, { input: 1, offset: 0, rowStride: 0 }, null] } as const;
  const ok: LossTotal = { inputs: [{ storage: x, offset: 0, length: 4 }, { storage: x, offset: 2, length: 2 }], items: [item], group: [0, -1], weights: [1, 1], groupWeights: [1] };
  const refused = (t: LossTotal, message: string) => expect(() => cpu.lossTotal(t)).toThrow(new RegExp(`^lossTotal: ${message}$`));
  const input = (offset: number, length: number) => ({ ...ok, inputs: [...ok.inputs, { storage: x, offset, length }] });
  /** one item of rows without elements: one row in each of `groups` groups, then `rows` more in group 0 */
  const many = (groups: number, rows: number): LossTotal => ({
    ...ok, items: [{ ...item, rows: groups + rows, n: 0 }],
    group: Array.from({ length: groups + rows }, (_, j) => (j < groups ? j : 0)), weights: new Array<number>(groups + rows).fill(1),
    groupWeights: new Array<number>(groups).fill(1),
  });

  it('an input: an integer offset ≥ 0 and an integer length ≥ 0 (0 accepted) within its storage', () => {
    expect(() => cpu.lossTotal(input(4, 0))).not.toThrow();
    refused(input(0.5, 2), 'an input of 2 elements from 0.5 does not fit its storage of 4');
    refused(input(-1, 2), 'an input of 2 elements from -1 does not fit its storage of 4');
    refused(input(0, 1.5), 'an input of 1.5 elements from 0 does not fit its storage of 4');
    refused(input(2, -1), 'an input of -1 elements from 2 does not fit its storage of 4');
  });

  it('a weight per row, 1 to 7 groups, each row in −1 or one of them, every group with a row', () => {
    refused({ ...ok, weights: [1] }, 'expected a group and a weight per row \\(2\\), got 2 and 1');
    refused({ ...ok, groupWeights: [] }, 'expected 1 to 7 groups, got 0');
    expect(() => cpu.lossTotal(many(7, 0))).not.toThrow();
    refused(many(8, 0), 'expected 1 to 7 groups, got 8');
    refused({ ...ok, group: [0, 1] }, "a row's group must be −1 or one of 1, got 0, 1");
    refused({ ...ok, group: [0, -2] }, "a row's group must be −1 or one of 1, got 0, -2");
    refused({ ...ok, group: [0, 0.5] }, "a row's group must be −1 or one of 1, got 0, 0.5");
    refused({ ...ok, group: [0, 0], groupWeights: [1, 1] }, 'every group needs a row, got 0, 0');
  });

  it('finite weights (one non-finite among finite ones refused), at most 60 rows and groups (60 accepted)', () => {
    refused({ ...ok, weights: [1, NaN] }, 'the weights must be finite');
    refused({ ...ok, groupWeights: [Infinity] }, 'the weights must be finite');
    expect(() => cpu.lossTotal(many(1, 58))).not.toThrow();
    refused(many(1, 59), 'at most 60 rows and groups, got 60 \\+ 1');
  });

  it('the backward: a wanted flag per input, 3 sums per row, and the gradient of a row-stride-0 operand only where it is one row', () => {
    const { sums } = cpu.lossTotal(ok), g = cpu.upload(Float64Array.of(1), 'float64');
    const backward = (t: LossTotal, s: typeof sums, wanted: boolean[]) => () => cpu.lossTotalBackward(t, s, g, wanted);
    expect(backward(ok, sums, [true])).toThrow(/^lossTotalBackward: expected a wanted flag per input \(2\), got 1$/);
    expect(backward(ok, cpu.upload(new Float64Array(5), 'float64'), [true, false])).toThrow(/^lossTotalBackward: sums has 5 elements, expected 6$/);
    // one row: its shared operand is an ordinary one, of gradient (b − a)·2·½ = [0.5, −0.25] for a = [0.5, 0.25], b = [1, 0]
    const one: LossTotal = { ...ok, items: [{ ...item, rows: 1 }], group: [0], weights: [1] };
    const grads = cpu.lossTotalBackward(one, cpu.lossTotal(one).sums, g, [false, true]);
    expect(Array.from(cpuData(grads[0]))).toEqual([0.5, -0.25]);
  });
});
