import type { Backend, DType, Storage, TypedArray } from '../kernels/backend.js';
import { typedArrayFor } from '../kernels/backend.js';
import { pcgHash, uniformAt } from '../kernels/random.js';
import { assign, cast } from '../autograd/ops.js';
import { noGrad } from '../autograd/graph.js';
import { getBackend } from '../tensor/backend.js';
import { keep, tidy } from '../tensor/memory.js';
import { formatShape, sameShape, sizeOf } from '../tensor/shape.js';
import { StorageRef, Tensor } from '../tensor/tensor.js';

/**
 * Modules, parameters and state dicts, after torch.nn.Module.
 *
 * Registration works as PyTorch's `__setattr__`: assigning a Module or a Parameter to a property of a module
 * (`this.conv = new Conv3d(...)`, also as a class field) registers it under the property's name, and assigning
 * a tensor to the name of a registered buffer replaces that buffer. Explicit registration stays available for
 * names that are not property names: `registerParameter`, `registerBuffer` and `registerModule` return what
 * they registered, so a layer reads `this.runningMean = this.registerBuffer('running_mean', ...)`; a value
 * already registered (under any name) is not registered again by the assignment. The registered names are the
 * PyTorch names (`weight`, `running_mean`, `conv.0`), so `namedParameters()` and `stateDict()` produce the
 * same dotted keys as the PyTorch model they mirror.
 *
 * Ownership: parameters and buffers are kept out of every `tidy` scope and belong to their module until
 * `module.dispose()`. `stateDict()` returns borrowed views (see Tensor.borrow): nothing to free, as PyTorch's
 * state_dict(), valid while the module holds those tensors (disposing them anyway is harmless).
 */

// ------------------------------------------------------------------------------------- seeded init

// the global generator lives with the tensors, whose rand/randn draw from it too
export { manualSeed, nextSeed } from '../tensor/seed.js';

/** A seed derived from a base seed and a name (FNV-1a of the name, mixed by the PCG hash). */
export function deriveSeed(base: number, name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return pcgHash((pcgHash(base >>> 0) ^ h) >>> 0);
}

// --------------------------------------------------------------------------------------- Parameter

export interface ParameterOptions {
  backend?: Backend;
  dtype?: DType;
  requiresGrad?: boolean;
}

/**
 * A leaf tensor that requires grad and owns one contiguous storage of exactly its size (what the fused
 * optimizer kernels update in place). Kept out of `tidy` scopes: its module disposes it.
 */
export class Parameter extends Tensor {
  /** A copy of `data` (any view, any backend-resident tensor) as a new parameter; `data` is untouched. */
  constructor(data: Tensor, options: { requiresGrad?: boolean } = {}) {
    super(new StorageRef(data.backend, data.backend.copy(data.view)), data.shape, data.dtype);
    this.requiresGrad = options.requiresGrad ?? true;
    keep(this);
  }

  /** A parameter holding host values (uploaded once, no intermediate tensor). */
  static fromHost(values: ArrayLike<number>, shape: readonly number[], options: ParameterOptions = {}): Parameter {
    if (values.length !== sizeOf(shape)) {
      throw new Error(`Parameter.fromHost: ${values.length} values do not fill shape ${formatShape(shape)}`);
    }
    const backend = options.backend ?? getBackend();
    const dtype = options.dtype ?? 'float32';
    const typed = typedArrayFor(dtype, values.length);
    typed.set(values);
    const staging = Tensor.fromStorage(backend, backend.upload(typed, dtype), shape);
    try {
      return new Parameter(staging, { requiresGrad: options.requiresGrad ?? true });
    } finally {
      staging.dispose();
    }
  }

  /** Uniform in [lo, hi) from the counter-based generator (the same values as `uniform()` for the seed). */
  static uniform(shape: readonly number[], lo: number, hi: number, seed: number, options: ParameterOptions = {}): Parameter {
    const n = sizeOf(shape);
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = lo + (hi - lo) * uniformAt(seed, i);
    return Parameter.fromHost(values, shape, options);
  }

