import { afterEach, describe, expect, it, vi } from 'vitest';
import { add, backward, mul, neg, reshape, slice, sub, sum } from '../../src/autograd/index.js';
import { dispose, fromArray, tidy } from '../../src/tensor/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';

const f32 = { backend: cpu, dtype: 'float32' as const };

/** x's gradient after backward through loss(x), how many unary kernels of each op and how many fills backward ran */
async function gradientOf(loss: (x: Tensor) => Tensor, values: Float32Array, shape: number[]): Promise<{ grad: Float32Array; unary: Map<string, number>; fills: number }> {
  const x = fromArray(values, shape, { ...f32, requiresGrad: true });
  const y = tidy(() => loss(x));
  const unary = new Map<string, number>();
  const original = cpu.unary.bind(cpu);
  vi.spyOn(cpu, 'unary').mockImplementation((op, view, params) => {
    unary.set(op, (unary.get(op) ?? 0) + 1);
    return original(op, view, params);
  });
  let fills = 0;
  const originalFill = cpu.fill.bind(cpu);
  vi.spyOn(cpu, 'fill').mockImplementation((length, value, dtype) => { fills++; return originalFill(length, value, dtype); });
  backward(y);
  vi.restoreAllMocks();
  const grad = (await x.grad!.toArray()) as Float32Array;
  dispose([x, y]);
  return { grad, unary, fills };
}

afterEach(() => { vi.restoreAllMocks(); });

