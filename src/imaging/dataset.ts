/**
 * MONAI's data layer for a user's own data (monai/data/dataset.py, dataloader.py, utils.py): a `Dataset` of
 * samples (usually dictionaries of file paths) run through transforms, a `CacheDataset` that keeps each sample
 * transformed up to its first random transform, a `DataLoader` that batches them into tensors, and `decollateBatch`
 * / `partitionDataset` around them.
 *
 * Randomness: a random transform draws from the `Rng` handed to `getItem`. The DataLoader gives dataset item i of
 * an epoch its own `new Rng(hashSeed(epochSeed, i))`, where epochSeed is drawn from the loader's generator at the
 * start of the epoch (then the shuffle's permutation): a sample does not depend on the batch size, on dropLast or on
 * the order the items are transformed in, and two loaders with one seed give the same batches.
 *
 * Collation (MONAI's `list_data_collate`): items that are lists of samples (a transform that draws several patches,
 * RandCropByPosNegLabel) are flattened into the batch; then, key by key over the first sample's keys, the volumes
 * become one tensor [B, C, X, Y, Z] (a volume [X, Y, Z] is one channel, [B, 1, X, Y, Z]; Float32Array to 'float32',
 * Uint8Array to 'int32', or the dtype asked for the key), tensors are stacked along a new axis 0, and any other
 * value is gathered into an array, one entry per sample.
 */
import { detach, slice, squeeze, stack } from '../autograd/ops.js';
import type { Backend, DType } from '../kernels/backend.js';
import { fromArray } from '../tensor/creation.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Progress, type ProgressStream } from './progress.js';
import { hashSeed, Rng } from './random.js';
import { Compose, readChannels, type ComposeStep, type Transform } from './transforms.js';
import { isTypeScript, workerStart, WorkerPool } from './worker-pool.js';

/** What a Dataset runs its samples through: a transform, a Compose, or a list of them (wrapped in a Compose, as MONAI's). */
export type DatasetTransform = Transform | ComposeStep | readonly ComposeStep[];

/** The Compose of a Dataset's transform (null for none). */
function asCompose(transform: DatasetTransform | null | undefined, name: string): Compose | null {
  if (transform === null || transform === undefined) return null;
  if (transform instanceof Compose) return transform;
  if (Array.isArray(transform)) return new Compose(transform as readonly ComposeStep[]);
  if (typeof (transform as Transform).apply !== 'function') throw new Error(`${name}: transform must be a transform, a Compose or a list of transforms (objects with apply(data, rng))`);
  return new Compose([transform as ComposeStep]);
}

/** Checks the data are an array of samples (objects). */
function checkData<S>(data: readonly S[], name: string): S[] {
  if (!Array.isArray(data)) throw new Error(`${name}: data must be an array of samples, got ${data === null ? 'null' : typeof data}`);
  return [...data];
}

/** An index into a dataset of `length` items (negative counts from the end, as Python's), checked. */
export function itemIndex(index: number, length: number, name: string): number {
  if (!Number.isInteger(index) || index < -length || index >= length) {
    throw new Error(`${name}: index ${index} is out of range for ${length} item${length === 1 ? '' : 's'}`);
  }
  return index < 0 ? index + length : index;
}

/**
 * MONAI's `Dataset`: `getItem(i, rng)` is data[i] through the transform (a new sample each call; a transform that
 * draws several samples gives a list). `S` is the type of a transformed sample, declared, not checked (as Compose's
 * TOut); it types the DataLoader's batches.
 */
export class Dataset<S extends object = Record<string, unknown>> {
  readonly data: readonly object[];
  readonly transform: Compose | null;

  constructor(data: readonly object[], transform?: DatasetTransform | null) {
    this.data = checkData(data, this.constructor.name);
    this.transform = asCompose(transform, this.constructor.name);
  }

  get length(): number {
    return this.data.length;
  }

  /** Item `index` transformed; `rng` is needed when a transform is random. */
  getItem(index: number, rng?: Rng): S | S[] {
    const i = itemIndex(index, this.data.length, `${this.constructor.name}.getItem`);
    return naming(`${this.constructor.name}: item ${i}`, () => this.transformItem(i, rng));
  }

  /** Item i (checked) through the transform. */
  protected transformItem(i: number, rng?: Rng): S | S[] {
    const item = sampleAt(this.data, i);
    return (this.transform ? this.transform.apply(item, rng) : item) as S | S[];
  }
}

