import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, LossItem, LossTotal, RowLoss, Storage } from '../../src/kernels/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import { lossTotal } from '../../src/autograd/losses.js';
import { cpuData } from '../../src/kernels/cpu/storage.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * lossTotal (kernels/loss): a loss's row losses, its groups' weighted sums and the total in one reduction, and the
 * total's gradient w.r.t. every input in one pass. The cpu oracle against rowLoss and weightedSums (float64, the same
 * floats) and rowLossBackward summed per element; the WebGPU kernels against the oracle on random layouts (items of
 * every kind on shared inputs, offsets, rows apart, a second operand shared by every row, chunked rows, rows in no
 * group); the autograd op against central differences on both backends.
 */

type Kind = RowLoss['kind'];
const lossOf = (kind: Kind, count: number): RowLoss => (kind === 'dice' ? { kind, smooth: 1e-5 } : kind === 'mse' ? { kind, scale: 1 / count, eps: 1e-8 } : { kind, scale: 1 / count });
const read = (s: Storage) => Array.from(cpuData(s));

/** inputs 0–2 are read as rows, input 3 only as a row shared by every row (stride 0: no gradient asked for) */
const INPUTS = 4;

const itemArb = fc.record({
  kind: fc.constantFrom<Kind>('dice', 'bce', 'mse', 'l1'),
  rows: fc.integer({ min: 1, max: 3 }),
  // one element, under and over a workgroup's lanes and four steps of them, and over the chunking threshold
  n: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 300 }) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 1100 }) },
    { weight: 1, arbitrary: fc.integer({ min: 16384, max: 16500 }) }),
  weighted: fc.boolean(), shared: fc.boolean(),
  inputs: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2)), offsets: fc.tuple(fc.constantFrom(0, 2), fc.constantFrom(0, 2), fc.constantFrom(0, 2)),
  gaps: fc.tuple(fc.constantFrom(0, 3), fc.constantFrom(0, 3), fc.constantFrom(0, 3)),
});
const layoutArb = fc.record({
  items: fc.array(itemArb, { minLength: 1, maxLength: 4 }),
  groups: fc.integer({ min: 1, max: 3 }),
  picks: fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 12, maxLength: 12 }),
  weights: fc.array(fc.constantFrom(1, 0.3, -1.5, 0.5), { minLength: 15, maxLength: 15 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});
type Layout = typeof layoutArb extends fc.Arbitrary<infer T> ? T : never;

/** the items and groups of a drawn layout, and each input's length */
function build(l: Layout): { items: LossItem[]; group: number[]; weights: number[]; groupWeights: number[]; lengths: number[] } {
  const lengths = new Array<number>(INPUTS).fill(1);
  const items = l.items.map((d): LossItem => {
    const weighted = d.weighted && (d.kind === 'dice' || d.kind === 'mse');
    const operand = (k: number) => {
      if (k === 2 && !weighted) return null;
      const shared = k === 1 && d.shared, input = shared ? 3 : d.inputs[k], offset = d.offsets[k], rowStride = shared ? 0 : d.n + d.gaps[k];
      lengths[input] = Math.max(lengths[input], offset + (d.rows - 1) * rowStride + d.n + 2);
      return { input, offset, rowStride };
    };
    const operands: LossItem['operands'] = [operand(0)!, operand(1)!, operand(2)];
    return { loss: lossOf(d.kind, d.rows * d.n), rows: d.rows, n: d.n, operands };
  });
  const rows = items.reduce((n, i) => n + i.rows, 0), groups = Math.min(l.groups, rows);
  const group = Array.from({ length: rows }, (_, j) => (j < groups ? j : Math.min(l.picks[j % 12], groups - 1)));
  return { items, group, weights: l.weights.slice(0, rows), groupWeights: l.weights.slice(12, 12 + groups), lengths };
}

/** the inputs on b (values in [0.1, 1): weights away from 0, where the weighted MSE's w-gradient is ill-conditioned) */
function totalOn(b: Backend, dtype: 'float32' | 'float64', l: Layout): { total: LossTotal; free: () => void } {
  const { lengths, ...layout } = build(l);
  const inputs = lengths.map((n, k) => ({ storage: b.upload(Float64Array.from(randomArray(n, l.seed + k, 0.1, 1)), dtype), offset: 0, length: n }));
  return { total: { ...layout, inputs }, free: () => inputs.forEach((t) => b.free(t.storage)) };
}

