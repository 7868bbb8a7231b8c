import { readFile } from 'node:fs/promises';
import type { Backend, DType } from '../kernels/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/memory.js';
import { writeFileAtomic } from './atomic.js';
import { GradScaler, type GradScalerState } from './grad-scaler.js';
import type { DropoutState, LoadResult, Module } from './module.js';
import type { Optimizer, OptimizerState } from './optim.js';
import { describeNonFinite } from './finite.js';
import { decodeSafetensors, encodeSafetensors, type DecodeOptions, type HostTensor, type SafetensorsFile } from './safetensors.js';

/**
 * Checkpoints as safetensors files (readable by Python's `safetensors`, keys as the PyTorch model's
 * state_dict). A model checkpoint holds the state dict; a training checkpoint adds the optimizer state under
 * `optimizer.state.<i>.<name>`, each extra model's state dict under `<name>.` (e.g. `ema.`), and the iteration,
 * the optimizer's scalars, the lr scheduler's, GradScaler's and dropout layers' states, the RNG state and the
 * config as JSON strings in `__metadata__`, so a resumed run continues exactly.
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
  const dict = uploadStateDict(model, tensors);
  try {
    return named(source, () => model.loadStateDict(dict, strict));
  } finally {
    for (const t of dict.values()) t.dispose();
  }
}

/** host tensors uploaded for `model` (on its backend, floats in the dtype of its entry of the name); the caller disposes them */
function uploadStateDict(model: Module, tensors: ReadonlyMap<string, HostTensor>): Map<string, Tensor> {
  const spec = model.stateSpec();
  const dict = new Map<string, Tensor>();
  try {
    for (const [name, h] of tensors) dict.set(name, upload(h, model.backend, spec.get(name)?.dtype));
  } catch (e) {
    for (const t of dict.values()) t.dispose();
    throw e;
  }
  return dict;
}

/**
 * The state dict's names of each tensor that has several (a module or parameter registered under two names, as MONAI's
 * DynUNet registers its blocks again under `skip_layers.`), each group sorted: its first name is the one
 * safetensors.torch's save_model keeps (`_remove_duplicate_names`: the smallest).
 */
export function sharedStateNames(model: Module): string[][] {
  const spec = model.stateSpec();
  const names = new Map<Tensor, string[]>();
  for (const [mp, m] of model.namedModules('', false)) {
    for (const [name, t] of [...m.namedParameters('', false), ...m.namedBuffers('', false)]) {
      const key = mp ? `${mp}.${name}` : name;
      if (spec.has(key)) names.set(t, [...(names.get(t) ?? []), key]);
    }
  }
  return [...names.values()].filter((group) => group.length > 1).map((group) => group.sort());
}

/**
 * Saves a model's state dict, each shared tensor once as safetensors.torch's save_model does: under its first name
 * (see sharedStateNames), each other name recorded in `__metadata__` as `alias: kept name` (unless `metadata` sets
 * that key), so PyTorch's load_model and loadModel read it back strictly.
 */
export async function saveModel(path: string, model: Module, metadata: Record<string, string> = {}): Promise<void> {
  const dict = model.stateDict();
  const aliases: Record<string, string> = {};
  for (const [kept, ...others] of sharedStateNames(model)) {
    for (const alias of others) {
      dict.delete(alias);
      aliases[alias] = kept!;
    }
  }
  await saveSafetensors(path, dict, { format: 'pt', 'voxgrad.kind': 'model', ...aliases, ...metadata });
}

/**
 * Loads a model checkpoint (or the model part of a training checkpoint) into `model`. Names, shapes and dtypes
 * are checked; every mismatch is named together with the file. A name the file lacks is not missing when the file
 * holds another name of its tensor in `model` (see sharedStateNames: safetensors.torch's save_model and saveModel
 * write a shared tensor once). With `strict: false`, missing and unexpected keys are allowed and tensors of a dtype
 * the engine cannot hold are skipped with a warning (`warn`).
 */