/** Item i of the data, checked to be a sample object. */
export function sampleAt(data: readonly object[], i: number): object {
  const item = data[i];
  if (item === null || typeof item !== 'object') throw new Error(`not a sample object (got ${item === null ? 'null' : typeof item})`);
  return item;
}

/** f(), its Error rethrown with `what` before the message (which item failed; the original is its cause). */
export function naming<R>(what: string, f: () => R): R {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    throw new Error(`${what}: ${e.message}`, { cause: e });
  }
}

/**
 * Whether a transform is random (MONAI's `RandomizableTrait`): it says so by a `randomizable` property (a transform
 * of one's own: `readonly randomizable = true`), or its class is named Rand… (every built-in random transform,
 * as MONAI's), or it is a Compose with a random step.
 */
export function isRandomTransform(t: ComposeStep | Transform): boolean {
  const declared = (t as { randomizable?: unknown }).randomizable;
  if (typeof declared === 'boolean') return declared;
  if (t instanceof Compose) return t.transforms.some((s) => isRandomTransform(s));
  return /^Rand[A-Z0-9]/.test(t.constructor?.name ?? '');
}

/** An Rng that throws, naming the transform, when a transform of the cached steps touches it. */
function forbiddenRng(index: number, t: ComposeStep): Rng {
  return new Proxy({}, {
    get() {
      throw new Error(`transforms[${index}] (${t.constructor?.name ?? 'object'}) draws from the Rng but is cached as deterministic; ` +
        'a random transform of your own must be named Rand… or declare readonly randomizable = true');
    },
  }) as Rng;
}

/** A Dataset's transform cut before its first random step (MONAI's caching datasets cache what `cached` makes). */
export interface SplitTransform {
  /** the index of the first random step (the number of cached steps) */
  firstRandom: number;
  /** the steps before it (null for none) */
  cached: Compose | null;
  /** the first random step and those after it (null for none) */
  rest: Compose | null;
}

/** The transform cut before its first random step (`isRandomTransform`). */
export function splitAtFirstRandom(transform: Compose | null): SplitTransform {
  const steps = transform?.transforms ?? [];
  const first = steps.findIndex((t) => isRandomTransform(t));
  const firstRandom = first < 0 ? steps.length : first;
  return {
    firstRandom,
    cached: firstRandom > 0 ? new Compose(steps.slice(0, firstRandom)) : null,
    rest: firstRandom < steps.length ? new Compose(steps.slice(firstRandom)) : null,
  };
}

/** A sample through the cached (deterministic) steps, each given an Rng that throws, naming the step, if touched. */
export function applyDeterministic(cached: Compose | null, sample: object): object | object[] {
  let current: object | object[] = sample;
  (cached?.transforms ?? []).forEach((t, k) => {
    const rng = forbiddenRng(k, t);
    current = Array.isArray(current) ? current.flatMap((d) => t.apply(d, rng)) : t.apply(current, rng);
  });
  return current;
}

/** A cached sample (or list of samples) through the random steps. */
export function applyRandom(rest: Compose | null, start: object | object[], rng?: Rng): object | object[] {
  if (!rest) return start;
  return Array.isArray(start) ? start.flatMap((d) => rest.applyAll(d, rng)) : rest.apply(start, rng);
}

/** A copy of a sample's data: typed arrays, arrays and plain objects are copied (deeply), other objects shared. */
export function copySample<T>(value: T): T {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return (value as unknown as Float32Array).slice() as T;
  if (Array.isArray(value)) return value.map((v: unknown) => copySample(v)) as T;
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as object | null;
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = copySample(v);
    return out as T;
  }
  return value;
}

export interface CacheDatasetOptions {
  /** how many items to cache at most (MONAI's default: all) */
  cacheNum?: number;
  /** the share of the items to cache, in [0, 1] (default 1); the first min(cacheNum, ⌊length · cacheRate⌋) items are cached */
  cacheRate?: number;
  /** copy a cached sample before the random transforms (default true, MONAI's), so that a transform modifying its input cannot change the cache */
  copyCache?: boolean;
  /** cache each item when first read instead of in the constructor (MONAI's runtime_cache; default false) */
  runtimeCache?: boolean;
  /**
   * a progress bar on stderr while the constructor caches (MONAI's `progress`; default: when stderr is a terminal), or
   * the stream to draw it on
   */
  progress?: boolean | ProgressStream;
}

