import { describe, expect, it } from 'vitest';
import type { Backend, RowLoss, RowLossInputs, RowOperand, Storage, WeightedTerm } from '../../src/kernels/index.js';
import { cpuData } from '../../src/kernels/cpu/storage.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

/**
 * The edges of the row losses and the weighted sums (kernels/loss) on the cpu oracle: every check names what it got;
 * rows that lie apart or are shared give the losses of the same rows packed; the gradients by hand where a
 * constant matters (the weighted MSE's eps, BCE at large negative and positive logits, L1 at a tie); the weighted
 * sum's edge terms; on WebGPU the layouts and kernel variants the DBiSL step reaches. Expected values are the
 * formulas by hand.
 */

const f64 = (...v: number[]): Storage => cpu.upload(Float64Array.from(v), 'float64');
const read = (s: Storage): number[] => Array.from(cpuData(s));
const op = (storage: Storage, offset = 0, rowStride = 2): RowOperand => ({ storage, offset, rowStride });
const sigma = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** two operands of one row of two elements, no weight */
const pair = (): RowLossInputs => ({ rows: 1, n: 2, operands: [op(f64(1, 2)), op(f64(0, 4)), null] });

describe('rowLoss: its checks name what they got', () => {
  it('rows and row length must be integers ≥ 0', () => {
    expect(() => cpu.rowLoss({ kind: 'l1', scale: 1 }, { ...pair(), rows: -1 })).toThrow('rowLoss: rows -1 and row length 2 must be integers ≥ 0');
    expect(() => cpu.rowLoss({ kind: 'l1', scale: 1 }, { ...pair(), rows: 0.5 })).toThrow('rowLoss: rows 0.5 and row length 2 must be integers ≥ 0');
    expect(() => cpu.rowLoss({ kind: 'l1', scale: 1 }, { ...pair(), n: -2 })).toThrow('rowLoss: rows 1 and row length -2 must be integers ≥ 0');
    expect(() => cpu.rowLoss({ kind: 'l1', scale: 1 }, { ...pair(), n: 1.5 })).toThrow('rowLoss: rows 1 and row length 1.5 must be integers ≥ 0');
  });

  it('an unknown kind, a smooth that is not finite, a scale that is NaN (∞ is 1/n of an empty mean)', () => {
    expect(() => cpu.rowLoss({ kind: 'huber' } as unknown as RowLoss, pair())).toThrow("rowLoss: unknown loss 'huber'");
    expect(() => cpu.rowLoss({ kind: 'dice', smooth: Infinity }, pair())).toThrow(/rowLoss: the constants of a 'dice' loss must be numbers .*"smooth":null/);
    expect(() => cpu.rowLoss({ kind: 'dice', smooth: NaN }, pair())).toThrow(/'dice' loss must be numbers/);
    for (const kind of ['bce', 'l1', 'mse'] as const) {
      expect(() => cpu.rowLoss({ kind, scale: NaN, eps: 1e-8 }, pair()), kind).toThrow(`rowLoss: the constants of a '${kind}' loss must be numbers`);
    }
    // an infinite scale is allowed: the mean of no elements (0·∞ = NaN as the composed mean gives)
    const empty = cpu.rowLoss({ kind: 'l1', scale: Infinity }, { rows: 1, n: 0, operands: [op(f64(), 0, 0), op(f64(), 0, 0), null] });
    expect(read(empty.loss)).toEqual([NaN]);
  });

  it('an operand at a negative or fractional offset, of integer dtype, or of another float dtype is refused, named', () => {
    const [a, b] = pair().operands;
    expect(() => cpu.rowLoss({ kind: 'l1', scale: 1 }, { ...pair(), operands: [a, op(b.storage, -1), null] }))
      .toThrow('rowLoss: b [1, 2] at offset -1 (row stride 2) overruns its 2 elements');
    expect(() => cpu.rowLoss({ kind: 'mse', scale: 1, eps: 0 }, { ...pair(), operands: [op(f64(1, 2, 3), 0.5), b, null] }))
      .toThrow('rowLoss: a [1, 2] at offset 0.5 (row stride 2) overruns its 3 elements');
    const ints = cpu.upload(Int32Array.of(1, 2), 'int32');
    expect(() => cpu.rowLoss({ kind: 'l1', scale: 1 }, { ...pair(), operands: [op(ints), op(ints), null] }))
      .toThrow('rowLoss: operands must share one floating-point dtype, got int32, int32');
  });

  it('no rows: empty losses and sums', () => {
    const out = cpu.rowLoss({ kind: 'mse', scale: 1, eps: 1e-8 }, { ...pair(), rows: 0 });
    expect([out.loss.length, out.sums.length]).toEqual([0, 0]);
  });

  it('rows of no elements need no storage, whatever their stride', () => {
    const none = f64();
    const out = cpu.rowLoss({ kind: 'dice', smooth: 1 }, { rows: 2, n: 0, operands: [op(none, 0, 5), op(none, 0, 0), op(none, 0, 3)] });
    // 1 − (0 + 1)/(0 + 0 + 1) = 0 per row
    expect(read(out.loss)).toEqual([0, 0]);
  });
});

