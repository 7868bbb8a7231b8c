/**
 * Throughput of the training data pipeline (src/imaging/data/pipeline.ts): the LA preset's batches (batch 4 =
 * 2 labeled + 2 unlabeled, patch 112×112×80, rot90/flip/random-crop augmentation) for DTC (with compute_sdf of
 * the labeled rows) and DBiSL (without), per worker count, taken as fast as the pipeline delivers them
 * (or with --step-ms of busy main thread per batch, as a training step would be).
 *
 *   npx tsx bench/data-pipeline.ts --data ../shared/data/LA [--workers 0,2] [--batches 8] [--methods dtc,dbisl]
 *                                  [--labeled 8] [--step-ms 0] [--seed 1337]
 *
 * Every run starts a fresh pipeline (no decoded case kept): "start" is the pipeline's start (file checks,
 * worker threads, the first case decoded to size the cache), "first" the first batch (cold: its cases are
 * decoded), "steady" the mean of the other batches, and "main thread busy" the part of that the main thread
 * was busy (its event-loop utilization): the work still on the training thread. In the first pass over the 72 unlabeled LA cases every
 * batch decodes its two unlabeled cases, so "steady" includes that decoding (the worst case of a run).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { DataPipeline } from '../src/imaging/data/pipeline.js';
import type { SamplerConfig } from '../src/imaging/data/sampler.js';
import type { CaseSource, Shape3 } from '../src/imaging/volume.js';
import { parseBenchArgs, type BenchCommand } from './args.js';

export type BenchMethod = 'dtc' | 'dbisl';

export interface DataPipelineBenchOptions {
  source: CaseSource;
  workers: readonly number[];
  /** batches per run, the first counted apart */
  batches: number;
  methods: readonly BenchMethod[];
  /** labeled cases: the first of the training list */
  labeled: number;
  batch: number;
  labeledBatch: number;
  patch: Shape3;
  seed: number;
  /** busy time of the main thread per batch (a stand-in for the training step) */
  stepMs: number;
  /** progress lines */
  print?: (line: string) => void;
}

export interface DataPipelineBenchRow {
  method: BenchMethod;
  workers: number;
  batches: number;
  startMs: number;
  firstMs: number;
  /** mean of batches 2 … (NaN with one batch) */
  steadyMs: number;
  /** of that, the time the main thread was busy (event-loop utilization, without the --step-ms work): what the training thread still does */
  mainBusyMs: number;
  samplesPerSecond: number;
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the training thread recording a step */ }
}

/** Runs every (method, worker count) pair; the core of the command, also used by its smoke test. */
export async function benchDataPipeline(o: DataPipelineBenchOptions): Promise<DataPipelineBenchRow[]> {
  const ids = o.source.trainIds();
  const sampler: SamplerConfig = {
    labeledIds: ids.slice(0, o.labeled), unlabeledIds: ids.slice(o.labeled),
    batchSize: o.batch, labeledBatch: o.labeledBatch, patch: o.patch, seed: o.seed, augment: 'la',
  };
  const rows: DataPipelineBenchRow[] = [];
  for (const method of o.methods) {
    for (const workers of o.workers) {
      const t0 = performance.now();
      const pipeline = await DataPipeline.create(o.source, sampler, { workers, sdf: method === 'dtc' });
      const startMs = performance.now() - t0;
      const times: number[] = [];
      let elu: EventLoopUtilization | null = null;
      let mainBusyMs = NaN;
      try {
        for (let i = 0; i < o.batches; i++) {
          if (i === 1) elu = performance.eventLoopUtilization();
          const t = performance.now();
          const b = await pipeline.next();
          times.push(performance.now() - t);
          if (method === 'dtc' && !b.sdf) throw new Error('bench: a dtc batch came without its compute_sdf target');
          busyWait(o.stepMs);
        }
        if (elu) mainBusyMs = (performance.eventLoopUtilization(elu).active - o.stepMs * (o.batches - 1)) / (o.batches - 1);
      } finally {
        await pipeline.close();
      }
      const steady = times.slice(1);
      const steadyMs = steady.length ? steady.reduce((a, b) => a + b, 0) / steady.length : NaN;
      // samples/s of the steady state: a batch every (wait + step) ms
      const perBatch = (steady.length ? steadyMs : times[0]!) + o.stepMs;
      const row: DataPipelineBenchRow = {
        method, workers, batches: times.length, startMs, firstMs: times[0]!, steadyMs, mainBusyMs, samplesPerSecond: (1000 * o.batch) / perBatch,
      };
      rows.push(row);
      o.print?.(`${method} workers ${workers}: start ${startMs.toFixed(0)} ms, first batch ${row.firstMs.toFixed(0)} ms, steady ${steadyMs.toFixed(1)} ms/batch (main thread busy ${mainBusyMs.toFixed(1)} ms of it)`);
    }
  }
  return rows;
}