/**
 * MONAI's `CacheDataset`: the first `cacheNum` items are kept as they are after the transforms before the first
 * random one (`isRandomTransform`; a nested Compose counts as random when one of its steps is), computed once (in
 * the constructor, or at the first read with runtimeCache); each read runs the rest of the transforms on (a copy
 * of) the cached sample. The cached steps get an Rng that throws if touched, so a random transform that does not
 * say it is one is an error rather than a frozen draw. Items beyond the cache run every transform at each read.
 */
export class CacheDataset<S extends object = Record<string, unknown>> extends Dataset<S> {
  readonly cacheNum: number;
  readonly copyCache: boolean;
  /** the index of the first random transform (the number of cached steps) */
  readonly firstRandom: number;
  readonly #split: SplitTransform;
  readonly #cache: (object | object[] | undefined)[];

  constructor(data: readonly object[], transform?: DatasetTransform | null, opts: CacheDatasetOptions = {}) {
    super(data, transform);
    const name = 'CacheDataset';
    const cacheNum = opts.cacheNum ?? Infinity, cacheRate = opts.cacheRate ?? 1;
    if (!(cacheNum >= 0) || (cacheNum !== Infinity && !Number.isInteger(cacheNum))) throw new Error(`${name}: cacheNum must be a non-negative integer, got ${cacheNum}`);
    if (!(cacheRate >= 0 && cacheRate <= 1)) throw new Error(`${name}: cacheRate must be in [0, 1], got ${cacheRate}`);
    this.cacheNum = Math.min(cacheNum, Math.floor(this.length * cacheRate), this.length);
    this.copyCache = opts.copyCache ?? true;
    this.#split = splitAtFirstRandom(this.transform);
    this.firstRandom = this.#split.firstRandom;
    this.#cache = new Array<object | object[] | undefined>(this.cacheNum).fill(undefined);
    if (!opts.runtimeCache) {
      const progress = opts.progress ?? process.stderr.isTTY === true;
      const bar = progress && this.cacheNum > 0 ? new Progress('Loading dataset', this.cacheNum, typeof progress === 'object' ? { stream: progress } : {}) : null;
      for (let i = 0; i < this.cacheNum; i++) {
        this.#cache[i] = naming(`${name}: item ${i}`, () => this.#deterministic(i));
        bar?.tick();
      }
      bar?.done();
    }
  }

  #deterministic(i: number): object | object[] {
    return applyDeterministic(this.#split.cached, sampleAt(this.data, i));
  }

  /** Whether item `index` is cached now. */
  isCached(index: number): boolean {
    const i = itemIndex(index, this.length, 'CacheDataset.isCached');
    return i < this.cacheNum && this.#cache[i] !== undefined;
  }

