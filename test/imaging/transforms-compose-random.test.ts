import { describe, expect, expectTypeOf, it } from 'vitest';
import { CacheDataset, Compose, isRandomTransform, Rng, type SampleTransform, type Transform } from '../../src/imaging.js';
import { OneOf, RandomOrder, SomeOf } from '../../src/imaging/transforms-compose.js';
import { RandCropByPosNegLabel, RandFlip } from '../../src/imaging/transforms-spatial.js';
import type { Volume } from '../../src/imaging/volume.js';

/**
 * MONAI's OneOf / SomeOf / RandomOrder (monai/transforms/compose.py; tests/transforms/compose/test_some_of.py,
 * test_random_order.py, tests/integration/test_one_of.py).
 *
 * Frequency bounds: over n seeded calls, the count of an event of probability p is Binomial(n, p), σ = √(n p (1 − p));
 * each check allows |count − n p| ≤ 5σ, which a correct sampler misses with probability < 6e-7 per check (the seeds
 * are fixed, so a test is deterministic; the bound says it was not tuned to the seed). A wrong distribution is caught:
 * at n = 6000 the bound is ≤ 5·√(6000/4) ≈ 194 counts, 3.2 % of n, while the errors tested for (uniform instead of
 * weighted, with instead of without replacement) move the counts by ≥ 8 % of n.
 */

/** A sample that records which marker transforms ran, in order. */
type Traced = { trace: readonly string[] };

/** A transform that appends its name to the trace (MONAI's tests use ×2, ×3, ×5: the same idea, order kept too). */
function marker(name: string): SampleTransform {
  return { apply: <T extends object>(d: T): T => ({ ...d, trace: [...(d as unknown as Traced).trace, name] }) };
}

/** A marker that also draws one number, to check that the choice is drawn before the chosen transform's draws. */
function drawing(name: string, seen: number[]): SampleTransform {
  return { apply: <T extends object>(d: T, rng?: Rng): T => { seen.push(rng!.random()); return { ...d, trace: [...(d as unknown as Traced).trace, name] }; } };
}

const start = (): Traced => ({ trace: [] });
const traceOf = (out: unknown): string[] => [...(out as Traced).trace];

function expectBinomial(count: number, n: number, p: number): void {
  const sigma = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(count - n * p), `count ${count} of ${n}, expected ${(n * p).toFixed(1)} ± 5σ (σ = ${sigma.toFixed(1)})`).toBeLessThanOrEqual(5 * sigma + 1e-9);
}

