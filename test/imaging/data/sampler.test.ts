import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyAugment } from '../../../src/imaging/data/augment.js';
import { BatchLoader, TwoStreamSampler, type Batch, type SamplerConfig, type SamplerState } from '../../../src/imaging/data/sampler.js';
import type { Case, CaseSource, Shape3 } from '../../../src/imaging/volume.js';

/** A tiny in-memory source: case i has shape [7 + i % 3, 6, 5], image = id-coded ramp, label = voxel parity. */
class FakeSource implements CaseSource {
  readonly name = 'fake';
  loads = 0;
  failOnce = new Set<string>();
  constructor(readonly ids: string[], readonly unlabeledHaveLabels = true) {}
  trainIds(): string[] {
    return [...this.ids];
  }
  testIds(): string[] {
    return [];
  }
  async load(id: string): Promise<Case> {
    this.loads++;
    await new Promise((r) => setImmediate(r));
    if (this.failOnce.delete(id)) throw new Error(`fake load failure ${id}`);
    const i = this.ids.indexOf(id);
    if (i < 0) throw new Error(`unknown ${id}`);
    const shape: Shape3 = [7 + (i % 3), 6, 5];
    const n = shape[0] * shape[1] * shape[2];
    const image = Float32Array.from({ length: n }, (_, j) => i * 1000 + j + 1);
    const label = Uint8Array.from({ length: n }, (_, j) => (j + i) % 2);
    return { id, image: { data: image, shape }, label: { data: label, shape } };
  }
}