  protected override transformItem(i: number, rng?: Rng): S | S[] {
    if (i >= this.cacheNum) return super.transformItem(i, rng);
    const cached = (this.#cache[i] ??= this.#deterministic(i));
    return applyRandom(this.#split.rest, this.copyCache ? copySample(cached) : cached, rng) as S | S[];
  }
}

// ------------------------------------------------------------------------------------------------ collation

/** What collation takes for a volume: { data, shape } of either element type, [X, Y, Z] or [C, X, Y, Z] (checked when collated). */
type VolumeLike = { data: Float32Array | Uint8Array; shape: readonly number[] };

/** A batch's value for a sample value of type V: a tensor for volumes and tensors, else the array of the samples' values. */
export type CollatedValue<V> = unknown extends V ? Tensor | unknown[] : V extends VolumeLike | Tensor ? Tensor : V[];

/** What collation makes of samples of type S. */
export type Batch<S> = { [K in keyof S]: CollatedValue<S[K]> };

export interface CollateOptions {
  /** the backend of the batch's tensors (default: the current one, getBackend()) */
  backend?: Backend;
  /** the dtype of a key's tensor (default: 'float32' for Float32Array volumes, 'int32' for Uint8Array ones; float to int32 truncates, as a typed array's set) */
  dtypes?: Readonly<Record<string, DType>>;
}

/** Whether a value looks like a volume ({ data: Float32Array | Uint8Array, shape: [...] }); readChannels checks it. */
function isVolumeLike(v: unknown): boolean {
  const o = v as { data?: unknown; shape?: unknown } | null;
  return o !== null && typeof o === 'object' && (o.data instanceof Float32Array || o.data instanceof Uint8Array) && Array.isArray(o.shape);
}

const DTYPES: readonly DType[] = ['float32', 'int32', 'float64'];

/** The volumes under `key` of every sample as one tensor [B, C, X, Y, Z]. */
function collateVolumes(samples: readonly object[], key: string, opts: CollateOptions, name: string): Tensor {
  const vols = samples.map((s, j) => readChannels(s, key, `${name}: sample ${j}`));
  const shape0 = [vols[0]!.channels.length, ...vols[0]!.shape];
  vols.forEach((v, j) => {
    const shape = [v.channels.length, ...v.shape];
    if (shape.some((n, a) => n !== shape0[a])) {
      throw new Error(`${name}: key '${key}' has shape [C, X, Y, Z] = [${shape.join(', ')}] in sample ${j} but [${shape0.join(', ')}] in sample 0; ` +
        'a batch needs one shape (crop or pad to one size: ResizeWithPadOrCrop, SpatialPad, RandSpatialCrop, or batchSize 1)');
    }
    if (v.volume.data.constructor !== vols[0]!.volume.data.constructor) {
      throw new Error(`${name}: key '${key}' holds a ${v.volume.data.constructor.name} in sample ${j} but a ${vols[0]!.volume.data.constructor.name} in sample 0`);
    }
  });
  const dtype = opts.dtypes?.[key] ?? (vols[0]!.volume.data instanceof Uint8Array ? 'int32' : 'float32');
  if (!DTYPES.includes(dtype)) throw new Error(`${name}: dtypes['${key}'] must be one of ${DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
  const n = vols[0]!.volume.data.length;
  const host = dtype === 'int32' ? new Int32Array(n * vols.length) : dtype === 'float64' ? new Float64Array(n * vols.length) : new Float32Array(n * vols.length);
  vols.forEach((v, j) => host.set(v.volume.data, j * n));
  return fromArray(host, [vols.length, ...shape0], { dtype, ...(opts.backend ? { backend: opts.backend } : {}) });
}

/**
 * MONAI's `list_data_collate`: the items (samples, or lists of samples that are flattened into the batch) as one
 * batch: per key of the first sample, volumes as a tensor [B, C, X, Y, Z], tensors stacked along a new axis 0, any
 * other value as an array of the samples' values. Every sample must have the first one's keys.
 */
export function listDataCollate<S extends object>(items: readonly (S | readonly S[])[], opts: CollateOptions = {}): Batch<S> {
  const name = 'listDataCollate';
  if (!Array.isArray(items) || items.length === 0) throw new Error(`${name}: expected a non-empty array of samples`);
  const samples = items.flatMap((it) => (Array.isArray(it) ? it : [it])) as S[];
  if (samples.length === 0) throw new Error(`${name}: the items hold no samples (empty lists)`);
  samples.forEach((s, j) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new Error(`${name}: sample ${j} is not a sample object (got ${s === null ? 'null' : Array.isArray(s) ? 'a nested array' : typeof s})`);
  });
  const keys = Object.keys(samples[0]!);
  samples.forEach((s, j) => {
    const missing = keys.filter((k) => !(k in s));
    if (missing.length > 0) throw new Error(`${name}: sample ${j} has no key ${missing.map((k) => `'${k}'`).join(', ')} (sample 0 has ${keys.map((k) => `'${k}'`).join(', ')})`);
  });
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const values = samples.map((s) => (s as Record<string, unknown>)[key]);
    const volumes = values.map(isVolumeLike), tensors = values.map((v) => v instanceof Tensor);
    if (volumes[0] || tensors[0]) {
      const j = values.findIndex((_, i) => volumes[i] !== volumes[0] || tensors[i] !== tensors[0]);
      if (j >= 0) throw new Error(`${name}: key '${key}' holds a ${volumes[0] ? 'volume' : 'tensor'} in sample 0 but not in sample ${j}`);
    }
    if (volumes[0]) out[key] = collateVolumes(samples, key, opts, name);
    else if (tensors[0]) {
      const ts = values as Tensor[];
      const j = ts.findIndex((t) => t.shape.length !== ts[0]!.shape.length || t.shape.some((n, a) => n !== ts[0]!.shape[a]));
      if (j >= 0) throw new Error(`${name}: key '${key}' holds a tensor ${formatShape(ts[j]!.shape)} in sample ${j} but ${formatShape(ts[0]!.shape)} in sample 0`);
      out[key] = stack(ts, 0);
    } else out[key] = values;
  }
  return out as Batch<S>;
}

// ------------------------------------------------------------------------------------------------ DataLoader

export interface DataLoaderOptions extends CollateOptions {
  /** dataset items per batch (default 1); an item that is a list of samples adds all of them */
  batchSize?: number;
  /** a new order of the items each epoch, drawn from the generator (default false) */
  shuffle?: boolean;
  /** leave out the last batch when it is smaller than batchSize (default false) */
  dropLast?: boolean;
  /** the seed of the generator when none is given (default 0) */
  seed?: number;
  /** the generator of the epochs' orders and transform seeds (default new Rng(seed)); the loader draws from it */
  generator?: Rng;
  /**
   * batches whose items are transformed ahead, while the loop awaits (default 0: each batch when it is asked for). The
   * transforms still run on the calling thread, so this overlaps them with what the loop awaits (the GPU's work of a
   * step, a readback), not with its own JavaScript; the batches are the same.
   */
  prefetch?: number;
  /**
   * worker threads that transform the items (default 0: the calling thread). A worker cannot receive the dataset
   * (its transforms are closures), so it makes its own from `workerDataset`; with workers, prefetch defaults to
   * 2 × workers batches.
   */
  workers?: number;
  /** how each worker makes the dataset: `module` (a file URL or path) exports the function `export` (default 'createDataset'), called with `args` */
  workerDataset?: WorkerDatasetSpec;
}

/** A module whose export makes a DataLoader's dataset in a worker thread (the same items as the loader's). */
export interface WorkerDatasetSpec {
  /** the module: a URL (`new URL('./data.ts', import.meta.url)`) or a file path (relative to the working folder) */
  module: string | URL;
  /** the export to call (default 'createDataset'); it may be async */
  export?: string;
  /** its arguments, structured-cloneable (default none) */
  args?: readonly unknown[];
}

/** What a DataLoader's worker receives as workerData. */
export interface DatasetWorkerInit {
  module: string;
  exportName: string;
  args: readonly unknown[];
  /** the loader's dataset length, which the worker's must match */
  length: number;
}

/** An item request to a DataLoader's worker. */
export interface DatasetWorkerRequest {
  task: number;
  index: number;
  seed: number;
}

/**
 * MONAI's `DataLoader` (PyTorch's, with `list_data_collate`): `for await (const batch of loader)` is one epoch, a
 * `Batch<S>` per batchSize dataset items. Each epoch draws from the generator a seed for the items' transforms and,
 * with shuffle, a permutation. Items are transformed on the calling thread, one batch at a time (no workers: the
 * transforms are closures).
 */
export class DataLoader<S extends object = Record<string, unknown>> implements AsyncIterable<Batch<S>> {
  readonly dataset: Dataset<S>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly generator: Rng;
  readonly prefetch: number;
  readonly workers: number;
  readonly #collate: CollateOptions;
  readonly #workerInit: DatasetWorkerInit | null;
  #pool: WorkerPool<DatasetWorkerRequest, S | S[]> | null = null;

  constructor(dataset: Dataset<S>, opts: DataLoaderOptions = {}) {
    const name = 'DataLoader';
    if (!(dataset instanceof Dataset)) throw new Error(`${name}: dataset must be a Dataset or CacheDataset`);
    const batchSize = opts.batchSize ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`${name}: batchSize must be a positive integer, got ${batchSize}`);
    if (opts.generator !== undefined && !(opts.generator instanceof Rng)) throw new Error(`${name}: generator must be an Rng`);
    const seed = opts.seed ?? 0, workers = opts.workers ?? 0, prefetch = opts.prefetch ?? 2 * workers;
    if (!Number.isFinite(seed)) throw new Error(`${name}: seed must be a finite number, got ${seed}`);
    if (!Number.isInteger(workers) || workers < 0) throw new Error(`${name}: workers must be a non-negative integer, got ${workers}`);
    if (!Number.isInteger(prefetch) || prefetch < (workers > 0 ? 1 : 0)) {
      throw new Error(`${name}: prefetch must be a${workers > 0 ? ' positive (with workers)' : ' non-negative'} integer, got ${prefetch}`);
    }
    this.prefetch = prefetch;
    this.workers = workers;
    this.#workerInit = workers > 0 ? workerInit(opts.workerDataset, dataset.length, name) : null;
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.generator = opts.generator ?? new Rng(seed);
    this.#collate = { ...(opts.backend ? { backend: opts.backend } : {}), ...(opts.dtypes ? { dtypes: opts.dtypes } : {}) };
  }

  /** Batches per epoch. */
  get length(): number {
    return this.#batches();
  }

  #batches(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** One epoch: the seed of its transforms and the order of its items, drawn now from the generator. */
  #epoch(): { seed: number; order: number[] } {
    const seed = this.generator.nextU32();
    const order = this.shuffle ? this.generator.permutation(this.dataset.length) : Array.from({ length: this.dataset.length }, (_, i) => i);
    return { seed, order };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Batch<S>, void, undefined> {
    const { seed, order } = this.#epoch();
    const indicesOf = (b: number) => order.slice(b * this.batchSize, (b + 1) * this.batchSize);
    const itemsOf = (b: number) => indicesOf(b).map((i) => this.dataset.getItem(i, new Rng(hashSeed(seed, i))));
    const pool = this.#workerInit ? (this.#pool ??= this.#startWorkers(this.#workerInit)) : null;
    // batches transformed ahead, each in a setImmediate callback (run while the loop awaits); settled with the
    // items or the error, thrown when that batch is asked for (never an unhandled rejection)
    const ahead: Promise<{ items: (S | S[])[] } | { error: unknown }>[] = [];
    const batches = this.#batches();
    let next = 0, stopped = false;
    const fill = () => {
      for (; ahead.length < this.prefetch && next < batches; next++) {
        const b = next;
        ahead.push(pool
          ? Promise.all(indicesOf(b).map((index) => pool.run('DataLoader', (task) => ({ task, index, seed })))).then((items) => ({ items }), (error: unknown) => ({ error }))
          : new Promise((resolve) => setImmediate(() => {
            if (stopped) resolve({ items: [] });
            else try { resolve({ items: itemsOf(b) }); } catch (error) { resolve({ error }); }
          })));
      }
    };
    try {
      for (let b = 0; b < batches; b++) {
        let items: (S | S[])[];
        if (this.prefetch === 0) items = itemsOf(b);
        else {
          fill();
          const ready = await ahead.shift()!;
          fill();
          if ('error' in ready) throw ready.error;
          items = ready.items;
        }
        yield naming(`DataLoader: batch ${b} (dataset items ${indicesOf(b).join(', ')})`, () => listDataCollate(items, this.#collate));
      }
    } finally {
      stopped = true;
    }
  }

  #startWorkers(init: DatasetWorkerInit): WorkerPool<DatasetWorkerRequest, S | S[]> {
    const url = new URL(`./dataset-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
    return new WorkerPool(workerStart(url, { tsx: isTypeScript(init.module) }), this.workers, {
      owner: "the DataLoader's workers", workerName: 'worker', workerData: init,
    });
  }

  /** Stops the worker threads (they do not keep the process alive while idle either); a later epoch starts new ones. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = null;
    await pool?.close();
  }
}

/** The workers' data, checked: the module as a file URL, the export, the arguments. */
function workerInit(spec: WorkerDatasetSpec | undefined, length: number, name: string): DatasetWorkerInit {
  if (spec === undefined) {
    throw new Error(`${name}: workers need workerDataset, a module that makes the dataset in each worker ` +
      "({ module: new URL('./data.ts', import.meta.url), export: 'createDataset' }): the transforms are closures, which a thread cannot receive");
  }
  const { module } = spec;
  let href: string;
  if (module instanceof URL) href = module.href;
  // a scheme of two letters or more is a URL (C:\… is a path)
  else if (typeof module === 'string' && module !== '') href = /^[a-z][a-z\d+.-]+:/i.test(module) ? module : pathToFileURL(resolve(module)).href;
  else throw new Error(`${name}: workerDataset.module must be a file URL or a path`);
  if (!href.startsWith('file:')) throw new Error(`${name}: workerDataset.module must be a file, got ${href}`);
  const file = fileURLToPath(href);
  if (!existsSync(file)) throw new Error(`${name}: workerDataset.module ${file} does not exist`);
  const exportName = spec.export ?? 'createDataset';
  if (typeof exportName !== 'string' || exportName === '') throw new Error(`${name}: workerDataset.export must be a name`);
  const args = spec.args ?? [];
  if (!Array.isArray(args)) throw new Error(`${name}: workerDataset.args must be an array`);
  return { module: href, exportName, args, length };
}

export interface ThreadDataLoaderOptions extends Omit<DataLoaderOptions, 'prefetch'> {
  /** batches transformed ahead (default 1, MONAI's buffer_size) */
  bufferSize?: number;
  /** each batch given this many times in a row (default 1), to train more steps per transformed batch */
  repeats?: number;
}

/** The batch with each tensor replaced by a view of it (a tensor of its own over the same storage). */
function viewBatch<S>(batch: Batch<S>): Batch<S> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(batch)) out[k] = v instanceof Tensor ? detach(v) : v;
  return out as Batch<S>;
}

/**
 * MONAI's `ThreadDataLoader`: a DataLoader that prepares `bufferSize` batches ahead and gives each `repeats` times.
 * JavaScript has one thread here: the next batch is transformed while the training loop awaits (the GPU's work, a
 * readback), which is where MONAI's buffer thread overlaps too. Each repeat is a batch of its own, its tensors views
 * of the same storage, so disposing one repeat's tensors leaves the others'.
 */
export class ThreadDataLoader<S extends object = Record<string, unknown>> extends DataLoader<S> {
  readonly repeats: number;

