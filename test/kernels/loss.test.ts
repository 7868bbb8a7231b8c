import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, RowLoss, RowLossInputs, Storage, WeightedTerm, WebGPUBackend } from '../../src/kernels/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { backward } from '../../src/autograd/index.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import { rowLoss, weightedSum, weightedSums } from '../../src/autograd/losses.js';
import { reshape } from '../../src/autograd/ops.js';
import { fromArray } from '../../src/tensor/index.js';
import { cpuData } from '../../src/kernels/cpu/storage.js';
import { lossFamily } from '../../src/kernels/loss/index.js';
import { channelChunks } from '../../src/kernels/norm/webgpu.js';
import { cpu, expectClose, expectSameFloats, randomArray, runSmallBenchmarks, view, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * The row losses (kernels/loss): the cpu oracle against hand values and central differences (float64), and the
 * WebGPU kernels against the oracle on random layouts: rows of one element, rows longer than a workgroup and
 * long enough to be split into chunks, a second operand shared by every row (row stride 0), offsets, with and
 * without a weight. The weighted sums of scalar terms: the oracle against the composed ops, WebGPU against the oracle.
 */

const DICE: RowLoss = { kind: 'dice', smooth: 1e-5 };
const BCE = (n: number): RowLoss => ({ kind: 'bce', scale: 1 / n });
const MSE: RowLoss = { kind: 'mse', scale: 0.25, eps: 1e-8 };
const L1 = (n: number): RowLoss => ({ kind: 'l1', scale: 1 / n });
const lossOf = (kind: RowLoss['kind'], count: number): RowLoss => (kind === 'dice' ? DICE : kind === 'bce' ? BCE(count) : kind === 'mse' ? MSE : L1(count));
/** bce and l1 take no weight */
const takesWeight = (kind: RowLoss['kind']): boolean => kind === 'dice' || kind === 'mse';

type Operands = [Float64Array, Float64Array, Float64Array | null];

/**
 * operands of [rows, n], the second shared by all rows when `shared`; each placed after `pad` leading elements, the rows
 * of an unshared operand `gap` elements apart (row stride n + gap)
 */
function inputsOn(b: Backend, dtype: 'float32' | 'float64', rows: number, n: number, data: Operands, shared: boolean, pad = 0, gap = 0): RowLossInputs {
  const put = (d: Float64Array, rowStride: number) => {
    const count = d.length / n || 0, padded = new Float64Array(pad + (rowStride === 0 ? d.length : count * rowStride));
    for (let r = 0; r < count; r++) padded.set(d.subarray(r * n, (r + 1) * n), pad + r * rowStride);
    return { storage: b.upload(dtype === 'float32' ? Float32Array.from(padded) : padded, dtype), offset: pad, rowStride };
  };
  return { rows, n, operands: [put(data[0], n + gap), put(data[1], shared ? 0 : n + gap), data[2] && put(data[2], n + gap)] };
}

const read64 = (s: Storage) => Array.from(cpuData(s));

describe('row losses: the cpu oracle', () => {
  it('hand values: Dice per row with a shared target and a weight, BCE with logits, MSE plain and weight-normalised, L1', () => {
    const s = 1e-5;
    // rows p = [0.5, 0.5] and [1, 0] against y = [1, 0] (shared), w = 1 then [2, 0]
    const dice = cpu.rowLoss(DICE, inputsOn(cpu, 'float64', 2, 2, [Float64Array.of(0.5, 0.5, 1, 0), Float64Array.of(1, 0), Float64Array.of(1, 1, 2, 0)], true));
    // row 0: I = 0.5, P = 0.5, Y = 1; row 1: I = 2, P = 2, Y = 2
    expect(read64(dice.sums)).toEqual([0.5, 0.5, 1, 2, 2, 2]);
    expectClose(read64(dice.loss), [1 - (1 + s) / (1.5 + s), 1 - (4 + s) / (4 + s)], 1e-15);
    // ℓ = y·softplus(−x) + (1 − y)·softplus(x) at x = [0, 2], y = [1, 0]: [log 2, log(1 + e²)], mean
    const bce = cpu.rowLoss(BCE(2), inputsOn(cpu, 'float64', 1, 2, [Float64Array.of(0, 2), Float64Array.of(1, 0), null], false));
    expectClose(read64(bce.loss), [(Math.log(2) + Math.log1p(Math.exp(2))) / 2], 1e-15);
    // (a − b)² = [1, 4]: plain 0.25·5; weighted by [3, 1]: (3 + 4)/(4 + 1e-8)
    const ab: Operands = [Float64Array.of(1, 2), Float64Array.of(0, 4), null];
    expect(read64(cpu.rowLoss(MSE, inputsOn(cpu, 'float64', 1, 2, ab, false)).loss)).toEqual([1.25]);
    // |a − b| = [1, 2]: mean 1.5; no weight
    expect(read64(cpu.rowLoss(L1(2), inputsOn(cpu, 'float64', 1, 2, ab, false)).loss)).toEqual([1.5]);
    expect(() => cpu.rowLoss(L1(2), inputsOn(cpu, 'float64', 1, 2, [ab[0], ab[1], Float64Array.of(1, 1)], false))).toThrow(/'l1' takes no weight/);
    const weighted = cpu.rowLoss(MSE, inputsOn(cpu, 'float64', 1, 2, [ab[0], ab[1], Float64Array.of(3, 1)], false));
    expect(read64(weighted.sums)).toEqual([7, 4, 0]);
    expect(read64(weighted.loss)).toEqual([7 / (4 + 1e-8)]);
  });

  it('the backward is the gradient of Σ g[r]·loss[r] (central differences, float64)', () => {
    fc.assert(fc.property(fc.record({
      kind: fc.constantFrom<RowLoss['kind']>('dice', 'bce', 'mse', 'l1'), rows: fc.integer({ min: 1, max: 3 }), n: fc.integer({ min: 1, max: 6 }),
      weighted: fc.boolean(), shared: fc.boolean(), seed: fc.integer({ min: 1, max: 1 << 30 }),
    }), ({ kind, rows, n, weighted, shared, seed }) => {
      const loss = lossOf(kind, rows * n);
      const w = weighted && takesWeight(kind);
      const data: Operands = [Float64Array.from(randomArray(rows * n, seed, 0.05, 1)), Float64Array.from(randomArray(shared ? n : rows * n, seed + 1, 0, 1)),
        w ? Float64Array.from(randomArray(rows * n, seed + 2, 0.1, 1)) : null];
      const g = Float64Array.from(randomArray(rows, seed + 3));
      const objective = (d: Operands) => {
        const out = cpu.rowLoss(loss, inputsOn(cpu, 'float64', rows, n, d, shared));
        return read64(out.loss).reduce((acc, v, r) => acc + v * g[r], 0);
      };
      const inputs = inputsOn(cpu, 'float64', rows, n, data, shared);
      const sums = cpu.rowLoss(loss, inputs).sums;
      const grads = cpu.rowLossBackward(loss, inputs, sums, cpu.upload(g, 'float64'), [true, true, w]).map(read64);
      for (let k = 0; k < (w ? 3 : 2); k++) {
        // a shared operand's gradient is per row: the rows' gradients add up to the shared element's
        const perElement = k === 1 && shared
          ? Array.from({ length: n }, (_, i) => Array.from({ length: rows }, (_, r) => grads[k][r * n + i]).reduce((a, b) => a + b))
          : grads[k];
        for (let i = 0; i < data[k]!.length; i++) {
          const step = 1e-6, plus = data.map((d) => d && d.slice()) as Operands, minus = data.map((d) => d && d.slice()) as Operands;
          plus[k]![i] += step;
          minus[k]![i] -= step;
          const numeric = (objective(plus) - objective(minus)) / (2 * step);
          expect(Math.abs(perElement[i] - numeric), `${kind} operand ${k} element ${i}`).toBeLessThan(1e-7 + 1e-6 * Math.abs(numeric));
        }
      }
    }), propertyOptions(40));
  });

  it('rejects a bad layout, a weight on bce, mixed dtypes and a bad backward', () => {
    const data: Operands = [Float64Array.of(1, 2), Float64Array.of(1, 2), null];
    const ok = inputsOn(cpu, 'float64', 1, 2, data, false);
    expect(() => cpu.rowLoss(DICE, { ...ok, n: 3 })).toThrow(/p's row stride 2 must be an integer ≥ 3, or 0/);
    expect(() => cpu.rowLoss(DICE, { ...ok, rows: 2 })).toThrow(/p \[2, 2\] at offset 0 \(row stride 2\) overruns its 2 elements/);
    expect(() => cpu.rowLoss(BCE(2), { ...ok, operands: [ok.operands[0], ok.operands[1], ok.operands[0]] })).toThrow(/'bce' takes no weight/);
    const f32 = inputsOn(cpu, 'float32', 1, 2, data, false);
    expect(() => cpu.rowLoss(DICE, { ...ok, operands: [ok.operands[0], f32.operands[1], null] })).toThrow(/one floating-point dtype, got float64, float32/);
    expect(() => cpu.rowLoss({ kind: 'mse', scale: 1, eps: Infinity }, ok)).toThrow(/eps finite/);
    const { sums } = cpu.rowLoss(DICE, ok);
    expect(() => cpu.rowLossBackward(DICE, ok, sums, cpu.upload(Float64Array.of(1), 'float64'), [true, false, true])).toThrow(/absent weight/);
    expect(() => cpu.rowLossBackward(DICE, ok, sums, cpu.upload(Float64Array.of(1, 1), 'float64'), [true, false, false])).toThrow(/g has 2 elements, expected one per row \(1\)/);
  });
});

describe('row losses on WebGPU against the cpu oracle', () => {
  /** both backends' forward (losses, sums) and every gradient, float32 */
  /** the oracle on plain rows against the WebGPU kernels on rows `gap` elements apart */
  async function compare(gpu: Backend, loss: RowLoss, rows: number, n: number, data: Operands, shared: boolean, pad: number, gap: number, what: string): Promise<void> {
    const weighted = data[2] !== null;
    const results = await Promise.all([cpu, gpu].map(async (b) => {
      const inputs = inputsOn(b, 'float32', rows, n, data, shared, pad, b === gpu ? gap : 0);
      const { loss: l, sums } = b.rowLoss(loss, inputs);
      const g = b.upload(randomArray(rows, 77), 'float32');
      const grads = b.rowLossBackward(loss, inputs, sums, g, [true, true, weighted]);
      const values = await Promise.all([l, sums, ...grads].map((s) => b.read(s)));
      for (const s of [l, sums, g, ...grads, ...inputs.operands.map((o) => o?.storage)]) if (s) b.free(s);
      return values;
    }));
    const [expected, actual] = results;
    // float32 sums of up to 2·10⁴ terms in two different orders
    const names = ['loss', 'sums', 'grad 0', 'grad 1', 'grad 2'];
    for (let k = 0; k < expected.length; k++) expectClose(actual[k], expected[k], 1e-5, 2e-4, `${what}: ${names[k]}`);
  }

  const layout = fc.record({
    kind: fc.constantFrom<RowLoss['kind']>('dice', 'bce', 'mse', 'l1'),
    rows: fc.integer({ min: 1, max: 3 }),
    // one element, under and over one workgroup's 256 lanes and four steps of them, and over the chunking threshold
    n: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 300 }), fc.integer({ min: 1000, max: 1100 }), fc.integer({ min: 16384, max: 17000 })),
    weighted: fc.boolean(), shared: fc.boolean(), pad: fc.constantFrom(0, 3), gap: fc.constantFrom(0, 0, 5), seed: fc.integer({ min: 1, max: 1 << 30 }),
  });

  it('random layouts: every kind, with and without a weight, a shared second operand, offsets, rows apart, chunked rows', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(layout, async ({ kind, rows, n, weighted, shared, pad, gap, seed }) => {
      const loss = lossOf(kind, rows * n);
      const w = weighted && takesWeight(kind);
      // Dice on probabilities and 0/1 targets, BCE on logits, MSE on values in (−1, 1)
      const a = Float64Array.from(randomArray(rows * n, seed, kind === 'bce' ? -6 : 0, kind === 'bce' ? 6 : 1));
      const real = kind === 'mse' || kind === 'l1';
      const b = Float64Array.from(randomArray(shared ? n : rows * n, seed + 1, real ? -1 : 0, 1), (v) => (real ? v : Math.round(v)));
      // weights in [0.1, 1), as DBiSL's exp(−γU) ≥ e^−5: near 0 the weighted MSE's w-gradient (d² − L)/(Σw + ε) is
      // ill-conditioned (one element with w ≈ 5e-4: d² − L ≈ d²·ε/w, which float32 keeps to 2–3 digits, float64 to 10)
      const data: Operands = [a, b, w ? Float64Array.from(randomArray(rows * n, seed + 2, 0.1, 1)) : null];
      await compare(gpu, loss, rows, n, data, shared, pad, gap, `${kind} [${rows}, ${n}]${w ? ' weighted' : ''}${shared ? ' shared' : ''} pad ${pad} gap ${gap}`);
    }), propertyOptions(25));
  });

  it('rows split into chunks take the partial + finishing dispatches; short rows one', () => {
    expect(channelChunks(1, 16384).chunks).toBeGreaterThan(1);
    expect(channelChunks(3, 1100).chunks).toBe(1);
  });

  it('a row of zero elements: sums 0, Dice 0, weighted MSE 0; no rows: empty results', async () => {
    const gpu = await webgpu();
    for (const b of [cpu, gpu]) {
      const empty = inputsOn(b, 'float32', 2, 0, [new Float64Array(0), new Float64Array(0), new Float64Array(0)], false);
      const dice = b.rowLoss(DICE, empty), mse = b.rowLoss(MSE, empty);
      // 1 − c0/c0: exactly 0 where the division is correctly rounded (the cpu, llvmpipe); WGSL allows a GPU 2.5 ulp
      expectSameFloats(b, await b.read(dice.loss), [0, 0], `${b.name}: Dice of empty rows`, 1e-6, 0);
      expect(Array.from(await b.read(dice.sums))).toEqual([0, 0, 0, 0, 0, 0]);
      expect(Array.from(await b.read(mse.loss))).toEqual([0, 0]);
      const none = b.rowLoss(DICE, { ...empty, rows: 0 });
      expect([none.loss.length, none.sums.length]).toEqual([0, 0]);
    }
  });

  it('the benchmark shapes run (small cases)', async () => {
    expect(await runSmallBenchmarks(await webgpu(), lossFamily.benchmarks)).toBe(2);
  });
});