  static full(shape: readonly number[], value: number, options: ParameterOptions = {}): Parameter {
    return Parameter.fromHost(new Float64Array(sizeOf(shape)).fill(value), shape, options);
  }

  override toString(): string {
    return `Parameter(${formatShape(this.shape)} ${this.dtype} on ${this.backend.name}${this.isDisposed ? ', disposed' : ''})`;
  }
}

/** A buffer tensor (running statistics, counters): owned by its module, outside every scope. */
export function makeBuffer(values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'float32',
  backend: Backend = getBackend()): Tensor {
  const typed: TypedArray = typedArrayFor(dtype, values.length);
  typed.set(values);
  return keep(Tensor.fromStorage(backend, backend.upload(typed, dtype), shape));
}

// ------------------------------------------------------------------------------------------ Module

/** name → tensor, in registration order; stateDict()'s values are borrowed views of the module's tensors. */
export type StateDict = Map<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** A module whose dropout masks follow a seed it is given (SeededDropout of layers.ts, and models that pass it on). */
function hasDropoutSeed(m: Module): m is Module & { setDropoutSeed(seed: number): void } {
  return typeof (m as Partial<{ setDropoutSeed: unknown }>).setDropoutSeed === 'function';
}

/** A dropout layer's mask generator: the seed, the layer's salt, and the training forwards since the seed was set. */
export interface DropoutState { seed: number; salt: number; calls: number }

/** A module that draws dropout masks itself (SeededDropout of layers.ts) and can save where it stands. */
type DropoutLayer = Module & { getDropoutState(): DropoutState; setDropoutState(state: DropoutState): void };

function hasDropoutState(m: Module): m is DropoutLayer {
  return typeof (m as Partial<{ getDropoutState: unknown }>).getDropoutState === 'function';
}

function checkDropoutState(path: string, s: unknown): DropoutState {
  const state = s as Partial<DropoutState> | null;
  const uint32 = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
  if (!state || typeof state !== 'object' || !uint32(state.seed) || !uint32(state.salt) || !(Number.isSafeInteger(state.calls) && state.calls! >= 0)) {
    throw new Error(`dropout layer '${path}': the state must be { seed, salt } as uint32 and calls as an integer ≥ 0, got ${JSON.stringify(s)}`);
  }
  return { seed: state.seed!, salt: state.salt!, calls: state.calls! };
}

/**
 * The trap behind attribute registration. Only `defineProperty` is trapped: both assignments (`this.x = v`
 * reaches the receiver's [[DefineOwnProperty]]) and class fields (defined with [[Define]] semantics under
 * ES2022) pass through it, while property reads, the hot path of every forward, have no trap to run.
 */
const registeringHandler: ProxyHandler<Module> = {
  defineProperty(target, key, descriptor) {
    if (typeof key === 'string' && 'value' in descriptor) target.registerAttribute(key, descriptor.value);
    return Reflect.defineProperty(target, key, descriptor);
  },
  deleteProperty(target, key) {
    if (typeof key === 'string') target.unregisterAttribute(key);
    return Reflect.deleteProperty(target, key);
  },
};

export class Module {
  /** train mode (dropout active, batch norm on batch statistics and updating its running ones) */
  training = true;
  private readonly params = new Map<string, Parameter | null>();
  private readonly buffers = new Map<string, { tensor: Tensor | null; persistent: boolean }>();
  private readonly submodules = new Map<string, Module>();
  private disposed = false;

  constructor() {
    // every subclass constructor runs on the proxy, so its assignments and fields register (see the handler)
    return new Proxy(this, registeringHandler);
  }

  /** The class name shown by `toString()` (PyTorch's class names for the layers). */
  get typeName(): string { return this.constructor.name; }