  constructor(dataset: Dataset<S>, opts: ThreadDataLoaderOptions = {}) {
    const { bufferSize = 1, repeats = 1, ...rest } = opts;
    if (!Number.isInteger(bufferSize) || bufferSize < 0) throw new Error(`ThreadDataLoader: bufferSize must be a non-negative integer, got ${bufferSize}`);
    if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`ThreadDataLoader: repeats must be a positive integer, got ${repeats}`);
    super(dataset, { ...rest, prefetch: bufferSize });
    this.repeats = repeats;
  }

  /** Batches per epoch, repeats included. */
  override get length(): number {
    return super.length * this.repeats;
  }

  override async *[Symbol.asyncIterator](): AsyncGenerator<Batch<S>, void, undefined> {
    for await (const batch of super[Symbol.asyncIterator]()) {
      // each repeat but the last gets views of the batch's tensors (their storage shared, counted): a loop that
      // disposes its batch after each step (as with a DataLoader) leaves the next repeat's tensors alive
      for (let r = 1; r < this.repeats; r++) yield viewBatch(batch);
      yield batch;
    }
  }
}

// ------------------------------------------------------------------------------------------------ decollation

/** What decollation makes of a batch value of type V: a tensor's slice, an array's element, a nested batch's sample. */
export type DecollatedValue<V> = V extends Tensor ? Tensor : V extends readonly (infer E)[] ? E : V extends object ? Decollated<V> : V;

