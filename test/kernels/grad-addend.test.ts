import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend, CdtParams, Storage } from '../../src/kernels/index.js';
import { CpuBackend } from '../../src/kernels/index.js';
import { backward } from '../../src/autograd/backward.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import { add, mul, mulScalar, sum } from '../../src/autograd/ops.js';
import { scaledSigmoid, tS2R } from '../../src/dbisl/transform.js';
import { fromArray, tidy } from '../../src/tensor/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, expectSameFloats, randomArray, view, webgpu } from '../helpers/backends.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * The backward kernels that add the sum of an input's other gradients themselves (an `addend`), in place of the
 * autograd's add after them (DBiSL: σ's backward adds the loss's own gradient of z and of R̂, T_s2r's that of Ŷ):
 * on each backend the floats of the backward and then the add (bit for bit where sameBitsExpected), WebGPU against
 * the cpu oracle within float32 rounding on random shapes; through the autograd (an `accumulate` grad term) the
 * gradients of a function that uses its input twice equal the unfused composition's and pass gradcheck.
 */

const flat = (s: Storage) => view(s, [s.length]);
const read = async (b: Backend, s: Storage) => Float64Array.from(await b.read(s));

/** σ(a·x)'s backward of n elements from offset with and without the addend, and the backward then the add */
async function sigmoidBackwardBoth(b: Backend, c: SigmoidCase): Promise<{ fused: Float64Array; composed: Float64Array }> {
  const y = b.upload(Float32Array.from(randomArray(c.offset + c.n, c.seed, 0.001, 0.999)), 'float32');
  const g = b.upload(Float32Array.from(randomArray(c.n, c.seed + 1, -2, 2)), 'float32');
  const addend = b.upload(Float32Array.from(randomArray(c.n, c.seed + 2, -3, 3)), 'float32');
  const fused = b.scaledSigmoidBackward(y, c.offset, g, c.n, c.a, addend);
  const alone = b.scaledSigmoidBackward(y, c.offset, g, c.n, c.a);
  const composed = b.binary('add', flat(addend), flat(alone));
  const out = { fused: await read(b, fused), composed: await read(b, composed) };
  for (const s of [y, g, addend, fused, alone, composed]) b.free(s);
  return out;
}