describe('weighted sums of scalar terms (weightedSum)', () => {
  type Term = { values: number[]; weights: number[]; shared: boolean };
  const WEIGHTS = [1, 1, 0.3, -1.5, 0.5, 1500];
  /** n elements: a value and the pick of its weight each */
  const elements = (minLength: number, maxLength: number) =>
    fc.array(fc.tuple(fc.double({ min: -3, max: 3, noNaN: true }), fc.nat(WEIGHTS.length - 1)), { minLength, maxLength });
  // mostly a few terms of 1 to 3 elements; sometimes a term or terms with more weights than one dispatch's parameters hold (28)
  const term = fc.record({
    picked: fc.oneof({ weight: 5, arbitrary: elements(1, 3) }, { weight: 1, arbitrary: elements(4, 32) }),
    // in one storage with the terms before it (offsets), or in its own
    shared: fc.boolean(),
  }).map(({ picked, shared }): Term => ({ values: picked.map(([v]) => v), weights: picked.map(([, pick]) => WEIGHTS[pick]), shared }));
  const terms = fc.oneof({ weight: 4, arbitrary: fc.array(term, { minLength: 1, maxLength: 10 }) }, { weight: 1, arbitrary: fc.array(term, { minLength: 11, maxLength: 24 }) });

  /** the terms on b: a shared term is appended to the storage of the shared ones, after a pad of 2 */
  function upload(b: Backend, dtype: 'float32' | 'float64', ts: readonly Term[]): WeightedTerm[] {
    const sharedValues = ts.filter((t) => t.shared).flatMap((t) => [0, 0, ...t.values]);
    const shared = sharedValues.length ? b.upload(dtype === 'float32' ? Float32Array.from(sharedValues) : Float64Array.from(sharedValues), dtype) : null;
    let at = 0;
    return ts.map((t) => {
      if (!t.shared) return { storage: b.upload(dtype === 'float32' ? Float32Array.from(t.values) : Float64Array.from(t.values), dtype), offset: 0, weights: t.weights };
      at += 2 + t.values.length;
      return { storage: shared!, offset: at - t.values.length, weights: t.weights };
    });
  }

  /** the chain of ops weightedSum stands for: mulScalar's affine per product (none for w = 1), adds left to right */
  function composed(b: Backend, ts: readonly WeightedTerm[]): Storage {
    let acc: Storage | null = null;
    for (const t of ts) {
      t.weights.forEach((w, j) => {
        const x = { storage: t.storage, shape: [1], strides: [1], offset: t.offset + j };
        const v = w === 1 ? b.copy(x) : b.unary('affine', x, [w, 0]);
        acc = acc ? b.binary('add', view(acc, [1]), view(v, [1])) : v;
      });
    }
    return acc!;
  }

  it('the cpu oracle: the composed ops\' floats (float32, float64); the backward w·g + 0 per element, g itself where w = 1', async () => {
    await fc.assert(fc.asyncProperty(terms, fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), fc.double({ min: -2, max: 2, noNaN: true }),
      async (ts, dtype, gv) => {
        const on = upload(cpu, dtype, ts);
        expect(read64(cpu.weightedSum(on))).toEqual(read64(composed(cpu, on)));
        const g = cpu.upload(dtype === 'float32' ? Float32Array.of(gv) : Float64Array.of(gv), dtype);
        const grads = cpu.weightedSumBackward(ts.map((t) => t.weights), g).map(read64);
        const round = dtype === 'float32' ? Math.fround : (v: number) => v, g0 = read64(g)[0];
        expect(grads).toEqual(ts.map((t) => t.weights.map((w) => (w === 1 ? g0 : round(w * g0 + 0)))));
      }), propertyOptions(40));
    // −0: a weight-1 gradient passes g on as it is, a scaled one adds +0
    const grads = cpu.weightedSumBackward([[1, 2]], cpu.upload(Float64Array.of(-0), 'float64')).map(read64);
    expect(Object.is(grads[0][0], -0) && Object.is(grads[0][1], 0)).toBe(true);
  });

  /** weightedSum and its backward on WebGPU against the oracle */
  async function compareSum(ts: readonly Term[], gv: number): Promise<void> {
    const gpu = await webgpu();
    const [want, got] = await Promise.all([cpu, gpu].map(async (b) => {
      const g = b.upload(Float32Array.of(gv), 'float32');
      return [await b.read(b.weightedSum(upload(b, 'float32', ts))), ...await Promise.all(b.weightedSumBackward(ts.map((t) => t.weights), g).map((s) => b.read(s)))];
    }));
    // a product and the add after it may fuse on the GPU (one rounding instead of two)
    got.forEach((v, k) => expectClose(v, want[k], 1e-5, 1e-6, k === 0 ? 'sum' : `gradient of term ${k - 1}`));
  }

  it('WebGPU: the oracle\'s values within float32 rounding, with more storages than one dispatch binds', async () => {
    await fc.assert(fc.asyncProperty(terms, fc.double({ min: -2, max: 2, noNaN: true }), compareSum), propertyOptions(20));
    // ten storages and ten gradients: two dispatches each way
    await compareSum(Array.from({ length: 10 }, (_, i) => ({ values: [i / 3, -i], weights: [WEIGHTS[i % WEIGHTS.length], 0.25], shared: false })), 1.5);
  });

  it('rejects no elements, a term past its storage, a weight that is not finite and mixed dtypes', () => {
    const s = cpu.upload(Float64Array.of(1, 2), 'float64');
    expect(() => cpu.weightedSum([{ storage: s, offset: 0, weights: [] }])).toThrow(/no term has an element/);
    expect(() => cpu.weightedSum([{ storage: s, offset: 1, weights: [1, 1] }])).toThrow(/does not fit/);
    expect(() => cpu.weightedSum([{ storage: s, offset: 0, weights: [NaN] }])).toThrow(/finite/);
    expect(() => cpu.weightedSum([{ storage: s, offset: 0, weights: [1] }, { storage: cpu.upload(Float32Array.of(1), 'float32'), offset: 0, weights: [1] }]))
      .toThrow(/one floating-point dtype/);
  });

  it('the autograd op: gradcheck (float64, cpu), a term of one element and weight 1 gets g itself', async () => {
    const r = await gradcheck((a, b, c) => weightedSum([a, b, reshape(c, [])], [[1, -0.5], 2, 1]),
      [{ data: [0.3, -1.2], shape: [2] }, { data: [0.7], shape: [] }, { data: [1.5], shape: [1] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    const x = fromArray(Float64Array.of(2), [], { backend: cpu, requiresGrad: true }), y = fromArray(Float64Array.of(3), [], { backend: cpu, requiresGrad: true });
    backward(weightedSum([x, y], [1, -4]));
    expect([await x.grad!.item(), await y.grad!.item()]).toEqual([1, -4]);
  });

  // weightedSums: groups of terms, each group's sum weighted in the total (L_sup + λ·(L_con,1 + L_con,2) + λ·L_pse)
  const groups = fc.array(fc.record({ terms, pick: fc.nat(WEIGHTS.length - 1) }), { minLength: 1, maxLength: 4 })
    .map((gs) => gs.map(({ terms: ts, pick }) => ({ terms: ts, weight: WEIGHTS[pick] })));
  const uploadGroups = (b: Backend, dtype: 'float32' | 'float64', gs: readonly { terms: Term[]; weight: number }[]) =>
    gs.map((g) => ({ terms: upload(b, dtype, g.terms), weight: g.weight }));
  /** the scale of each term of the groups (its group's weight), and the terms' weights */
  const backwardOf = (gs: readonly { terms: Term[]; weight: number }[]) =>
    ({ weights: gs.flatMap((g) => g.terms.map((t) => t.weights)), scales: gs.flatMap((g) => g.terms.map(() => g.weight)) });

  it('weightedSums, the cpu oracle: each group\'s composed ops, then theirs with the groups\' weights; the backward w·(s·g + 0) + 0', async () => {
    await fc.assert(fc.asyncProperty(groups, fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), fc.double({ min: -2, max: 2, noNaN: true }),
      async (gs, dtype, gv) => {
        const on = uploadGroups(cpu, dtype, gs);
        const sums = on.map((g) => composed(cpu, g.terms));
        const total = composed(cpu, sums.map((s, k) => ({ storage: s, offset: 0, weights: [on[k].weight] })));
        expect(read64(cpu.weightedSums(on))).toEqual([...sums, total].map((s) => read64(s)[0]));
        const g = cpu.upload(dtype === 'float32' ? Float32Array.of(gv) : Float64Array.of(gv), dtype);
        const { weights, scales } = backwardOf(gs);
        const round = dtype === 'float32' ? Math.fround : (v: number) => v, g0 = read64(g)[0];
        const times = (w: number, v: number) => (w === 1 ? v : round(w * v + 0));
        expect(cpu.weightedSumBackward(weights, g, scales).map(read64)).toEqual(weights.map((ws, k) => ws.map((w) => times(w, times(scales[k], g0)))));
      }), propertyOptions(40));
  });

  /** weightedSums and the backward with the groups' weights as scales on WebGPU against the oracle */
  async function compareGroups(gs: readonly { terms: Term[]; weight: number }[], gv: number): Promise<void> {
    const gpu = await webgpu();
    const { weights, scales } = backwardOf(gs);
    const [want, got] = await Promise.all([cpu, gpu].map(async (b) => {
      const g = b.upload(Float32Array.of(gv), 'float32');
      return [Array.from(await b.read(b.weightedSums(uploadGroups(b, 'float32', gs)))), ...await Promise.all(b.weightedSumBackward(weights, g, scales).map(async (s) => Array.from(await b.read(s))))];
    }));
    got.forEach((v, k) => expectClose(v, want[k], 1e-5, 1e-6, k === 0 ? 'sums' : `gradient of term ${k - 1}`));
  }

  it('weightedSums on WebGPU: the oracle\'s values within float32 rounding, one dispatch each way, and with more storages than one dispatch binds', async () => {
    const gpu = await webgpu() as WebGPUBackend;
    await fc.assert(fc.asyncProperty(groups, fc.double({ min: -2, max: 2, noNaN: true }), compareGroups), propertyOptions(20));
    const three = [[2, 1], [1, 1], [1, 0.5]].map(([n, weight], k) => ({ terms: Array.from({ length: n }, (_, i) => ({ values: [k + i / 4], weights: [1], shared: false })), weight }));
    const before = gpu.rt.dispatchCount;
    gpu.weightedSums(uploadGroups(gpu, 'float32', three));
    gpu.weightedSumBackward(backwardOf(three).weights, gpu.upload(Float32Array.of(1), 'float32'), backwardOf(three).scales);
    expect(gpu.rt.dispatchCount - before).toBe(2);
    // nine storages in three groups: each group's sum first, then the total
    await compareGroups([4, 3, 2].map((n, k) => ({ terms: Array.from({ length: n }, (_, i) => ({ values: [i / 3, -k], weights: [WEIGHTS[i % WEIGHTS.length], 0.25], shared: false })), weight: WEIGHTS[k + 2] })), 1.5);
  });

  it('WebGPU: more weights than one dispatch\'s parameters hold (28): sums continued across dispatches, gradients written in pieces', async () => {
    const gpu = await webgpu() as WebGPUBackend;
    const termOf = (n: number, seed: number, shared: boolean): Term =>
      ({ values: Array.from(randomArray(n, seed, -3, 3)), weights: Array.from({ length: n }, (_, j) => WEIGHTS[(seed + j) % WEIGHTS.length]), shared });
    // fast-check's counterexample (seed 881489107): 27 elements in 7 storages and the 2 groups' weights, 29 weights
    const sizes = [[2, 3], [3, 2, 3, 1, 1, 2, 3, 2, 2, 3]], unshared = [[0, 1], [5, 7, 8, 9]];
    await compareGroups(sizes.map((ns, k) => ({ terms: ns.map((n, i) => termOf(n, 10 * k + i + 1, !unshared[k].includes(i))), weight: WEIGHTS[k + 2] })), 1.5);
    // one term of 100 elements, alone and as a group (its gradient scaled)
    const long = [termOf(100, 7, false)];
    await compareSum(long, -0.75);
    await compareGroups([{ terms: long, weight: 0.3 }, { terms: [termOf(2, 8, false)], weight: -1.5 }], 1.25);
    // forward 28 elements, then 3 × (the partial + 27); backward 28, 28, 28, 16
    let before = gpu.rt.dispatchCount;
    gpu.weightedSum(upload(gpu, 'float32', long));
    expect(gpu.rt.dispatchCount - before).toBe(4);
    before = gpu.rt.dispatchCount;
    gpu.weightedSumBackward(long.map((t) => t.weights), gpu.upload(Float32Array.of(1), 'float32'));
    expect(gpu.rt.dispatchCount - before).toBe(4);
    // a short term before it in the same storage: the long one's first 25 elements fill the first dispatch each way
    await compareSum([termOf(3, 9, true), termOf(100, 10, true)], 2);
    // 40 one-element terms in 6 storages (every eighth in its own)
    await compareSum(Array.from({ length: 40 }, (_, i) => termOf(1, i + 1, i % 8 !== 0)), 0.5);
    // 8 terms of 10 elements in 2 groups: 80 weights and 8 scales each way
    await compareGroups([0, 1].map((k) => ({ terms: [0, 1, 2, 3].map((i) => termOf(10, 4 * k + i + 1, i % 2 === 0)), weight: WEIGHTS[k + 3] })), -1.25);
  });

  it('weightedSums rejects no groups, more than seven, a group weight that is not finite, and weightedSumBackward scales of another count', () => {
    const s = cpu.upload(Float64Array.of(1, 2), 'float64'), group = { terms: [{ storage: s, offset: 0, weights: [1] }], weight: 2 };
    expect(() => cpu.weightedSums([])).toThrow('weightedSums: expected 1 to 7 groups, got 0');
    expect(() => cpu.weightedSums(new Array(8).fill(group))).toThrow('weightedSums: expected 1 to 7 groups, got 8');
    expect(() => cpu.weightedSums([{ ...group, weight: Infinity }])).toThrow(/groups' weights must be finite/);
    expect(() => cpu.weightedSumBackward([[1], [2]], s, [1])).toThrow(/one finite scale per term \(2\)/);
  });

  it('the weightedSums autograd op: gradcheck of the total and of a sum (float64, cpu); at unit weights the total passes g on', async () => {
    const data = [{ data: [0.3, -1.2], shape: [2] }, { data: [0.7], shape: [] }, { data: [1.5], shape: [] }];
    const fused = (a: Tensor, b: Tensor, c: Tensor) => weightedSums([{ terms: [a, b], weights: [[1, -0.5], 2] }, { terms: [c], weights: [1] }], [0.5, 3]);
    for (const pick of [(r: ReturnType<typeof fused>) => r.total, (r: ReturnType<typeof fused>) => r.sums[0]]) {
      const r = await gradcheck((a, b, c) => pick(fused(a, b, c)), data, { backend: cpu });
      expect(r.ok, r.message).toBe(true);
    }
    const x = fromArray(Float64Array.of(2), [], { backend: cpu, requiresGrad: true }), y = fromArray(Float64Array.of(3), [], { backend: cpu, requiresGrad: true });
    const r = weightedSums([{ terms: [x], weights: [1] }, { terms: [y], weights: [1] }], [1, 1]);
    expect([await r.sums[0].item(), await r.sums[1].item(), await r.total.item()]).toEqual([2, 3, 5]);
    backward(r.total);
    expect([await x.grad!.item(), await y.grad!.item()]).toEqual([1, 1]);
  });
});

describe('the rowLoss autograd op', () => {
  it('writes the losses in the shape asked for ([] for one row: no reshape op), with its gradient; rejects a shape of another size', async () => {
    const [a, b] = [randomArray(6, 3, -1, 1), randomArray(6, 4, -1, 1)];
    for (const [rows, shape] of [[1, []], [2, [2, 1]], [2, [2]]] as const) {
      const r = await gradcheck((x, y) => rowLoss(MSE, rows, x, y, null, shape),
        [{ data: Array.from(a), shape: [2, 3] }, { data: Array.from(b), shape: [2, 3] }], { backend: cpu });
      expect(r.ok, r.message).toBe(true);
      const out = rowLoss(MSE, rows, fromArray(a, [2, 3], { backend: cpu }), fromArray(b, [2, 3], { backend: cpu }), null, shape);
      expect(out.shape).toEqual(shape);
      expect(Array.from(await out.toArray())).toEqual(Array.from(await rowLoss(MSE, rows, fromArray(a, [2, 3], { backend: cpu }), fromArray(b, [2, 3], { backend: cpu })).toArray()));
    }
    expect(() => rowLoss(MSE, 2, fromArray(a, [2, 3], { backend: cpu }), fromArray(b, [2, 3], { backend: cpu }), null, []))
      .toThrow("rowLoss 'mse': a result of shape [] does not hold 2 rows' losses");
  });
});
