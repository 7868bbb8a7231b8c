/**
 * A counter-based hash RNG (PCG output permutation), written once in TypeScript and once in WGSL so that a
 * value depends only on (seed, counter): the same seed gives the same dropout mask on one backend, and a
 * kernel needs no generator state.
 */
export function pcgHash(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Uniform in [0, 1) with 24 random bits, exactly representable in float32. */
export function uniformAt(seed: number, counter: number): number {
  return (pcgHash((counter + pcgHash(seed)) >>> 0) >>> 8) / 16777216;
}

export const wgslRandom = /* wgsl */ `
fn pcg_hash(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn uniform_at(seed: u32, counter: u32) -> f32 {
  return f32(pcg_hash(counter + pcg_hash(seed)) >> 8u) / 16777216.0;
}
`;

/**
 * Deterministic pseudo-random float32 values in [lo, hi) from a sequential xorshift32 stream (24 bits per
 * value): the inputs of the kernel benchmarks and of the tests.
 */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}
