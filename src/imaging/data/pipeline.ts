/**
 * The training data pipeline off the training thread (PyTorch's DataLoader with `num_workers`).
 *
 * The training thread plans every batch in order (the sampler's ids and augmentation draws, see sampler.ts)
 * and only uploads finished arrays; `node:worker_threads` workers do the rest:
 * - decode a case (h5wasm / NIfTI / generator) and post it back in SharedArrayBuffers. The training thread
 *   keeps the decoded cases (id → shared arrays, an LRU of `cacheCases` training cases) and hands them to
 *   whichever worker needs them: a SharedArrayBuffer in postMessage is shared, not copied, so each case
 *   is in memory once, not once per worker;
 * - prepare a batch from its plan and cases: crop, augment, assemble, and for sdfTarget 'dtc' DTC's
 *   compute_sdf of the labeled rows (Batch.sdf). The batch's arrays are transferred back, not copied.
 * With 0 workers the same functions run on the training thread. A batch is a pure function of its plan, and
 * the plans are made on the training thread in order, so the batches (and a run's losses) do not depend on
 * the number of workers, and the loader's state (the sampler's) resumes exactly.
 *
 * Failures: a case that fails to load rejects its batch with the case and the problem (the source's own
 * message, which names the file); a worker that throws outside a task or exits rejects every task it holds
 * naming the case or batch and the reason, and every later request (no hang). Workers are unreferenced
 * while idle and terminated by close().
 */
import os from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeSdfRows } from '../edt.js';
import { cachedLoad, Lru } from '../io/lru.js';
import { assembleBatch, BatchLoader, type Batch, type BatchPlan, type SamplerConfig, type SamplerState } from './sampler.js';
import type { Case, CaseSource, SourceDescription } from '../volume.js';
import { esmEntry, isTypeScript, workerStart, WorkerPool, type TaskReply, type WorkerStart } from '../worker-pool.js';

/** Batches prepared ahead of the one the training step uses. */
export const PREFETCH_BATCHES = 2;
/** Share of the machine's memory the automatic --cache-cases may fill with decoded training cases. */
export const CACHE_MEMORY_SHARE = 0.4;

/**
 * The default worker count: a core per worker next to the training thread's, at most 8, at least 0. Not 4: DTC's
 * compute_sdf of a batch's two labeled 112×112×80 patches alone takes 0.26–0.48 s, so hiding it behind a ≈ 65 ms
 * GPU step takes 4–8 workers (idle ones cost only their start-up: the decoded cases are shared).
 */
export function defaultWorkerCount(): number {
  return Math.max(0, Math.min(8, os.availableParallelism() - 1));
}

/**
 * A source from its description (what a worker does); `cacheSize` is the source's own LRU (0 in a worker). The
 * readers are imported on demand, so that a worker loads only its own (h5wasm's WebAssembly only for LA).
 */
export async function sourceFromDescription(d: SourceDescription, cacheSize = 0): Promise<CaseSource> {
  switch (d.kind) {
    case 'la': {
      const { LASource } = await import('../io/la.js');
      return new LASource(d.root, { cacheSize });
    }
    case 'la-pack': {
      const { LAPackSource } = await import('../io/la-pack.js');
      return new LAPackSource(d.root, { cacheSize });
    }
    case 'synthetic': {
      const { SyntheticSource } = await import('../io/synthetic.js');
      return new SyntheticSource({ count: d.count, testCount: d.testCount, shape: d.shape, seed: d.seed, foregroundRange: d.foregroundRange, cacheSize });
    }
    case 'brats': {
      const { BratsSource } = await import('../io/brats.js');
      return new BratsSource(d.root, { cacheSize, splitSeed: d.splitSeed, backgroundNoise: d.backgroundNoise });
    }
  }
}

/** Bytes of a decoded case's arrays. */
export function caseBytes(c: Case): number {
  return c.image.data.byteLength + (c.label?.data.byteLength ?? 0);
}

/** The case with its arrays copied into SharedArrayBuffers (so that postMessage shares them). */
export function toShared(c: Case): Case {
  const share = <T extends Float32Array | Uint8Array>(a: T): T => {
    const out = (a instanceof Float32Array ? new Float32Array(new SharedArrayBuffer(a.byteLength)) : new Uint8Array(new SharedArrayBuffer(a.byteLength))) as T;
    out.set(a);
    return out;
  };
  return {
    id: c.id,
    image: { data: share(c.image.data), shape: [...c.image.shape] },
    label: c.label ? { data: share(c.label.data), shape: [...c.label.shape] } : null,
  };
}

/**
 * The per-batch work, the same on either thread: the batch of a plan from its cases (given in plan order) and,
 * with `sdf`, DTC's compute_sdf of its labeled rows.
 */
