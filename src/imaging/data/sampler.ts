/**
 * The two-stream batch sampler of la-protocol §2 and a prefetching batch loader.
 *
 * Streams (reference `TwoStreamBatchSampler`):
 * - labeled: a shuffled pass over the labeled ids; each batch takes the next `labeledBatch` ids
 *   of the pass. When fewer than `labeledBatch` ids are left the rest of the pass is dropped (the
 *   reference's `grouper` drops the incomplete group) and a new shuffled pass starts, so within a
 *   pass every labeled id appears at most once, and exactly once when labeledBatch divides the
 *   number of labeled ids. `batchesPerPass` = floor(#labeled / labeledBatch) is the reference's
 *   epoch length.
 * - unlabeled: an endless chain of shuffled passes over the unlabeled ids; each batch takes the
 *   next `batch − labeledBatch` ids (a batch may span two passes). Unlike the reference, which
 *   restarts this chain at every labeled epoch, the chain here runs on across passes.
 *
 * Per batch the draws come from one PRNG in this order: the labeled ids (new permutation when a
 * pass starts), the unlabeled ids (new permutation when one is used up), then one augmentation
 * draw per sample in batch order (k, flip axis, three crop uniforms; see augment.ts). The
 * augmentation draws do not depend on the volume shapes, so a batch's whole random content (its
 * "plan") is fixed before any case is loaded. Loading and augmenting are then pure functions of
 * the plan, which is what makes the loader's state small and exactly resumable.
 *
 * Batch layout: `image` is a Float32Array [B, 1, X, Y, Z] and `label` a Uint8Array [B, X, Y, Z]
 * (C order, patch = [X, Y, Z]); the first `labeledCount` samples are the labeled ones. The labels
 * of the unlabeled samples are left at zero (so nothing can leak into a supervised loss) unless
 * `keepUnlabeledLabels` is set (for diagnostics); `labeled[b]` says which rows are real labels.
 */

import { applyAugmentInto, centerParams, drawAugment, resolveAugment, type AugmentDraw, type AugmentParams } from './augment.js';
import { Rng, hashSeed, type RngState } from '../random.js';
import type { CaseSource, Shape3 } from '../volume.js';

export interface SamplerConfig {
  labeledIds: string[];
  unlabeledIds: string[];
  /** Samples per batch. */
  batchSize: number;
  /** Labeled samples per batch (the first rows of the batch). */
  labeledBatch: number;
  /** Patch (crop) shape [X, Y, Z]. */
  patch: Readonly<Shape3>;
  /** Seed of the sampler's PRNG. */
  seed: number;
  /** 'la': rot90 / flip / random crop (default); 'center': no rotation or flip, centre crop. */
  augment?: 'la' | 'center';
  /** Copy the labels of unlabeled samples into the batch too (default false: zeros). */
  keepUnlabeledLabels?: boolean;
}

export interface PlannedSample {
  id: string;
  labeled: boolean;
  /** Augmentation draw; null in 'center' mode. */
  draw: AugmentDraw | null;
}

export interface BatchPlan {
  /** 0-based index of the batch in the run. */
  index: number;
  samples: PlannedSample[];
}

interface StreamState {
  order: number[];
  pos: number;
  pass: number;
}

/** The JSON-serializable state of a sampler / loader. */
export interface SamplerState {
  version: 1;
  /** Identifies the configuration; setState refuses a state made with a different one. */
  fingerprint: number;
  /** Index of the next batch. */
  batchIndex: number;
  rng: RngState;
  labeled: StreamState;
  unlabeled: StreamState;
}

export interface Batch {
  index: number;
  /** [B, 1, X, Y, Z] */
  image: Float32Array;
  /** [B, X, Y, Z] */
  label: Uint8Array;
  imageShape: [number, number, number, number, number];
  labelShape: [number, number, number, number];
  ids: string[];
  /** Whether row b carries a real label (true for the first labeledCount rows). */
  labeled: boolean[];
  labeledCount: number;
  /** The resolved augmentation of each row. */
  params: AugmentParams[];
  /** DTC's compute_sdf of the labeled rows [labeledCount, 1, X, Y, Z], when the loader was asked for it (data/pipeline.ts). */
  sdf?: Float32Array;
}

function configFingerprint(c: SamplerConfig): number {
  return hashSeed(
    'sampler-v1',
    c.labeledIds.join('\u0001'),
    c.unlabeledIds.join('\u0001'),
    c.batchSize,
    c.labeledBatch,
    c.patch.join(','),
    c.augment ?? 'la',
    c.seed,
  );
}