describe('lossTotal: the cpu oracle', () => {
  it("each row's loss and sums are rowLoss's, the groups' sums and the total weightedSums', the gradient rowLossBackward's summed", async () => {
    await fc.assert(fc.asyncProperty(layoutArb, async (l) => {
      const { total, free } = totalOn(cpu, 'float64', l);
      const { values, sums } = cpu.lossTotal(total);
      const g = cpu.upload(Float64Array.of(0.7), 'float64');
      const wanted = [true, true, true, false];
      const grads = cpu.lossTotalBackward(total, sums, g, wanted).map(read);
      const rows = total.weights.length, losses: number[] = [], rowSums: number[] = [];
      const expected = total.inputs.slice(0, 3).map((t) => new Float64Array(t.length));
      let first = 0;
      for (const item of total.items) {
        const inputs = { rows: item.rows, n: item.n, operands: item.operands.map((o) => o && { storage: total.inputs[o.input].storage, offset: o.offset, rowStride: o.rowStride }) as never };
        const r = cpu.rowLoss(item.loss, inputs);
        losses.push(...read(r.loss));
        rowSums.push(...read(r.sums));
        // rowLossBackward with g[r] = w_r·(W·g) (0 for a row in no group), added where the operands lie
        const gr = cpu.upload(Float64Array.from({ length: item.rows }, (_, k) => {
          const j = first + k, gk = total.group[j];
          return gk < 0 ? 0 : total.weights[j] * (total.groupWeights[gk] * 0.7);
        }), 'float64');
        const parts = cpu.rowLossBackward(item.loss, inputs, r.sums, gr, [true, true, item.operands[2] !== null]).map(read);
        item.operands.forEach((o, k) => {
          if (!o || o.input === 3) return;
          for (let row = 0; row < item.rows; row++) for (let i = 0; i < item.n; i++) expected[o.input][o.offset + row * o.rowStride + i] += parts[k][row * item.n + i];
        });
        first += item.rows;
      }
      const sumsOf = total.groupWeights.map((_, k) => losses.reduce((s, x, j) => s + (total.group[j] === k ? (total.weights[j] === 1 ? x : total.weights[j] * x) : 0), 0));
      const all = read(values);
      expectClose(all.slice(0, rows), losses, 0, 0, 'row losses');
      expect(read(sums)).toEqual(rowSums);
      expectClose(all.slice(rows), [...sumsOf, sumsOf.reduce((s, x, k) => s + total.groupWeights[k] * x, 0)], 1e-15, 1e-13, 'sums and total');
      grads.forEach((gr, k) => expectClose(gr, expected[k], 1e-15, 1e-12, `gradient of input ${k}`));
      free();
    }), propertyOptions(30));
  });

  it('rejects an operand past its input, a row without group or weight, an empty group, more rows than one parameter block weights, a gradient of a shared operand', () => {
    const x = cpu.upload(Float64Array.of(0.5, 0.25, 1, 0), 'float64');
    const item: LossItem = { loss: { kind: 'mse', scale: 0.5, eps: 1e-8 }, rows: 2, n: 2, operands: [{ input: 0, offset: 0, rowStride: 2 }, { input: 1, offset: 0, rowStride: 0 }, null] };
    const ok: LossTotal = { inputs: [{ storage: x, offset: 0, length: 4 }, { storage: x, offset: 2, length: 2 }], items: [item], group: [0, 0], weights: [1, 1], groupWeights: [1] };
    expect(() => cpu.lossTotal(ok)).not.toThrow();
    expect(() => cpu.lossTotal({ ...ok, inputs: [{ storage: x, offset: 1, length: 4 }, ok.inputs[1]] })).toThrow(/an input of 4 elements from 1 does not fit its storage of 4/);
    expect(() => cpu.lossTotal({ ...ok, items: [{ ...item, n: 3 }] })).toThrow(/overruns its input of 4/);
    expect(() => cpu.lossTotal({ ...ok, group: [0] })).toThrow(/a group and a weight per row \(2\)/);
    expect(() => cpu.lossTotal({ ...ok, groupWeights: [1, 1] })).toThrow(/every group needs a row/);
    expect(() => cpu.lossTotal({ ...ok, group: [0, 3] })).toThrow(/must be −1 or one of 1/);
    const many: LossTotal = { ...ok, items: [{ ...item, rows: 60, n: 0 }], group: new Array<number>(60).fill(0), weights: new Array<number>(60).fill(1) };
    expect(() => cpu.lossTotal(many)).toThrow(/at most 60 rows and groups, got 60 \+ 1/);
    const { sums } = cpu.lossTotal(ok);
    expect(() => cpu.lossTotalBackward(ok, sums, cpu.upload(Float64Array.of(1), 'float64'), [true, true])).toThrow(/row stride 0\) was asked for/);
    expect(() => cpu.lossTotalBackward(ok, sums, cpu.upload(Float64Array.of(1, 1), 'float64'), [true, false])).toThrow(/g has 2 elements, expected 1/);
  });
});