/** The Markdown table of the rows. */
export function formatBenchTable(rows: readonly DataPipelineBenchRow[], stepMs: number): string {
  const head = stepMs > 0
    ? `| method | workers | start (ms) | first batch (ms) | steady wait (ms/batch, + ${stepMs} ms step) | main thread busy (ms/batch) | samples/s |`
    : '| method | workers | start (ms) | first batch, cold (ms) | steady (ms/batch) | main thread busy (ms/batch) | samples/s |';
  const lines = [head, '|---|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(`| ${r.method} | ${r.workers} | ${r.startMs.toFixed(0)} | ${r.firstMs.toFixed(0)} | ${r.steadyMs.toFixed(1)} | ${r.mainBusyMs.toFixed(1)} | ${r.samplesPerSecond.toFixed(1)} |`);
  }
  return lines.join('\n');
}

/** One line: the best worker count's speed-up over the first listed count, per method. */
export function summaryLine(rows: readonly DataPipelineBenchRow[]): string {
  const parts: string[] = [];
  for (const method of [...new Set(rows.map((r) => r.method))]) {
    const rs = rows.filter((r) => r.method === method);
    const base = rs[0]!;
    const best = rs.reduce((a, b) => (b.samplesPerSecond > a.samplesPerSecond ? b : a));
    parts.push(`${method} ${best.samplesPerSecond.toFixed(1)} samples/s with ${best.workers} workers (${(best.samplesPerSecond / base.samplesPerSecond).toFixed(2)}× workers ${base.workers})`);
  }
  return `summary: ${parts.join('; ')}`;
}

const COMMAND: BenchCommand = {
  about: 'Throughput of the training data pipeline on LA (batch 4 = 2 labeled + 2 unlabeled, patch 112×112×80).',
  options: {
    data: { type: 'string', arg: 'DIR', help: 'LA root (train.list, test.list, "2018LA_Seg_Training Set") (required)' },
    workers: { type: 'string', default: '0,2', arg: 'LIST', help: 'worker counts to compare' },
    batches: { type: 'string', default: '8', arg: 'N', help: 'batches per run, the first (cold) counted apart' },
    methods: { type: 'string', default: 'dtc,dbisl', arg: 'LIST', help: 'dtc (with compute_sdf of the labeled rows), dbisl (without)' },
    labeled: { type: 'string', default: '8', arg: 'N', help: 'labeled cases, the first N of train.list' },
    'step-ms': { type: 'string', default: '0', arg: 'X', help: 'busy main-thread time per batch, a stand-in for the training step' },
    seed: { type: 'string', default: '1337', arg: 'N', help: 'sampler seed' },
  },
};

async function main(argv: string[]): Promise<number> {
  const a = parseBenchArgs(COMMAND, argv, 'data-pipeline.ts');
  const data = a.string('data') ?? a.fail('--data DIR is required (the LA root)');
  const methods = a.string('methods')!.split(',').map((s) => s.trim());
  const bad = methods.find((m) => m !== 'dtc' && m !== 'dbisl');
  if (bad !== undefined) a.fail(`--methods: '${bad}' is not dtc or dbisl`);
  const stepMs = Number(a.string('step-ms'));
  if (!(Number.isFinite(stepMs) && stepMs >= 0)) a.fail(`--step-ms: expected a number ≥ 0, got '${a.string('step-ms')}'`);
  const { LASource } = await import('../src/imaging/io/la.js');
  let source: CaseSource;
  try {
    source = new LASource(resolve(data));
  } catch (e) {
    return a.fail(`--data: ${(e as Error).message}`);
  }
  const o: DataPipelineBenchOptions = {
    source, workers: a.ints('workers', 0)!, batches: a.int('batches'), methods: methods as BenchMethod[], labeled: a.int('labeled', 2),
    batch: 4, labeledBatch: 2, patch: [112, 112, 80], seed: a.int('seed', 0), stepMs, print: (l) => console.log(l),
  };
  const rows = await benchDataPipeline(o);
  console.log('');
  console.log(formatBenchTable(rows, o.stepMs));
  console.log('');
  console.log(summaryLine(rows));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: Error) => {
    console.error(`data-pipeline: ${e.message}`);
    process.exitCode = 1;
  });
}