function validateConfig(c: SamplerConfig): void {
  const { batchSize: B, labeledBatch: L } = c;
  if (!Number.isInteger(B) || B < 1) throw new Error(`sampler: batchSize must be a positive integer, got ${B}`);
  if (!Number.isInteger(L) || L < 0 || L > B) throw new Error(`sampler: labeledBatch must be an integer in [0, ${B}], got ${L}`);
  if (L > 0 && c.labeledIds.length < L) throw new Error(`sampler: ${c.labeledIds.length} labeled ids cannot fill labeledBatch ${L}`);
  if (B - L > 0 && c.unlabeledIds.length === 0) throw new Error(`sampler: no unlabeled ids for ${B - L} unlabeled samples per batch`);
  if (c.patch.length !== 3 || !c.patch.every((p) => Number.isInteger(p) && p > 0)) throw new Error(`sampler: bad patch ${JSON.stringify(c.patch)}`);
  for (const [name, ids] of [['labeledIds', c.labeledIds], ['unlabeledIds', c.unlabeledIds]] as const) {
    if (new Set(ids).size !== ids.length) throw new Error(`sampler: duplicate ids in ${name}`);
  }
  const lab = new Set(c.labeledIds);
  const both = c.unlabeledIds.filter((id) => lab.has(id));
  if (both.length > 0) throw new Error(`sampler: ids both labeled and unlabeled: ${both.slice(0, 5).join(', ')}`);
}

/** The synchronous, deterministic part: which ids and which augmentation draws each batch gets. */
export class TwoStreamSampler {
  readonly config: SamplerConfig;
  readonly #fingerprint: number;
  #rng: Rng;
  #batchIndex = 0;
  #lab: StreamState = { order: [], pos: 0, pass: 0 };
  #unl: StreamState = { order: [], pos: 0, pass: 0 };

  constructor(config: SamplerConfig) {
    validateConfig(config);
    this.config = {
      ...config,
      labeledIds: [...config.labeledIds],
      unlabeledIds: [...config.unlabeledIds],
      patch: [config.patch[0], config.patch[1], config.patch[2]],
    };
    this.#fingerprint = configFingerprint(this.config);
    this.#rng = new Rng(hashSeed('sampler', config.seed));
  }

  /** Batches per labeled pass (the reference's epoch length); Infinity when labeledBatch is 0. */
  get batchesPerPass(): number {
    const L = this.config.labeledBatch;
    return L === 0 ? Infinity : Math.floor(this.config.labeledIds.length / L);
  }