function tally(n: number, seed: number, run: (rng: Rng) => string[]): Map<string, number> {
  const rng = new Rng(seed), counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = run(rng).join(',');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe('OneOf', () => {
  it('applies exactly one transform, chosen with the normalised weights; a zero weight is never chosen', () => {
    const n = 6000, weights = [1, 2, 0, 5];
    const t = new OneOf([marker('a'), marker('b'), marker('c'), marker('d')], { weights });
    expect(t.weights).toEqual([1 / 8, 2 / 8, 0, 5 / 8]);
    const counts = tally(n, 11, (rng) => traceOf(t.apply(start(), rng)));
    expect([...counts.keys()].every((k) => ['a', 'b', 'd'].includes(k))).toBe(true);
    expect(counts.get('c')).toBeUndefined();
    expectBinomial(counts.get('a') ?? 0, n, 1 / 8);
    expectBinomial(counts.get('b') ?? 0, n, 2 / 8);
    expectBinomial(counts.get('d') ?? 0, n, 5 / 8);
  });

  it('equal weights by default (MONAI\'s 1/len each)', () => {
    const n = 6000;
    const t = new OneOf([marker('a'), marker('b'), marker('c')]);
    expect(t.weights).toEqual([1 / 3, 1 / 3, 1 / 3]);
    const counts = tally(n, 5, (rng) => traceOf(t.apply(start(), rng)));
    for (const k of ['a', 'b', 'c']) expectBinomial(counts.get(k) ?? 0, n, 1 / 3);
  });

  it('draws the choice first, then the chosen transform draws from the same Rng; the same seed gives the same result', () => {
    const seen: number[] = [];
    const t = new OneOf([drawing('a', seen), drawing('b', seen)], { weights: [1, 3] });
    const out = t.apply(start(), new Rng(3));
    const ref = new Rng(3), u = ref.random();
    expect(traceOf(out)).toEqual([u * 4 < 1 ? 'a' : 'b']);
    expect(seen).toEqual([ref.random()]);
    expect(traceOf(t.apply(start(), new Rng(3)))).toEqual(traceOf(out));
  });

  it('flatten(): nested OneOfs become one with the product weights, the same distribution over the leaves', () => {
    const inner = new OneOf([marker('b'), marker('c')], { weights: [1, 3] });
    const outer = new OneOf([marker('a'), inner], { weights: [1, 1] });
    const flat = outer.flatten();
    expect(flat.transforms.length).toBe(3);
    expect(flat.weights.map((w) => Math.round(w * 1e12) / 1e12)).toEqual([0.5, 0.125, 0.375]);
    const n = 6000, counts = tally(n, 9, (rng) => traceOf(outer.apply(start(), rng)));
    expectBinomial(counts.get('a') ?? 0, n, 0.5);
    expectBinomial(counts.get('b') ?? 0, n, 0.125);
    expectBinomial(counts.get('c') ?? 0, n, 0.375);
  });

  it('no transforms: the sample as it is, no draw (MONAI returns the data)', () => {
    const rng = new Rng(1), before = rng.state();
    const data = start();
    expect(new OneOf([]).apply(data, rng)).toBe(data);
    expect(rng.state()).toEqual(before);
  });

  it('errors name the bad option', () => {
    expect(() => new OneOf([marker('a')], { weights: [1, 2] })).toThrow(/weights has 2 entries but there are 1 transforms/);
    expect(() => new OneOf([marker('a'), marker('b')], { weights: [1, -1] })).toThrow(/weights\[1\] must be a finite number ≥ 0, got -1/);
    expect(() => new OneOf([marker('a'), marker('b')], { weights: [0, 0] })).toThrow(/at least one weight must be greater than zero/);
    expect(() => new OneOf([marker('a'), marker('b')], { weights: [1, NaN] })).toThrow(/weights\[1\]/);
    expect(() => new OneOf([marker('a'), {} as SampleTransform])).toThrow(/OneOf: transforms\[1\] has no apply/);
    expect(() => new OneOf(marker('a') as unknown as SampleTransform[])).toThrow(/OneOf: expected an array of transforms/);
    expect(() => new OneOf([marker('a')]).apply(start())).toThrow(/OneOf: a random transform needs an Rng/);
  });
});

describe('SomeOf', () => {
  /** MONAI's test_fixed: all three applied every time (numTransforms 3 of 3), each once. */
  it('numTransforms = the number of transforms: every one, once, in a random order', () => {
    const t = new SomeOf([marker('a'), marker('b'), marker('c')], { numTransforms: 3 });
    const n = 6000, counts = tally(n, 2, (rng) => traceOf(t.apply(start(), rng)));
    expect(counts.size).toBe(6);
    for (const [k, c] of counts) {
      expect([...k.split(',')].sort()).toEqual(['a', 'b', 'c']);
      expectBinomial(c, n, 1 / 6);
    }
    expect(new SomeOf([marker('a'), marker('b')]).maxNumTransforms).toBe(2); // default: all of them
    expect(new SomeOf([marker('a'), marker('b')], { numTransforms: 5 }).minNumTransforms).toBe(2); // n clipped to the count (MONAI)
  });

  /** MONAI's test_unfixed: numTransforms (0, 3) of 3: each transform in half the calls, each subset size in a quarter. */
  it('numTransforms [min, max]: the count uniform in [min, max], each transform in E[count]/len of the calls', () => {
    const t = new SomeOf([marker('a'), marker('b'), marker('c')], { numTransforms: [0, 3] });
    const rng = new Rng(4), n = 8000, sizes = [0, 0, 0, 0], per = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const trace = traceOf(t.apply(start(), rng));
      expect(new Set(trace).size).toBe(trace.length); // without replacement
      sizes[trace.length]! += 1;
      for (const k of trace) per.set(k, (per.get(k) ?? 0) + 1);
    }
    for (const s of sizes) expectBinomial(s, n, 1 / 4);
    for (const k of ['a', 'b', 'c']) expectBinomial(per.get(k) ?? 0, n, 0.5);
  });

  it('without replacement, weighted: successive weighted picks, P(i then j) = w_i/S · w_j/(S − w_i)', () => {
    const w = [1, 1, 2], S = 4;
    const t = new SomeOf([marker('0'), marker('1'), marker('2')], { numTransforms: 2, weights: w });
    const n = 6000, counts = tally(n, 6, (rng) => traceOf(t.apply(start(), rng)));
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const c = counts.get(`${i},${j}`) ?? 0;
        if (i === j) expect(c).toBe(0);
        else expectBinomial(c, n, (w[i]! / S) * (w[j]! / (S - w[i]!)));
      }
    }
  });

  it('with replacement: each pick independent with the weights, repeats allowed, a zero weight never picked', () => {
    const t = new SomeOf([marker('a'), marker('b'), marker('c')], { numTransforms: 2, replace: true, weights: [1, 0, 3] });
    const n = 6000, counts = tally(n, 8, (rng) => traceOf(t.apply(start(), rng)));
    const p: Record<string, number> = { a: 1 / 4, c: 3 / 4 };
    for (const [k, c] of counts) {
      const [x, y] = k.split(',') as [string, string];
      expect(x !== 'b' && y !== 'b').toBe(true);
      expectBinomial(c, n, p[x]! * p[y]!);
    }
    expect(counts.get('a,a')).toBeGreaterThan(0);
  });

  it('a SomeOf nested in a Compose and a Compose in a SomeOf (MONAI\'s TEST_COMPOUND); empty: the data as it is', () => {
    const pipeline = new Compose([new SomeOf([marker('a'), marker('b'), new Compose([marker('c'), marker('d')])], { numTransforms: 3 }), marker('e')]);
    const out = traceOf(pipeline.apply(start(), new Rng(1)));
    expect(out.length).toBe(5);
    expect(out[4]).toBe('e');
    expect(out.indexOf('d')).toBe(out.indexOf('c') + 1);
    const data = start();
    expect(new SomeOf([]).apply(data, new Rng(0))).toBe(data);
  });

  it('drawOrder is what apply applies (the draws of one call)', () => {
    const t = new SomeOf([marker('0'), marker('1'), marker('2'), marker('3')], { numTransforms: [1, 4] });
    const order = t.drawOrder(new Rng(21));
    expect(traceOf(t.apply(start(), new Rng(21)))).toEqual(order.map(String));
  });

  it('errors name the bad option', () => {
    const three = [marker('a'), marker('b'), marker('c')];
    expect(() => new SomeOf(three, { numTransforms: [0, 4] })).toThrow(/numTransforms \[0, 4\] is out of the bounds \[0, 3\]/);
    expect(() => new SomeOf(three, { numTransforms: [-1, 2] })).toThrow(/out of the bounds/);
    expect(() => new SomeOf(three, { numTransforms: [2, 1] })).toThrow(/minimum above its maximum/);
    expect(() => new SomeOf(three, { numTransforms: 1.5 })).toThrow(/numTransforms must be an integer ≥ 0/);
    expect(() => new SomeOf(three, { numTransforms: -1 })).toThrow(/numTransforms must be an integer ≥ 0/);
    expect(() => new SomeOf(three, { numTransforms: [1, 2, 3] as unknown as [number, number] })).toThrow(/a range \[min, max\]/);
    expect(() => new SomeOf(three, { weights: [1, 1] })).toThrow(/weights has 2 entries but there are 3/);
    expect(() => new SomeOf(three, { numTransforms: 2, weights: [1, 0, 0] })).toThrow(/only 1 transforms have a weight above zero, fewer than the 2/);
    expect(() => new SomeOf(three, { numTransforms: 2, weights: [1, 0, 0], replace: true })).not.toThrow();
    expect(() => new SomeOf(three, { replace: 'yes' as unknown as boolean })).toThrow(/replace must be true or false/);
    expect(() => new SomeOf(three).apply(start())).toThrow(/SomeOf: a random transform needs an Rng/);
  });
});

