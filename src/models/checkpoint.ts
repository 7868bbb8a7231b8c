import { readFile } from 'node:fs/promises';
import type { Backend, DType } from '../kernels/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/memory.js';
import { writeFileAtomic } from './atomic.js';
import type { LoadResult, Module } from './module.js';
import type { Optimizer, OptimizerState } from './optim.js';
import type { LRScheduler } from './schedules.js';
import { describeNonFinite } from './finite.js';
import { decodeSafetensors, encodeSafetensors, type DecodeOptions, type HostTensor, type SafetensorsFile } from './safetensors.js';

/**
 * Checkpoints as safetensors files (readable by Python's `safetensors`, keys as the PyTorch model's
 * state_dict). A model checkpoint holds the state dict; a training checkpoint adds the optimizer state under
 * `optimizer.state.<i>.<name>` and the iteration, the optimizer's scalars, the RNG state and the config as
 * JSON strings in `__metadata__`, so a resumed run continues exactly.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const OPTIMIZER_PREFIX = 'optimizer.';

/** Reads every tensor of a state dict (or any name → tensor map) back to the host. */
export async function toHost(tensors: ReadonlyMap<string, Tensor>): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) out.set(name, { dtype: t.dtype, shape: [...t.shape], data: await t.toArray() });
  return out;
}

/** Writes tensors (and string metadata) to a safetensors file, atomically. */
export async function saveSafetensors(path: string, tensors: ReadonlyMap<string, Tensor | HostTensor>,
  metadata: Record<string, string> = {}): Promise<void> {
  const host = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    host.set(name, t instanceof Tensor ? { dtype: t.dtype, shape: [...t.shape], data: await t.toArray() } : t);
  }
  await writeFileAtomic(path, encodeSafetensors(host, metadata));
}

