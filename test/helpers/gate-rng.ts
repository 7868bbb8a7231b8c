import { Rng } from '../../src/imaging/random.js';

/** An Rng whose first random() returns `u` (a transform's probability gate), the seeded stream after it. */
export class GateRng extends Rng {
  #first: number | null;
  constructor(u: number, seed = 0) {
    super(seed);
    this.#first = u;
  }

  override random(): number {
    const u = this.#first;
    this.#first = null;
    return u ?? super.random();
  }
}