describe('rowLossBackward: its checks', () => {
  it('sums of 3 per row, g of one per row, each named with its count', () => {
    const inputs = pair(), loss: RowLoss = { kind: 'l1', scale: 0.5 };
    expect(() => cpu.rowLossBackward(loss, inputs, f64(1, 0), f64(1), [true, true, false])).toThrow('rowLossBackward: sums has 2 elements, expected 3');
    expect(() => cpu.rowLossBackward(loss, { ...inputs, rows: 2, operands: [op(f64(1, 2, 3, 4)), op(f64(0, 4), 0, 0), null] }, f64(1, 0, 0), f64(1, 1), [true, true, false]))
      .toThrow('rowLossBackward: sums has 3 elements, expected 6');
    expect(() => cpu.rowLossBackward(loss, { ...inputs, n: 3 }, f64(1, 0, 0), f64(1), [true, true, false]))
      .toThrow("rowLossBackward: a's row stride 2 must be an integer ≥ 3, or 0");
  });
});

describe('rowLoss: rows apart and shared, and the gradients by hand', () => {
  it('rows apart (row stride > n) and a row shared by every row (stride 0) give the packed rows\' L1 and its gradient', () => {
    // a's rows [1, 2] and [5, -1] with 3 elements between them, after an offset of 1; b = [0, 2] for both rows
    const inputs: RowLossInputs = { rows: 2, n: 2, operands: [op(f64(9, 1, 2, 9, 9, 9, 5, -1), 1, 5), op(f64(7, 0, 2), 1, 0), null] };
    const loss: RowLoss = { kind: 'l1', scale: 0.5 };
    const { loss: l, sums } = cpu.rowLoss(loss, inputs);
    // |a − b| per row: [1, 0] and [5, 3]; loss 0.5·Σ
    expect(read(l)).toEqual([0.5, 4]);
    expect(read(sums)).toEqual([1, 0, 0, 8, 0, 0]);
    // ∂/∂a = sign(a − b)·scale·g[r], sign(0) = 0 at the tie; ∂/∂b its negative
    const [ga, gb] = cpu.rowLossBackward(loss, inputs, sums, f64(2, 3), [true, true, false]).map(read);
    expect(ga).toEqual([1, 0, 1.5, -1.5]);
    expect(gb.map((v) => v + 0)).toEqual([-1, 0, -1.5, 1.5]);
  });

  it('the weight-normalised MSE\'s gradients carry eps: ∂a = 2w(a − b)/(W + eps), ∂w = ((a − b)² − L)/(W + eps)', () => {
    const inputs: RowLossInputs = { rows: 1, n: 2, operands: [op(f64(1, 2)), op(f64(0, 4)), op(f64(3, 1))] };
    const loss: RowLoss = { kind: 'mse', scale: 1, eps: 0.5 };
    const { loss: l, sums } = cpu.rowLoss(loss, inputs);
    // S = 3·1 + 1·4 = 7, W = 4, Z = 4.5
    const z = 4.5, L = 7 / z;
    expect(read(l)).toEqual([L]);
    const [ga, gb, gw] = cpu.rowLossBackward(loss, inputs, sums, f64(1), [true, true, true]).map(read);
    expectClose(ga, [6 / z, -4 / z], 1e-15, 1e-15);
    expectClose(gb, [-6 / z, 4 / z], 1e-15, 1e-15);
    expectClose(gw, [(1 - L) / z, (4 - L) / z], 1e-15, 1e-15);
  });

  it('BCE with logits: ∂x = (σ(x) − y)·scale·g at logits of either sign and far out (no overflow), ∂y = −x·scale·g', () => {
    const x = [-3, -800, 800, 0, -0.5], y = [1, 0, 1, 0.5, 0.25];
    const inputs: RowLossInputs = { rows: 1, n: 5, operands: [op(f64(...x), 0, 5), op(f64(...y), 0, 5), null] };
    const loss: RowLoss = { kind: 'bce', scale: 0.2 };
    const { sums } = cpu.rowLoss(loss, inputs);
    const [gx, gy] = cpu.rowLossBackward(loss, inputs, sums, f64(2), [true, true, false]).map(read);
    expectClose(gx, x.map((v, i) => (sigma(v) - y[i]) * 0.4), 1e-16, 1e-14);
    expect(gx.slice(1, 3)).toEqual([0, 0]);
    expect(gy).toEqual(x.map((v) => -v * 0.4));
  });
});