  /** Plans the next batch and advances the state. */
  nextPlan(): BatchPlan {
    const c = this.config;
    const samples: PlannedSample[] = [];
    const L = c.labeledBatch;
    if (L > 0) {
      if (this.#lab.order.length === 0 || this.#lab.pos + L > this.#lab.order.length) {
        this.#lab = { order: this.#rng.permutation(c.labeledIds.length), pos: 0, pass: this.#lab.order.length === 0 ? 0 : this.#lab.pass + 1 };
      }
      for (let i = 0; i < L; i++) samples.push({ id: c.labeledIds[this.#lab.order[this.#lab.pos++]!]!, labeled: true, draw: null });
    }
    for (let i = L; i < c.batchSize; i++) {
      if (this.#unl.order.length === 0 || this.#unl.pos >= this.#unl.order.length) {
        this.#unl = { order: this.#rng.permutation(c.unlabeledIds.length), pos: 0, pass: this.#unl.order.length === 0 ? 0 : this.#unl.pass + 1 };
      }
      samples.push({ id: c.unlabeledIds[this.#unl.order[this.#unl.pos++]!]!, labeled: false, draw: null });
    }
    if ((c.augment ?? 'la') === 'la') for (const s of samples) s.draw = drawAugment(this.#rng);
    return { index: this.#batchIndex++, samples };
  }

  state(): SamplerState {
    return {
      version: 1,
      fingerprint: this.#fingerprint,
      batchIndex: this.#batchIndex,
      rng: this.#rng.state(),
      labeled: { order: [...this.#lab.order], pos: this.#lab.pos, pass: this.#lab.pass },
      unlabeled: { order: [...this.#unl.order], pos: this.#unl.pos, pass: this.#unl.pass },
    };
  }

  setState(s: SamplerState): void {
    if (!s || s.version !== 1) throw new Error('sampler: unsupported state version');
    if (s.fingerprint !== this.#fingerprint) {
      throw new Error('sampler: state was saved with a different configuration (ids, batch sizes, patch, augmentation or seed)');
    }
    const checkStream = (st: StreamState, n: number, name: string): StreamState => {
      const ok =
        Array.isArray(st.order) &&
        (st.order.length === 0 || st.order.length === n) &&
        new Set(st.order).size === st.order.length &&
        st.order.every((i) => Number.isInteger(i) && i >= 0 && i < n) &&
        Number.isInteger(st.pos) && st.pos >= 0 && st.pos <= st.order.length &&
        Number.isInteger(st.pass) && st.pass >= 0;
      if (!ok) throw new Error(`sampler: corrupt ${name} stream in state`);
      return { order: [...st.order], pos: st.pos, pass: st.pass };
    };
    const lab = checkStream(s.labeled, this.config.labeledIds.length, 'labeled');
    const unl = checkStream(s.unlabeled, this.config.unlabeledIds.length, 'unlabeled');
    if (!Number.isInteger(s.batchIndex) || s.batchIndex < 0) throw new Error('sampler: corrupt batchIndex in state');
    const rng = Rng.fromState(s.rng);
    this.#rng = rng;
    this.#lab = lab;
    this.#unl = unl;
    this.#batchIndex = s.batchIndex;
  }
}

/** Loads the cases of a plan, augments them and assembles the batch arrays. */
export async function assembleBatch(source: Pick<CaseSource, 'name' | 'load'>, plan: BatchPlan, config: SamplerConfig): Promise<Batch> {
  const patch: Shape3 = [config.patch[0], config.patch[1], config.patch[2]];
  const P = patch[0] * patch[1] * patch[2];
  const B = plan.samples.length;
  const image = new Float32Array(B * P);
  const label = new Uint8Array(B * P);
  const cases = await Promise.all(plan.samples.map((s) => source.load(s.id)));
  const params: AugmentParams[] = [];
  plan.samples.forEach((s, b) => {
    const c = cases[b]!;
    if (s.labeled && !c.label) throw new Error(`sampler: labeled case '${s.id}' of ${source.name} has no label`);
    if (c.label && c.label.shape.some((v, i) => v !== c.image.shape[i])) {
      throw new Error(`sampler: case '${s.id}' of ${source.name}: image and label shapes differ`);
    }
    const p = s.draw ? resolveAugment(s.draw, c.image.shape, patch) : centerParams(c.image.shape, patch);
    params.push(p);
    applyAugmentInto(c.image, p, image, b * P);
    if (c.label && (s.labeled || config.keepUnlabeledLabels)) applyAugmentInto(c.label, p, label, b * P);
  });
  const labeled = plan.samples.map((s) => s.labeled);
  return {
    index: plan.index,
    image,
    label,
    imageShape: [B, 1, patch[0], patch[1], patch[2]],
    labelShape: [B, patch[0], patch[1], patch[2]],
    ids: plan.samples.map((s) => s.id),
    labeled,
    labeledCount: labeled.filter(Boolean).length,
    params,
  };
}

interface Pending {
  stateAfter: SamplerState;
  promise: Promise<Batch>;
}

export interface BatchLoaderOptions {
  /** Batches prepared ahead of the one returned (default 1). */
  prefetch?: number;
  /** Turns a plan into its batch (default: {@link assembleBatch} from the source); must be a pure function of the plan. */
  assemble?: (plan: BatchPlan, config: SamplerConfig) => Promise<Batch>;
}

/**
 * Batches with prefetch: `next()` returns batch i and immediately starts loading and augmenting
 * batches up to i + prefetch (planned in order here), which proceed while the caller awaits its own work.
 *
 * `state()` describes the position after the last batch returned by `next()` (the prefetched
 * batch does not count); restoring it with `setState()` (on this or a new loader with the same
 * configuration and source) makes the following `next()` calls return bit-identical batches.
 */
export class BatchLoader {
  readonly source: CaseSource;
  readonly #sampler: TwoStreamSampler;
  readonly #prefetch: number;
  readonly #assemble: (plan: BatchPlan, config: SamplerConfig) => Promise<Batch>;
  /** started batches, in order; the first is the next to return */
  #pending: Pending[] = [];
  #returned: SamplerState;

  constructor(source: CaseSource, config: SamplerConfig, options: BatchLoaderOptions = {}) {
    this.source = source;
    this.#sampler = new TwoStreamSampler(config);
    this.#returned = this.#sampler.state();
    this.#prefetch = options.prefetch ?? 1;
    if (!Number.isInteger(this.#prefetch) || this.#prefetch < 0) throw new Error(`BatchLoader: prefetch must be an integer ≥ 0, got ${this.#prefetch}`);
    this.#assemble = options.assemble ?? ((plan, c) => assembleBatch(source, plan, c));
  }

  get config(): SamplerConfig {
    return this.#sampler.config;
  }

  get batchesPerPass(): number {
    return this.#sampler.batchesPerPass;
  }

  #start(): Pending {
    const plan = this.#sampler.nextPlan();
    const stateAfter = this.#sampler.state();
    const promise = this.#assemble(plan, this.#sampler.config);
    promise.catch(() => {
      /* reported when awaited by next(); avoids an unhandled rejection for a dropped prefetch */
    });
    return { stateAfter, promise };
  }

  /** The next batch; starts preparing the ones after it. On failure the position is rolled back (the next call retries). */
  async next(): Promise<Batch> {
    const cur = this.#pending.shift() ?? this.#start();
    while (this.#pending.length < this.#prefetch) this.#pending.push(this.#start());
    let batch: Batch;
    try {
      batch = await cur.promise;
    } catch (e) {
      // roll back so that the next call retries the same batch
      this.#sampler.setState(this.#returned);
      this.#pending = [];
      throw e;
    }
    this.#returned = cur.stateAfter;
    return batch;
  }

  /** Serializable position after the last returned batch. */
  state(): SamplerState {
    return structuredClone(this.#returned);
  }

  /** Restores a position; any prefetched batch is dropped. */
  setState(s: SamplerState): void {
    this.#sampler.setState(s);
    this.#pending = [];
    this.#returned = this.#sampler.state();
  }
}
