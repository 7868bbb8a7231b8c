import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import { afterAll, describe, expect, it } from 'vitest';
import { BratsSource } from '../../../src/imaging/io/brats.js';
import { computeSdf } from '../../../src/imaging/edt.js';
import { writeNifti } from '../../../src/imaging/io/nifti.js';
import { h5wasmReady, LA_CASE_DIR, LA_CASE_FILE, LASource } from '../../../src/imaging/io/la.js';
import { DataPipeline, sourceFromDescription } from '../../../src/imaging/data/pipeline.js';
import { BatchLoader, type Batch, type SamplerConfig, type SamplerState } from '../../../src/imaging/data/sampler.js';
import { SyntheticSource } from '../../../src/imaging/io/synthetic.js';
import type { CaseSource } from '../../../src/imaging/volume.js';
import { benchDataPipeline, formatBenchTable, summaryLine } from '../../../bench/data-pipeline.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'pipeline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const synthetic = () => new SyntheticSource({ count: 6, testCount: 2, shape: [20, 18, 16], seed: 3 });

function samplerConfig(source: CaseSource, over: Partial<SamplerConfig> = {}): SamplerConfig {
  const ids = source.trainIds();
  return { labeledIds: ids.slice(0, 2), unlabeledIds: ids.slice(2), batchSize: 3, labeledBatch: 2, patch: [16, 16, 16], seed: 7, augment: 'la', ...over };
}

async function take(p: { next(): Promise<Batch> }, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await p.next());
  return out;
}

function expectSameBatches(a: Batch[], b: Batch[]): void {
  expect(b.map((x) => x.ids)).toEqual(a.map((x) => x.ids));
  a.forEach((x, i) => {
    const y = b[i]!;
    expect(y.index).toBe(x.index);
    expect(y.params).toEqual(x.params);
    expect(Buffer.from(y.image.buffer).equals(Buffer.from(x.image.buffer)), `image of batch ${i}`).toBe(true);
    expect(Buffer.from(y.label.buffer).equals(Buffer.from(x.label.buffer)), `label of batch ${i}`).toBe(true);
    expect(y.sdf === undefined).toBe(x.sdf === undefined);
    if (x.sdf) expect(Buffer.from(y.sdf!.buffer).equals(Buffer.from(x.sdf.buffer)), `sdf of batch ${i}`).toBe(true);
  });
}

const quiet = { print: () => {} };