/** One sample of a decollated batch of type B. */
export type Decollated<B> = { [K in keyof B]: DecollatedValue<B[K]> };

export interface DecollateOptions {
  /** detach the tensors' slices from the autograd graph (default true, MONAI's) */
  detach?: boolean;
  /** when values hold different numbers of samples, fill to the longest (default true) or cut to the shortest */
  pad?: boolean;
  /** what padding fills in (default null) */
  fillValue?: unknown;
}

/** A tensor [B, ...] as its B slices [...] (torch.unbind), views of its storage. */
function unbind(x: Tensor, detached: boolean): Tensor[] {
  const t = detached ? detach(x) : x;
  return Array.from({ length: t.shape[0]! }, (_, b) => squeeze(slice(t, 0, b, b + 1), 0));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === Object.prototype || proto === null;
}

/** A batch object's values, each as its per-sample list (or null for a value that is the same for every sample). */
function decollateObject(batch: Record<string, unknown>, opts: Required<Omit<DecollateOptions, 'fillValue'>> & { fillValue: unknown }): Record<string, unknown>[] | null {
  const lists: Record<string, unknown[] | null> = {};
  for (const [k, v] of Object.entries(batch)) {
    if (v instanceof Tensor) lists[k] = v.rank === 0 ? null : unbind(v, opts.detach);
    else if (Array.isArray(v)) lists[k] = v;
    else if (isPlainObject(v)) lists[k] = decollateObject(v, opts);
    else lists[k] = null;
  }
  const lengths = Object.values(lists).filter((l): l is unknown[] => l !== null).map((l) => l.length);
  if (lengths.length === 0) return null;
  const b = opts.pad ? Math.max(...lengths) : Math.min(...lengths);
  return Array.from({ length: b }, (_, i) => {
    const sample: Record<string, unknown> = {};
    for (const [k, l] of Object.entries(lists)) sample[k] = l === null ? copySample(batch[k]) : i < l.length ? l[i] : opts.fillValue;
    return sample;
  });
}

