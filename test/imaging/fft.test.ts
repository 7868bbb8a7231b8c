import { describe, expect, it } from 'vitest';
import { fft, fftn, fftshift, ifft, ifftn, ifftshift, type ComplexArray } from '../../src/imaging/fft.js';
import { Rng } from '../../src/imaging/random.js';

/** The FFT against the naive DFT Σ x_j e^(∓2πi jk/n) on random sizes (primes, powers of two, mixed), and numpy's shift conventions. */

function randomComplex(n: number, rng: Rng): ComplexArray {
  const re = new Float64Array(n), im = new Float64Array(n);
  for (let i = 0; i < n; i++) { re[i] = rng.uniform(-1, 1); im[i] = rng.uniform(-1, 1); }
  return { re, im };
}

/** The naive DFT, angles reduced mod n exactly (jk mod n) so the reference has no large-angle error. */
function naiveDft(x: ComplexArray, inverse: boolean): ComplexArray {
  const n = x.re.length, re = new Float64Array(n), im = new Float64Array(n), s = inverse ? 1 : -1;
  for (let k = 0; k < n; k++) {
    let sr = 0, si = 0;
    for (let j = 0; j < n; j++) {
      const a = (s * 2 * Math.PI * ((j * k) % n)) / n, c = Math.cos(a), d = Math.sin(a);
      sr += x.re[j]! * c - x.im[j]! * d; si += x.re[j]! * d + x.im[j]! * c;
    }
    re[k] = inverse ? sr / n : sr; im[k] = inverse ? si / n : si;
  }
  return { re, im };
}

/** The largest |a − b| over both parts, relative to the largest |b| (1 at least). */
function relError(a: ComplexArray, b: ComplexArray): number {
  let err = 0, scale = 1;
  for (let i = 0; i < b.re.length; i++) {
    err = Math.max(err, Math.abs(a.re[i]! - b.re[i]!), Math.abs(a.im[i]! - b.im[i]!));
    scale = Math.max(scale, Math.abs(b.re[i]!), Math.abs(b.im[i]!));
  }
  return err / scale;
}

describe('fft', () => {
  // float64 round-off of an O(n log n) transform stays near 1e-15·log n; 1e-12 leaves room and still catches any wrong twiddle
  const TOL = 1e-12;

  it('matches the naive DFT on both paths, powers of two (radix-2) and every other length (Bluestein: primes, smooth composites), and on random sizes', () => {
    const rng = new Rng(15);
    const sizes = [1, 2, 4, 8, 16, 32, 64, 128, 3, 5, 6, 7, 9, 12, 48, 96, 100, 105, 160, 243, 343, 11, 13, 17, 22, 31, 37, 97, 127, 251];
    for (let t = 0; t < 8; t++) sizes.push(1 + rng.int(300));
    for (const n of sizes) {
      const x = randomComplex(n, rng);
      expect(relError(fft(x), naiveDft(x, false)), `fft n=${n}`).toBeLessThan(TOL);
      expect(relError(ifft(x), naiveDft(x, true)), `ifft n=${n}`).toBeLessThan(TOL);
      expect(relError(ifft(fft(x)), x), `round trip n=${n}`).toBeLessThan(TOL);
    }
  });

  it('known transforms: a delta is flat, a constant is a delta, e^(2πi·3j/n) is n at k = 3', () => {
    for (const n of [8, 10, 13]) {
      const delta = { re: new Float64Array(n), im: new Float64Array(n) };
      delta.re[0] = 1;
      const d = fft(delta);
      // exact for a power of two; Bluestein's chirp products round once or twice in the last bit
      for (let k = 0; k < n; k++) {
        expect(Math.abs(d.re[k]! - 1)).toBeLessThan(n === 8 ? Number.MIN_VALUE : 1e-14);
        expect(Math.abs(d.im[k]!)).toBeLessThan(n === 8 ? Number.MIN_VALUE : 1e-14);
      }
      const wave = { re: new Float64Array(n), im: new Float64Array(n) };
      for (let j = 0; j < n; j++) { wave.re[j] = Math.cos((2 * Math.PI * 3 * j) / n); wave.im[j] = Math.sin((2 * Math.PI * 3 * j) / n); }
      const w = fft(wave);
      for (let k = 0; k < n; k++) {
        expect(Math.abs(w.re[k]! - (k === 3 ? n : 0))).toBeLessThan(1e-12);
        expect(Math.abs(w.im[k]!)).toBeLessThan(1e-12);
      }
    }
  });

  it('does not modify its input', () => {
    const x = randomComplex(12, new Rng(1));
    const copy = { re: Float64Array.from(x.re), im: Float64Array.from(x.im) };
    fft(x); fftn(x, [3, 4]); fftshift(x, [3, 4]);
    expect(x).toEqual(copy);
  });
});

