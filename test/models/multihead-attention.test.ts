import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backward, gradcheck, mul, sum } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { MultiheadAttention, generateSquareSubsequentMask } from '../../src/models/index.js';
import { dispose, fromArray, memory, tidy } from '../../src/tensor/index.js';
import { hostValues, refMultiheadAttention as reference, type Bias } from '../helpers/attention-reference.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * nn.MultiheadAttention as MultiheadAttention: against the same attention written out with float64 loops (random
 * shapes, both layouts, kdim/vdim), the masks' meanings (int32 = PyTorch's bool, True = masked out; float = added),
 * the is_causal hint's rule, unbatched inputs, PyTorch's parameter names, counts and init, gradients, errors, WebGPU.
 */

/** [N, T, F] ↔ [T, N, F] on the host */
function swap01(x: ArrayLike<number>, a: number, b: number, f: number): Float64Array {
  const y = new Float64Array(a * b * f);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let c = 0; c < f; c++) y[(j * a + i) * f + c] = x[(i * b + j) * f + c];
  return y;
}

/** the mean over the heads of weights [N, H, L, S] */
function headMean(w: Float64Array, n: number, h: number, ls: number): Float64Array {
  const y = new Float64Array(n * ls);
  for (let b = 0; b < n; b++) for (let hi = 0; hi < h; hi++) for (let i = 0; i < ls; i++) y[b * ls + i] += w[(b * h + hi) * ls + i] / h;
  return y;
}

const t32 = (data: ArrayLike<number>, shape: number[], backend: Backend = cpu) => fromArray(data, shape, { dtype: 'float32', backend });
const i32 = (data: ArrayLike<number>, shape: number[]) => fromArray(data, shape, { dtype: 'int32', backend: cpu });

