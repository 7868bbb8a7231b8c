/**
 * A small seeded PRNG for the data layer (synthetic volumes, augmentation, batch sampling).
 *
 * Generator: xoshiro128** (Blackman & Vigna), 4 × uint32 of state, seeded through splitmix32 so
 * that any 32-bit seed (or string) gives a well-mixed, never all-zero state. All draws are pure
 * functions of the state, and the state is a plain `number[]` so that it can be saved in a JSON
 * checkpoint and restored (`state()` / `setState()`) to continue a stream bit-for-bit.
 */

/** The serializable state of an {@link Rng}: four uint32 words. */
export type RngState = [number, number, number, number];

/** splitmix32 step: returns [output, nextState]. */
function splitmix32(s: number): [number, number] {
  const next = (s + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  return [z, next];
}

/** Hashes a seed made of numbers and strings into one uint32 (FNV-1a over a canonical text, then mixed). */
export function hashSeed(...parts: Array<number | string>): number {
  let h = 0x811c9dc5;
  const text = parts.map((p) => (typeof p === 'number' ? `n${p}` : `s${p}`)).join('\u0000');
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return splitmix32(h)[0];
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  #s: Uint32Array = new Uint32Array(4);

  /** A generator seeded from a number (any finite value; its low 32 bits after truncation are used) or a string. */
  constructor(seed: number | string = 0) {
    let s = typeof seed === 'string' ? hashSeed(seed) : Math.trunc(seed) >>> 0;
    for (let i = 0; i < 4; i++) {
      const [out, next] = splitmix32(s);
      this.#s[i] = out;
      s = next;
    }
    if ((this.#s[0]! | this.#s[1]! | this.#s[2]! | this.#s[3]!) === 0) this.#s[0] = 1;
  }

  /** A generator restored from a saved state. */
  static fromState(state: readonly number[]): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  /** The current state (a copy). */
  state(): RngState {
    return [this.#s[0]!, this.#s[1]!, this.#s[2]!, this.#s[3]!];
  }

  /** Restores a state produced by {@link state}. */
  setState(state: readonly number[]): void {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff) ||
      state.every((w) => w === 0)
    ) {
      throw new Error(`Rng.setState: expected four uint32 words, not all zero, got ${JSON.stringify(state)}`);
    }
    for (let i = 0; i < 4; i++) this.#s[i] = state[i]!;
  }

  /** An independent copy with the same state. */
  clone(): Rng {
    return Rng.fromState(this.state());
  }

  /** Next uint32. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2] = s[2]! ^ s[0]!;
    s[3] = s[3]! ^ s[1]!;
    s[1] = s[1]! ^ s[2]!;
    s[0] = s[0]! ^ s[3]!;
    s[2] = s[2]! ^ t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.random();
  }

  /** Uniform integer in [0, n) (unbiased, rejection sampling); n must be an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) throw new Error(`Rng.int: bad range ${n}`);
    if (n === 1) return 0;
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const u = this.nextU32();
      if (u < limit) return u % n;
    }
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  intIn(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Standard normal deviate (Box–Muller, no cached spare so the state alone determines the stream). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher–Yates shuffle; returns the array. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
}
