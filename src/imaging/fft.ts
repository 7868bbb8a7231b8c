/**
 * A small complex FFT in float64 for the k-space transforms (GibbsNoise, KSpaceSpikeNoise): numpy's `fft`, `ifft`,
 * `fftn`, `ifftn`, `fftshift` and `ifftshift` on split real/imaginary arrays. Power-of-two lengths go through an
 * iterative radix-2 Cooley–Tukey transform; any other length through Bluestein's chirp-z identity, a circular
 * convolution of power-of-two length ≥ 2n − 1 done with the radix-2 transform (so primes cost O(n log n) too).
 * Sign and scaling as numpy's default ("backward"): the forward transform is Σ x_j e^(−2πi jk/n), the inverse has
 * e^(+2πi jk/n) and divides by n.
 */

/** A complex array as two float64 arrays of one length. */
export interface ComplexArray {
  re: Float64Array;
  im: Float64Array;
}

interface Radix2Plan { n: number; reversed: Uint32Array; cos: Float64Array; sin: Float64Array }
/** Bluestein's chirp, its kernel's transform, and scratch of length m for the convolution (plans serve one call at a time). */
interface BluesteinPlan {
  n: number; m: number; chirpRe: Float64Array; chirpIm: Float64Array; kernelRe: Float64Array; kernelIm: Float64Array; scratchRe: Float64Array; scratchIm: Float64Array;
}

const radix2Plans = new Map<number, Radix2Plan>();
const bluesteinPlans = new Map<number, BluesteinPlan>();

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** The twiddles e^(−2πik/n), k < n/2, and the bit-reversal permutation of a power-of-two length n. */
function radix2Plan(n: number): Radix2Plan {
  let plan = radix2Plans.get(n);
  if (!plan) {
    const half = n >> 1, cos = new Float64Array(half), sin = new Float64Array(half), bits = Math.round(Math.log2(n)), reversed = new Uint32Array(n);
    for (let k = 0; k < half; k++) { cos[k] = Math.cos((2 * Math.PI * k) / n); sin[k] = -Math.sin((2 * Math.PI * k) / n); }
    for (let i = 0; i < n; i++) {
      let j = 0;
      for (let b = 0, x = i; b < bits; b++, x >>= 1) j = (j << 1) | (x & 1);
      reversed[i] = j;
    }
    plan = { n, reversed, cos, sin };
    radix2Plans.set(n, plan);
  }
  return plan;
}

/** In-place forward (e^(−2πi…)) radix-2 transform of a power-of-two length, unscaled; `conj` flips the twiddles' sign. */
function radix2(re: Float64Array, im: Float64Array, conj: boolean): void {
  const n = re.length;
  if (n <= 1) return;
  const { reversed, cos, sin } = radix2Plan(n);
  for (let i = 0; i < n; i++) {
    const j = reversed[i]!;
    if (j > i) {
      let t = re[i]!; re[i] = re[j]!; re[j] = t;
      t = im[i]!; im[i] = im[j]!; im[j] = t;
    }
  }
  const sign = conj ? -1 : 1;
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1, step = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * step]!, wi = sign * sin[k * step]!;
        const a = start + k, b = a + half;
        const xr = re[b]! * wr - im[b]! * wi, xi = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - xr; im[b] = im[a]! - xi;
        re[a] = re[a]! + xr; im[a] = im[a]! + xi;
      }
    }
  }
}

/**
 * Bluestein's plan of a length n: the chirp w_j = e^(−πi j²/n) (j² taken mod 2n so the angle stays small) and the
 * radix-2 transform of the conjugate chirp laid out circularly in length m.
 */
function bluesteinPlan(n: number): BluesteinPlan {
  let plan = bluesteinPlans.get(n);
  if (!plan) {
    let m = 1;
    while (m < 2 * n - 1) m <<= 1;
    const chirpRe = new Float64Array(n), chirpIm = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const angle = (Math.PI * ((j * j) % (2 * n))) / n;
      chirpRe[j] = Math.cos(angle); chirpIm[j] = -Math.sin(angle);
    }
    const kernelRe = new Float64Array(m), kernelIm = new Float64Array(m);
    for (let j = 0; j < n; j++) {
      kernelRe[j] = chirpRe[j]!; kernelIm[j] = -chirpIm[j]!;
      if (j > 0) { kernelRe[m - j] = chirpRe[j]!; kernelIm[m - j] = -chirpIm[j]!; }
    }
    radix2(kernelRe, kernelIm, false);
    plan = { n, m, chirpRe, chirpIm, kernelRe, kernelIm, scratchRe: new Float64Array(m), scratchIm: new Float64Array(m) };
    bluesteinPlans.set(n, plan);
  }
  return plan;
}