describe('MultiheadAttention forward', () => {
  it('equals the loop reference on random shapes, both layouts, with and without kdim/vdim and bias (output and averaged weights)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        n: fc.integer({ min: 1, max: 2 }), l: fc.integer({ min: 1, max: 4 }), s: fc.integer({ min: 1, max: 4 }), h: fc.integer({ min: 1, max: 3 }),
        d: fc.integer({ min: 1, max: 3 }), kdim: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }), vdim: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
        batchFirst: fc.boolean(), bias: fc.boolean(), seed: fc.integer({ min: 1, max: 10_000 }),
      }),
      async ({ n, l, s, h, d, kdim, vdim, batchFirst, bias, seed }) => {
        const e = h * d, dims = { n, l, s, e, h, kdim: kdim ?? e, vdim: vdim ?? e };
        const m = new MultiheadAttention(e, h, { kdim, vdim, batchFirst, bias, seed, backend: cpu });
        const q = randomArray(n * l * e, seed + 1, -1, 1), k = randomArray(n * s * dims.kdim, seed + 2, -1, 1), v = randomArray(n * s * dims.vdim, seed + 3, -1, 1);
        const layout = (x: ArrayLike<number>, t: number, f: number) => (batchFirst ? t32(x, [n, t, f]) : t32(swap01(x, n, t, f), [t, n, f]));
        const [y, w] = m.forward(layout(q, l, e), layout(k, s, dims.kdim), layout(v, s, dims.vdim));
        const want = await reference(m, q, k, v, dims);
        const out = await y.toArray();
        expectClose(batchFirst ? out : swap01(out, l, n, e), want.out, 1e-5, 1e-4, 'output');
        expect(w!.shape).toEqual([n, l, s]);
        expectClose(await w!.toArray(), headMean(want.weights, n, h, l * s), 1e-6, 1e-4, 'weights');
        m.dispose();
      }), propertyOptions(20));
  });

  it('int32 masks mark what is masked out (PyTorch\'s True), float masks are added; attnMask [L, S] or [N·H, L, S] and keyPaddingMask combine', async () => {
    const dims = { n: 2, l: 3, s: 4, e: 4, h: 2, kdim: 4, vdim: 4 };
    const m = new MultiheadAttention(4, 2, { batchFirst: true, seed: 3, backend: cpu });
    const q = randomArray(24, 1, -1, 1), k = randomArray(32, 2, -1, 1), v = randomArray(32, 3, -1, 1);
    const run = async (options: Parameters<MultiheadAttention['forward']>[3], bias: Bias) => {
      const [y, w] = m.forward(t32(q, [2, 3, 4]), t32(k, [2, 4, 4]), t32(v, [2, 4, 4]), { ...options, averageAttnWeights: false });
      const want = await reference(m, q, k, v, dims, bias);
      expectClose(await y.toArray(), want.out, 1e-5, 1e-4, 'output');
      expect(w!.shape).toEqual([2, 2, 3, 4]);
      expectClose(await w!.toArray(), want.weights, 1e-6, 1e-4, 'weights');
    };
    const padding = [0, 0, 1, 0, 1, 0, 0, 0]; // [N, S]: batch 0 ignores key 2, batch 1 key 0
    await run({ keyPaddingMask: i32(padding, [2, 4]) }, (b, _h, _i, j) => (padding[b * 4 + j] ? -Infinity : 0));
    const floatPadding = randomArray(8, 4, -2, 2);
    await run({ keyPaddingMask: t32(floatPadding, [2, 4]) }, (b, _h, _i, j) => Math.fround(floatPadding[b * 4 + j]));
    const forbid = [0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0]; // [L, S]
    await run({ attnMask: i32(forbid, [3, 4]), keyPaddingMask: i32(padding, [2, 4]) },
      (b, _h, i, j) => (forbid[i * 4 + j] || padding[b * 4 + j] ? -Infinity : 0));
    const perHead = randomArray(2 * 2 * 12, 5, -2, 2); // [N·H, L, S], batch-major
    await run({ attnMask: t32(perHead, [4, 3, 4]) }, (b, h, i, j) => Math.fround(perHead[((b * 2 + h) * 3 + i) * 4 + j]));
    m.dispose();
  });

  it('isCausal is PyTorch\'s hint: it needs attnMask; with needWeights or a keyPaddingMask attnMask applies, otherwise the causal mask does', async () => {
    const dims = { n: 1, l: 3, s: 3, e: 4, h: 2, kdim: 4, vdim: 4 };
    const m = new MultiheadAttention(4, 2, { batchFirst: true, seed: 4, backend: cpu });
    const x = randomArray(12, 6, -1, 1), xt = t32(x, [1, 3, 4]);
    const notCausal = i32([0, 0, 1, 0, 0, 0, 0, 0, 0], [3, 3]); // a mask that is not the causal one shows which applied
    expect(() => m.forward(xt, xt, xt, { isCausal: true })).toThrow('MultiheadAttention: isCausal is a hint that needs attnMask');
    const causal = await reference(m, x, x, x, dims, (_b, _h, i, j) => (j > i ? -Infinity : 0));
    const given = await reference(m, x, x, x, dims, (_b, _h, i, j) => (i === 0 && j === 2 ? -Infinity : 0));
    expectClose(await m.forward(xt, xt, xt, { attnMask: notCausal, isCausal: true, needWeights: false })[0].toArray(), causal.out, 1e-5, 1e-4, 'the hint applied');
    expectClose(await m.forward(xt, xt, xt, { attnMask: notCausal, isCausal: true })[0].toArray(), given.out, 1e-5, 1e-4, 'attnMask applied (needWeights)');
    expectClose(await m.forward(xt, xt, xt, { attnMask: notCausal, isCausal: true, needWeights: false, keyPaddingMask: i32([0, 0, 0], [1, 3]) })[0].toArray(),
      given.out, 1e-5, 1e-4, 'attnMask applied (keyPaddingMask)');
    // with the real causal mask the two paths agree
    const square = generateSquareSubsequentMask(3, { backend: cpu });
    expect(Array.from(await square.toArray())).toEqual([0, -Infinity, -Infinity, 0, 0, -Infinity, 0, 0, 0]);
    expectClose(await m.forward(xt, xt, xt, { attnMask: square, isCausal: true })[0].toArray(), causal.out, 1e-5, 1e-4, 'square subsequent mask');
    m.dispose();
  });

  it("a query with every key masked out: NaN with needWeights (PyTorch's plain softmax), zeros without (its scaled_dot_product_attention)", async () => {
    const m = new MultiheadAttention(4, 2, { batchFirst: true, seed: 6, backend: cpu });
    const xt = t32(randomArray(12, 8, -1, 1), [1, 3, 4]);
    const forbid = i32([1, 1, 1, 0, 0, 0, 0, 0, 0], [3, 3]); // query 0 sees no key (True = masked out)
    const [withWeights, weights] = m.forward(xt, xt, xt, { attnMask: forbid });
    const nan = Array.from(await withWeights.toArray());
    expect(nan.slice(0, 4).every(Number.isNaN)).toBe(true);
    expect(Array.from(await weights!.toArray()).slice(0, 3).every(Number.isNaN)).toBe(true);
    const [withoutWeights] = m.forward(xt, xt, xt, { attnMask: forbid, needWeights: false });
    const zero = Array.from(await withoutWeights.toArray());
    expect(zero.slice(0, 4)).toEqual([0, 0, 0, 0]); // the out_proj bias is 0 at init
    expect(zero.slice(4)).toEqual(nan.slice(4));
    m.dispose();
  });

  it('unbatched [L, E] inputs (and masks [S], [H, L, S]) give the batch-of-one results without the batch axis; needWeights false gives null', async () => {
    const m = new MultiheadAttention(6, 3, { seed: 5, backend: cpu });
    const q = randomArray(12, 7, -1, 1), k = randomArray(18, 8, -1, 1);
    const headMask = randomArray(3 * 2 * 3, 9, -1, 1);
    const [y, w] = m.forward(t32(q, [2, 6]), t32(k, [3, 6]), t32(k, [3, 6]), { keyPaddingMask: i32([0, 1, 0], [3]), attnMask: t32(headMask, [3, 2, 3]), averageAttnWeights: false });
    const [yb, wb] = m.forward(t32(q, [2, 1, 6]), t32(k, [3, 1, 6]), t32(k, [3, 1, 6]), { keyPaddingMask: i32([0, 1, 0], [1, 3]), attnMask: t32(headMask, [3, 2, 3]), averageAttnWeights: false });
    expect([y.shape, w!.shape]).toEqual([[2, 6], [3, 2, 3]]);
    expect(Array.from(await y.toArray())).toEqual(Array.from(await yb.toArray()));
    expect(Array.from(await w!.toArray())).toEqual(Array.from(await wb!.toArray()));
    expect(m.forward(t32(q, [2, 6]), t32(k, [3, 6]), t32(k, [3, 6]), { needWeights: false })[1]).toBeNull();
    m.dispose();
  });

  it('dropout on the weights in training follows the seeded stream (seedDropout, dropoutState); eval mode has none', async () => {
    const m = new MultiheadAttention(4, 2, { dropout: 0.5, batchFirst: true, seed: 6, backend: cpu });
    const x = t32(randomArray(24, 10, -1, 1), [2, 3, 4]);
    const run = async () => Array.from(await m.forward(x, x, x)[0].toArray());
    m.seedDropout(9);
    const first = await run();
    const state = m.dropoutState();
    const second = await run();
    m.seedDropout(9);
    expect(await run()).toEqual(first);
    m.loadDropoutState(state);
    expect(await run()).toEqual(second);
    expect(second).not.toEqual(first);
    m.eval();
    const evaluated = await run();
    const want = await reference(m, await x.toArray(), await x.toArray(), await x.toArray(), { n: 2, l: 3, s: 3, e: 4, h: 2, kdim: 4, vdim: 4 });
    expectClose(evaluated, want.out, 1e-5, 1e-4, 'eval output');
    expect(Object.keys(state)).toEqual(['']);
    m.dispose();
  });
});