export async function loadModel(path: string, model: Module, options: DecodeOptions = {}): Promise<LoadResult & { metadata: Record<string, string> }> {
  const file = await readSafetensors(path, options);
  checkFinite(path, file.tensors);
  const training = file.metadata['voxgrad.kind'] === 'training';
  const others = training ? [OPTIMIZER_PREFIX, ...Object.keys(extraModelsMeta(path, file.metadata)).map((name) => `${name}.`)] : [];
  const modelTensors = new Map([...file.tensors].filter(([k]) => !others.some((prefix) => k.startsWith(prefix))));
  for (const group of sharedStateNames(model)) {
    const stored = group.find((k) => modelTensors.has(k));
    if (stored === undefined) continue;
    for (const alias of group) if (!modelTensors.has(alias)) modelTensors.set(alias, modelTensors.get(stored)!);
  }
  const result = loadHostStateDict(model, modelTensors, options.strict ?? true, path);
  return { ...result, metadata: file.metadata };
}

/**
 * An lr scheduler as a training checkpoint holds it (every LRScheduler, and ReduceLROnPlateau): stateDict() is JSON-safe,
 * and loadStateDict (given it back from JSON) checks the whole state first, changing nothing when it throws.
 */
export interface CheckpointScheduler {
  stateDict(): object;
  loadStateDict(state: unknown): void;
}

export interface TrainingState {
  model: Module;
  optimizer: Optimizer;
  /** an lr scheduler on the optimizer, whose stateDict() is saved too (torch.save({…, 'scheduler': …})) */
  scheduler?: CheckpointScheduler;
  /** the GradScaler, whose stateDict() is saved too (torch.save({…, 'scaler': scaler.state_dict()})) */
  scaler?: GradScaler;
  /** further models saved with their state dicts under `<name>.`, e.g. `{ ema: teacher }` (torch.save({…, 'ema': …})) */
  extraModels?: Readonly<Record<string, Module>>;
  iteration: number;
  /** the data / augmentation generator (imaging's Rng), whose state() is saved; loadTrainingCheckpoint restores it */
  rng?: StatefulGenerator;
  /** the state of the data / augmentation generators, as JSON (instead of `rng`) */
  rngState?: JsonValue;
  /** the run's configuration, as JSON */
  config?: JsonValue;
  /** further string metadata */
  metadata?: Record<string, string>;
}

/** A generator whose state is JSON (imaging's Rng); setState checks what it is given. */
export interface StatefulGenerator {
  state(): JsonValue;
  setState(state: unknown): void;
}

/** what a training checkpoint notes of each extra model besides its tensors (as read: checked when used) */
interface ExtraModelMeta { dropout?: unknown }

/** an extra model's name: a key of the saved dict, not clashing with the model's keys or the optimizer's */
function checkExtraModelName(path: string, name: string, modelKeys: readonly string[]): void {
  const problem = !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) ? 'must be letters, digits, _ or - (no dots), not starting with a digit'
    : `${name}.` === OPTIMIZER_PREFIX ? 'is taken by the optimizer state'
      : modelKeys.some((k) => k.startsWith(`${name}.`)) ? `is the prefix of the model's own keys (e.g. ${modelKeys.find((k) => k.startsWith(`${name}.`))})`
        : null;
  if (problem) throw new Error(`${path}: extra model name '${name}' ${problem}`);
}

/**
 * Model state dict + optimizer state + iteration, lr scheduler, GradScaler, extra models (an EMA teacher), the
 * dropout layers' mask generators, RNG state and config, in one atomically written file.
 */
export async function saveTrainingCheckpoint(path: string, state: TrainingState): Promise<void> {
  if (state.rng && state.rngState !== undefined) throw new Error(`${path}: give rng or rngState, not both`);
  const dict = state.model.stateDict();
  const extras = Object.entries(state.extraModels ?? {});
  for (const [name] of extras) checkExtraModelName(path, name, [...dict.keys()]);
  const tensors = new Map<string, Tensor>(dict);
  const extraMeta: Record<string, ExtraModelMeta> = {};
  for (const [name, m] of extras) {
    for (const [k, t] of m.stateDict()) tensors.set(`${name}.${k}`, t);
    extraMeta[name] = { dropout: m.dropoutState() };
  }
  const scaler = state.scaler ? await state.scaler.stateDict() : null;
  const opt = state.optimizer.stateDict();
  for (const [k, t] of opt.tensors) tensors.set(OPTIMIZER_PREFIX + k, t);
  await saveSafetensors(path, tensors, {
    ...(state.metadata ?? {}),
    format: 'pt',
    'voxgrad.kind': 'training',
    'voxgrad.iteration': String(state.iteration),
    'voxgrad.optimizer': JSON.stringify({ type: opt.type, hyper: opt.hyper, scalars: opt.scalars }),
    'voxgrad.rng': JSON.stringify(state.rng ? state.rng.state() : state.rngState ?? null),
    'voxgrad.config': JSON.stringify(state.config ?? null),
    'voxgrad.dropout': JSON.stringify(state.model.dropoutState()),
    ...(state.scheduler ? { 'voxgrad.scheduler': JSON.stringify(state.scheduler.stateDict()) } : {}),
    ...(scaler ? { 'voxgrad.scaler': JSON.stringify(scaler) } : {}),
    ...(extras.length ? { 'voxgrad.extraModels': JSON.stringify(extraMeta) } : {}),
  });
}