const ids = (p: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${p}${i}`);

function config(over: Partial<SamplerConfig> = {}): SamplerConfig {
  return { labeledIds: ids('L', 8), unlabeledIds: ids('U', 5), batchSize: 4, labeledBatch: 2, patch: [4, 4, 4], seed: 1, ...over };
}

function source(c: SamplerConfig): FakeSource {
  return new FakeSource([...c.labeledIds, ...c.unlabeledIds]);
}

describe('TwoStreamSampler', () => {
  it('uses every labeled id exactly once per pass (labeledBatch divides #labeled)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), (seed, lb, per) => {
        const nL = lb * per;
        const s = new TwoStreamSampler(config({ seed, labeledIds: ids('L', nL), labeledBatch: lb, batchSize: lb + 2 }));
        expect(s.batchesPerPass).toBe(per);
        for (let pass = 0; pass < 3; pass++) {
          const seen: string[] = [];
          for (let b = 0; b < per; b++) seen.push(...s.nextPlan().samples.filter((x) => x.labeled).map((x) => x.id));
          expect([...seen].sort()).toEqual(ids('L', nL).sort());
        }
      }),
      { numRuns: 40 },
    );
  });

  it('drops the incomplete remainder of a labeled pass (reference grouper)', () => {
    const s = new TwoStreamSampler(config({ labeledIds: ids('L', 5), labeledBatch: 2, batchSize: 3 }));
    expect(s.batchesPerPass).toBe(2);
    for (let pass = 0; pass < 4; pass++) {
      const seen = [...s.nextPlan().samples, ...s.nextPlan().samples].filter((x) => x.labeled).map((x) => x.id);
      expect(new Set(seen).size).toBe(4);
    }
  });

  it('streams the unlabeled ids as an endless chain of permutations', () => {
    const c = config({ unlabeledIds: ids('U', 5), batchSize: 5, labeledBatch: 2 }); // 3 unlabeled per batch
    const s = new TwoStreamSampler(c);
    const seq: string[] = [];
    for (let b = 0; b < 10; b++) seq.push(...s.nextPlan().samples.filter((x) => !x.labeled).map((x) => x.id));
    for (let k = 0; k + 5 <= seq.length; k += 5) expect(seq.slice(k, k + 5).sort()).toEqual(ids('U', 5));
  });

  it('puts the labeled samples first and is deterministic per seed', () => {
    const a = new TwoStreamSampler(config({ seed: 3 }));
    const b = new TwoStreamSampler(config({ seed: 3 }));
    const c = new TwoStreamSampler(config({ seed: 4 }));
    const pa = Array.from({ length: 6 }, () => a.nextPlan());
    const pb = Array.from({ length: 6 }, () => b.nextPlan());
    const pc = Array.from({ length: 6 }, () => c.nextPlan());
    expect(pa).toEqual(pb);
    expect(pa).not.toEqual(pc);
    for (const p of pa) expect(p.samples.map((x) => x.labeled)).toEqual([true, true, false, false]);
    expect(pa.map((p) => p.index)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('supports fully supervised (labeledBatch = batch) and fully unlabeled batches', () => {
    const sup = new TwoStreamSampler(config({ labeledBatch: 4, unlabeledIds: [] }));
    expect(sup.nextPlan().samples.every((x) => x.labeled)).toBe(true);
    const uns = new TwoStreamSampler(config({ labeledBatch: 0, labeledIds: [] }));
    expect(uns.nextPlan().samples.every((x) => !x.labeled)).toBe(true);
    expect(uns.batchesPerPass).toBe(Infinity);
  });

  it('validates its configuration', () => {
    expect(() => new TwoStreamSampler(config({ labeledBatch: 5 }))).toThrow(/labeledBatch/);
    expect(() => new TwoStreamSampler(config({ labeledIds: ['L0'] }))).toThrow(/cannot fill/);
    expect(() => new TwoStreamSampler(config({ unlabeledIds: [] }))).toThrow(/no unlabeled/);
    expect(() => new TwoStreamSampler(config({ unlabeledIds: ['L0', 'U1'] }))).toThrow(/both labeled and unlabeled/);
    expect(() => new TwoStreamSampler(config({ patch: [4, 0, 4] }))).toThrow(/patch/);
  });

  it('state round trip (through JSON) continues identically; a foreign state is refused', () => {
    const a = new TwoStreamSampler(config({ seed: 9 }));
    for (let i = 0; i < 7; i++) a.nextPlan();
    const saved = JSON.parse(JSON.stringify(a.state())) as SamplerState;
    const cont = Array.from({ length: 9 }, () => a.nextPlan());
    const b = new TwoStreamSampler(config({ seed: 9 }));
    b.setState(saved);
    expect(Array.from({ length: 9 }, () => b.nextPlan())).toEqual(cont);
    const other = new TwoStreamSampler(config({ seed: 10 }));
    expect(() => other.setState(saved)).toThrow(/different configuration/);
    const bad = structuredClone(saved);
    bad.labeled.order = [0, 0, 1, 2, 3, 4, 5, 6];
    expect(() => b.setState(bad)).toThrow(/corrupt labeled/);
  });
});

function sameBatch(a: Batch, b: Batch): void {
  expect(a.index).toBe(b.index);
  expect(a.ids).toEqual(b.ids);
  expect(a.params).toEqual(b.params);
  expect(Buffer.from(a.image.buffer).equals(Buffer.from(b.image.buffer))).toBe(true);
  expect(Buffer.from(a.label.buffer).equals(Buffer.from(b.label.buffer))).toBe(true);
}

describe('BatchLoader', () => {
  it('assembles [B,1,X,Y,Z] images and [B,X,Y,Z] labels; unlabeled rows have zero labels', async () => {
    const c = config();
    const src = source(c);
    const loader = new BatchLoader(src, c);
    const batch = await loader.next();
    expect(batch.imageShape).toEqual([4, 1, 4, 4, 4]);
    expect(batch.labelShape).toEqual([4, 4, 4, 4]);
    expect(batch.image.length).toBe(4 * 64);
    expect(batch.labeled).toEqual([true, true, false, false]);
    expect(batch.labeledCount).toBe(2);
    for (let b = 0; b < 4; b++) {
      const cs = await src.load(batch.ids[b]!);
      const img = applyAugment(cs.image, batch.params[b]!);
      expect(Array.from(batch.image.subarray(b * 64, (b + 1) * 64))).toEqual(Array.from(img.data));
      const lab = b < 2 ? Array.from(applyAugment(cs.label!, batch.params[b]!).data) : new Array<number>(64).fill(0);
      expect(Array.from(batch.label.subarray(b * 64, (b + 1) * 64))).toEqual(lab);
    }
    const keep = new BatchLoader(src, { ...c, keepUnlabeledLabels: true });
    const kb = await keep.next();
    const cs3 = await src.load(kb.ids[3]!);
    expect(Array.from(kb.label.subarray(3 * 64))).toEqual(Array.from(applyAugment(cs3.label!, kb.params[3]!).data));
  });

  it('is deterministic per seed and prefetches the next batch', async () => {
    const c = config({ seed: 5 });
    const s1 = source(c);
    const l1 = new BatchLoader(s1, c);
    const l2 = new BatchLoader(source(c), c);
    const b1 = await l1.next();
    sameBatch(b1, await l2.next());
    await new Promise((r) => setTimeout(r, 20));
    expect(s1.loads).toBe(8); // batch 0 and the prefetched batch 1
    sameBatch(await l1.next(), await l2.next());
    const l3 = new BatchLoader(source(c), config({ seed: 6 }));
    expect((await l3.next()).ids).not.toEqual(b1.ids);
  });

  it('state() / setState() resume bit-for-bit, on a new loader and on the same one', async () => {
    const c = config({ seed: 21 });
    const a = new BatchLoader(source(c), c);
    for (let i = 0; i < 5; i++) await a.next();
    const saved = JSON.parse(JSON.stringify(a.state())) as SamplerState;
    expect(saved.batchIndex).toBe(5);
    const cont: Batch[] = [];
    for (let i = 0; i < 4; i++) cont.push(await a.next());
    expect(cont[0]!.index).toBe(5);
    const b = new BatchLoader(source(c), c);
    b.setState(saved);
    for (let i = 0; i < 4; i++) sameBatch(await b.next(), cont[i]!);
    a.setState(saved); // drops a's prefetched batch
    for (let i = 0; i < 4; i++) sameBatch(await a.next(), cont[i]!);
  });

  it('centre-crop mode is deterministic and unrotated', async () => {
    const c = config({ augment: 'center' });
    const batch = await new BatchLoader(source(c), c).next();
    for (const p of batch.params) {
      expect(p.k).toBe(0);
      expect(p.flipAxis).toBeNull();
    }
  });

  it('rolls back on a failed load so that the next call retries the same batch', async () => {
    const c = config({ seed: 2 });
    const ref = new BatchLoader(source(c), c);
    const want = [await ref.next(), await ref.next()];
    const src = source(c);
    const l = new BatchLoader(src, c);
    src.failOnce.add(want[0]!.ids[0]!);
    await expect(l.next()).rejects.toThrow(/fake load failure/);
    sameBatch(await l.next(), want[0]!);
    sameBatch(await l.next(), want[1]!);
  });

  it('refuses a labeled case without a label', async () => {
    const c = config();
    const src: CaseSource = {
      name: 'nolabel',
      trainIds: () => [],
      testIds: () => [],
      load: async (id) => ({ id, image: { data: new Float32Array(6 * 6 * 6), shape: [6, 6, 6] }, label: null }),
    };
    await expect(new BatchLoader(src, c).next()).rejects.toThrow(/has no label/);
  });
});