describe('lossTotal on WebGPU against the cpu oracle', () => {
  it('random layouts: every kind on shared inputs, weights, offsets, rows apart, shared rows, chunked rows, rows in no group', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(layoutArb, async (l) => {
      const [expected, actual] = await Promise.all([cpu, gpu].map(async (b) => {
        const { total, free } = totalOn(b, 'float32', l);
        const { values, sums } = b.lossTotal(total);
        const g = b.upload(Float32Array.of(0.7), 'float32');
        const grads = b.lossTotalBackward(total, sums, g, [true, true, true, false]);
        const out = await Promise.all([values, sums, ...grads].map((s) => b.read(s)));
        for (const s of [values, sums, g, ...grads]) b.free(s);
        free();
        return out;
      }));
      const names = ['values', 'sums', 'grad 0', 'grad 1', 'grad 2'];
      // float32 sums of up to 5·10⁴ terms in two different orders
      for (let k = 0; k < expected.length; k++) expectClose(actual[k], expected[k], 1e-5, 2e-4, names[k]);
    }), propertyOptions(25));
  });

  it("a loss of an earlier one's layout (its checks and kernels' layout kept) on other storages, storage sharing and weights: the oracle's floats", async () => {
    const gpu = await webgpu();
    const layout = (weights: number[]): Omit<LossTotal, 'inputs'> => ({
      items: [
        { loss: { kind: 'dice', smooth: 1e-5 }, rows: 2, n: 300, operands: [{ input: 0, offset: 0, rowStride: 300 }, { input: 1, offset: 0, rowStride: 300 }, { input: 2, offset: 0, rowStride: 300 }] },
        { loss: { kind: 'mse', scale: 1 / 600, eps: 0 }, rows: 1, n: 600, operands: [{ input: 1, offset: 0, rowStride: 600 }, { input: 2, offset: 0, rowStride: 600 }, null] },
      ],
      group: [0, 0, 1], weights: weights.slice(0, 3), groupWeights: weights.slice(3),
    });
    // each call: [input storages' seeds (equal seeds: one storage for both inputs), weights]
    const calls: [number[], number[]][] = [[[1, 2, 3], [1, 0.5, 1, 1, 0.25]], [[4, 5, 6], [0.3, 1, 2, 1, 0.75]], [[7, 7, 8], [1, 0.5, 1, 1, 1]]];
    for (const [seeds, weights] of calls) {
      const [expected, actual] = await Promise.all([cpu, gpu].map(async (b) => {
        const storages = new Map(seeds.map((seed) => [seed, b.upload(Float32Array.from(randomArray(600, seed, 0.1, 1)), 'float32')]));
        const total: LossTotal = { ...layout(weights), inputs: seeds.map((seed) => ({ storage: storages.get(seed)!, offset: 0, length: 600 })) };
        const { values, sums } = b.lossTotal(total);
        const g = b.upload(Float32Array.of(0.7), 'float32');
        const grads = b.lossTotalBackward({ ...total }, sums, g, [true, true, true]);
        const out = await Promise.all([values, sums, ...grads].map((x) => b.read(x)));
        for (const x of [values, sums, g, ...grads, ...storages.values()]) b.free(x);
        return out;
      }));
      expected.forEach((e, k) => expectClose(actual[k], e, 1e-5, 2e-4, `output ${k} of the call on ${seeds.join(', ')}`));
    }
    const x = gpu.upload(new Float32Array(600), 'float32');
    const inputs = [0, 1, 2].map(() => ({ storage: x, offset: 0, length: 600 }));
    expect(() => gpu.lossTotal({ ...layout([1, Number.NaN, 1, 1, 1]), inputs })).toThrow(/the weights must be finite/);
    const short = gpu.upload(new Float32Array(599), 'float32');
    expect(() => gpu.lossTotal({ ...layout([1, 0.5, 1, 1, 0.25]), inputs: [...inputs.slice(0, 2), { storage: short, offset: 0, length: 600 }] }))
      .toThrow(/an input of 600 elements from 0 does not fit its storage of 599/);
    gpu.free(x);
    gpu.free(short);
  });

  it("the backward of the forward's own LossTotal (its checks and layout kept) equals that of an equal copy, and still checks its arguments", async () => {
    const gpu = await webgpu();
    const x = gpu.upload(Float32Array.of(0.5, 0.25, 1, 0.125, 0.75, 0.3), 'float32');
    const y = gpu.upload(Float32Array.of(0.2, 0.9, 0.4, 0.6), 'float32');
    const total: LossTotal = {
      inputs: [{ storage: x, offset: 0, length: 6 }, { storage: y, offset: 0, length: 4 }, { storage: x, offset: 4, length: 2 }],
      items: [
        { loss: { kind: 'dice', smooth: 1e-5 }, rows: 2, n: 2, operands: [{ input: 0, offset: 0, rowStride: 3 }, { input: 1, offset: 0, rowStride: 2 }, null] },
        { loss: { kind: 'mse', scale: 0.5, eps: 1e-8 }, rows: 2, n: 2, operands: [{ input: 1, offset: 0, rowStride: 2 }, { input: 2, offset: 0, rowStride: 0 }, null] },
      ],
      group: [0, 0, 1, -1], weights: [1, 0.5, 0.3, 1], groupWeights: [1, 0.25],
    };
    const { values, sums } = gpu.lossTotal(total);
    const g = gpu.upload(Float32Array.of(0.7), 'float32');
    const wanted = [true, true, false];
    const [own, copy] = [total, { ...total }].map((t) => gpu.lossTotalBackward(t, sums, g, wanted));
    const [ownValues, copyValues] = await Promise.all([own, copy].map((grads) => Promise.all(grads.map((s) => gpu.read(s)))));
    expect(ownValues).toEqual(copyValues);
    expect(ownValues.flatMap((v) => Array.from(v)).some((v) => v !== 0)).toBe(true);
    expect(() => gpu.lossTotalBackward(total, sums, g, [true, true])).toThrow(/a wanted flag per input \(3\), got 2/);
    expect(() => gpu.lossTotalBackward(total, sums, sums, wanted)).toThrow(/g has 12 elements, expected 1/);
    expect(() => gpu.lossTotalBackward(total, g, g, wanted)).toThrow(/sums has 1 elements, expected 12/);
    expect(() => gpu.lossTotalBackward(total, sums, g, [true, true, true])).toThrow(/row stride 0\) was asked for/);
    for (const s of [x, y, values, sums, g, ...own, ...copy]) gpu.free(s);
  });
});