describe('DataPipeline', () => {
  it('0 and 2 workers give the batches of the plain BatchLoader, bit for bit, with compute_sdf of the labeled rows; state() resumes exactly', async () => {
    const source = synthetic();
    const c = samplerConfig(source);
    const plain = await take(new BatchLoader(synthetic(), c), 6);
    const lines: string[] = [];
    const local = await DataPipeline.create(source, c, { workers: 0, sdf: true, print: (l) => lines.push(l) });
    const pooled = await DataPipeline.create(source, c, { workers: 2, sdf: true, print: (l) => lines.push(l) });
    try {
      expect(local.workers).toBe(0);
      expect(pooled.workers).toBe(2);
      expect(lines[0]).toMatch(/^data: loading on the training thread, 2 batches ahead; caching 6 of 6 training cases \(~\d+ MiB\) \(automatic/);
      expect(lines[1]).toMatch(/^data: 2 worker threads, 2 batches ahead; caching 6 of 6 training cases/);
      const a = await take(local, 3), b = await take(pooled, 3);
      expectSameBatches(a, b);
      // the sdf of a batch is computeSdf of each of its (augmented) labeled rows; the same as without sdf otherwise
      const P = 16 * 16 * 16;
      for (const x of b) {
        expect(x.sdf!.length).toBe(2 * P);
        for (let r = 0; r < 2; r++) {
          expect(Array.from(x.sdf!.subarray(r * P, (r + 1) * P))).toEqual(Array.from(computeSdf(x.label.subarray(r * P, (r + 1) * P), [16, 16, 16])));
        }
        // transferred from the worker, not shared
        expect(x.image.buffer).toBeInstanceOf(ArrayBuffer);
      }
      expectSameBatches(plain.slice(0, 3), a.map(({ sdf: _sdf, ...rest }) => rest));
      // decoded cases are shared (SharedArrayBuffer), not copied per worker
      const k = await pooled.loadCase(source.trainIds()[2]!);
      expect(k.image.data.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(k.label!.data.buffer).toBeInstanceOf(SharedArrayBuffer);
      const test = await pooled.loadCase(source.testIds()[0]!);
      expect(Array.from(test.image.data)).toEqual(Array.from((await source.load(source.testIds()[0]!)).image.data));

      // resume: the state after batch 3 restored on a pipeline with another worker count
      const saved = JSON.parse(JSON.stringify(pooled.state())) as SamplerState;
      const rest = await take(pooled, 3);
      expectSameBatches(plain.slice(3), rest.map(({ sdf: _sdf, ...r }) => r));
      const resumed = await DataPipeline.create(source, c, { workers: 1, sdf: true, cacheCases: 0, ...quiet });
      try {
        resumed.setState(saved);
        expectSameBatches(rest, await take(resumed, 3));
      } finally {
        await resumed.close();
      }
    } finally {
      await Promise.all([local.close(), pooled.close()]);
    }
  });

  it('a source without describe() falls back to the training thread with a note; bad options are refused', async () => {
    const inner = synthetic();
    const plainSource: CaseSource = { name: 'custom', trainIds: () => inner.trainIds(), testIds: () => inner.testIds(), load: (id) => inner.load(id) };
    const lines: string[] = [];
    const p = await DataPipeline.create(plainSource, samplerConfig(plainSource), { workers: 2, cacheCases: 2, print: (l) => lines.push(l) });
    expect(p.workers).toBe(0);
    expect(p.cacheCases).toBe(2);
    expect(lines[0]).toMatch(/custom cannot be re-created in a worker thread .*loading on the training thread/);
    expect(lines[1]).toMatch(/caching 2 of 6 training cases$/);
    expectSameBatches(await take(new BatchLoader(inner, samplerConfig(inner)), 2), await take(p, 2));
    await p.close();
    await expect(DataPipeline.create(inner, null, { workers: -1 })).rejects.toThrow(/workers must be an integer ≥ 0, got -1/);
    await expect(DataPipeline.create(inner, null, { cacheCases: 1.5 })).rejects.toThrow(/cacheCases must be an integer ≥ 0, got 1.5/);
    // descriptions round-trip
    const again = await sourceFromDescription(inner.describe());
    expect(Array.from((await again.load('syn-001')).image.data)).toEqual(Array.from((await inner.load('syn-001')).image.data));
    const bratsRoot = path.join(tmp, 'brats');
    mkdirSync(bratsRoot);
    for (let i = 0; i < 5; i++) {
      const n = 6 * 5 * 4;
      writeNifti(path.join(bratsRoot, `case${i}_flair.nii.gz`), { data: Float32Array.from({ length: n }, (_, j) => 1 + ((j * (i + 3)) % 11)), shape: [6, 5, 4] }, { datatype: 'float32' });
      writeNifti(path.join(bratsRoot, `case${i}_seg.nii.gz`), { data: Uint8Array.from({ length: n }, (_, j) => (j % 3 === 0 ? 2 : 0)), shape: [6, 5, 4] }, { datatype: 'uint8' });
    }
    const brats = new BratsSource(bratsRoot, { splitSeed: 5, backgroundNoise: true });
    const bratsAgain = await sourceFromDescription(brats.describe());
    expect(bratsAgain.trainIds()).toEqual(brats.trainIds());
    const id = brats.trainIds()[0]!;
    expect(await bratsAgain.load(id)).toEqual(await brats.load(id));
  });

  it('a worker that dies rejects the pending batch naming the case and the reason, and every later one (no hang)', async () => {
    const source = synthetic();
    const c = samplerConfig(source);
    // the case the first batch needs after the first training case (decoded at the start)
    const plan = await new BatchLoader(source, c).next();
    const victim = plan.ids.find((id) => id !== source.trainIds()[0])!;
    const p = await DataPipeline.create(source, c, { workers: 1, crashWorkerOn: victim, ...quiet });
    try {
      await expect(p.next()).rejects.toThrow(new RegExp(`loading case '${victim}' of synthetic: data worker 0 exited with code 3`));
      await expect(p.next()).rejects.toThrow(/the data pipeline stopped: data worker 0 exited with code 3/);
    } finally {
      await p.close();
    }
  });
});

describe('DataPipeline on LA files', () => {
  async function writeCase(root: string, id: string, image: Float32Array, label: Uint8Array, shape: number[]): Promise<void> {
    mkdirSync(path.join(root, LA_CASE_DIR, id), { recursive: true });
    await h5wasmReady();
    const f = new h5wasm.File(path.join(root, LA_CASE_DIR, id, LA_CASE_FILE), 'w');
    try {
      f.create_dataset({ name: 'image', data: image, shape, chunks: shape, compression: 'gzip' });
      f.create_dataset({ name: 'label', data: label, shape, chunks: shape, compression: 'gzip' });
    } finally {
      f.close();
    }
  }

  it('checks the case files before the first batch, and reports a bad case decoded in a worker with its file and problem', async () => {
    const root = path.join(tmp, 'la');
    const shape = [18, 17, 16];
    const n = 18 * 17 * 16;
    const ids = ['A', 'B', 'C', 'D', 'E'];
    for (const [i, id] of ids.entries()) {
      const image = Float32Array.from({ length: n }, (_, j) => Math.sin(j + i));
      if (id === 'D') image[7] = NaN;
      await writeCase(root, id, image, Uint8Array.from({ length: n }, (_, j) => (j % 7 < 3 ? 1 : 0)), shape);
    }
    writeFileSync(path.join(root, 'train.list'), 'A\nB\nC\nD\n');
    writeFileSync(path.join(root, 'test.list'), 'E\nF\n');
    const c: SamplerConfig = { labeledIds: ['A', 'B'], unlabeledIds: ['C', 'D'], batchSize: 4, labeledBatch: 2, patch: [16, 16, 16], seed: 1 };
    // F is listed but missing; then a garbage E: both named before any batch
    await expect(DataPipeline.create(new LASource(root), c, { workers: 1, ...quiet })).rejects.toThrow(/1 of 6 LA case files fail the check:\n {2}LA .*F.*: missing case file/);
    mkdirSync(path.join(root, LA_CASE_DIR, 'F'));
    writeFileSync(path.join(root, LA_CASE_DIR, 'F', LA_CASE_FILE), Buffer.alloc(3000, 0x41));
    await expect(DataPipeline.create(new LASource(root), c, { workers: 1, ...quiet })).rejects.toThrow(/LA .*F.mri_norm2\.h5: not an HDF5 file/);
    writeFileSync(path.join(root, 'test.list'), 'E\n');
    // D passes the header check; decoding it in the worker fails: the batch names the case, the file and the problem
    const p = await DataPipeline.create(new LASource(root), c, { workers: 1, ...quiet });
    try {
      const file = path.join(root, LA_CASE_DIR, 'D', LA_CASE_FILE);
      await expect(p.next()).rejects.toThrow(`loading case 'D' of LA: LA ${file}: non-finite image value NaN at flat index 7`);
    } finally {
      await p.close();
    }
  });
});

describe('bench/data-pipeline.ts core', () => {
  it('times every (method, workers) pair on tiny synthetic settings', async () => {
    const rows = await benchDataPipeline({
      source: synthetic(), workers: [0, 1], batches: 3, methods: ['dtc', 'dbisl'], labeled: 2, batch: 3, labeledBatch: 2,
      patch: [16, 16, 16], seed: 1, stepMs: 1,
    });
    expect(rows.map((r) => `${r.method}/${r.workers}`)).toEqual(['dtc/0', 'dtc/1', 'dbisl/0', 'dbisl/1']);
    for (const r of rows) {
      expect(r.batches).toBe(3);
      for (const v of [r.startMs, r.firstMs, r.steadyMs, r.samplesPerSecond]) expect(Number.isFinite(v) && v > 0).toBe(true);
      expect(Number.isFinite(r.mainBusyMs)).toBe(true);
    }
    expect(formatBenchTable(rows, 1).split('\n')).toHaveLength(6);
    expect(summaryLine(rows)).toMatch(/^summary: dtc [\d.]+ samples\/s with [01] workers .*; dbisl /);
  });
});