describe('backward: the sum of an input\'s gradients', () => {
  it("folds sub's negated gradient into the sum: the floats of a + neg(b), without the negations", async () => {
    const n = 64;
    const [p, q, w1, w2, w3, c] = [1, 2, 3, 4, 5, 6].map((seed) => fromArray(randomArray(n, seed), [n], f32));
    // h collects a negated, a plain, and two negated terms (and x itself one of each, as a leaf)
    const build = (minus: (a: Tensor, b: Tensor) => Tensor) => (x: Tensor) => {
      const h = mul(x, c);
      const terms = [mul(minus(p, h), w1), mul(h, w2), mul(minus(q, h), w3), minus(w1, h), mul(minus(p, x), w2), mul(x, w3)];
      return sum(terms.reduce((s, t) => add(s, t)));
    };
    const values = randomArray(n, 7);
    const folded = await gradientOf(build(sub), values, [n]);
    const explicit = await gradientOf(build((a, b) => add(a, neg(b))), values, [n]);
    expect(folded.grad).toEqual(explicit.grad);
    // explicit: one neg per neg(b) in the graph; folded: only where two negated terms meet
    expect(explicit.unary.get('neg')).toBe(4);
    expect(folded.unary.get('neg') ?? 0).toBeLessThan(2);
    dispose([p, q, w1, w2, w3, c]);
  });

  it("adds slices' gradients into their positions (before, after and between whole-tensor gradients, with steps, overlapping)", async () => {
    // small integers: every sum is exact, so the expectation does not depend on the order of the terms
    const shape = [4, 3];
    const x = Float32Array.from({ length: 12 }, (_, i) => i - 5);
    const w = (seed: number, len: number) => fromArray(Float32Array.from({ length: len }, (_, i) => ((i * seed) % 7) - 3), [len], f32);
    const ws = [w(1, 6), w(2, 12), w(3, 6), w(4, 6), w(5, 12), w(6, 4)];
    const flat = (t: Tensor) => reshape(t, [-1]);
    const loss = (xt: Tensor) => {
      const h = mul(xt, fromArray(new Float32Array(12).fill(2), shape, f32));
      const terms = [
        mul(flat(slice(h, 0, 0, 2)), ws[0]), // a window first
        mul(flat(h), ws[1]),
        mul(flat(slice(h, 0, 1, 4, 2)), ws[2]), // into the sum backward owns, with a step
        mul(flat(slice(h, 0, 2, 4)), ws[3]), // overlapping the last one
        mul(flat(h), ws[4]),
        mul(flat(slice(slice(xt, 1, 1, 3), 0, 0, 2)), ws[5]), // the leaf itself: windows only
      ];
      return terms.map((t) => sum(t)).reduce((s, t) => add(s, t));
    };
    const { grad, fills } = await gradientOf(loss, x, shape);
    const host = await Promise.all(ws.map(async (t) => Array.from(await t.toArray())));
    const expected = new Array<number>(12).fill(0);
    for (let r = 0; r < 4; r++) {
      for (let k = 0; k < 3; k++) {
        const i = r * 3 + k;
        let dh = host[1][i] + host[4][i];
        if (r < 2) dh += host[0][i];
        if (r === 1 || r === 3) dh += host[2][((r - 1) / 2) * 3 + k];
        if (r >= 2) dh += host[3][(r - 2) * 3 + k];
        expected[i] = 2 * dh + (r < 2 && k >= 1 ? host[5][r * 2 + k - 1] : 0);
      }
    }
    expect(Array.from(grad)).toEqual(expected);
    // six slices; a zero fill only for those whose gradient comes before backward owns a sum to add it into
    expect(fills).toBeLessThan(6);
    dispose(ws);
  });

  it("adds a slice's gradient in place into a whole gradient nothing else reads, else into a copy of it (no fill, no add)", async () => {
    const w1 = fromArray(Float32Array.from([1, -0, 2, -0, 3, 4, -0, 5, 6, -0, 7, 8]), [4, 3], f32);
    const w2 = fromArray(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], f32);
    const c = fromArray(new Float32Array(12).fill(2), [4, 3], f32);
    /** x's and z's gradients and the kernel calls of backward through loss(h = 2x, z) */
    const run = async (loss: (h: Tensor, z: Tensor) => Tensor) => {
      const x = fromArray(Float32Array.from({ length: 12 }, (_, i) => i - 5), [4, 3], { ...f32, requiresGrad: true });
      const z = fromArray(new Float32Array(12), [4, 3], { ...f32, requiresGrad: true });
      const y = tidy(() => loss(mul(x, c), z));
      const calls = new Map<string, number>();
      const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);
      for (const method of ['fill', 'copy', 'copyInto', 'addInto'] as const) {
        const original = (cpu[method] as (...args: unknown[]) => unknown).bind(cpu);
        vi.spyOn(cpu, method).mockImplementation(((...args: unknown[]) => { count(method); return original(...args); }) as never);
      }
      const binary = cpu.binary.bind(cpu);
      vi.spyOn(cpu, 'binary').mockImplementation((op, p, q) => { count(op); return binary(op, p, q); });
      backward(y);
      vi.restoreAllMocks();
      const grads = [Array.from(await x.grad!.toArray()), z.grad ? Array.from(await z.grad.toArray()) : []];
      dispose([x, z, y]);
      return { calls: Object.fromEntries(calls), grads };
    };
    // h's gradients: mul's fresh g·w1 and, from the slice, g·w2 on rows 0–1. w1 holds −0s: outside the slice h's
    // gradient keeps them (adding a padding's +0 would have made them +0)
    const expected = [4, 4, 10, 8, 16, 20, -0, 10, 12, -0, 14, 16]; // 2·(w1 + w2 on rows 0–1)
    const same = (got: number[], want: number[]) => expect(got.map((v, i) => Object.is(v, want[i]))).toEqual(want.map(() => true));
    const alone = await run((h) => add(sum(mul(h, w1)), sum(mul(slice(h, 0, 0, 2), w2))));
    expect(alone.calls).toEqual({ fill: 1, mul: 3, addInto: 1 }); // fill: the output's ones
    same(alone.grads[0]!, expected);
    // add passes one gradient g·w1 to h and to z: h's may not be updated in place while z's shares its storage
    const shared = await run((h, z) => add(sum(mul(add(h, z), w1)), sum(mul(slice(h, 0, 0, 2), w2))));
    expect(shared.calls).toEqual({ fill: 1, mul: 3, copy: 1, addInto: 1 });
    same(shared.grads[0]!, expected);
    same(shared.grads[1]!, [1, -0, 2, -0, 3, 4, -0, 5, 6, -0, 7, 8]);
    dispose([w1, w2, c]);
  });

  it('joins the gradients of two slices that tile an axis (the rows of L and U) without zeros', async () => {
    const x = Float32Array.from({ length: 12 }, (_, i) => i - 5);
    const w1 = fromArray(Float32Array.from([1, -2, 3]), [1, 3], f32), w2 = fromArray(Float32Array.from({ length: 9 }, (_, i) => i / 2), [3, 3], f32);
    const loss = (xt: Tensor) => {
      const h = mul(xt, fromArray(new Float32Array(12).fill(2), [4, 3], f32));
      return add(sum(mul(slice(h, 0, 0, 1), w1)), sum(mul(slice(h, 0, 1, 4), w2)));
    };
    const { grad, fills } = await gradientOf(loss, x, [4, 3]);
    expect(Array.from(grad)).toEqual([2, -4, 6, ...Array.from({ length: 9 }, (_, i) => i)]);
    expect(fills).toBe(1); // the output's gradient of ones
    dispose([w1, w2]);
  });
});