describe('RandomOrder', () => {
  it('applies every transform once, each of the n! orders equally often', () => {
    const t = new RandomOrder([marker('a'), marker('b'), marker('c')]);
    const n = 6000, counts = tally(n, 12, (rng) => traceOf(t.apply(start(), rng)));
    expect(counts.size).toBe(6);
    for (const [k, c] of counts) {
      expect(k.split(',').sort()).toEqual(['a', 'b', 'c']);
      expectBinomial(c, n, 1 / 6);
    }
  });

  it('the order is the Rng\'s permutation, drawn before the transforms draw', () => {
    const seen: number[] = [];
    const t = new RandomOrder([drawing('0', seen), drawing('1', seen), drawing('2', seen)]);
    const out = traceOf(t.apply(start(), new Rng(17)));
    const ref = new Rng(17);
    expect(out).toEqual(ref.permutation(3).map(String));
    expect(seen).toEqual([ref.random(), ref.random(), ref.random()]);
    const data = start();
    expect(new RandomOrder([]).apply(data, new Rng(0))).toBe(data);
    expect(() => new RandomOrder([{} as SampleTransform])).toThrow(/RandomOrder: transforms\[0\] has no apply/);
    expect(() => t.apply(start())).toThrow(/RandomOrder: a random transform needs an Rng/);
  });
});