export async function prepareBatch(sourceName: string, plan: BatchPlan, config: SamplerConfig, cases: readonly Case[], sdf: boolean): Promise<Batch> {
  const byId = new Map(cases.map((c) => [c.id, c]));
  const lookup = async (id: string): Promise<Case> => {
    const c = byId.get(id);
    if (!c) throw new Error(`prepareBatch: case '${id}' of batch ${plan.index} was not provided`);
    return c;
  };
  const batch = await assembleBatch({ name: sourceName, load: lookup }, plan, config);
  if (sdf && batch.labeledCount > 0) batch.sdf = computeSdfRows(batch.label, batch.labeledCount, config.patch);
  return batch;
}

// ------------------------------------------------------------------------------------------- executors

/** Where decoding and batch preparation run. */
interface Executor {
  decode(id: string): Promise<Case>;
  prepare(plan: BatchPlan, config: SamplerConfig, cases: Case[], sdf: boolean): Promise<Batch>;
  close(): Promise<void>;
}

/** Everything on the calling (training) thread. */
class LocalExecutor implements Executor {
  constructor(readonly source: CaseSource) {}
  decode(id: string): Promise<Case> {
    return this.source.load(id);
  }
  prepare(plan: BatchPlan, config: SamplerConfig, cases: Case[], sdf: boolean): Promise<Batch> {
    return prepareBatch(this.source.name, plan, config, cases, sdf);
  }
  async close(): Promise<void> {}
}

/** What the worker module receives as workerData. */
export interface WorkerInit {
  description: SourceDescription;
  /** test hook: the worker that is asked to decode this case exits with code 3 (as if it crashed) */
  crashOn?: string;
}

/** Requests to a worker. */
export type WorkerRequest =
  | { type: 'decode'; task: number; id: string }
  | { type: 'prepare'; task: number; plan: BatchPlan; config: SamplerConfig; cases: Case[]; sdf: boolean };

/** Replies of a worker. */
export type WorkerReply = TaskReply<Case | Batch>;

/**
 * How to start the worker module next to this one, with the same extension (see workerStart); the LA reader's
 * h5wasm is imported before tsx's loader, which would otherwise transform its 4 MB in every worker.
 */