describe('fftn', () => {
  /** The n-D DFT written as a sum over every index (no separability assumed). */
  function naiveDftN(x: ComplexArray, shape: readonly number[], inverse: boolean): ComplexArray {
    const n = x.re.length, re = new Float64Array(n), im = new Float64Array(n), s = inverse ? 1 : -1;
    const index = (i: number) => { const out: number[] = []; for (let a = shape.length - 1; a >= 0; a--) { out.unshift(i % shape[a]!); i = Math.floor(i / shape[a]!); } return out; };
    for (let k = 0; k < n; k++) {
      const kk = index(k);
      let sr = 0, si = 0;
      for (let j = 0; j < n; j++) {
        const jj = index(j);
        let a = 0;
        shape.forEach((len, ax) => { a += ((jj[ax]! * kk[ax]!) % len) / len; });
        const c = Math.cos(s * 2 * Math.PI * a), d = Math.sin(s * 2 * Math.PI * a);
        sr += x.re[j]! * c - x.im[j]! * d; si += x.re[j]! * d + x.im[j]! * c;
      }
      re[k] = inverse ? sr / n : sr; im[k] = inverse ? si / n : si;
    }
    return { re, im };
  }

  it('matches the n-D DFT on 1-, 2- and 3-D shapes with prime and even axes, and inverts', () => {
    const rng = new Rng(7);
    for (const shape of [[5], [3, 4], [2, 3, 5], [4, 1, 7], [6, 5, 3], [1, 1, 1]]) {
      const n = shape.reduce((a, b) => a * b, 1), x = randomComplex(n, rng);
      expect(relError(fftn(x, shape), naiveDftN(x, shape, false)), `fftn ${shape}`).toBeLessThan(1e-12);
      expect(relError(ifftn(x, shape), naiveDftN(x, shape, true)), `ifftn ${shape}`).toBeLessThan(1e-12);
      expect(relError(ifftn(fftn(x, shape), shape), x)).toBeLessThan(1e-12);
    }
  });

  it("Parseval: Σ|x|² = Σ|X|² / N", () => {
    const shape = [6, 7, 8], x = randomComplex(336, new Rng(3)), X = fftn(x, shape);
    let a = 0, b = 0;
    for (let i = 0; i < 336; i++) { a += x.re[i]! ** 2 + x.im[i]! ** 2; b += X.re[i]! ** 2 + X.im[i]! ** 2; }
    expect(Math.abs(a - b / 336) / a).toBeLessThan(1e-13);
  });

  it('clear errors for a bad shape or array', () => {
    const x = randomComplex(6, new Rng(0));
    expect(() => fftn(x, [4, 2])).toThrow(/fftn: shape \[4, 2\] holds 8 values, the array has 6/);
    expect(() => fftn(x, [0, 6])).toThrow(/fftn: shape must be a non-empty list of positive integers/);
    expect(() => ifftn({ re: new Float64Array(2), im: new Float64Array(3) }, [2])).toThrow(/ifftn: expected \{ re, im \}/);
    expect(() => fft({ re: new Float32Array(2), im: new Float32Array(2) } as unknown as ComplexArray)).toThrow(/fft: expected \{ re, im \}, two Float64Arrays/);
  });
});

describe('fftshift / ifftshift', () => {
  const real = (values: number[]): ComplexArray => ({ re: Float64Array.from(values), im: new Float64Array(values.length) });

  it("numpy's: fftshift([0..4]) = [3, 4, 0, 1, 2], ifftshift = [2, 3, 4, 0, 1]; even lengths agree", () => {
    expect([...fftshift(real([0, 1, 2, 3, 4]), [5]).re]).toEqual([3, 4, 0, 1, 2]);
    expect([...ifftshift(real([0, 1, 2, 3, 4]), [5]).re]).toEqual([2, 3, 4, 0, 1]);
    expect([...fftshift(real([0, 1, 2, 3]), [4]).re]).toEqual([2, 3, 0, 1]);
    expect([...ifftshift(real([0, 1, 2, 3]), [4]).re]).toEqual([2, 3, 0, 1]);
  });

  it('shifts every axis (numpy: fftshift(arange(6).reshape(2, 3)) = [[5, 3, 4], [2, 0, 1]]) and ifftshift undoes it', () => {
    expect([...fftshift(real([0, 1, 2, 3, 4, 5]), [2, 3]).re]).toEqual([5, 3, 4, 2, 0, 1]);
    const x = randomComplex(105, new Rng(2));
    expect(ifftshift(fftshift(x, [3, 5, 7]), [3, 5, 7])).toEqual(x);
  });
});