/**
 * MONAI's `decollate_batch`: a batch back as its samples. A tensor [B, ...] gives B tensors [...] (views, detached
 * by default); an array gives its elements; a nested object is decollated in turn; any other value (and a 0-d
 * tensor) is repeated in every sample. A tensor given alone gives its slices. Slices of 1-d tensors stay 0-d
 * tensors (MONAI's `.item()` reads the device, asynchronous here: `await t.item()`).
 */
export function decollateBatch(batch: Tensor, opts?: DecollateOptions): Tensor[];
export function decollateBatch<B extends object>(batch: B, opts?: DecollateOptions): Decollated<B>[];
export function decollateBatch(batch: object, opts: DecollateOptions = {}): unknown[] {
  const o = { detach: opts.detach ?? true, pad: opts.pad ?? true, fillValue: opts.fillValue ?? null };
  if (batch instanceof Tensor) {
    if (batch.rank === 0) throw new Error('decollateBatch: a 0-d tensor has no batch axis');
    return unbind(batch, o.detach);
  }
  if (!isPlainObject(batch)) throw new Error(`decollateBatch: expected a batch object (a DataLoader's) or a tensor [B, ...], got ${batch === null ? 'null' : Array.isArray(batch) ? 'an array' : typeof batch}`);
  return decollateObject(batch, o) ?? [];
}

