import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roundToFloat16 } from '../../src/kernels/elementwise/cpu.js';
import { cpu, randomArray, view, webgpu } from '../helpers/backends.js';
import { layoutArb, pairOf } from '../helpers/layouts.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * The 'roundToFloat16' unary op: the cpu oracle (float64 arithmetic on the exponent read from the bits) against
 * float16's definition on every one of its 65 536 bit patterns, then the WGSL version (integer operations on the
 * float32 bits) against the oracle bit for bit.
 */

/** the value of a float16 bit pattern (exact in float32 and float64) */
function decodeFloat16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1, exponent = (bits >> 10) & 0x1f, fraction = bits & 0x3ff;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}

/** the finite non-negative float16 values in increasing order (0 … 65504) */
const positiveFloat16 = Array.from({ length: 0x7c00 }, (_, bits) => decodeFloat16(bits));

const f32 = new Float32Array(1), f32Bits = new Uint32Array(f32.buffer);
/** the float32 next to v (toward +∞ with up, else toward −∞), for v ≥ 0 */
function nextFloat32(v: number, up: boolean): number {
  f32[0] = v;
  f32Bits[0] += up ? 1 : -1;
  return f32[0];
}

const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** float32 values where rounding to float16 is decided: the f16 values, their midpoints and both their neighbours */
function decisiveFloat32(): Float32Array {
  const values: number[] = [];
  for (let i = 0; i < positiveFloat16.length; i++) {
    const v = positiveFloat16[i]!, mid = i + 1 < positiveFloat16.length ? (v + positiveFloat16[i + 1]!) / 2 : 65520;
    for (const x of [v, mid, nextFloat32(mid, true), nextFloat32(mid, false)]) values.push(x, -x);
  }
  return Float32Array.from(values);
}

describe('roundToFloat16: the cpu oracle', () => {
  it('keeps every float16 value (subnormals, −0, ±65504, ±Inf) and NaN', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = decodeFloat16(bits);
      expect(Object.is(roundToFloat16(v), v), `f16 bits 0x${bits.toString(16)}: ${v}`).toBe(true);
    }
  });

  it('rounds every midpoint to the even neighbour and its float32 and float64 neighbours to the nearer one', () => {
    for (let i = 0; i + 1 < positiveFloat16.length; i++) {
      const lo = positiveFloat16[i]!, hi = positiveFloat16[i + 1]!, mid = (lo + hi) / 2;
      // the even neighbour: an even fraction field (i is the lower one's bit pattern)
      const even = i % 2 === 0 ? lo : hi;
      for (const sign of [1, -1]) {
        expect(roundToFloat16(sign * mid), `midpoint ${sign * mid}`).toBe(sign * even);
        for (const below of [nextFloat32(mid, false), mid - mid * 2 ** -52]) expect(roundToFloat16(sign * below)).toBe(sign * lo);
        for (const above of [nextFloat32(mid, true), mid + mid * 2 ** -52]) expect(roundToFloat16(sign * above)).toBe(sign * hi);
      }
    }
  });

  it('overflows to ±Inf from 65520 (the midpoint above 65504, rounding to the even 2^16) and underflows to ±0 up to 2^−25', () => {
    const cases: [number, number][] = [
      [65504, 65504], [65519.99, 65504], [nextFloat32(65520, false), 65504], [65520, Infinity], [65536, Infinity], [1e300, Infinity],
      [Infinity, Infinity], [2 ** -14, 2 ** -14], [2 ** -24, 2 ** -24], [2 ** -25, 0], [nextFloat32(2 ** -25, true), 2 ** -24],
      [1.5 * 2 ** -24, 2 ** -23], [2.5 * 2 ** -24, 2 ** -23], [1e-30, 0], [5e-324, 0], [1 + 2 ** -11, 1], [1 + 3 * 2 ** -11, 1 + 2 ** -9],
    ];
    for (const [x, want] of cases) {
      expect(roundToFloat16(x), `${x}`).toBe(want);
      expect(Object.is(roundToFloat16(-x), -want), `${-x}`).toBe(true);
    }
    expect(Object.is(roundToFloat16(-0), -0)).toBe(true);
    expect(Object.is(roundToFloat16(-1e-30), -0)).toBe(true);
    expect(Number.isNaN(roundToFloat16(NaN))).toBe(true);
  });

  it('through the backend: float32 and float64 storages keep their dtype', async () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const values = dtype === 'float32' ? Float32Array.from([1 / 3, -70000, 1e-6]) : Float64Array.from([1 / 3, -70000, 1e-6]);
      const s = cpu.upload(values, dtype);
      const out = cpu.unary('roundToFloat16', view(s, [3]));
      expect(out.dtype).toBe(dtype);
      // 1/3 → 1365·2^−12; 1e−6 → 17·2^−24 (an f16 subnormal)
      expect([...await cpu.read(out)]).toEqual([1365 * 2 ** -12, -Infinity, 17 * 2 ** -24]);
      cpu.free(s); cpu.free(out);
    }
  });
});