/** the extra models a training checkpoint holds (none when it notes none) */
function extraModelsMeta(path: string, meta: Record<string, string>): Record<string, ExtraModelMeta> {
  const text = meta['voxgrad.extraModels'];
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: metadata voxgrad.extraModels is not valid JSON (${(e as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${path}: metadata voxgrad.extraModels is malformed`);
  return parsed as Record<string, ExtraModelMeta>;
}

export interface LoadedTraining {
  iteration: number;
  rngState: JsonValue;
  config: JsonValue;
  metadata: Record<string, string>;
}

/** a module loadTrainingCheckpoint restores: its tensors in the file, the name its errors go under, its dropout state */
interface ModelPart { module: Module; tensors: ReadonlyMap<string, HostTensor>; source: string; dropout: unknown }

/** What loadTrainingCheckpoint restores: each one given must be in the file. */
export interface TrainingTarget {
  model: Module;
  optimizer: Optimizer;
  scheduler?: CheckpointScheduler;
  scaler?: GradScaler;
  /** by the names they were saved under, e.g. `{ ema: teacher }` */
  extraModels?: Readonly<Record<string, Module>>;
  /** the generator saved as `rng`, set to the saved state */
  rng?: StatefulGenerator;
  /** as loadModel's (also for the extra models and the dropout layers); default true */
  strict?: boolean;
}

/**
 * Restores model and optimizer, and the lr scheduler, GradScaler, extra models and generator given, from a training
 * checkpoint; returns the iteration, RNG state and config. The dropout layers' mask generators are restored too (a
 * file written before they were saved leaves them as they are). All or nothing: a part that the file lacks or that
 * its target refuses (a missing key, a shape, a dtype, a corrupt entry) is named together with the file, and then
 * every target keeps what it held. The models' state dicts and the scaler's state are checked before anything is
 * loaded; the parts that only their own loaders check (generator, dropout layers, scheduler, then the optimizer, whose
 * loadStateDict changes nothing when it throws) are loaded next, and when one refuses, those loaded before it are
 * restored to what they held; the scaler and the models are loaded last.
 */
export async function loadTrainingCheckpoint(path: string, target: TrainingTarget): Promise<LoadedTraining> {
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

  const strict = target.strict ?? true;
  const extraMeta = extraModelsMeta(path, meta);
  const extras = Object.entries(target.extraModels ?? {});
  const absent = extras.map(([name]) => name).filter((name) => !(name in extraMeta));
  if (absent.length) {
    const saved = Object.keys(extraMeta);
    throw new Error(`${path}: holds no extra model ${absent.map((n) => `'${n}'`).join(', ')} (it holds ${saved.length ? saved.map((n) => `'${n}'`).join(', ') : 'none'})`);
  }
  const scalerState = target.scaler ? parse('voxgrad.scaler') : null;
  if (target.scaler && (!scalerState || typeof scalerState !== 'object')) throw new Error(`${path}: holds no GradScaler state (saved without a scaler)`);
  const rngState = parse('voxgrad.rng');
  if (target.rng && rngState === null) throw new Error(`${path}: holds no generator state (saved without rng or rngState)`);
  const dropout = parse('voxgrad.dropout');
  const config = parse('voxgrad.config');
  const scheduler = target.scheduler ? parse('voxgrad.scheduler') : null;
  if (target.scheduler && (!scheduler || typeof scheduler !== 'object')) throw new Error(`${path}: holds no lr scheduler state (saved without a scheduler)`);
  // every metadata entry is read and checked above, before anything is loaded: a bad one leaves the target whole

  const modelTensors = new Map<string, HostTensor>();
  const optTensors = new Map<string, HostTensor>();
  const extraTensors = new Map(Object.keys(extraMeta).map((name) => [name, new Map<string, HostTensor>()]));
  for (const [k, t] of file.tensors) {
    const dot = k.indexOf('.');
    const extra = dot > 0 ? extraTensors.get(k.slice(0, dot)) : undefined;
    if (k.startsWith(OPTIMIZER_PREFIX)) optTensors.set(k.slice(OPTIMIZER_PREFIX.length), t);
    else if (extra) extra.set(k.slice(dot + 1), t);
    else modelTensors.set(k, t);
  }
  const models: ModelPart[] = [{ module: target.model, tensors: modelTensors, source: path, dropout },
    ...extras.map(([name, m]) => ({ module: m, tensors: extraTensors.get(name)!, source: `${path} (extra model '${name}')`, dropout: extraMeta[name]?.dropout }))];
  const params = target.optimizer.params;
  for (const k of optTensors.keys()) {
    if (!params[Number(/^state\.(\d+)\./.exec(k)?.[1] ?? NaN)]) {
      throw new Error(`${path}: optimizer entry ${OPTIMIZER_PREFIX}${k} names no parameter (the optimizer has ${params.length})`);
    }
  }
  // a fresh scaler (no device state yet) checks the state as the target's loadStateDict will, changing nothing
  if (target.scaler) named(path, () => new GradScaler().loadStateDict(scalerState as unknown as GradScalerState));
  // what the parts loaded before a refusing one are restored to
  const rngBefore = target.rng?.state();
  const schedulerBefore = target.scheduler?.stateDict();
  const dropoutBefore = models.map((part) => part.module.dropoutState());

  const uploaded: Map<string, Tensor>[] = [];
  const restore: (() => void)[] = [];
  /** loads one part, first noting how to restore it should a part loaded after it refuse */
  const load = (apply: () => void, undo: () => void): void => { restore.push(undo); apply(); };
  try {
    const dicts = models.map((part) => { const d = uploadStateDict(part.module, part.tensors); uploaded.push(d); return d; });
    models.forEach((part, i) => named(part.source, () => part.module.checkStateDict(dicts[i]!, strict)));
    const optimizerState = new Map<string, Tensor>();
    uploaded.push(optimizerState);
    for (const [k, h] of optTensors) {
      const p = params[Number(/^state\.(\d+)\./.exec(k)![1])]!;
      optimizerState.set(k, upload(h, p.backend, p.dtype));
    }
    try {
      if (target.rng) load(() => named(path, () => target.rng!.setState(rngState)), () => target.rng!.setState(rngBefore));
      models.forEach((part, i) => load(() => loadDropout(part.source, part.module, part.dropout, strict), () => part.module.loadDropoutState(dropoutBefore[i]!, false)));
      if (target.scheduler) load(() => named(path, () => target.scheduler!.loadStateDict(scheduler!)), () => target.scheduler!.loadStateDict(schedulerBefore!));
      named(path, () => target.optimizer.loadStateDict({ type: optMeta.type!, hyper: optMeta.hyper ?? {}, scalars: optMeta.scalars ?? {}, tensors: optimizerState }));
    } catch (e) {
      for (const undo of restore.reverse()) undo();
      throw e;
    }
    // checked above: these cannot fail
    target.scaler?.loadStateDict(scalerState as unknown as GradScalerState);
    models.forEach((part, i) => part.module.loadStateDict(dicts[i]!, strict));
  } finally {
    for (const dict of uploaded) for (const t of dict.values()) t.dispose();
  }
  return { iteration, rngState, config, metadata: meta };
}

/** runs load, its error prefixed by the file */
function named<T>(path: string, load: () => T): T {
  try {
    return load();
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** restores the dropout layers' mask generators (none saved, as before they were: left as they are) */
function loadDropout(source: string, model: Module, state: unknown, strict: boolean): void {
  if (state === null || state === undefined) return;
  if (typeof state !== 'object' || Array.isArray(state)) throw new Error(`${source}: the dropout state is malformed`);
  named(source, () => model.loadDropoutState(state as Record<string, DropoutState>, strict));
}