describe('in pipelines', () => {
  type Img = { image: Volume; label: Volume<Uint8Array> };
  const img = (): Img => ({
    image: { data: Float32Array.from({ length: 64 }, (_, i) => i), shape: [4, 4, 4] },
    label: { data: Uint8Array.from({ length: 64 }, (_, i) => (i % 9 === 0 ? 1 : 0)), shape: [4, 4, 4] },
  });

  it('typing: with steps that return one sample (MaySplit false) each is a SampleTransform and nests in Compose<…, false>', () => {
    const flip = new RandFlip({ keys: ['image', 'label'], prob: 1, spatialAxis: 0 });
    const one = new OneOf<false>([flip, new Compose<object, false>([flip])]);
    const some = new SomeOf<false>([flip, one], { numTransforms: 1 });
    const order = new RandomOrder<false>([some, flip]);
    expectTypeOf(one).toMatchTypeOf<SampleTransform>();
    expectTypeOf(order).toMatchTypeOf<SampleTransform>();
    const pipeline = new Compose<Img, false>([order]);
    const out = pipeline.apply(img(), new Rng(0));
    expectTypeOf(out).toMatchTypeOf<Img>();
    // flipped twice along x (some's one pick, then flip) or the order the other way: twice either way
    expect(Array.from(out.image.data)).toEqual(Array.from(img().image.data));
    const crop = new RandCropByPosNegLabel({ keys: ['image', 'label'], labelKey: 'label', spatialSize: 2, numSamples: 3 });
    // @ts-expect-error a OneOf that promises one sample takes no transform that returns a list
    expect(() => new OneOf<false>([crop])).not.toThrow();
    expectTypeOf(new OneOf([crop])).toMatchTypeOf<Transform>();
  });

  it('a transform that returns a list makes the next chosen ones run on each sample, as in a Compose', () => {
    const crop = new RandCropByPosNegLabel({ keys: ['image', 'label'], labelKey: 'label', spatialSize: 2, numSamples: 3 });
    const flip = new RandFlip({ keys: ['image', 'label'], prob: 1, spatialAxis: 2 });
    const t = new SomeOf([crop, flip], { numTransforms: 2 });
    const out = t.apply(img(), new Rng(5));
    expect(Array.isArray(out) && out.length).toBe(3);
    for (const s of out as Img[]) expect(s.image.shape).toEqual([2, 2, 2]);
  });

  it('are random (randomizable): CacheDataset caches the steps before them only', () => {
    const one = new OneOf([marker('a')]);
    expect(isRandomTransform(one)).toBe(true);
    expect(isRandomTransform(new SomeOf([marker('a')]))).toBe(true);
    expect(isRandomTransform(new RandomOrder([marker('a')]))).toBe(true);
    let calls = 0;
    const counted: SampleTransform = { apply: <T extends object>(d: T): T => { calls++; return { ...d }; } };
    const ds = new CacheDataset([start(), start()], new Compose([counted, new RandomOrder([marker('x'), marker('y')])]));
    ds.getItem(0, new Rng(1));
    ds.getItem(0, new Rng(2));
    ds.getItem(1, new Rng(3));
    expect(calls).toBe(2); // the deterministic step ran once per item, at caching
    expect(traceOf(ds.getItem(0, new Rng(4))).sort()).toEqual(['x', 'y']);
  });
});
