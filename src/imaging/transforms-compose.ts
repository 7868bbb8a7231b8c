/**
 * MONAI's random compositions of transforms (monai/transforms/compose.py): `OneOf` applies one of its transforms,
 * chosen by weight; `SomeOf` a number of them, drawn with or without replacement, in the order drawn; `RandomOrder`
 * all of them in a random order. Each takes the same steps a `Compose` takes (transforms and Composes, nested as
 * deep as wanted) and is itself a step of a `Compose` (and of each other). The choice is drawn from the `Rng` handed
 * to `apply`, first, before the chosen transforms draw theirs, so a pipeline stays deterministic given a seed. A
 * chosen transform that returns a list of samples (RandCropByPosNegLabel) makes the next chosen ones run on each, as
 * in a Compose.
 *
 * They declare `randomizable = true`: `CacheDataset` caches only the steps before them (the choice is random even
 * when every transform it chooses from is not).
 *
 * Inverse (MONAI's): each records its choice (`{ indices }`, the applied transforms in the order applied) under
 * `<key>_transforms` of every volume of the sample, as MONAI pushes it onto every MetaTensor, and its `inverse`
 * pops that record and inverts the chosen transforms in reverse order (`Compose.inverse`: those without an inverse
 * are skipped), so a pipeline with them inverts, also through `Invert`.
 */
import type { Rng } from './random.js';
import {
  Compose, nextTransformId, popRecords, readChannels, requireRng, transformsKey, withRecord, type ComposeStep, type InverseOptions, type TransformRecord,
} from './transforms.js';

/** What `apply` returns: one sample when no step may return a list (MaySplit false), else one or a list, as Compose. */
type Applied<T, MaySplit extends boolean> = MaySplit extends false ? T : T | T[];

/** The steps, checked as Compose checks them (an array of objects with an apply method). */
function checkSteps<S>(transforms: readonly S[], name: string): S[] {
  if (!Array.isArray(transforms)) throw new Error(`${name}: expected an array of transforms, got ${typeof transforms}`);
  transforms.forEach((t, i) => {
    if (typeof (t as { apply?: unknown } | null)?.apply !== 'function') throw new Error(`${name}: transforms[${i}] has no apply(data, rng) method`);
  });
  return [...transforms];
}

/**
 * Weights as probabilities (MONAI's `_normalize_probabilities`): one per transform, finite, ≥ 0, not all zero,
 * divided by their sum. `undefined` gives equal weights.
 */
function normalizeWeights(weights: readonly number[] | undefined, count: number, name: string): number[] {
  if (weights === undefined) return Array.from({ length: count }, () => 1 / count);
  if (!Array.isArray(weights)) throw new Error(`${name}: weights must be a list of numbers, one per transform, got ${JSON.stringify(weights)}`);
  if (weights.length !== count) throw new Error(`${name}: weights has ${weights.length} entries but there are ${count} transforms; give one weight per transform`);
  weights.forEach((w, i) => {
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new Error(`${name}: weights[${i}] must be a finite number ≥ 0, got ${w}`);
  });
  const sum = weights.reduce((s, w) => s + w, 0);
  if (count > 0 && sum === 0) throw new Error(`${name}: at least one weight must be greater than zero, got ${JSON.stringify(weights)}`);
  return weights.map((w) => w / sum);
}

/**
 * One index drawn with probability weights[i] / Σ weights (one `rng.random()`); an index of weight 0 is never drawn.
 * `weights` must have a positive entry.
 */
function drawIndex(weights: readonly number[], rng: Rng): number {
  const total = weights.reduce((s, w) => s + w, 0);
  const u = rng.random() * total;
  let cum = 0, last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i]! <= 0) continue;
    cum += weights[i]!;
    last = i;
    if (u < cum) return i;
  }
  return last; // u rounded up to the total: the last index of positive weight
}

/** Whether the sample holds a volume under `key` ([X, Y, Z] or channel-first [C, X, Y, Z]). */
function holdsVolume(data: object, key: string): boolean {
  try {
    readChannels(data, key, '');
    return true;
  } catch {
    return false;
  }
}

/**
 * Applies the chosen steps (`indices` into `steps`) in order, as a Compose of them does, and records the choice on
 * every key that holds a volume before and after (each output sample's, when a step returned several).
 */