describe('the lossTotal op: gradients = central differences', () => {
  const input = (n: number, seed: number) => ({ data: randomArray(n, seed, 0.1, 1), shape: [n] });
  // a Dice of rows 4 apart with a weight, BCE, MSE plain and weighted and an L1 in no group, on inputs read twice
  const fn = (a: Tensor, b: Tensor, w: Tensor) => lossTotal([a, b, w], {
    items: [
      { loss: { kind: 'dice', smooth: 1e-5 }, rows: 2, n: 3, operands: [{ input: 0, offset: 0, rowStride: 4 }, { input: 1, offset: 1, rowStride: 3 }, { input: 2, offset: 0, rowStride: 3 }] },
      { loss: { kind: 'bce', scale: 1 / 6 }, rows: 1, n: 6, operands: [{ input: 1, offset: 0, rowStride: 6 }, { input: 2, offset: 1, rowStride: 6 }, null] },
      { loss: { kind: 'mse', scale: 1 / 7, eps: 1e-8 }, rows: 1, n: 7, operands: [{ input: 0, offset: 0, rowStride: 7 }, { input: 1, offset: 0, rowStride: 7 }, null] },
      { loss: { kind: 'mse', scale: 1 / 5, eps: 1e-8 }, rows: 1, n: 5, operands: [{ input: 0, offset: 2, rowStride: 5 }, { input: 1, offset: 2, rowStride: 5 }, { input: 2, offset: 0, rowStride: 5 }] },
      { loss: { kind: 'l1', scale: 1 / 7 }, rows: 1, n: 7, operands: [{ input: 0, offset: 0, rowStride: 7 }, { input: 1, offset: 0, rowStride: 7 }, null] },
    ],
    group: [0, 0, 0, 1, 1, -1], weights: [1, 0.5, 1, 0.3, 1, 1], groupWeights: [1, 0.25],
  }).total;
  for (const name of ['cpu', 'webgpu'] as const) {
    it(name, async () => {
      const backend = name === 'cpu' ? cpu : await webgpu();
      const r = await gradcheck(fn, [input(8, 1), input(8, 2), input(8, 3)], { backend });
      expect(r.ok, r.message).toBe(true);
    });
  }
});