  /**
   * PyTorch's `__setattr__` for a property assignment (called by the proxy, not meant to be called directly):
   * a Module or Parameter not yet registered here is registered under `name` (replacing what `name` held of the
   * same kind; the replaced one is not disposed); a tensor or null assigned to a registered buffer's name
   * replaces the buffer (the old one is disposed, as `replaceBuffer`); null assigned to a registered
   * parameter's or module's name clears it. Anything else is a plain property.
   */
  registerAttribute(name: string, value: unknown): void {
    if (value instanceof Parameter) {
      if ([...this.params.values()].includes(value)) return;
      this.checkKind(name, 'parameter');
      this.params.set(name, value);
    } else if (value instanceof Module) {
      if ([...this.submodules.values()].includes(value)) return;
      this.checkKind(name, 'module');
      this.submodules.set(name, value);
    } else if (value instanceof Tensor) {
      const entry = this.buffers.get(name);
      if (entry && entry.tensor !== value) {
        entry.tensor?.dispose();
        entry.tensor = keep(value);
      }
    } else if (value === null || value === undefined) {
      if (this.params.has(name)) this.params.set(name, null);
      this.submodules.delete(name);
      const entry = this.buffers.get(name);
      if (entry && entry.tensor) {
        entry.tensor.dispose();
        entry.tensor = null;
      }
    }
  }

  /** `delete module.name` forgets a registered parameter, buffer or module of that name (PyTorch's __delattr__). */
  unregisterAttribute(name: string): void {
    this.params.delete(name);
    this.buffers.delete(name);
    this.submodules.delete(name);
  }

  private checkKind(name: string, kind: 'parameter' | 'module'): void {
    const held = this.params.has(name) ? 'parameter' : this.buffers.has(name) ? 'buffer' : this.submodules.has(name) ? 'module' : null;
    if (held && held !== kind) {
      throw new Error(`${this.typeName}: cannot assign a ${kind} to '${name}', which is a registered ${held}`);
    }
    if (!held) this.checkName(name);
  }

  registerParameter<P extends Parameter | null>(name: string, p: P): P {
    this.checkName(name);
    this.params.set(name, p);
    return p;
  }

  /** A buffer is saved in the state dict (when persistent) but is not a parameter. It must be kept (see makeBuffer). */
  registerBuffer<T extends Tensor | null>(name: string, t: T, persistent = true): T {
    this.checkName(name);
    if (t) keep(t);
    this.buffers.set(name, { tensor: t, persistent });
    return t;
  }

  registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.submodules.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (name === '' || name.includes('.')) throw new Error(`${this.typeName}: invalid name '${name}' (non-empty, no '.')`);
    if (this.params.has(name) || this.buffers.has(name) || this.submodules.has(name)) {
      throw new Error(`${this.typeName}: '${name}' is already registered`);
    }
  }

  /** Replaces the tensor of a registered buffer (the old one is disposed). */
  protected replaceBuffer(name: string, t: Tensor): void {
    const entry = this.buffers.get(name);
    if (!entry) throw new Error(`${this.typeName}: no buffer '${name}'`);
    if (entry.tensor && entry.tensor !== t) entry.tensor.dispose();
    entry.tensor = keep(t);
  }

  /**
   * Called before buffers are listed (namedBuffers, stateDict, loadStateDict): a module that keeps part of its
   * state on the host (BatchNorm's batch counter) writes it into its buffers here.
   */
  protected syncBuffers(): void {}

  /** The module at a dotted path ('' for this one), as the state dict names it (PyTorch's get_submodule). */
  getSubmodule(target: string): Module {
    if (target === '') return this;
    let m: Module = this;
    for (const name of target.split('.')) {
      const child = m.submodules.get(name);
      if (!child) throw new Error(`${m.typeName} has no submodule '${name}' (looking up '${target}')`);
      m = child;
    }
    return m;
  }

  /** The parameter at a dotted path, e.g. 'head.weight' (PyTorch's get_parameter). */
  getParameter(target: string): Parameter { return this.lookUp(target, 'parameter', (m, name) => m.params.get(name)); }

  /** The buffer at a dotted path, e.g. 'bn.running_mean' (PyTorch's get_buffer). */
  getBuffer(target: string): Tensor { return this.lookUp(target, 'buffer', (m, name) => m.buffers.get(name)?.tensor); }

  private lookUp<T>(target: string, kind: string, own: (m: Module, name: string) => T | null | undefined): T {
    const dot = target.lastIndexOf('.'), name = target.slice(dot + 1);
    const m = this.getSubmodule(dot < 0 ? '' : target.slice(0, dot));
    const found = own(m, name);
    if (!found) throw new Error(`${m.typeName} has no ${kind} '${name}' (looking up '${target}')`);
    return found;
  }

  /** Direct children, in registration order; one registered under two names is listed once, under the first (PyTorch's). */
  namedChildren(): [string, Module][] {
    const seen = new Set<Module>();
    return [...this.submodules].filter(([, m]) => {
      if (seen.has(m)) return false;
      seen.add(m);
      return true;
    });
  }
  children(): Module[] { return this.namedChildren().map(([, m]) => m); }

  /** This module and every descendant, depth first (torch's modules()). */
  modules(): Module[] { return this.namedModules().map(([, m]) => m); }

  /**
   * This module and every descendant with dotted names ('' for this one), depth first; with `removeDuplicate`
   * (default, as PyTorch's named_modules) a module registered under several names is listed once, under the first.
   */
  namedModules(prefix = '', removeDuplicate = true): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (m: Module, path: string): void => {
      if (seen.has(m)) return;
      if (removeDuplicate) seen.add(m);
      out.push([path, m]);
      for (const [name, child] of m.submodules) visit(child, path ? `${path}.${name}` : name);
    };
    visit(this, prefix);
    return out;
  }

  /** Parameters with dotted names; a parameter shared by two modules is listed once (PyTorch). */
  namedParameters(prefix = '', recurse = true): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    const mods: [string, Module][] = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [mp, m] of mods) {
      for (const [name, p] of m.params) {
        if (!p || seen.has(p)) continue;
        seen.add(p);
        out.push([mp ? `${mp}.${name}` : name, p]);
      }
    }
    return out;
  }

  parameters(recurse = true): Parameter[] { return this.namedParameters('', recurse).map(([, p]) => p); }

  /** Total number of parameter elements (optionally only those that require grad). */
  numParameters(trainableOnly = false): number {
    return this.parameters().filter((p) => !trainableOnly || p.requiresGrad).reduce((s, p) => s + p.numel(), 0);
  }

  namedBuffers(prefix = '', recurse = true): [string, Tensor][] {
    return this.collectBuffers(prefix, recurse);
  }

  buffersList(recurse = true): Tensor[] { return this.namedBuffers('', recurse).map(([, b]) => b); }

  /** a buffer held by two modules is listed once (PyTorch's remove_duplicate) */
  private collectBuffers(prefix: string, recurse: boolean): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const mods: [string, Module][] = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [mp, m] of mods) {
      m.syncBuffers();
      for (const [name, b] of m.buffers) {
        if (!b.tensor || seen.has(b.tensor)) continue;
        seen.add(b.tensor);
        out.push([mp ? `${mp}.${name}` : name, b.tensor]);
      }
    }
    return out;
  }

  /**
   * Sets train mode on this module, then calls each child's train(mode) (PyTorch's recursion): a subclass that
   * overrides train() (to keep its batch norms frozen, say) is obeyed wherever it sits in the tree.
   */
  train(mode = true): this {
    this.training = mode;
    for (const m of this.children()) m.train(mode);
    return this;
  }

  eval(): this { return this.train(false); }

  /** Calls fn on every module, children first (torch's apply). */
  apply(fn: (m: Module) => void): this {
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }

  /**
   * Calls `setDropoutSeed(seed)` on every module under this one that has it (the dropout layers): the masks of
   * the following forwards depend only on the seed, the layer and the forwards since, not on how many forwards
   * ran before. With the iteration as the seed before each training step, a run resumed from any checkpoint draws
   * the masks the uninterrupted run drew (a training checkpoint also saves each layer's place in its mask stream:
   * dropoutState()).
   */
  seedDropout(seed: number): this {
    for (const m of this.modules()) if (hasDropoutSeed(m)) m.setDropoutSeed(seed);
    return this;
  }

  /**
   * Where each dropout layer under this module stands in its mask stream, by module path (JSON): what a training
   * checkpoint saves so that a resumed run draws the masks the uninterrupted run would have.
   */
  dropoutState(): Record<string, DropoutState> {
    const out: Record<string, DropoutState> = {};
    for (const [path, m] of this.namedModules()) if (hasDropoutState(m)) out[path] = m.getDropoutState();
    return out;
  }

  /**
   * Restores dropoutState(). Everything is checked before anything is set; with `strict` (default), a dropout layer
   * of the module missing from the state, or a path of the state that is no dropout layer of the module, is an error.
   */
  loadDropoutState(state: Readonly<Record<string, DropoutState>>, strict = true): void {
    const layers = new Map(this.namedModules().filter((e): e is [string, DropoutLayer] => hasDropoutState(e[1])));
    const checked = Object.entries(state ?? {}).map(([path, s]) => [path, checkDropoutState(path, s)] as const);
    if (strict) {
      const missing = [...layers.keys()].filter((k) => !(k in state));
      const unexpected = checked.map(([k]) => k).filter((k) => !layers.has(k));
      const problems = [missing.length && `missing dropout layers: ${missing.join(', ')}`, unexpected.length && `unexpected dropout layers: ${unexpected.join(', ')}`]
        .filter((p): p is string => typeof p === 'string');
      if (problems.length) throw new Error(`${this.typeName}.loadDropoutState: ${problems.join('; ')}`);
    }
    for (const [path, s] of checked) layers.get(path)?.setDropoutState(s);
  }

  /** Sets requiresGrad of every parameter (PyTorch's requires_grad_: freezing a part of a model); returns the module. */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      if (p.grad) { p.grad.dispose(); p.grad = null; }
    }
  }

  /**
   * Parameters and persistent buffers as borrowed views (PyTorch order: per module, its parameters then its
   * buffers; a module registered under two names under both, as PyTorch's): no copies and nothing to free; they
   * follow the module's updates and are an error to use once the module is disposed (copy the values, e.g. with
   * toHost, to keep them).
   */
  stateDict(): StateDict {
    const dict: StateDict = new Map();
    for (const [mp, m] of this.namedModules('', false)) {
      m.syncBuffers();
      const key = (name: string) => (mp ? `${mp}.${name}` : name);
      for (const [name, p] of m.params) if (p) dict.set(key(name), p.borrow());
      for (const [name, b] of m.buffers) if (b.tensor && b.persistent) dict.set(key(name), b.tensor.borrow());
    }
    return dict;
  }

  /** The shapes and dtypes of the state dict entries, without creating views. */
  stateSpec(): Map<string, { shape: readonly number[]; dtype: DType }> {
    const spec = new Map<string, { shape: readonly number[]; dtype: DType }>();
    for (const [mp, m] of this.namedModules('', false)) {
      const key = (name: string) => (mp ? `${mp}.${name}` : name);
      for (const [name, p] of m.params) if (p) spec.set(key(name), { shape: p.shape, dtype: p.dtype });
      for (const [name, b] of m.buffers) if (b.tensor && b.persistent) spec.set(key(name), { shape: b.tensor.shape, dtype: b.tensor.dtype });
    }
    return spec;
  }

  /**
   * Copies the values of `dict` into this module's parameters and buffers (on this module's backend; a value
   * of another dtype is cast). Shape mismatches are always an error; with `strict` (default) missing and
   * unexpected keys are too. The error names every offending key. Nothing is copied when it throws.
   */
  loadStateDict(dict: ReadonlyMap<string, Tensor>, strict = true): LoadResult {
    const { targets, missingKeys, unexpectedKeys } = this.checkedTargets(dict, strict);
    noGrad(() => {
      for (const [k, src] of dict) {
        const dst = targets.get(k);
        if (!dst) continue;
        tidy(() => { assign(dst.tensor, src.dtype === dst.tensor.dtype ? src : cast(src, dst.tensor.dtype)); });
      }
    });
    for (const [, m] of this.namedModules()) m.afterLoad();
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Throws the error loadStateDict(dict, strict) would throw, copying nothing either way: a caller that loads several
   * parts (a training checkpoint) checks them all before loading any.
   */
  checkStateDict(dict: ReadonlyMap<string, Tensor>, strict = true): LoadResult {
    const { missingKeys, unexpectedKeys } = this.checkedTargets(dict, strict);
    return { missingKeys, unexpectedKeys };
  }

  /** the module's tensor for each key of the state dict, once every entry is checked (the error names each problem) */
  private checkedTargets(dict: ReadonlyMap<string, Tensor>, strict: boolean): LoadResult & { targets: Map<string, { tensor: Tensor }> } {
    if (!(dict instanceof Map)) {
      throw new Error(`${this.typeName}.loadStateDict: the state dict must be a Map of name → Tensor, as stateDict() returns; got ${Object.prototype.toString.call(dict)}`);
    }
    const targets = new Map<string, { module: Module; name: string; tensor: Tensor; kind: 'param' | 'buffer' }>();
    for (const [mp, m] of this.namedModules('', false)) {
      m.syncBuffers();
      const key = (name: string) => (mp ? `${mp}.${name}` : name);
      for (const [name, p] of m.params) if (p) targets.set(key(name), { module: m, name, tensor: p, kind: 'param' });
      for (const [name, b] of m.buffers) {
        if (b.tensor && b.persistent) targets.set(key(name), { module: m, name, tensor: b.tensor, kind: 'buffer' });
      }
    }
    const missingKeys = [...targets.keys()].filter((k) => !dict.has(k));
    const unexpectedKeys = [...dict.keys()].filter((k) => !targets.has(k));
    const problems: string[] = [];
    for (const [k, src] of dict) {
      const dst = targets.get(k);
      if (!dst) continue;
      if (!(src instanceof Tensor)) {
        problems.push(`${k}: not a Tensor; host tensors (readSafetensors' tensors) load with loadHostStateDict(model, tensors), a file with loadModel(path, model)`);
      } else if (!sameShape(dst.tensor.shape, src.shape)) {
        problems.push(`size mismatch for ${k}: checkpoint ${formatShape(src.shape)}, model ${formatShape(dst.tensor.shape)}`);
      } else if (src.backend !== dst.tensor.backend) {
        problems.push(`${k}: the value lives on the ${src.backend.name} backend, the model on ${dst.tensor.backend.name}; move it with toBackend() first`);
      } else if ((src.dtype === 'int32') !== (dst.tensor.dtype === 'int32')) {
        problems.push(`dtype mismatch for ${k}: checkpoint ${src.dtype}, model ${dst.tensor.dtype}`);
      }
    }
    if (strict) {
      if (missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    }
    if (problems.length) {
      throw new Error(`Error(s) in loading state dict for ${this.typeName}:\n  ${problems.join('\n  ')}`);
    }
    return { targets, missingKeys, unexpectedKeys };
  }

  /** Called after loadStateDict has written this module's tensors (BatchNorm re-reads its batch counter). */
  protected afterLoad(): void {}

  /** One line of hyperparameters shown by `toString()` (PyTorch's extra_repr). */
  extraRepr(): string { return ''; }

  /** The module tree with each module's own parameter shapes and parameter counts (PyTorch-like). */
  toString(): string {
    return `${this.describe(0)}\ntotal parameters: ${this.numParameters()}`;
  }

  /** console.log(model) prints the module tree, as print(model) does, rather than the object's internals */
  [Symbol.for('nodejs.util.inspect.custom')](): string { return this.toString(); }

  private describe(indent: number): string {
    const own = [...this.params].filter((e): e is [string, Parameter] => e[1] !== null);
    const count = this.numParameters();
    const ownShapes = own.map(([n, p]) => `${n} ${formatShape(p.shape)}`).join(', ');
    const note = count > 0 ? `  # ${ownShapes ? `${ownShapes}; ` : ''}${count.toLocaleString('en-US')} params` : '';
    const lines = [`${this.typeName}(${this.extraRepr()})${note}`];
    const pad = '  '.repeat(indent + 1);
    for (const [name, m] of this.submodules) lines.push(`${pad}(${name}): ${m.describe(indent + 1)}`);
    return lines.join('\n');
  }

  /** Frees every parameter, gradient and buffer of this module and its descendants. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const m of this.submodules.values()) m.dispose();
    for (const p of this.params.values()) p?.dispose();
    for (const b of this.buffers.values()) b.tensor?.dispose();
  }

  get isDisposed(): boolean { return this.disposed; }

  /**
   * Moves every parameter and buffer, with the parameters' gradients, to `backend` in place (PyTorch's
   * `model.to(device)`): the same Parameter and buffer objects, so a layer's fields and any reference to them stay
   * valid. Create the optimizer (and EMA, GradScaler) after the move, as PyTorch advises: an optimizer that has
   * stepped keeps its state on the old backend, and its next step throws (the backend refuses the other backend's
   * storage); one that has not stepped makes its state on first use. Refused, with nothing moved, while a parameter or
   * buffer shares its storage (a stateDict() value not yet disposed, a forward's saved tensors before backward).
   */
  async to(backend: Backend): Promise<this> {
    const tensors = [...new Set<Tensor>([...this.parameters(), ...this.buffersList()])].filter((t) => t.backend !== backend);
    const checkMovable = (): void => {
      const refusals = tensors.flatMap((t) => { const why = t.whyNotMovable(); return why ? [`${t}: ${why}`] : []; });
      if (refusals.length) throw new Error(`${this.typeName}.to(${backend.name}): cannot move\n  ${refusals.join('\n  ')}`);
    };
    checkMovable();
    const grads = tensors.map((t) => t.grad).filter((g): g is Tensor => g !== null);
    const moving = [...tensors, ...grads];
    const hostValues = await Promise.all(moving.map((t) => t.toArray()));
    const storages: Storage[] = [];
    try {
      // an upload may be refused (float64 on WebGPU): those made before it are freed below
      for (const [i, values] of hostValues.entries()) storages.push(backend.upload(values, moving[i].dtype));
      checkMovable(); // again: the reads awaited, so a forward may have run meanwhile
    } catch (e) {
      for (const st of storages) backend.free(st);
      throw e;
    }
    const movedGrads = new Map(grads.map((g, i) => [g, keep(Tensor.fromStorage(backend, storages[tensors.length + i], g.shape))]));
    tensors.forEach((t, i) => {
      t.moveStorage(backend, storages[i]);
      if (t.grad) {
        const old = t.grad;
        t.grad = movedGrads.get(old) ?? null;
        old.dispose();
      }
    });
    return this;
  }

  /** The backend of the first parameter or buffer (the module's backend), else the current one. */
  get backend(): Backend {
    const p = this.parameters()[0];
    if (p) return p.backend;
    const b = this.collectBuffers('', true)[0];
    return b ? b[1].backend : getBackend();
  }
}

/** A layer's forward fused with some of the layers after it (see Layer.fusedWith). */
export interface FusedForward {
  /** how many of the following layers it computes besides this one */
  consumes: number;
  forward(x: Tensor): Tensor;
}

/** Sequential offers a layer's fusedWith at most this many following layers */
const FUSION_LOOKAHEAD = 2;

/** A module with one input and one output. */
export abstract class Layer extends Module {
  abstract forward(x: Tensor): Tensor;

  /**
   * This layer's forward followed by the first layers of `next` as one fused op, where it has one for such a chain
   * on input `x` (a normalisation followed by ReLU: one pass instead of two, both ways; in inference, a convolution
   * followed by batch norm in evaluation mode and maybe ReLU: one kernel); null: none. Sequential uses it; the
   * result is the same as running the layers in order.
   */
  fusedWith(_next: readonly Layer[], _x: Tensor): FusedForward | null { return null; }
}

/** Children run in order; names are '0', '1', … as nn.Sequential. */
export class Sequential extends Layer {
  readonly layers: Layer[];

  constructor(...layers: Layer[]) {
    super();
    this.layers = layers.map((l, i) => this.registerModule(String(i), l));
  }

  /** The layers in order, a chain that fuses (see Layer.fusedWith: norm → ReLU; conv → eval batch norm [→ ReLU]
   * without gradients) as one op. Intermediate
   * outputs are disposed when it returns (what their backward needs stays saved on the graph), so that a
   * training step does not hold every activation until its end; a layer that hands its output elsewhere for
   * later (a feature hook) must `keep()` it. */
  forward(x: Tensor): Tensor {
    const layers = this.layers; // one read through the module's proxy, not three per layer
    return tidy(() => {
      let y = x;
      for (let i = 0; i < layers.length; i++) {
        // the following layers offered to fusedWith, and their indices; those that step aside left out
        const next: Layer[] = [], at: number[] = [];
        for (let j = i + 1; j < layers.length && next.length < FUSION_LOOKAHEAD; j++) {
          if (!this.stepsAside(layers[j])) {
            next.push(layers[j]);
            at.push(j);
          }
        }
        const fused = next.length > 0 ? layers[i].fusedWith(next, y) : null;
        if (fused) {
          y = fused.forward(y);
          i = at[fused.consumes - 1];
        } else y = layers[i].forward(y);
      }
      return y;
    });
  }

  /**
   * Whether `layer` is the identity just now and may be skipped inside a fused chain (the layers it sits between
   * fuse as if it were absent, and its forward does not run); none by default (ADN: a dropout that is inactive)
   */
  protected stepsAside(_layer: Layer): boolean { return false; }

  /**
   * Registers `layer` under `name` and runs it after the layers before it (PyTorch's add_module on a Sequential, and
   * the names of one built from an OrderedDict)
   */
  addModule(name: string, layer: Layer): this {
    this.layers.push(this.registerModule(name, layer));
    return this;
  }

  get length(): number { return this.layers.length; }
  at(i: number): Layer {
    const l = this.layers.at(i);
    if (!l) throw new Error(`Sequential: index ${i} is out of range for ${this.layers.length} layers`);
    return l;
  }
}

/** Holds modules in a list, registered as children '0', '1', … (nn.ModuleList); it has no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    this.extend(modules);
  }

  append(module: M): this {
    this.items.push(this.registerModule(String(this.items.length), module));
    return this;
  }

  extend(modules: Iterable<M>): this {
    for (const m of modules) this.append(m);
    return this;
  }

  get length(): number { return this.items.length; }

  /** The module at index i (negative counts from the end), as `list[i]` in PyTorch. */
  at(i: number): M {
    const m = this.items.at(i);
    if (!m) throw new Error(`ModuleList: index ${i} is out of range for ${this.items.length} modules`);
    return m;
  }

  [Symbol.iterator](): IterableIterator<M> { return this.items[Symbol.iterator](); }
}

