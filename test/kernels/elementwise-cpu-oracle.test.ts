import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BinaryOp, DType, UnaryOp, View } from '../../src/kernels/index.js';
import { typedArrayFor } from '../../src/kernels/backend.js';
import { erf } from '../../src/kernels/elementwise/cpu.js';
import { cpu, expectClose } from '../helpers/backends.js';
import { layoutArb, place } from '../helpers/layouts.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * The cpu elementwise oracle (src/kernels/elementwise/cpu.ts) on its own: elementwise.test.ts compares WebGPU with it.
 * Every unary and binary op on hand-picked values (PyTorch's results, with NaN, ±Inf and ±0), erf against Python's
 * math.erf (libm), where / copy / copyInto / addInto / cast on strided views against an index walk written here.
 */

const arr = (dtype: DType, values: readonly number[]) => { const a = typedArrayFor(dtype, values.length); a.set(values); return a; };
const flat = (values: readonly number[], dtype: DType = 'float64'): View =>
  ({ storage: cpu.upload(arr(dtype, values), dtype), shape: [values.length], strides: [1], offset: 0 });
const read = async (s: Parameters<typeof cpu.read>[0]) => Array.from(await cpu.read(s));
const unary = (op: UnaryOp, xs: number[], params: number[] = []) => read(cpu.unary(op, flat(xs), params));
const binary = (op: BinaryOp, xs: number[], ys: number[]) => read(cpu.binary(op, flat(xs), flat(ys)));

const { NaN: nan } = Number;
const inf = Infinity;

describe('cpu unary ops by hand', () => {
  it('the arithmetic ones', async () => {
    expect(await unary('neg', [2, -3, 0])).toEqual([-2, 3, -0]);
    expect(await unary('exp', [0, 1, -inf])).toEqual([1, Math.E, 0]);
    expect(await unary('log', [1, Math.E, 0, -1])).toEqual([0, 1, -inf, nan]);
    expect(await unary('sqrt', [4, 2.25, -1])).toEqual([2, 1.5, nan]);
    expect(await unary('rsqrt', [4, 0.25, 0])).toEqual([0.5, 2, inf]);
    expect(await unary('abs', [-2.5, 3, -0])).toEqual([2.5, 3, 0]);
    expect(await unary('sign', [-2.5, 3, 0, nan])).toEqual([-1, 1, 0, 0]);
    expect(await unary('square', [-3, 0.5])).toEqual([9, 0.25]);
    expect(await unary('reciprocal', [4, -0.5, 0])).toEqual([0.25, -2, inf]);
    expect(await unary('tanh', [0, inf, -inf])).toEqual([0, 1, -1]);
  });

  it("round (halves to even, torch.round's rule), floor, ceil and trunc, signed zeros and NaN kept", async () => {
    const x = [-2.5, -1.5, -0.5, -0.4, 0.4, 0.5, 1.5, 2.5, 2.6, -2.6, inf, -inf, nan];
    expect(await unary('round', x)).toEqual([-2, -2, -0, -0, 0, 0, 2, 2, 3, -3, inf, -inf, nan]);
    expect(await unary('floor', x)).toEqual([-3, -2, -1, -1, 0, 0, 1, 2, 2, -3, inf, -inf, nan]);
    expect(await unary('ceil', x)).toEqual([-2, -1, -0, -0, 1, 1, 2, 3, 3, -2, inf, -inf, nan]);
    expect(await unary('trunc', x)).toEqual([-2, -1, -0, -0, 0, 0, 1, 2, 2, -2, inf, -inf, nan]);
  });

  it('relu, leakyRelu, clamp, step and inRange at their thresholds, with NaN', async () => {
    // −0 ≤ 0 gives +0; leakyRelu is x > 0 ? x : slope·x (PyTorch's), so 0 takes the slope: −0 with a negative one
    expect(await unary('relu', [-1, 0, -0, 2, nan])).toEqual([0, 0, 0, 2, nan]);
    expect(await unary('leakyRelu', [-2, 0, 3, nan], [0.1])).toEqual([-0.2, 0, 3, nan]);
    expect(await unary('leakyRelu', [-2, 0, 3], [-0.5])).toEqual([1, -0, 3]);
    expect(await unary('clamp', [-5, -1, 0.5, 2, 7, nan], [-1, 2])).toEqual([-1, -1, 0.5, 2, 2, nan]);
    expect(await unary('step', [0.4, 0.5, 0.6, nan], [0.5])).toEqual([0, 0, 1, 0]);
    expect(await unary('inRange', [-1.5, -1, 0, 2, 2.5, nan], [-1, 2])).toEqual([0, 1, 1, 1, 0, 0]);
    expect(await unary('affine', [1, -2], [3, 0.5])).toEqual([3.5, -5.5]);
    expect(await unary('powScalar', [2, -3, 4], [3])).toEqual([8, -27, 64]);
    expect(await unary('powScalar', [4, 9], [0.5])).toEqual([2, 3]);
  });

  it('sigmoid and softplus: both branches of the stable forms, and the far tails', async () => {
    // [x, σ(x) = 1/(1 + e^−x), softplus(x) = log(1 + e^x)], from mpmath at 40 digits
    const table: [number, number, number][] = [
      [-3, 0.04742587317756678, 0.04858735157374206], [-0.5, 0.37754066879814546, 0.4740769841801067], [0, 0.5, 0.6931471805599453],
      [0.5, 0.6224593312018546, 0.9740769841801067], [3, 0.9525741268224333, 3.048587351573742],
    ];
    for (const [x, s, sp] of table) {
      expectClose(await unary('sigmoid', [x]), [s], 0, 2e-16, `sigmoid ${x}`);
      expectClose(await unary('softplus', [x]), [sp], 0, 2e-16, `softplus ${x}`);
    }
    // the naive forms overflow: e^800 = Inf
    expect(await unary('sigmoid', [800, -800])).toEqual([1, 0]);
    // σ(−710) = e^−710/(1 + e^−710), a float64 subnormal (mpmath); 1/(1 + e^710) = 1/Inf would give 0
    expect(await unary('sigmoid', [-710])).toEqual([4.47628622567513e-309]);
    expect(await unary('softplus', [800, -800])).toEqual([800, 0]);
    expect(await unary('sigmoid', [nan])).toEqual([nan]);
  });

  it('erf within a few float64 ulps of mpmath\'s (odd, ±1 in the tails, NaN kept)', async () => {
    // mpmath.erf(x) at 40 digits; the series is off by up to 1.2e−15 relative (5.5 ulps) over [−6.25, 6.25]
    const table: [number, number][] = [
      [1e-9, 1.1283791670955127e-09], [0.1, 0.1124629160182849], [-0.3, -0.3286267594591274], [0.5, 0.5204998778130465],
      [1, 0.8427007929497149], [1.5, 0.9661051464753108], [2, 0.9953222650189527], [-2.2, -0.9981371537020182],
      [2.5, 0.999593047982555], [3, 0.9999779095030014], [4, 0.9999999845827421], [5.5, 0.9999999999999927],
    ];
    for (const [x, want] of table) expectClose([erf(x)], [want], 0, 2e-15, `erf(${x})`);
    expect(await unary('erf', [0, 5.99, 6, 7, -6, -inf, inf, nan])).toEqual([0, 1, 1, 1, -1, -1, 1, nan]);
  });
});

describe('cpu binary ops by hand', () => {
  it('arithmetic, max and min with NaN on either side, pow', async () => {
    expect(await binary('add', [1, 2], [3, -5])).toEqual([4, -3]);
    expect(await binary('sub', [1, 2], [3, -5])).toEqual([-2, 7]);
    expect(await binary('mul', [1.5, 2], [3, -5])).toEqual([4.5, -10]);
    expect(await binary('div', [3, 1, -1], [2, 0, 0])).toEqual([1.5, inf, -inf]);
    expect(await binary('max', [1, 5, nan, 2], [3, 2, 1, nan])).toEqual([3, 5, nan, nan]);
    expect(await binary('min', [1, 5, nan, 2], [3, 2, 1, nan])).toEqual([1, 2, nan, nan]);
    expect(await binary('pow', [2, -2, 9], [3, 2, 0.5])).toEqual([8, 4, 3]);
  });

  it('comparisons give 1 or 0 (NaN compares unequal), reluBackward masks where the output is ≤ 0', async () => {
    const a = [1, 2, 3, nan], b = [2, 2, 2, nan];
    expect(await binary('eq', a, b)).toEqual([0, 1, 0, 0]);
    expect(await binary('ne', a, b)).toEqual([1, 0, 1, 1]);
    expect(await binary('lt', a, b)).toEqual([1, 0, 0, 0]);
    expect(await binary('le', a, b)).toEqual([1, 1, 0, 0]);
    expect(await binary('gt', a, b)).toEqual([0, 0, 1, 0]);
    expect(await binary('ge', a, b)).toEqual([0, 1, 1, 0]);
    expect(await binary('reluBackward', [5, 6, 7, 8], [-1, 0, 2, nan])).toEqual([0, 0, 7, 8]);
  });

  it('the output keeps the dtype (int32 division truncates on the store, float32 rounds)', async () => {
    const q = cpu.binary('div', flat([7, -7], 'int32'), flat([2, 2], 'int32'));
    expect(q.dtype).toBe('int32');
    expect(await read(q)).toEqual([3, -3]);
    expect(await read(cpu.unary('reciprocal', flat([3], 'float32')))).toEqual([Math.fround(1 / 3)]);
  });
});

/** the storage positions of a view's elements, in C order of their indices, by a walk written here */
function addresses(v: View): number[] {
  const size = v.shape.reduce((p, q) => p * q, 1), out: number[] = [];
  for (let flatIndex = 0; flatIndex < size; flatIndex++) {
    let rest = flatIndex, at = v.offset;
    for (let d = v.shape.length - 1; d >= 0; d--) { at += (rest % v.shape[d]) * v.strides[d]; rest = Math.floor(rest / v.shape[d]); }
    out.push(at);
  }
  return out;
}

const walk = (v: View, values: ArrayLike<number>): number[] => addresses(v).map((at) => values[at]);

const stridedCase = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((shape) => fc.record({
  shape: fc.constant(shape), a: layoutArb(shape.length), b: layoutArb(shape.length), c: layoutArb(shape.length),
  dst: layoutArb(shape.length, false), seed: fc.integer({ min: 1, max: 1 << 30 }),
}));

function filled(length: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length }, () => { s = (s * 1103515245 + 12345) % 2 ** 31; return (s % 17) - 8 + (s % 3) / 4; });
}