describe('MultiheadAttention parameters', () => {
  it('has PyTorch\'s state-dict keys, shapes and parameter counts', () => {
    // E = 8: in_proj_weight 3E·E = 192, in_proj_bias 3E = 24, out_proj E·E + E = 72 → 4E² + 4E = 288
    const same = new MultiheadAttention(8, 2, { backend: cpu });
    expect([...same.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['in_proj_weight', [24, 8]], ['in_proj_bias', [24]], ['out_proj.weight', [8, 8]], ['out_proj.bias', [8]],
    ]);
    expect(same.numParameters()).toBe(4 * 64 + 4 * 8);
    // kdim 3, vdim 5: q E·E = 64, k E·kdim = 24, v E·vdim = 40, in_proj_bias 24, out_proj 72 → 224
    const separate = new MultiheadAttention(8, 4, { kdim: 3, vdim: 5, backend: cpu });
    expect([...separate.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['q_proj_weight', [8, 8]], ['k_proj_weight', [8, 3]], ['v_proj_weight', [8, 5]], ['in_proj_bias', [24]], ['out_proj.weight', [8, 8]], ['out_proj.bias', [8]],
    ]);
    expect(separate.numParameters()).toBe(64 + 24 + 40 + 24 + 72);
    const noBias = new MultiheadAttention(8, 2, { bias: false, backend: cpu });
    expect([...noBias.stateSpec().keys()]).toEqual(['in_proj_weight', 'out_proj.weight']);
    expect(noBias.numParameters()).toBe(4 * 64);
    expect(same.toString().split('\n').slice(0, 2)).toEqual(['MultiheadAttention()  # in_proj_weight [24, 8], in_proj_bias [24]; 288 params',
      '  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)  # weight [8, 8], bias [8]; 72 params']);
    [same, separate, noBias].forEach((m) => m.dispose());
  });

  it('initialises as PyTorch: xavier_uniform_ projections, zero biases, out_proj.weight as Linear\'s U(±1/√E); seeded', async () => {
    const e = 64;
    const m = new MultiheadAttention(e, 4, { seed: 11, backend: cpu });
    const w = await hostValues(m.inProjWeight!);
    const bound = Math.sqrt(6 / (e + 3 * e)); // fan_in E, fan_out 3E of the [3E, E] matrix
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.99 * bound);
    const std = Math.sqrt(w.reduce((s, x) => s + x * x, 0) / w.length);
    expect(Math.abs(std - bound / Math.sqrt(3)) / (bound / Math.sqrt(3))).toBeLessThan(0.02); // 12 288 draws: ±2 % is > 3 σ
    expect(Array.from(await hostValues(m.inProjBias!)).every((x) => x === 0)).toBe(true);
    expect(Array.from(await hostValues(m.outProj.bias!)).every((x) => x === 0)).toBe(true);
    const ow = await hostValues(m.outProj.weight);
    expect(Math.max(...ow.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(e));
    expect(Math.max(...ow.map(Math.abs))).toBeGreaterThan(0.95 / Math.sqrt(e));
    const again = new MultiheadAttention(e, 4, { seed: 11, backend: cpu });
    expect(Array.from(await hostValues(again.inProjWeight!))).toEqual(Array.from(w));
    const separate = new MultiheadAttention(6, 2, { kdim: 10, seed: 1, backend: cpu });
    const kw = await hostValues(separate.kProjWeight!);
    expect(Math.max(...kw.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / (10 + 6))); // [E, kdim]: fan_in kdim, fan_out E
    [m, again, separate].forEach((x) => x.dispose());
  });
});