/** Holds modules by name, registered as children under their keys in insertion order (nn.ModuleDict). */
export class ModuleDict<M extends Module = Module> extends Module {
  private readonly items = new Map<string, M>();

  constructor(modules: Iterable<readonly [string, M]> | Record<string, M> = []) {
    super();
    const entries = Symbol.iterator in modules ? modules : Object.entries(modules);
    for (const [key, m] of entries as Iterable<readonly [string, M]>) this.set(key, m);
  }

  /** Adds or replaces (in place, keeping the key's position) the module under `key`. */
  set(key: string, module: M): this {
    if (this.items.has(key)) this.registerAttribute(key, module);
    else this.registerModule(key, module);
    this.items.set(key, module);
    return this;
  }

  get(key: string): M {
    const m = this.items.get(key);
    if (!m) throw new Error(`ModuleDict: no module '${key}' (keys: ${[...this.items.keys()].join(', ') || 'none'})`);
    return m;
  }

  has(key: string): boolean { return this.items.has(key); }
  get size(): number { return this.items.size; }
  keys(): IterableIterator<string> { return this.items.keys(); }
  values(): IterableIterator<M> { return this.items.values(); }
  entries(): IterableIterator<[string, M]> { return this.items.entries(); }
  [Symbol.iterator](): IterableIterator<string> { return this.items.keys(); }
}