describe('weightedSum and its backward: the edge terms and the checks', () => {
  it('a term of no elements beside others adds nothing; one −0 of weight 1 is the sum itself (no + 0)', () => {
    const s = f64(2, -3);
    expect(read(cpu.weightedSum([{ storage: s, offset: 0, weights: [] }, { storage: s, offset: 0, weights: [1, 0.5] }]))).toEqual([0.5]);
    const sum = read(cpu.weightedSum([{ storage: f64(5, -0), offset: 1, weights: [1] }]))[0];
    expect(Object.is(sum, -0)).toBe(true);
  });

  it('refuses a weight that is not finite in any term and at any place, a negative offset, naming them', () => {
    const s = f64(1, 2);
    expect(() => cpu.weightedSum([{ storage: s, offset: 0, weights: [1] }, { storage: s, offset: 0, weights: [2, Infinity] }]))
      .toThrow('weightedSum: the weights must be finite, got [[1],[2,null]]');
    expect(() => cpu.weightedSum([{ storage: s, offset: -1, weights: [1] }])).toThrow('weightedSum: a term of 1 elements from -1 does not fit its storage of 2');
    expect(() => cpu.weightedSum([{ storage: s, offset: 0.5, weights: [1] }])).toThrow('weightedSum: a term of 1 elements from 0.5 does not fit its storage of 2');
  });

  it('the backward refuses no elements, a weight that is not finite and an empty g; gives w·g per element', () => {
    const g = f64(3);
    expect(() => cpu.weightedSumBackward([[], []], g)).toThrow('weightedSumBackward: no term has an element');
    expect(() => cpu.weightedSumBackward([[1], [NaN]], g)).toThrow('weightedSumBackward: the weights must be finite, got [[1],[null]]');
    expect(() => cpu.weightedSumBackward([[1]], f64())).toThrow('weightedSumBackward: g is empty');
    expect(cpu.weightedSumBackward([[], [2, -1]], g).map(read)).toEqual([[], [6, -3]]);
  });
});

