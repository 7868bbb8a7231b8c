import { describe, expect, it } from 'vitest';
import { drawAugment, type AugmentDraw } from '../../../src/imaging/data/augment.js';
import { BatchLoader, TwoStreamSampler, type SamplerConfig, type SamplerState } from '../../../src/imaging/data/sampler.js';
import { Rng, hashSeed } from '../../../src/imaging/random.js';
import type { Case, CaseSource, Shape3 } from '../../../src/imaging/volume.js';

/** Checks that mutation testing found unchecked: the PRNG draw order, the pass counters, the config and state checks. */

const ids = (p: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${p}${i}`);

function config(over: Partial<SamplerConfig> = {}): SamplerConfig {
  return { labeledIds: ids('L', 8), unlabeledIds: ids('U', 5), batchSize: 4, labeledBatch: 2, patch: [4, 4, 4], seed: 1, ...over };
}

const escape = (s: string): RegExp => new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

/** A source of 6³ cases; `labelShape` gives the label another shape. */
function cubeSource(labelShape: Shape3 = [6, 6, 6]): CaseSource & { loads: number } {
  return {
    name: 'cubes',
    loads: 0,
    trainIds: () => [],
    testIds: () => [],
    async load(id: string): Promise<Case> {
      this.loads++;
      const image = { data: Float32Array.from({ length: 216 }, (_, i) => i), shape: [6, 6, 6] as Shape3 };
      const n = labelShape[0] * labelShape[1] * labelShape[2];
      return { id, image, label: { data: new Uint8Array(n), shape: labelShape } };
    },
  };
}

describe('the plans against the documented draw order', () => {
  it("one PRNG seeded by hashSeed('sampler', seed): labeled permutation, unlabeled permutations, then one draw per sample", () => {
    // 5 labeled ids in pairs (the fifth of each pass dropped), 4 unlabeled ids taken 3 at a time (batches span passes)
    const c = config({ labeledIds: ids('L', 5), unlabeledIds: ids('U', 4), batchSize: 5, labeledBatch: 2, seed: 17 });
    const rng = new Rng(hashSeed('sampler', 17));
    let lab: number[] = [];
    let lpos = 0;
    let unl: number[] = [];
    let upos = 0;
    const want: Array<{ ids: string[]; draws: AugmentDraw[] }> = [];
    for (let b = 0; b < 9; b++) {
      const got: string[] = [];
      if (lpos + 2 > lab.length) [lab, lpos] = [rng.permutation(5), 0];
      for (let i = 0; i < 2; i++) got.push(`L${lab[lpos++]}`);
      for (let i = 0; i < 3; i++) {
        if (upos === unl.length) [unl, upos] = [rng.permutation(4), 0];
        got.push(`U${unl[upos++]}`);
      }
      want.push({ ids: got, draws: got.map(() => drawAugment(rng)) });
    }
    const s = new TwoStreamSampler(c);
    const plans = Array.from({ length: 9 }, () => s.nextPlan());
    expect(plans.map((p) => ({ ids: p.samples.map((x) => x.id), draws: p.samples.map((x) => x.draw) }))).toEqual(want);
    // the default mode is 'la' (draws); 'center' draws nothing, so its ids follow the permutations alone
    const centered = new TwoStreamSampler({ ...c, augment: 'center' }).nextPlan();
    expect(centered.samples.map((x) => x.draw)).toEqual([null, null, null, null, null]);
    expect(new TwoStreamSampler({ ...c, augment: 'la' }).nextPlan()).toEqual(plans[0]);
  });

  it('counts the passes of each stream in its state, from 0', () => {
    // 4 labeled ids in pairs: a pass every 2 batches; 5 unlabeled ids, 2 per batch: a pass every 2.5 batches
    const s = new TwoStreamSampler(config({ labeledIds: ids('L', 4) }));
    const passes: Array<[number, number]> = [];
    for (let b = 0; b < 6; b++) {
      s.nextPlan();
      const st = s.state();
      passes.push([st.labeled.pass, st.unlabeled.pass]);
    }
    expect(passes).toEqual([[0, 0], [0, 0], [1, 1], [1, 1], [2, 1], [2, 2]]);
  });
});

describe('the configuration check', () => {
  it('refuses a batch size or labeled batch that is not an integer in range, naming it', () => {
    expect(() => new TwoStreamSampler(config({ batchSize: 0, labeledBatch: 0 }))).toThrow(escape('sampler: batchSize must be a positive integer, got 0'));
    expect(() => new TwoStreamSampler(config({ batchSize: 1.5, labeledBatch: 1 }))).toThrow(escape('sampler: batchSize must be a positive integer, got 1.5'));
    expect(() => new TwoStreamSampler(config({ labeledBatch: -1 }))).toThrow(escape('sampler: labeledBatch must be an integer in [0, 4], got -1'));
    expect(() => new TwoStreamSampler(config({ labeledBatch: 1.5 }))).toThrow(escape('sampler: labeledBatch must be an integer in [0, 4], got 1.5'));
    // the smallest batch there is
    expect(new TwoStreamSampler(config({ batchSize: 1, labeledBatch: 1 })).nextPlan().samples).toHaveLength(1);
  });

  it('names the unlabeled samples it cannot fill, a bad patch, duplicate ids and the ids in both lists', () => {
    expect(() => new TwoStreamSampler(config({ unlabeledIds: [] }))).toThrow(escape('sampler: no unlabeled ids for 2 unlabeled samples per batch'));
    expect(() => new TwoStreamSampler(config({ patch: [4, 4] as unknown as Shape3 }))).toThrow(escape('sampler: bad patch [4,4]'));
    expect(() => new TwoStreamSampler(config({ labeledIds: ['L0', 'L1', 'L0'] }))).toThrow(escape('sampler: duplicate ids in labeledIds'));
    expect(() => new TwoStreamSampler(config({ unlabeledIds: ['U0', 'U1', 'U1'] }))).toThrow(escape('sampler: duplicate ids in unlabeledIds'));
    // at most five of them
    expect(() => new TwoStreamSampler(config({ unlabeledIds: ids('L', 7) }))).toThrow(escape('sampler: ids both labeled and unlabeled: L0, L1, L2, L3, L4'));
  });
});

describe('the state', () => {
  it("keeps the fingerprint of a configuration (a run's saved states stay loadable)", () => {
    const c = config({ labeledIds: ids('L', 4), unlabeledIds: ids('U', 3) });
    expect(new TwoStreamSampler(c).state().fingerprint).toBe(1584273680);
  });

  it('tells configurations apart whose ids or patch only differ in where one entry ends', () => {
    const small = (over: Partial<SamplerConfig>): SamplerConfig => config({ labeledIds: ['a', 'bc'], unlabeledIds: ['u', 'vw'], labeledBatch: 1, batchSize: 2, ...over });
    const saved = new TwoStreamSampler(small({})).state();
    for (const over of [{ labeledIds: ['ab', 'c'] }, { unlabeledIds: ['uv', 'w'] }]) {
      expect(() => new TwoStreamSampler(small(over)).setState(saved)).toThrow(/different configuration/);
    }
    const patched = new TwoStreamSampler(small({ patch: [1, 23, 4] })).state();
    expect(() => new TwoStreamSampler(small({ patch: [12, 3, 4] })).setState(patched)).toThrow(/different configuration/);
  });

  it("tells the augmentation modes apart, the default being 'la'", () => {
    const saved = new TwoStreamSampler(config()).state();
    expect(() => new TwoStreamSampler(config({ augment: 'center' })).setState(saved)).toThrow(/different configuration/);
    const la = new TwoStreamSampler(config({ augment: 'la' }));
    la.setState(saved);
    expect(la.state()).toEqual(saved);
  });

  it('refuses another version, a corrupt stream (naming it) or batch index', () => {
    const s = new TwoStreamSampler(config());
    for (let i = 0; i < 3; i++) s.nextPlan();
    const saved = s.state();
    expect(saved.labeled.order).toHaveLength(8);
    expect(saved.labeled.pos).toBe(6);
    expect(saved.unlabeled.order).toHaveLength(5);
    const fresh = new TwoStreamSampler(config());
    expect(() => fresh.setState({ ...saved, version: 2 } as unknown as SamplerState)).toThrow(escape('sampler: unsupported state version'));
    expect(() => fresh.setState(null as unknown as SamplerState)).toThrow(escape('sampler: unsupported state version'));
    const labeledOrders: unknown[] = [
      { length: 8 },
      [0, 1, 2, 3, 4, 5, 6], // the position 6 is inside it
      [1, 2, 3, 4, 5, 6, 7, 8],
      [-1, 1, 2, 3, 4, 5, 6, 7],
      [0.5, 1, 2, 3, 4, 5, 6, 7],
    ];
    for (const order of labeledOrders) {
      expect(() => fresh.setState({ ...saved, labeled: { ...saved.labeled, order } as SamplerState['labeled'] })).toThrow(escape('sampler: corrupt labeled stream in state'));
    }
    for (const field of [{ pos: -1 }, { pos: 9 }, { pos: 1.5 }, { pass: -1 }, { pass: 0.5 }]) {
      expect(() => fresh.setState({ ...saved, labeled: { ...saved.labeled, ...field } })).toThrow(escape('sampler: corrupt labeled stream in state'));
    }
    expect(() => fresh.setState({ ...saved, unlabeled: { ...saved.unlabeled, pos: 6 } })).toThrow(escape('sampler: corrupt unlabeled stream in state'));
    for (const batchIndex of [-1, 2.5]) expect(() => fresh.setState({ ...saved, batchIndex })).toThrow(escape('sampler: corrupt batchIndex in state'));
    // the bounds themselves are fine: pos at the end of the order, an empty order
    fresh.setState({ ...saved, labeled: { ...saved.labeled, pos: 8 }, unlabeled: { order: [], pos: 0, pass: 0 } });
    expect(fresh.state().labeled.pos).toBe(8);
  });
});

describe('BatchLoader', () => {
  it('refuses a case whose image and label shapes differ in one axis, naming it', async () => {
    await expect(new BatchLoader(cubeSource([6, 6, 5]), config()).next()).rejects.toThrow(/^sampler: case 'L\d' of cubes: image and label shapes differ$/);
  });

  it('prefetch 0 loads only the batch asked for; a negative or fractional prefetch is refused', async () => {
    const src = cubeSource();
    const loader = new BatchLoader(src, config(), { prefetch: 0 });
    await loader.next();
    await new Promise((r) => setTimeout(r, 20));
    expect(src.loads).toBe(4);
    for (const prefetch of [-1, 1.5]) {
      expect(() => new BatchLoader(src, config(), { prefetch })).toThrow(escape(`BatchLoader: prefetch must be an integer ≥ 0, got ${prefetch}`));
    }
  });

  it('exposes its configuration and epoch length', () => {
    const loader = new BatchLoader(cubeSource(), config({ labeledIds: ids('L', 7) }));
    expect(loader.config).toEqual(config({ labeledIds: ids('L', 7) }));
    expect(loader.batchesPerPass).toBe(3);
  });
});