type SigmoidCase = { n: number; offset: number; a: number; seed: number };
const sigmoidCase = fc.record({
  n: fc.integer({ min: 1, max: 700 }), offset: fc.integer({ min: 0, max: 9 }), a: fc.constantFrom(1, -1500, -4, 0.3),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

/** T_s2r's backward with and without the addend (from the backend's own distances), and the backward then the add */
async function signedBackwardBoth(b: Backend, c: CdtCase): Promise<{ fused: Float64Array; composed: Float64Array }> {
  const n = c.shape.reduce((x, y) => x * y, 1);
  const p = b.upload(Float32Array.from(randomArray(n, c.seed, 0.001, 0.999)), 'float32');
  const g = b.upload(Float32Array.from(randomArray(n, c.seed + 1, -2, 2)), 'float32');
  const addend = b.upload(Float32Array.from(randomArray(n, c.seed + 2, -3, 3)), 'float32');
  const { signed, distances } = b.cdtSigned(p, c.shape, c.params, true);
  const fused = b.cdtSignedBackward(p, distances!, g, c.shape, c.params, addend);
  const alone = b.cdtSignedBackward(p, distances!, g, c.shape, c.params);
  const composed = b.binary('add', flat(addend), flat(alone));
  const out = { fused: await read(b, fused), composed: await read(b, composed) };
  for (const s of [p, g, addend, signed, distances!, fused, alone, composed]) b.free(s);
  return out;
}

type CdtCase = { shape: number[]; params: CdtParams; seed: number };
const cdtCase = fc.record({
  shape: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.constant(1), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 9 }))
    .map((s) => [...s]),
  params: fc.constantFrom<CdtParams>({ radius: 2, h: 0.35, eps: 1e-6 }, { radius: 3, h: 0.5, eps: 1e-4 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

describe('backward kernels with an addend: the backward then the add', () => {
  it('scaledSigmoidBackward on cpu: bit for bit; its checks', async () => {
    await fc.assert(fc.asyncProperty(sigmoidCase, async (c) => {
      const { fused, composed } = await sigmoidBackwardBoth(cpu, c);
      expect(Array.from(fused)).toEqual(Array.from(composed));
    }), propertyOptions(30));
    const y = cpu.upload(Float32Array.of(0.5, 0.5), 'float32');
    expect(() => cpu.scaledSigmoidBackward(y, 0, y, 2, 1, cpu.upload(Float32Array.of(1), 'float32'))).toThrow('scaledSigmoidBackward: the addend holds 1 elements, needs 2');
    expect(() => cpu.scaledSigmoidBackward(y, 0, y, 2, 1, cpu.upload(Float64Array.of(1, 1), 'float64'))).toThrow('scaledSigmoidBackward: the addend is float64, the output float32');
  });

  it('cdtSignedBackward on cpu: bit for bit; its checks', async () => {
    await fc.assert(fc.asyncProperty(cdtCase, async (c) => {
      const { fused, composed } = await signedBackwardBoth(cpu, c);
      expect(Array.from(fused)).toEqual(Array.from(composed));
    }), propertyOptions(20));
    const p = cpu.upload(Float32Array.of(0.5, 0.5), 'float32'), d = cpu.upload(new Float32Array(4), 'float32');
    const shape = [1, 1, 1, 1, 2], params = { radius: 2, h: 0.35, eps: 1e-6 };
    expect(() => cpu.cdtSignedBackward(p, d, p, shape, params, cpu.upload(Float32Array.of(1), 'float32'))).toThrow('cdtSignedBackward: the addend holds 1 elements, needs 2');
    expect(() => cpu.cdtSignedBackward(p, d, p, shape, params, cpu.upload(Float64Array.of(1, 1), 'float64'))).toThrow('cdtSignedBackward: the addend is float64, p float32');
  });

  it('WebGPU: the backward then the add on WebGPU, and the cpu oracle within float32 rounding (both kernels)', async () => {
    const gpu = await webgpu();
    await fc.assert(fc.asyncProperty(sigmoidCase, async (c) => {
      const [got, want] = await Promise.all([sigmoidBackwardBoth(gpu, c), sigmoidBackwardBoth(cpu, c)]);
      expectSameFloats(gpu, got.fused, got.composed, 'σ backward + addend vs σ backward, then add');
      expectClose(got.fused, want.fused, 1e-6, 1e-5, 'σ backward + addend vs the oracle');
    }), propertyOptions(15));
    await fc.assert(fc.asyncProperty(cdtCase, async (c) => {
      const [got, want] = await Promise.all([signedBackwardBoth(gpu, c), signedBackwardBoth(cpu, c)]);
      expectSameFloats(gpu, got.fused, got.composed, 'T_s2r backward + addend vs T_s2r backward, then add');
      // the distances (and so the clamps' masks) are each backend's own: compare where the oracle's terms are tame
      expectClose(got.fused, want.fused, 1e-4, 1e-3, 'T_s2r backward + addend vs the oracle');
    }), propertyOptions(10));
  });
});

describe('an accumulate grad term through the autograd', () => {
  const shape = [2, 1, 3, 3, 4], n = 72;
  // h = x·1 used twice, through σ(a·h) (or T_s2r(h)) and in h·h: when the first's rule runs, backward holds h's gradient
  // from h·h (2h), which the kernel adds
  const uses = (through: (h: Tensor) => Tensor, second: boolean) => (x: Tensor, w: Tensor) => {
    const h = mulScalar(x, 1), first = sum(mul(through(h), w));
    return second ? add(first, sum(mul(h, h))) : first;
  };
  const cases: [string, (h: Tensor) => Tensor][] = [
    ['σ(h)', (h) => scaledSigmoid(h)], ['σ(−3h)', (h) => scaledSigmoid(h, -3)], ['T_s2r(h)', (h) => tS2R(h, { radius: 2, h: 0.5 })],
  ];
  const xData = randomArray(n, 11, 0.05, 0.95), wData = randomArray(n, 12, -1, 1);
  async function gradOfX(b: Backend, f: (x: Tensor, w: Tensor) => Tensor): Promise<number[]> {
    const x = fromArray(Float32Array.from(xData), shape, { backend: b, requiresGrad: true });
    const w = fromArray(Float32Array.from(wData), shape, { backend: b });
    tidy(() => backward(f(x, w)));
    const values = Array.from(await x.grad!.toArray());
    x.dispose();
    w.dispose();
    return values;
  }
  it('the kernels get the sum: each backward rule is handed h\'s gradient from h·h as its addend (cpu)', async () => {
    // the kernels are own properties, set by CpuBackend's constructor
    const spy = new CpuBackend(), added: string[] = [];
    const [sigmoidBackward, signedBackward] = [spy.scaledSigmoidBackward, spy.cdtSignedBackward];
    spy.scaledSigmoidBackward = (...a) => { if (a[5]) added.push('σ'); return sigmoidBackward(...a); };
    spy.cdtSignedBackward = (...a) => { if (a[5]) added.push('T_s2r'); return signedBackward(...a); };
    for (const [, through] of cases) await gradOfX(spy, uses(through, true));
    expect(added).toEqual(['σ', 'σ', 'T_s2r']);
  });

  for (const name of ['cpu', 'webgpu'] as const) {
    it(`${name}: the gradient of x is the first use's plus 2x (the add the kernel replaces), and passes gradcheck`, async () => {
      const b = name === 'cpu' ? cpu : await webgpu();
      for (const [what, through] of cases) {
        const both = await gradOfX(b, uses(through, true)), first = await gradOfX(b, uses(through, false));
        const x32 = Float32Array.from(xData);
        expect(both, what).toEqual(first.map((g, i) => Math.fround(g + 2 * x32[i])));
        if (name === 'cpu' || what !== 'T_s2r(h)') {
          const r = await gradcheck(uses(through, true), [{ data: xData, shape }, { data: wData, shape }], { backend: b });
          expect(r.ok, `${what}: ${r.message}`).toBe(true);
        }
      }
    });
  }
});