describe('the loss kernels on WebGPU: the layouts and kernel variants the DBiSL step uses', () => {
  const up = (b: Backend, ...v: number[]): Storage => b.upload(Float32Array.from(v), 'float32');

  it('operands at different offsets of one storage (L1 of Ŷ\'s and T_r2s(R̂)\'s unlabeled rows, a weighted Dice beside them)', async () => {
    const gpu = await webgpu();
    // one storage [Ŷ (2 rows of 2) | T_r2s (2 rows of 2)]: the unlabeled rows are at offsets 2 and 6
    const both = [0.5, 0.5, 0.75, 0.25, 0.5, 0.5, 0.25, 1];
    for (const b of [cpu, gpu]) {
      const s = up(b, ...both);
      const l1 = b.rowLoss({ kind: 'l1', scale: 0.5 }, { rows: 1, n: 2, operands: [op(s, 2), op(s, 6), null] });
      // |0.75 − 0.25| + |0.25 − 1| = 1.25, mean 0.625
      expect(Array.from(await b.read(l1.loss)), b.name).toEqual([0.625]);
      // Dice of p = [0.75, 0.25] against y = [0.25, 1] with w = [0.5, 0.5] (s at offset 0): I = 0.21875, P = 0.3125, Y = 0.53125
      const dice = b.rowLoss({ kind: 'dice', smooth: 0 }, { rows: 1, n: 2, operands: [op(s, 2), op(s, 6), op(s, 0)] });
      expectClose(Array.from(await b.read(dice.loss)), [1 - 0.4375 / 0.84375], 1e-7, 1e-6, `${b.name}: weighted Dice`);
      const [gp] = b.rowLossBackward({ kind: 'l1', scale: 0.5 }, { rows: 1, n: 2, operands: [op(s, 2), op(s, 6), null] }, l1.sums, up(b, 2), [true, false, false]);
      expect(Array.from(await b.read(gp)), b.name).toEqual([1, -1]);
    }
  });

  it('weightedSum: each pattern of unit weights and of storages has its own kernel (λ(t) reaching 1 in L_sup + λ·L_con + λ·L_pse)', async () => {
    const gpu = await webgpu();
    const s = up(gpu, 2, 3), t = up(gpu, 5);
    const sum = async (terms: WeightedTerm[]) => (await gpu.read(gpu.weightedSum(terms)))[0];
    for (const [w0, w1] of [[1, 0.5], [0.5, 1], [1, 1], [0.5, 0.5]]) {
      expect(await sum([{ storage: s, offset: 0, weights: [w0] }, { storage: s, offset: 1, weights: [w1] }]), `${w0}, ${w1}`).toBe(2 * w0 + 3 * w1);
      // the second term from another storage: same weights, other bindings
      expect(await sum([{ storage: s, offset: 0, weights: [w0] }, { storage: t, offset: 0, weights: [w1] }]), `${w0}, ${w1}`).toBe(2 * w0 + 5 * w1);
    }
    const g = up(gpu, 4);
    for (const weights of [[[1, 0.5]], [[1], [0.5]], [[0.5], [1]], [[0.5, 1]]]) {
      const grads = await Promise.all(gpu.weightedSumBackward(weights, g).map(async (x) => Array.from(await gpu.read(x))));
      expect(grads, JSON.stringify(weights)).toEqual(weights.map((ws) => ws.map((w) => 4 * w)));
    }
  });

  it('weightedSum and its backward past one dispatch\'s storages when the first ones\' terms have no elements', async () => {
    const gpu = await webgpu();
    const terms: WeightedTerm[] = Array.from({ length: 8 }, (_, k) => ({ storage: up(gpu, k + 1), offset: 0, weights: k < 7 ? [] : [2] }));
    // only the last term has an element: 2·8
    expect(Array.from(await gpu.read(gpu.weightedSum(terms)))).toEqual([16]);
    expect(read(cpu.weightedSum(terms.map((t, k) => ({ ...t, storage: f64(k + 1) }))))).toEqual([16]);
    // its backward: seven empty gradients, then 2·g
    const grads = gpu.weightedSumBackward(terms.map((t) => t.weights), up(gpu, 3));
    expect(await Promise.all(grads.map(async (x) => Array.from(await gpu.read(x))))).toEqual([[], [], [], [], [], [], [], [6]]);
  });
});