function applyChosen<T extends object>(name: string, id: number, steps: readonly ComposeStep[], indices: readonly number[], data: T, rng: Rng): T | T[] {
  const out = new Compose(indices.map((i) => steps[i]!)).apply(data, rng);
  const record = (o: T): T => withRecord(data, o, Object.keys(o).filter((k) => holdsVolume(data, k) && holdsVolume(o, k)),
    { className: name, id, doTransform: true, extraInfo: { indices: [...indices] } }, []);
  return Array.isArray(out) ? out.map(record) : record(out);
}

/** The inverse of a recorded choice: its records popped from every volume key that has records, the chosen steps inverted in reverse order. */
function invertChosen<T extends object>(name: string, id: number, steps: readonly ComposeStep[], data: T, opts?: InverseOptions): T {
  if (steps.length === 0) return data;
  const keys = Object.keys(data).filter((k) => Array.isArray((data as Record<string, unknown>)[transformsKey(k)]) && holdsVolume(data, k));
  if (keys.length === 0) throw new Error(`${name}.inverse: the sample has no records (<key>_transforms): apply ${name} to it before inverting it`);
  const { sample, records } = popRecords(data, keys, name, id);
  const indices = (records[0]!.record as TransformRecord).extraInfo.indices as number[];
  return new Compose(indices.map((i) => steps[i]!)).inverse(sample, opts);
}

export interface OneOfOptions {
  /** one weight per transform, ≥ 0, not all zero, normalised to sum 1 (MONAI's default: equal weights) */
  weights?: readonly number[];
}

/**
 * MONAI's `OneOf`: applies one of `transforms`, the i-th with probability weights[i] (normalised). Draws: one
 * uniform u (the choice), then whatever the chosen transform draws. No transforms: the sample is returned as it is.
 */
export class OneOf<MaySplit extends boolean = boolean> {
  readonly transforms: readonly ComposeStep[];
  /** The probabilities, normalised to sum 1. */
  readonly weights: readonly number[];
  readonly randomizable = true;
  readonly transformId = nextTransformId();

  constructor(transforms: readonly ComposeStep<MaySplit>[], opts: OneOfOptions = {}) {
    this.transforms = checkSteps(transforms, 'OneOf');
    this.weights = normalizeWeights(opts.weights, this.transforms.length, 'OneOf');
  }

  /**
   * A OneOf of the same choice with every nested OneOf replaced by its transforms, each weighted by the product of the
   * weights on its way (MONAI's `flatten`): the same distribution over the leaves.
   */
  flatten(): OneOf<MaySplit> {
    const steps: ComposeStep[] = [], weights: number[] = [];
    this.transforms.forEach((t, i) => {
      if (t instanceof OneOf) {
        const inner = (t as OneOf).flatten();
        inner.transforms.forEach((s, j) => { steps.push(s); weights.push(inner.weights[j]! * this.weights[i]!); });
      } else {
        steps.push(t);
        weights.push(this.weights[i]!);
      }
    });
    return new OneOf<MaySplit>(steps as ComposeStep<MaySplit>[], { weights });
  }

  apply<T extends object>(data: T, rng?: Rng): Applied<T, MaySplit> {
    if (this.transforms.length === 0) return data;
    const r = requireRng(rng, 'OneOf');
    return applyChosen('OneOf', this.transformId, this.transforms, [drawIndex(this.weights, r)], data, r) as Applied<T, MaySplit>;
  }

  /** Undoes the transform this OneOf applied (its record says which), as MONAI's `OneOf.inverse`. */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return invertChosen('OneOf', this.transformId, this.transforms, data, opts);
  }
}

export interface SomeOfOptions {
  /**
   * How many transforms each call applies: a number n (min(n, the number of transforms) of them), a range [min, max]
   * (both included, the count drawn uniformly), or undefined: all of them (MONAI's default).
   */
  numTransforms?: number | readonly [number, number];
  /** draw with replacement: a transform may be applied more than once (default false) */
  replace?: boolean;
  /** one weight per transform, ≥ 0, not all zero, normalised (default: equal) */
  weights?: readonly number[];
}

/**
 * MONAI's `SomeOf`: applies a number of `transforms` drawn each call, in the order drawn. Draws: the count (uniform in
 * [min, max], no draw when they are equal), then each pick in turn, one uniform per pick, by weight among those not yet
 * picked (without replacement) or among all (with). Without replacement and equal weights the picks are a uniformly
 * random ordered subset, as MONAI's `choice`; with weights, the picks are successive weighted draws, as numpy's.
 */
