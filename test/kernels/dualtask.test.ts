import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, PseudoWeighting, Storage } from '../../src/kernels/index.js';
import { dualTaskFamily } from '../../src/kernels/dualtask/index.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import { add, mulScalar } from '../../src/autograd/ops.js';
import { scaledSigmoid, scaledSigmoids } from '../../src/dbisl/transform.js';
import { cpu, expectClose, expectSameFloats, randomArray, runSmallBenchmarks, view, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * DBiSL's fused maps of the two heads (kernels/dualtask): on each backend they give the floats of the elementwise ops
 * they fuse (sigmoid(affine(x, a, 0)) and its composed backward; the pseudo-label and the weight),
 * bit for bit; WebGPU agrees with the cpu oracle within float32 rounding; σ(a·x) passes gradcheck.
 */

type Dtype = 'float32' | 'float64';
const upload = (b: Backend, data: ArrayLike<number>, dtype: Dtype): Storage =>
  b.upload(dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data), dtype);
const flat = (s: Storage) => view(s, [s.length]);

/** the fused kernel's floats against the composed ops' on the same backend (bench/la-run.sh's precheck runs this on the card) */
function expectComposed(b: Backend, got: Float64Array[], want: Float64Array[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((v, k) => expectSameFloats(b, v, want[k], `fused vs composed, output ${k}`, 1e-6, 1e-5));
}

/** the composed ops' σ(a·x) of n elements from offset, its backward for g (sigmoid's then affine's rule) */
function composedSigmoid(b: Backend, x: Storage, offset: number, n: number, a: number, g: Storage): [Storage, Storage] {
  const xs = b.copy({ storage: x, shape: [n], strides: [1], offset });
  const t = a === 1 ? xs : b.unary('affine', flat(xs), [a, 0]);
  const y = b.unary('sigmoid', flat(t));
  const gy = b.binary('mul', flat(g), flat(b.binary('mul', flat(y), flat(b.unary('affine', flat(y), [-1, 1])))));
  return [y, a === 1 ? gy : b.unary('affine', flat(gy), [a, 0])];
}

/** the composed ops of the pseudo-label inputs: 1[a + b > 1] and the weight of |a − b| */
function composedPseudo(b: Backend, p: Storage, q: Storage, offset: number, n: number, weighting: PseudoWeighting): Storage[] {
  const at = (s: Storage) => ({ storage: s, shape: [n], strides: [1], offset });
  const d = b.unary('abs', flat(b.binary('sub', at(p), at(q))));
  const w = weighting.kind === 'exp'
    ? b.unary('exp', flat(b.unary('affine', flat(d), [-weighting.gamma, 0])))
    : b.unary('step', flat(b.unary('affine', flat(d), [-1, weighting.tau])), [0]);
  return [b.unary('step', flat(b.binary('add', at(p), at(q))), [1]), w];
}

const sigmoidCase = fc.record({
  n: fc.integer({ min: 1, max: 700 }), offset: fc.integer({ min: 0, max: 9 }),
  a: fc.constantFrom(1, -1500, -4, 0.3), spread: fc.constantFrom(0.01, 1, 8), seed: fc.integer({ min: 1, max: 1 << 30 }),
  // a second part (as Ŷ and T_r2s in one kernel), or none
  second: fc.option(fc.record({ n: fc.integer({ min: 1, max: 300 }), a: fc.constantFrom(1, -1500) }), { nil: null }),
});
const pseudoCase = fc.record({
  n: fc.integer({ min: 1, max: 700 }), offset: fc.integer({ min: 0, max: 9 }),
  head: fc.option(fc.record({ offset: fc.integer({ min: 0, max: 4 }), n: fc.integer({ min: 0, max: 600 }) }), { nil: null }),
  weighting: fc.constantFrom<PseudoWeighting | null>(null, { kind: 'exp', gamma: 5 }, { kind: 'exp', gamma: 0.3 }, { kind: 'mask', tau: 0.4 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

type SigmoidCase = { n: number; offset: number; a: number; spread: number; seed: number; second: { n: number; a: number } | null };

/** the parts' outputs (one storage, part after part) and each part's gradient from its place in it */
async function checkSigmoid(b: Backend, dtype: Dtype, c: SigmoidCase): Promise<Float64Array[]> {
  const parts = [{ x: upload(b, randomArray(c.offset + c.n, c.seed, -c.spread, c.spread), dtype), offset: c.offset, n: c.n, a: c.a }];
  if (c.second) parts.push({ x: upload(b, randomArray(c.second.n, c.seed + 2, -c.spread, c.spread), dtype), offset: 0, n: c.second.n, a: c.second.a });
  const y = b.scaledSigmoid(parts);
  const got = [Float64Array.from(await b.read(y))], want: Float64Array[] = [];
  let at = 0;
  for (const [k, part] of parts.entries()) {
    const g = upload(b, randomArray(part.n, c.seed + 1 + 3 * k, -2, 2), dtype);
    got.push(Float64Array.from(await b.read(b.scaledSigmoidBackward(y, at, g, part.n, part.a))));
    const [yc, gc] = composedSigmoid(b, part.x, part.offset, part.n, part.a, g);
    want.push(Float64Array.from(await b.read(yc)), Float64Array.from(await b.read(gc)));
    at += part.n;
  }
  const wantY = new Float64Array(at);
  wantY.set(want[0]);
  if (want.length > 2) wantY.set(want[2], c.n);
  expectComposed(b, got, [wantY, ...want.filter((_, k) => k % 2 === 1)]);
  return got;
}

type PseudoCase = { n: number; offset: number; head: { offset: number; n: number } | null; weighting: PseudoWeighting | null; seed: number };

/** Ỹ after the head's copy, and the weight: the composed ops' floats */
async function checkPseudo(b: Backend, dtype: Dtype, c: PseudoCase): Promise<Float64Array[]> {
  // values near the tests' edges: a + b near 1, a − b near 0
  const p = upload(b, randomArray(c.offset + c.n, c.seed, 0, 1).map((v) => (v < 0.2 ? 0.5 : v)), dtype);
  const q = upload(b, randomArray(c.offset + c.n, c.seed + 1, 0, 1).map((v) => (v < 0.2 ? 0.5 : v)), dtype);
  const headData = c.head ? randomArray(c.head.offset + c.head.n, c.seed + 2).map(Math.round) : null;
  const head = c.head && { storage: upload(b, headData!, dtype), offset: c.head.offset, n: c.head.n };
  const out = b.pseudoLabel(p, q, { pOffset: c.offset, qOffset: c.offset, n: c.n, head, weighting: c.weighting });
  const h = c.head?.n ?? 0;
  const all = Float64Array.from(await b.read(out.pseudo));
  expect(all.length).toBe(h + c.n);
  expect(all.subarray(0, h)).toEqual(Float64Array.from(headData?.subarray(c.head!.offset) ?? []));
  const got = [all.subarray(h)];
  const composed = composedPseudo(b, p, q, c.offset, c.n, c.weighting ?? { kind: 'exp', gamma: 1 });
  if (c.weighting) got.push(Float64Array.from(await b.read(out.weight!)));
  else expect(out.weight).toBeUndefined();
  expectComposed(b, got, await Promise.all(composed.slice(0, got.length).map(async (s) => Float64Array.from(await b.read(s)))));
  return got;
}

describe('dualtask kernels: the cpu oracle', () => {
  it('σ(a·x) and its gradient are the composed elementwise ops\' floats (float32 and float64)', async () => {
    await fc.assert(fc.asyncProperty(sigmoidCase, fc.constantFrom<Dtype>('float32', 'float64'), async (c, dtype) => {
      await checkSigmoid(cpu, dtype, c);
    }), propertyOptions(40));
  });

  it('the pseudo-label and the weight are the composed ops\' floats, after a copy of the head', async () => {
    await fc.assert(fc.asyncProperty(pseudoCase, fc.constantFrom<Dtype>('float32', 'float64'), async (c, dtype) => {
      await checkPseudo(cpu, dtype, c);
    }), propertyOptions(40));
  });

  it('hand values: σ(−2·0.5), its gradient, Ỹ and w', async () => {
    const x = upload(cpu, [9, 0.5], 'float64');
    const y = cpu.scaledSigmoid([{ x, offset: 1, n: 1, a: -2 }, { x, offset: 0, n: 2, a: 1 }]);
    const s = 1 / (1 + Math.E);
    expect(Array.from(await cpu.read(y))).toEqual([s, 1 / (1 + Math.exp(-9)), 1 / (1 + Math.exp(-0.5))]);
    expect(Array.from(await cpu.read(cpu.scaledSigmoidBackward(y, 0, upload(cpu, [3], 'float64'), 1, -2)))).toEqual([-2 * (3 * (s * (1 - s)))]);
    const head = { storage: upload(cpu, [7, 1, 0], 'float64'), offset: 1, n: 2 };
    const out = cpu.pseudoLabel(upload(cpu, [0.9, 0.2], 'float64'), upload(cpu, [5, 0.3, 0.7], 'float64'), { pOffset: 0, qOffset: 1, n: 2, head, weighting: { kind: 'mask', tau: 0.55 } });
    // |a − b| = [0.6, 0.5]
    expect(Array.from(await cpu.read(out.pseudo))).toEqual([1, 0, 1, 0]);
    expect(Array.from(await cpu.read(out.weight!))).toEqual([0, 1]);
  });

  it('rejects a short input, a non-integer count and mixed dtypes', () => {
    const x = upload(cpu, [1, 2, 3], 'float32');
    expect(() => cpu.scaledSigmoid([{ x, offset: 1, n: 3, a: 1 }])).toThrow(/needs 4/);
    expect(() => cpu.scaledSigmoid([{ x, offset: 0, n: 1.5, a: 1 }])).toThrow(/integer/);
    expect(() => cpu.scaledSigmoid([{ x, offset: 0, n: 1, a: 1 }, { x: upload(cpu, [1], 'float64'), offset: 0, n: 1, a: 1 }])).toThrow(/float64/);
    expect(() => cpu.pseudoLabel(x, upload(cpu, [1, 2, 3], 'float64'), { pOffset: 0, qOffset: 0, n: 3, head: null, weighting: null })).toThrow(/float32/);
  });

  it('scaledSigmoid passes gradcheck (float64, cpu), scaled and not, and two inputs in one kernel', async () => {
    const shape = [2, 1, 3, 2, 2];
    for (const a of [1, -3]) {
      const r = await gradcheck((x) => scaledSigmoid(x, a), [{ data: randomArray(24, 5, -2, 2), shape }], { backend: cpu });
      expect(r.ok, r.message).toBe(true);
    }
    const both = await gradcheck((z, r) => {
      const [y, t] = scaledSigmoids([[z, 1], [r, -3]]);
      return add(y, mulScalar(t, 2));
    }, [{ data: randomArray(24, 6, -2, 2), shape }, { data: randomArray(24, 7, -1, 1), shape }], { backend: cpu });
    expect(both.ok, both.message).toBe(true);
  });
});

describe('dualtask kernels on WebGPU', () => {
  it('σ(a·x) and its gradient: the composed WebGPU ops\' floats, the oracle\'s within float32 rounding', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(sigmoidCase, async (c) => {
      const [y, ...grads] = await checkSigmoid(gpu, 'float32', c);
      expectClose(y, (await checkSigmoid(cpu, 'float32', c))[0], 1e-6, 1e-5, 'σ(a·x)');
      // the backward from the same y: near y = 1 an ulp of y is a large part of 1 − y, so the oracle's own y would not do
      const yOnCpu = upload(cpu, y, 'float32');
      const parts = c.second ? [{ n: c.n, a: c.a }, c.second] : [{ n: c.n, a: c.a }];
      let at = 0;
      for (const [k, part] of parts.entries()) {
        const g = upload(cpu, randomArray(part.n, c.seed + 1 + 3 * k, -2, 2), 'float32');
        expectClose(grads[k], await cpu.read(cpu.scaledSigmoidBackward(yOnCpu, at, g, part.n, part.a)), 1e-6, 1e-5, 'its gradient');
        at += part.n;
      }
    }), propertyOptions(15));
  });

  it('the pseudo-label and the weight after the head: the composed WebGPU ops\' floats, the oracle\'s within rounding', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(pseudoCase, async (c) => {
      const got = await checkPseudo(gpu, 'float32', c);
      const want = await checkPseudo(cpu, 'float32', c);
      got.forEach((v, k) => expectClose(v, want[k], 1e-6, 1e-5));
    }), propertyOptions(15));
  });

  it('scaledSigmoid passes gradcheck on WebGPU (float32)', async () => {
    const r = await gradcheck((x) => scaledSigmoid(x, -3), [{ data: randomArray(24, 9, -1, 1), shape: [2, 1, 3, 2, 2] }], { backend: await webgpu() });
    expect(r.ok, r.message).toBe(true);
  });

  it('its benchmark cases run', async () => {
    expect(await runSmallBenchmarks(await webgpu(), dualTaskFamily.benchmarks)).toBe(1);
  });
});