describe('roundToFloat16: WGSL (integer operations on the float32 bits) against the cpu oracle', () => {
  async function expectSameBits(values: Float32Array, what: string): Promise<void> {
    const g = await webgpu();
    const gs = g.upload(values, 'float32'), cs = cpu.upload(values, 'float32');
    const got = await g.read(g.unary('roundToFloat16', view(gs, [values.length]))) as Float32Array;
    const want = await cpu.read(cpu.unary('roundToFloat16', view(cs, [values.length]))) as Float32Array;
    g.free(gs); cpu.free(cs);
    const gotBits = bitsOf(got), wantBits = bitsOf(want);
    for (let i = 0; i < values.length; i++) {
      if (Number.isNaN(want[i]!) && Number.isNaN(got[i]!)) continue;
      if (gotBits[i] !== wantBits[i]) {
        throw new Error(`${what}: element ${i} = ${values[i]} (bits 0x${bitsOf(values)[i]!.toString(16)}) gave ${got[i]} (0x${gotBits[i]!.toString(16)}), expected ${want[i]} (0x${wantBits[i]!.toString(16)})`);
      }
    }
  }

  it('bit for bit at every f16 value, midpoint and midpoint neighbour, both signs (262 136 values)', async () => {
    await expectSameBits(decisiveFloat32(), 'decisive values');
  });

  it('bit for bit on random float32 bit patterns (NaNs, infinities, f32 subnormals, −0 included) near and far from the f16 range', async () => {
    const patternArb = fc.oneof(
      fc.integer({ min: 0, max: 0xffffffff }),
      // exponents around f16's: 2^-27 … 2^17
      fc.tuple(fc.boolean(), fc.integer({ min: 100, max: 144 }), fc.integer({ min: 0, max: 0x7fffff }))
        .map(([negative, e, fraction]) => ((negative ? 0x80000000 : 0) | (e << 23) | fraction) >>> 0),
      fc.constantFrom(0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0x00000001, 0x807fffff,
        0x477fe000, 0x477ff000, 0x477fefff, 0x33800000, 0x33000000, 0x38800000, 0x387fffff),
    );
    await fc.assert(fc.asyncProperty(fc.array(patternArb, { minLength: 1, maxLength: 300 }), async (patterns) => {
      const values = new Float32Array(Uint32Array.from(patterns).buffer);
      await expectSameBits(values, 'random patterns');
    }), propertyOptions(40));
  });

  it('on random strided views, as every unary op', async () => {
    const g = await webgpu();
    const shapeArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 });
    await fc.assert(fc.asyncProperty(
      shapeArb.chain((shape) => fc.tuple(fc.constant(shape), layoutArb(shape.length))), fc.integer({ min: 1 }),
      async ([shape, layout], seed) => {
        // values spread over f16's whole range: ±(0 … 2^17) with log-uniform magnitudes
        const data = (n: number) => randomArray(n, seed, -28, 17).map((e, i) => (i % 2 ? -1 : 1) * 2 ** e);
        const x = pairOf(g, shape, layout, data, 'float32');
        const got = await g.read(g.unary('roundToFloat16', x.gpu)), want = await cpu.read(cpu.unary('roundToFloat16', x.cpu));
        x.free();
        expect([...got]).toEqual([...want]);
      }), propertyOptions(30));
  });
});