/** In-place forward transform of any length by X_k = w_k Σ_j (x_j w_j) conj(w_{k−j}), unscaled; `conj` gives the inverse's sign. */
function bluestein(re: Float64Array, im: Float64Array, conj: boolean): void {
  const n = re.length;
  const { m, chirpRe, chirpIm, kernelRe, kernelIm, scratchRe: ar, scratchIm: ai } = bluesteinPlan(n);
  const s = conj ? -1 : 1;
  ar.fill(0); ai.fill(0);
  for (let j = 0; j < n; j++) {
    // x_j · w_j, with w conjugated for the inverse (its sign of i flipped throughout)
    const wr = chirpRe[j]!, wi = s * chirpIm[j]!;
    ar[j] = re[j]! * wr - im[j]! * wi; ai[j] = re[j]! * wi + im[j]! * wr;
  }
  radix2(ar, ai, false);
  for (let k = 0; k < m; k++) {
    // the kernel's transform conjugated-mirrored for the inverse: conj(K) of the conjugate chirp is K of the chirp
    const kr = kernelRe[k]!, ki = conj ? -kernelIm[(m - k) % m]! : kernelIm[k]!;
    const kr2 = conj ? kernelRe[(m - k) % m]! : kr;
    const xr = ar[k]! * kr2 - ai[k]! * ki, xi = ar[k]! * ki + ai[k]! * kr2;
    ar[k] = xr; ai[k] = xi;
  }
  radix2(ar, ai, true);
  for (let k = 0; k < n; k++) {
    const wr = chirpRe[k]!, wi = s * chirpIm[k]!;
    const xr = ar[k]! / m, xi = ai[k]! / m;
    re[k] = xr * wr - xi * wi; im[k] = xr * wi + xi * wr;
  }
}

/** In place: the unscaled transform of one line (forward, or with `inverse` the conjugate-sign one). */
function transformLine(re: Float64Array, im: Float64Array, inverse: boolean): void {
  if (isPowerOfTwo(re.length)) radix2(re, im, inverse);
  else bluestein(re, im, inverse);
}

function checkComplex(x: ComplexArray, name: string): void {
  if (!(x?.re instanceof Float64Array) || !(x.im instanceof Float64Array) || x.re.length !== x.im.length) {
    throw new Error(`${name}: expected { re, im }, two Float64Arrays of one length`);
  }
}

function checkShape(x: ComplexArray, shape: readonly number[], name: string): void {
  checkComplex(x, name);
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((s) => Number.isInteger(s) && s > 0)) {
    throw new Error(`${name}: shape must be a non-empty list of positive integers, got ${JSON.stringify(shape)}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== x.re.length) throw new Error(`${name}: shape [${shape.join(', ')}] holds ${count} values, the array has ${x.re.length}`);
}

/** numpy's `fft.fft` (or `ifft` with `inverse`, divided by n) of one complex sequence; a new array. */
export function fft(x: ComplexArray, inverse = false): ComplexArray {
  checkComplex(x, inverse ? 'ifft' : 'fft');
  return fftn(x, [x.re.length], inverse);
}

/** numpy's `fft.ifft`: the inverse transform divided by n. */
export function ifft(x: ComplexArray): ComplexArray {
  return fft(x, true);
}

/**
 * numpy's `fft.fftn` over every axis of an array of `shape` in C order (the last axis fastest), or with `inverse`
 * `ifftn` (each axis's inverse divided by its length); a new array.
 */
export function fftn(x: ComplexArray, shape: readonly number[], inverse = false): ComplexArray {
  checkShape(x, shape, inverse ? 'ifftn' : 'fftn');
  const re = Float64Array.from(x.re), im = Float64Array.from(x.im);
  let stride = re.length;
  for (const len of shape) {
    stride /= len;
    if (len === 1) continue;
    const lineRe = new Float64Array(len), lineIm = new Float64Array(len);
    const outer = re.length / (len * stride);
    for (let o = 0; o < outer; o++) {
      for (let s = 0; s < stride; s++) {
        const base = o * len * stride + s;
        for (let i = 0; i < len; i++) { lineRe[i] = re[base + i * stride]!; lineIm[i] = im[base + i * stride]!; }
        transformLine(lineRe, lineIm, inverse);
        const scale = inverse ? 1 / len : 1;
        for (let i = 0; i < len; i++) { re[base + i * stride] = lineRe[i]! * scale; im[base + i * stride] = lineIm[i]! * scale; }
      }
    }
  }
  return { re, im };
}

/** numpy's `fft.ifftn`. */
export function ifftn(x: ComplexArray, shape: readonly number[]): ComplexArray {
  return fftn(x, shape, true);
}

/**
 * numpy's `fft.fftshift` over every axis (the zero frequency moved to index ⌊n/2⌋ of each axis: out[(i + ⌊n/2⌋) mod n]
 * = in[i]), or with `inverse` `ifftshift` (its inverse, which differs for odd lengths); a new array.
 */
export function fftshift(x: ComplexArray, shape: readonly number[], inverse = false): ComplexArray {
  checkShape(x, shape, inverse ? 'ifftshift' : 'fftshift');
  const shifts = shape.map((n) => (inverse ? n - Math.floor(n / 2) : Math.floor(n / 2)));
  const strides = shape.map((_, a) => shape.slice(a + 1).reduce((p, q) => p * q, 1));
  const re = new Float64Array(x.re.length), im = new Float64Array(x.im.length);
  const idx = shape.map(() => 0);
  for (let i = 0; i < re.length; i++) {
    let j = 0;
    for (let a = 0; a < shape.length; a++) j += ((idx[a]! + shifts[a]!) % shape[a]!) * strides[a]!;
    re[j] = x.re[i]!; im[j] = x.im[i]!;
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
  return { re, im };
}

/** numpy's `fft.ifftshift`. */
export function ifftshift(x: ComplexArray, shape: readonly number[]): ComplexArray {
  return fftshift(x, shape, true);
}