// ------------------------------------------------------------------------------------------------ partitions

export interface PartitionDatasetOptions {
  /** split by these ratios (e.g. [8, 1, 1]); each partition takes ⌊r / Σr · n + 0.5⌋ of the items, in order */
  ratios?: readonly number[];
  /** else split evenly into this many partitions, item i to partition i mod numPartitions */
  numPartitions?: number;
  /** shuffle the items first, with new Rng(seed) (default false) */
  shuffle?: boolean;
  /** the shuffle's seed (default 0) */
  seed?: number;
  /** with evenDivisible, drop the tail instead of repeating the first items (default false) */
  dropLast?: boolean;
  /** give every partition the same length (default false) */
  evenDivisible?: boolean;
}

/**
 * MONAI's `partition_dataset`: the data split into partitions, by ratios or evenly (interleaved, as for the ranks
 * of distributed training). The shuffle is ours (MONAI's numpy RandomState cannot be matched): a permutation from
 * `new Rng(seed)`.
 */
export function partitionDataset<T>(data: readonly T[], opts: PartitionDatasetOptions = {}): T[][] {
  const name = 'partitionDataset';
  if (!Array.isArray(data)) throw new Error(`${name}: data must be an array`);
  const n = data.length;
  const seed = opts.seed ?? 0;
  if (!Number.isFinite(seed)) throw new Error(`${name}: seed must be a finite number, got ${seed}`);
  const indices = opts.shuffle ? new Rng(seed).permutation(n) : Array.from({ length: n }, (_, i) => i);
  const { ratios, numPartitions } = opts;
  if (ratios !== undefined && !Array.isArray(ratios)) throw new Error(`${name}: ratios must be an array of non-negative numbers`);
  if (ratios && ratios.length > 0) {
    if (!ratios.every((r) => Number.isFinite(r) && r >= 0)) throw new Error(`${name}: ratios must be non-negative numbers, got ${JSON.stringify(ratios)}`);
    const total = ratios.reduce((s, r) => s + r, 0);
    if (!(total > 0)) throw new Error(`${name}: ratios must not all be 0`);
    let next = 0;
    return ratios.map((r) => {
      const start = next;
      next = Math.min(start + Math.floor((r / total) * n + 0.5), n);
      return indices.slice(start, next).map((i) => data[i]!);
    });
  }
  if (numPartitions === undefined) throw new Error(`${name}: give ratios or numPartitions`);
  if (!Number.isInteger(numPartitions) || numPartitions < 1) throw new Error(`${name}: numPartitions must be a positive integer, got ${numPartitions}`);
  const evenDivisible = opts.evenDivisible ?? false, dropLast = opts.dropLast ?? false;
  if (dropLast && !evenDivisible) throw new Error(`${name}: dropLast only applies with evenDivisible true`);
  if (n < numPartitions) throw new Error(`${name}: ${n} item${n === 1 ? '' : 's'} cannot be split into ${numPartitions} partitions`);
  const perPartition = dropLast && n % numPartitions !== 0 ? Math.ceil((n - numPartitions) / numPartitions) : Math.ceil(n / numPartitions);
  const total = evenDivisible ? perPartition * numPartitions : n;
  const used = !dropLast && total > n ? [...indices, ...indices.slice(0, total - n)] : indices.slice(0, total);
  return Array.from({ length: numPartitions }, (_, p) => used.filter((_, k) => k % numPartitions === p).map((i) => data[i]!));
}