function pipelineWorkerStart(description: SourceDescription): WorkerStart {
  const url = new URL(`./pipeline-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  return workerStart(url, { preload: isTypeScript(url) && description.kind === 'la' ? [esmEntry('h5wasm', './node')] : [] });
}

/** Decoding and batches in worker threads. */
class WorkerExecutor implements Executor {
  readonly #pool: WorkerPool<WorkerRequest, Case | Batch>;

  constructor(readonly source: CaseSource, description: SourceDescription, count: number, crashOn?: string) {
    const workerData: WorkerInit = { description, ...(crashOn !== undefined ? { crashOn } : {}) };
    this.#pool = new WorkerPool(pipelineWorkerStart(description), count, { owner: 'the data pipeline', workerName: 'data worker', workerData });
  }

  decode(id: string): Promise<Case> {
    return this.#pool.run(`loading case '${id}' of ${this.source.name}`, (task) => ({ type: 'decode', task, id })) as Promise<Case>;
  }

  prepare(plan: BatchPlan, config: SamplerConfig, cases: Case[], sdf: boolean): Promise<Batch> {
    const ids = plan.samples.map((s) => s.id).join(', ');
    return this.#pool.run(`preparing batch ${plan.index} (cases ${ids}) of ${this.source.name}`, (task) => ({ type: 'prepare', task, plan, config, cases, sdf })) as Promise<Batch>;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}


// -------------------------------------------------------------------------------------------- pipeline

export interface DataPipelineOptions {
  /** worker threads; 0 = everything on the training thread (default {@link defaultWorkerCount}) */
  workers?: number;
  /** batches prepared ahead (default {@link PREFETCH_BATCHES}) */
  prefetch?: number;
  /** decoded training cases kept; null / absent = automatic (all that fit in {@link CACHE_MEMORY_SHARE} of the memory) */
  cacheCases?: number | null;
  /** attach DTC's compute_sdf of the labeled rows to each batch (sdfTarget 'dtc') */
  sdf?: boolean;
  /** where the decisions (workers, cache) are printed */
  print?: (line: string) => void;
  /** test hook: the worker asked to decode this case exits (a crash) */
  crashWorkerOn?: string;
}

/**
 * Batches (and test cases) for the training thread. `next()`, `state()` and `setState()` are BatchLoader's;
 * `loadCase(id)` decodes a case for evaluation (kept in a second LRU of the size of the test split).
 */
export class DataPipeline {
  readonly source: CaseSource;
  /** worker threads in use (0: the training thread does the work) */
  readonly workers: number;
  /** decoded training cases kept */
  readonly cacheCases: number;
  readonly #executor: Executor;
  readonly #trainCache: Lru<Promise<Case>>;
  readonly #evalCache: Lru<Promise<Case>>;
  readonly #loader: BatchLoader | null;

  private constructor(source: CaseSource, executor: Executor, workers: number, cacheCases: number, sampler: SamplerConfig | null, options: DataPipelineOptions) {
    this.source = source;
    this.#executor = executor;
    this.workers = workers;
    this.cacheCases = cacheCases;
    this.#trainCache = new Lru(cacheCases);
    this.#evalCache = new Lru(source.testIds().length);
    const sdf = options.sdf ?? false;
    this.#loader = sampler && new BatchLoader(source, sampler, {
      prefetch: options.prefetch ?? PREFETCH_BATCHES,
      assemble: async (plan, config) => {
        const cases = await Promise.all(plan.samples.map((s) => cachedLoad(this.#trainCache, s.id, () => executor.decode(s.id))));
        return executor.prepare(plan, config, cases, sdf);
      },
    });
  }

  /**
   * Checks the cases' files cheaply (the source's checkCases: every training and test case), starts the
   * workers and decides the cache size (the automatic one from the size of the first training case, decoded
   * now). `sampler` null: only loadCase() is used (evaluation).
   */
  static async create(source: CaseSource, sampler: SamplerConfig | null, options: DataPipelineOptions = {}): Promise<DataPipeline> {
    const print = options.print ?? (() => {});
    let workers = options.workers ?? defaultWorkerCount();
    if (!Number.isInteger(workers) || workers < 0) throw new Error(`data pipeline: workers must be an integer ≥ 0, got ${workers}`);
    const prefetch = options.prefetch ?? PREFETCH_BATCHES;
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new Error(`data pipeline: prefetch must be an integer ≥ 0, got ${prefetch}`);
    const cacheOption = options.cacheCases ?? null;
    if (cacheOption !== null && !(Number.isInteger(cacheOption) && cacheOption >= 0)) {
      throw new Error(`data pipeline: cacheCases must be an integer ≥ 0, got ${cacheOption}`);
    }
    const trainIds = sampler ? [...sampler.labeledIds, ...sampler.unlabeledIds] : [];
    await source.checkCases?.([...trainIds, ...source.testIds()]);
    const description = workers > 0 ? source.describe?.() : undefined;
    if (workers > 0 && !description) {
      print(`data: ${source.name} cannot be re-created in a worker thread (no describe()); loading on the training thread (--workers 0; the batches are the same)`);
      workers = 0;
    }
    const executor: Executor = description ? new WorkerExecutor(source, description, workers, options.crashWorkerOn) : new LocalExecutor(source);
    try {
      let cacheCases = cacheOption ?? 0;
      let first: Promise<Case> | null = null;
      let note = '';
      if (trainIds.length > 0) {
        let perCase = NaN;
        if (cacheOption === null) {
          first = executor.decode(trainIds[0]!);
          perCase = caseBytes(await first);
          const budget = CACHE_MEMORY_SHARE * os.totalmem();
          cacheCases = Math.min(trainIds.length, Math.floor(budget / perCase));
          note = ` (automatic: at most ${Math.round(CACHE_MEMORY_SHARE * 100)} % of ${formatBytes(os.totalmem())} memory)`;
        }
        const size = Number.isFinite(perCase) ? ` (~${formatBytes(cacheCases * perCase)})` : '';
        print(`data: ${workers === 0 ? 'loading on the training thread' : `${workers} worker thread${workers === 1 ? '' : 's'}`}, `
          + `${prefetch} batch${prefetch === 1 ? '' : 'es'} ahead; caching ${cacheCases} of ${trainIds.length} training cases${size}${note}`);
      } else if (workers > 0) print(`data: ${workers} worker thread${workers === 1 ? '' : 's'} load the test cases ahead`);
      const pipeline = new DataPipeline(source, executor, workers, cacheCases, sampler, options);
      if (first) pipeline.#trainCache.set(trainIds[0]!, first);
      return pipeline;
    } catch (e) {
      await executor.close();
      throw e;
    }
  }

  #requireLoader(): BatchLoader {
    if (!this.#loader) throw new Error('DataPipeline: created without a sampler configuration (evaluation only)');
    return this.#loader;
  }

  get batchesPerPass(): number {
    return this.#requireLoader().batchesPerPass;
  }

  /** The next batch, in order; the following ones are being prepared. */
  next(): Promise<Batch> {
    return this.#requireLoader().next();
  }

  /** Serializable position after the last returned batch (the sampler's state). */
  state(): SamplerState {
    return this.#requireLoader().state();
  }

  setState(s: SamplerState): void {
    this.#requireLoader().setState(s);
  }

  /** A decoded case (for evaluation): from the training cache when there, else decoded and kept in the test cache. */
  loadCase(id: string): Promise<Case> {
    return this.#trainCache.get(id) ?? cachedLoad(this.#evalCache, id, () => this.#executor.decode(id));
  }

  /** Stops the workers (pending batches reject). */
  close(): Promise<void> {
    return this.#executor.close();
  }
}

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}