describe('cpu elementwise on random strided views against an index walk', () => {
  it('unary, binary, where, copy, cast, copyInto and addInto read and write the right elements', async () => {
    await fc.assert(fc.asyncProperty(stridedCase, async (c) => {
      const make = (l: typeof c.a, seed: number, dtype: DType = 'float64') => {
        const { strides, length } = place(c.shape, l), values = filled(length, seed);
        return { v: { storage: cpu.upload(arr(dtype, values), dtype), shape: c.shape, strides, offset: l.offset } as View, values };
      };
      const a = make(c.a, c.seed), b = make(c.b, c.seed + 1), cond = make(c.c, c.seed + 2);
      const av = walk(a.v, a.values), bv = walk(b.v, b.values), cv = walk(cond.v, cond.values);
      const label = JSON.stringify(c);
      expect(await read(cpu.unary('square', a.v)), label).toEqual(av.map((x) => x * x));
      expect(await read(cpu.binary('sub', a.v, b.v)), label).toEqual(av.map((x, i) => x - bv[i]));
      expect(await read(cpu.where(cond.v, a.v, b.v)), label).toEqual(cv.map((t, i) => (t !== 0 ? av[i] : bv[i])));
      expect(await read(cpu.copy(a.v)), label).toEqual(av);
      const i32 = cpu.cast(a.v, 'int32');
      expect(i32.dtype).toBe('int32');
      expect(await read(i32), label).toEqual(av.map((x) => x | 0));
      const f32 = cpu.cast(a.v, 'float32');
      expect(f32.dtype).toBe('float32');
      expect(await read(f32), label).toEqual(av.map((x) => Math.fround(x)));
      // into a strided destination: its own elements written (or added to), the others left as they were
      for (const into of ['copyInto', 'addInto'] as const) {
        const d = make(c.dst, c.seed + 3);
        cpu[into](d.v, a.v);
        const want = d.values.slice();
        addresses(d.v).forEach((p, i) => { want[p] = into === 'copyInto' ? av[i] : want[p] + av[i]; });
        expect(await read(d.v.storage), `${into} ${label}`).toEqual(want);
      }
    }), propertyOptions(100));
  });

  it('copyInto and addInto refuse one storage, another shape or dtype, and an expanded destination', () => {
    const x = flat([1, 2, 3]);
    for (const op of ['copyInto', 'addInto'] as const) {
      expect(() => cpu[op](x, x)).toThrow(`${op}: the same storage as source and destination`);
      expect(() => cpu[op](flat([1, 2]), x)).toThrow(`${op}: destination [2] and source [3] differ in shape`);
      expect(() => cpu[op](flat([1, 2, 3], 'float32'), x)).toThrow(`${op}: destination float32 and source float64 differ in dtype`);
      const expanded: View = { storage: cpu.upload(new Float64Array(1), 'float64'), shape: [3], strides: [0], offset: 0 };
      expect(() => cpu[op](expanded, x)).toThrow(`${op}: the destination [3] repeats its elements along axis 0 (stride 0); write into a tensor of its own`);
    }
  });
});