/** Reads and validates a safetensors file; every error names the file (see DecodeOptions for unsupported dtypes). */
export async function readSafetensors(path: string, options: DecodeOptions = {}): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read the checkpoint (${(e as Error).message})`);
  }
  return decodeSafetensors(bytes, path, options);
}

/** Throws naming the file and the first tensor that holds NaN or ±Inf (such a checkpoint is never loaded). */
export function checkFinite(path: string, tensors: ReadonlyMap<string, HostTensor>): void {
  for (const [name, t] of tensors) {
    if (t.dtype === 'int32') continue;
    const bad = describeNonFinite(t.data);
    if (bad) throw new Error(`${path}: tensor ${name} holds non-finite values (${bad}); refusing this checkpoint`);
  }
}

/** Host tensors on a backend as new (kept) tensors; floats take `floatDtype` when given (e.g. F64 → float32). */
function upload(host: HostTensor, backend: Backend, floatDtype?: DType): Tensor {
  const dtype = host.dtype !== 'int32' && floatDtype && floatDtype !== 'int32' ? floatDtype : host.dtype;
  return keep(Tensor.fromStorage(backend, backend.upload(host.data, dtype), host.shape));
}

/** Loads host tensors into a module (see Module.loadStateDict for strictness and errors). */
export function loadHostStateDict(model: Module, tensors: ReadonlyMap<string, HostTensor>, strict = true, source = 'state dict'): LoadResult {
  const spec = model.stateSpec();
  const backend = model.backend;
  const dict = new Map<string, Tensor>();
  try {
    for (const [name, h] of tensors) dict.set(name, upload(h, backend, spec.get(name)?.dtype));
    try {
      return model.loadStateDict(dict, strict);
    } catch (e) {
      throw new Error(`${source}: ${(e as Error).message}`);
    }
  } finally {
    for (const t of dict.values()) t.dispose();
  }
}

/** Saves a model's state dict. */
export async function saveModel(path: string, model: Module, metadata: Record<string, string> = {}): Promise<void> {
  const dict = model.stateDict();
  try {
    await saveSafetensors(path, dict, { format: 'pt', 'voxgrad.kind': 'model', ...metadata });
  } finally {
    for (const t of dict.values()) t.dispose();
  }
}

/**
 * Loads a model checkpoint (or the model part of a training checkpoint) into `model`. Names, shapes and dtypes
 * are checked; every mismatch is named together with the file. With `strict: false`, missing and unexpected
 * keys are allowed and tensors of a dtype the engine cannot hold are skipped with a warning (`warn`).
 */
export async function loadModel(path: string, model: Module, options: DecodeOptions = {}): Promise<LoadResult & { metadata: Record<string, string> }> {
  const file = await readSafetensors(path, options);
  checkFinite(path, file.tensors);
  const modelTensors = new Map([...file.tensors].filter(([k]) => !(file.metadata['voxgrad.kind'] === 'training' && k.startsWith(OPTIMIZER_PREFIX))));
  const result = loadHostStateDict(model, modelTensors, options.strict ?? true, path);
  return { ...result, metadata: file.metadata };
}

export interface TrainingState {
  model: Module;
  optimizer: Optimizer;
  /** an lr scheduler on the optimizer, whose stateDict() is saved too (torch.save({…, 'scheduler': …})) */
  scheduler?: LRScheduler;
  iteration: number;
  /** the state of the data / augmentation generators, as JSON */
  rngState?: JsonValue;
  /** the run's configuration, as JSON */
  config?: JsonValue;
  /** further string metadata */
  metadata?: Record<string, string>;
}

/** Model state dict + optimizer state + iteration, RNG state and config, in one atomically written file. */
export async function saveTrainingCheckpoint(path: string, state: TrainingState): Promise<void> {
  const dict = state.model.stateDict();
  const opt = state.optimizer.stateDict();
  try {
    const tensors = new Map<string, Tensor>(dict);
    for (const [k, t] of opt.tensors) tensors.set(OPTIMIZER_PREFIX + k, t);
    await saveSafetensors(path, tensors, {
      ...(state.metadata ?? {}),
      format: 'pt',
      'voxgrad.kind': 'training',
      'voxgrad.iteration': String(state.iteration),
      'voxgrad.optimizer': JSON.stringify({ type: opt.type, hyper: opt.hyper, scalars: opt.scalars }),
      'voxgrad.rng': JSON.stringify(state.rngState ?? null),
      'voxgrad.config': JSON.stringify(state.config ?? null),
      ...(state.scheduler ? { 'voxgrad.scheduler': JSON.stringify(state.scheduler.stateDict()) } : {}),
    });
  } finally {
    for (const t of dict.values()) t.dispose();
    for (const t of opt.tensors.values()) t.dispose();
  }
}

export interface LoadedTraining {
  iteration: number;
  rngState: JsonValue;
  config: JsonValue;
  metadata: Record<string, string>;
}

/**
 * Restores model and optimizer (and the lr scheduler, when given: the checkpoint must hold one) from a training
 * checkpoint; returns the iteration, RNG state and config.
 */
export async function loadTrainingCheckpoint(path: string,
  target: { model: Module; optimizer: Optimizer; scheduler?: LRScheduler; strict?: boolean }): Promise<LoadedTraining> {
  const file = await readSafetensors(path, { strict: target.strict ?? true });
  const meta = file.metadata;
  if (meta['voxgrad.kind'] !== 'training') throw new Error(`${path}: not a training checkpoint (no optimizer state; load it with loadModel)`);
  const parse = (key: string): JsonValue => {
    try {
      return JSON.parse(meta[key] ?? 'null') as JsonValue;
    } catch (e) {
      throw new Error(`${path}: metadata ${key} is not valid JSON (${(e as Error).message})`);
    }
  };
  const iteration = Number(meta['voxgrad.iteration']);
  if (!Number.isInteger(iteration) || iteration < 0) {
    throw new Error(`${path}: metadata voxgrad.iteration '${meta['voxgrad.iteration']}' is not an integer ≥ 0`);
  }
  checkFinite(path, file.tensors);
  const optMeta = parse('voxgrad.optimizer') as { type?: OptimizerState['type']; hyper?: OptimizerState['hyper']; scalars?: OptimizerState['scalars'] } | null;
  if (!optMeta || typeof optMeta !== 'object' || !optMeta.type) throw new Error(`${path}: metadata voxgrad.optimizer is missing or malformed`);

  const modelTensors = new Map<string, HostTensor>();
  const optTensors = new Map<string, HostTensor>();
  for (const [k, t] of file.tensors) {
    if (k.startsWith(OPTIMIZER_PREFIX)) optTensors.set(k.slice(OPTIMIZER_PREFIX.length), t);
    else modelTensors.set(k, t);
  }
  loadHostStateDict(target.model, modelTensors, target.strict ?? true, path);

  const params = target.optimizer.params;
  const uploaded = new Map<string, Tensor>();
  try {
    for (const [k, h] of optTensors) {
      const i = Number(/^state\.(\d+)\./.exec(k)?.[1] ?? NaN);
      const p = params[i];
      if (!p) throw new Error(`${path}: optimizer entry ${OPTIMIZER_PREFIX}${k} names no parameter (the optimizer has ${params.length})`);
      uploaded.set(k, upload(h, p.backend, p.dtype));
    }
    try {
      target.optimizer.loadStateDict({ type: optMeta.type, hyper: optMeta.hyper ?? {}, scalars: optMeta.scalars ?? {}, tensors: uploaded });
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
  } finally {
    for (const t of uploaded.values()) t.dispose();
  }
  if (target.scheduler) {
    const scheduler = parse('voxgrad.scheduler') as { lastEpoch: number } | null;
    if (!scheduler || typeof scheduler !== 'object') throw new Error(`${path}: holds no lr scheduler state (saved without a scheduler)`);
    try {
      target.scheduler.loadStateDict(scheduler);
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
  }
  return { iteration, rngState: parse('voxgrad.rng'), config: parse('voxgrad.config'), metadata: meta };
}