export class SomeOf<MaySplit extends boolean = boolean> {
  readonly transforms: readonly ComposeStep[];
  /** The probabilities of a pick, normalised to sum 1. */
  readonly weights: readonly number[];
  readonly minNumTransforms: number;
  readonly maxNumTransforms: number;
  readonly replace: boolean;
  readonly randomizable = true;
  readonly transformId = nextTransformId();

  constructor(transforms: readonly ComposeStep<MaySplit>[], opts: SomeOfOptions = {}) {
    const name = 'SomeOf';
    this.transforms = checkSteps(transforms, name);
    const n = this.transforms.length;
    this.replace = opts.replace ?? false;
    if (typeof this.replace !== 'boolean') throw new Error(`${name}: replace must be true or false, got ${JSON.stringify(opts.replace)}`);
    const num = opts.numTransforms;
    let range: [number, number];
    if (num === undefined) range = [n, n];
    else if (typeof num === 'number') {
      if (!Number.isInteger(num) || num < 0) throw new Error(`${name}: numTransforms must be an integer ≥ 0 or a range [min, max], got ${num}`);
      range = [Math.min(n, num), Math.min(n, num)];
    } else if (Array.isArray(num) && num.length === 2 && num.every((v) => Number.isInteger(v))) {
      range = [num[0], num[1]];
      if (range[0] < 0 || range[1] > n) throw new Error(`${name}: numTransforms [${range.join(', ')}] is out of the bounds [0, ${n}] (${n} transforms)`);
      if (range[0] > range[1]) throw new Error(`${name}: numTransforms [${range.join(', ')}] has its minimum above its maximum`);
    } else {
      throw new Error(`${name}: numTransforms must be an integer ≥ 0 or a range [min, max] of integers, got ${JSON.stringify(num)}`);
    }
    [this.minNumTransforms, this.maxNumTransforms] = range;
    this.weights = normalizeWeights(opts.weights, n, name);
    const positive = this.weights.filter((w) => w > 0).length;
    if (!this.replace && positive < this.maxNumTransforms) {
      throw new Error(`${name}: only ${positive} transforms have a weight above zero, fewer than the ${this.maxNumTransforms} to pick without replacement; ` +
        'lower numTransforms, give them weights or set replace: true');
    }
  }

  /** The indices of the transforms a call applies, in order (the draws `apply` makes). */
  drawOrder(rng: Rng): number[] {
    const count = rng.intIn(this.minNumTransforms, this.maxNumTransforms);
    const weights = [...this.weights], picks: number[] = [];
    for (let k = 0; k < count; k++) {
      const i = drawIndex(weights, rng);
      picks.push(i);
      if (!this.replace) weights[i] = 0;
    }
    return picks;
  }

  apply<T extends object>(data: T, rng?: Rng): Applied<T, MaySplit> {
    if (this.transforms.length === 0) return data;
    const r = requireRng(rng, 'SomeOf');
    return applyChosen('SomeOf', this.transformId, this.transforms, this.drawOrder(r), data, r) as Applied<T, MaySplit>;
  }

  /** Undoes the transforms this SomeOf applied, last first (its record says which, in order). */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return invertChosen('SomeOf', this.transformId, this.transforms, data, opts);
  }
}

/**
 * MONAI's `RandomOrder`: applies all of `transforms`, in an order drawn each call (a uniform permutation, the Rng's
 * Fisher–Yates `permutation`).
 */
export class RandomOrder<MaySplit extends boolean = boolean> {
  readonly transforms: readonly ComposeStep[];
  readonly randomizable = true;
  readonly transformId = nextTransformId();

  constructor(transforms: readonly ComposeStep<MaySplit>[]) {
    this.transforms = checkSteps(transforms, 'RandomOrder');
  }

  apply<T extends object>(data: T, rng?: Rng): Applied<T, MaySplit> {
    if (this.transforms.length === 0) return data;
    const r = requireRng(rng, 'RandomOrder');
    return applyChosen('RandomOrder', this.transformId, this.transforms, r.permutation(this.transforms.length), data, r) as Applied<T, MaySplit>;
  }

  /** Undoes its transforms in the reverse of the order they were applied in (its record says which). */
  inverse<T extends object>(data: T, opts?: InverseOptions): T {
    return invertChosen('RandomOrder', this.transformId, this.transforms, data, opts);
  }
}