describe('MultiheadAttention gradients and errors', () => {
  it('passes the float64 gradient check in query, key and value (separate kdim/vdim weights; masks)', async () => {
    const m = new MultiheadAttention(4, 2, { kdim: 3, vdim: 2, batchFirst: true, seed: 12, backend: cpu });
    await toFloat64(m);
    const padding = fromArray([0, 0, 1], [1, 3], { dtype: 'int32', backend: cpu });
    const r = await gradcheck((q, k, v) => m.forward(q, k, v, { keyPaddingMask: padding })[0],
      [{ data: randomArray(8, 1, -1, 1), shape: [1, 2, 4] }, { data: randomArray(9, 2, -1, 1), shape: [1, 3, 3] }, { data: randomArray(6, 3, -1, 1), shape: [1, 3, 2] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    const self = new MultiheadAttention(4, 2, { seed: 13, backend: cpu });
    await toFloat64(self);
    const weights = await gradcheck((x) => self.forward(x, x, x, { averageAttnWeights: false })[1]!, [{ data: randomArray(16, 4, -1, 1), shape: [2, 2, 4] }], { backend: cpu });
    expect(weights.ok, weights.message).toBe(true);
    m.dispose();
    self.dispose();
  });

  it('refuses bad configurations and inputs with messages naming the shapes', () => {
    expect(() => new MultiheadAttention(10, 3)).toThrow('MultiheadAttention: embedDim 10 must be divisible by numHeads 3');
    expect(() => new MultiheadAttention(8, 2, { addBiasKv: true })).toThrow('addBiasKv is not supported');
    expect(() => new MultiheadAttention(8, 2, { addZeroAttn: true })).toThrow('addZeroAttn is not supported');
    expect(() => new MultiheadAttention(8, 2, { dropout: 2 })).toThrow('dropout must be in [0, 1], got 2');
    const m = new MultiheadAttention(4, 2, { backend: cpu });
    const x = (shape: number[]) => t32(new Float32Array(shape.reduce((p, v) => p * v, 1)), shape);
    expect(() => m.forward(x([4]), x([4]), x([4]))).toThrow('MultiheadAttention: query must be [L, N, E] or unbatched [L, E], got [4]');
    expect(() => m.forward(x([2, 1, 4]), x([3, 4]), x([3, 4]))).toThrow('query [2, 1, 4], key [3, 4] and value [3, 4] must have the same rank');
    expect(() => m.forward(x([2, 1, 5]), x([3, 1, 4]), x([3, 1, 4]))).toThrow('query [2, 1, 5] must end in embedDim 4');
    expect(() => m.forward(x([2, 1, 4]), x([3, 2, 4]), x([3, 2, 4]))).toThrow('must match each other and query [2, 1, 4]\'s batch ([L, N, E])');
    expect(() => m.forward(x([2, 1, 4]), x([3, 1, 4]), x([3, 1, 4]), { keyPaddingMask: x([1, 2]) })).toThrow('keyPaddingMask must be [N, S] = [1, 3], got [1, 2]');
    expect(() => m.forward(x([2, 1, 4]), x([3, 1, 4]), x([3, 1, 4]), { attnMask: fromArray([0, 0, 0, 0, 0, 0], [2, 3], { dtype: 'float64', backend: cpu }) }))
      .toThrow("MultiheadAttention: a float attnMask must have the query's dtype float32 (PyTorch's rule), got float64; int32 for a yes/no mask");
    expect(() => m.forward(x([2, 1, 4]), x([3, 1, 4]), x([3, 1, 4]), { attnMask: x([3, 2]) })).toThrow('attnMask must be [L, S] = [2, 3] or [N·numHeads, L, S] = [2, 2, 3], got [3, 2]');
    m.dispose();
  });
});

describe('MultiheadAttention memory', () => {
  it('a forward and backward in training (dropout, masks, weights) leave no tensor behind once outputs and gradients are freed', async () => {
    const m = new MultiheadAttention(4, 2, { dropout: 0.2, kdim: 3, seed: 14, backend: cpu });
    const q = fromArray(randomArray(8, 1, -1, 1), [2, 1, 4], { dtype: 'float32', backend: cpu, requiresGrad: true });
    const k = t32(randomArray(9, 2, -1, 1), [3, 1, 3]), v = t32(randomArray(12, 3, -1, 1), [3, 1, 4]);
    const masks = [i32([0, 0, 1], [1, 3]), i32([0, 1, 0, 0, 0, 0], [2, 3])];
    const before = memory().liveTensors;
    const [y, w] = m.forward(q, k, v, { keyPaddingMask: masks[0], attnMask: masks[1] });
    const loss = tidy(() => sum(mul(y, y)));
    backward(loss);
    dispose([y, w, loss, q.grad]);
    q.grad = null;
    m.zeroGrad();
    expect(memory().liveTensors).toBe(before);
    dispose([q, k, v, ...masks]);
    m.dispose();
  });
});

describe('MultiheadAttention on WebGPU', () => {
  it('equals the cpu backend within float32 rounding (the same seed gives the same weights; masks)', async () => {
    const gpu = await webgpu();
    const q = randomArray(2 * 3 * 8, 1, -1, 1), k = randomArray(2 * 5 * 8, 2, -1, 1);
    const run = async (backend: Backend) => {
      const m = new MultiheadAttention(8, 2, { batchFirst: true, seed: 21, backend });
      const [y, w] = m.forward(t32(q, [2, 3, 8], backend), t32(k, [2, 5, 8], backend), t32(k, [2, 5, 8], backend),
        { keyPaddingMask: fromArray([0, 0, 0, 1, 1, 1, 0, 0, 0, 0], [2, 5], { dtype: 'int32', backend }) });
      const out = [await y.toArray(), await w!.toArray()];
      m.dispose();
      return out;
    };
    const [got, want] = [await run(gpu), await run(cpu)];
    expectClose(got[0], want[0], 2e-6, 2e-5, 'output');
    expectClose(got[1], want[1], 2e-6, 2e-5, 'weights');
  });
});
