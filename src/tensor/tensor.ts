import type { Backend, DType, Storage, TypedArray, View } from '../kernels/backend.js';
import { contiguousStrides, formatShape, internDims, internedContiguousStrides, normalizeAxis, sizeOf } from './shape.js';
import { trackTensor, untrackTensor } from './memory.js';

/** One storage shared by a tensor and its views; freed when the last of them is disposed. */
export class StorageRef {
  refs = 0;
  constructor(readonly backend: Backend, readonly storage: Storage) {}
  retain(): this { this.refs++; return this; }
  release(): void {
    if (--this.refs === 0) this.backend.free(this.storage);
  }
}

/**
 * A node of the autograd graph: the op that produced a tensor, its inputs, and the rule that maps the
 * output's gradient to the inputs' gradients. Defined here so a tensor can point to its node; built by
 * src/autograd.
 */
/**
 * What a backward rule gives for an input: its gradient, null, or a form that backward folds into its sum of
 * that input's gradients instead of a dispatch of its own: the negation −t (`negated`, summed as a − t), a
 * slice's adjoint (`embedded`: zeros of the input's shape with t at [start::step] along `axis`, added into those
 * positions of the sum), or a gradient whose kernel adds the sum so far itself (`accumulate`, called at once with that
 * sum, dense and of the input's dtype, or with null: it returns the sum + its gradient, the floats of the add it replaces).
 */
export type GradTerm = Tensor | NegatedGrad | EmbeddedGrad | AccumulatedGrad | null;
export interface NegatedGrad { readonly negated: Tensor }
export interface EmbeddedGrad { readonly embedded: Tensor; readonly axis: number; readonly start: number; readonly step: number }
export interface AccumulatedGrad { readonly accumulate: (sum: Tensor | null) => Tensor }

export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  backward(gradOutput: Tensor): GradTerm[];
  /** frees what the node saved for backward */
  release(): void;
  readonly released: boolean;
  /**
   * One holder fewer: the output tensor was disposed, or a node that used it as an input was freed. At zero
   * the node frees what it saved and lets go of its inputs' nodes, so a graph that never sees backward()
   * (a forward left recording) is freed with the last tensor that reaches it.
   */
  drop(): void;
}

/**
 * What `toArray()` gives: the tensor dtype's typed array (Float32Array, Int32Array or Float64Array). A bare union
 * of typed arrays has no callable `reduce` in TypeScript (each member's overloads differ); these signatures,
 * which every member has, make `(await x.toArray()).reduce((s, v) => s + v, 0)` type-check.
 */
export type HostArray = TypedArray & {
  reduce(fn: (acc: number, value: number, index: number) => number): number;
  reduce<U>(fn: (acc: U, value: number, index: number) => U, initial: U): U;
};

/** What `toList()` gives: a number for a 0-d tensor, else one nested array per dimension (torch.Tensor.tolist). */
export type NestedList = number | NestedList[];

function nest(values: TypedArray, shape: readonly number[], axis: number, start: number): NestedList {
  if (axis === shape.length) return values[start];
  const inner = sizeOf(shape.slice(axis + 1));
  return Array.from({ length: shape[axis] }, (_, i) => nest(values, shape, axis + 1, start + i * inner));
}

let nextId = 1;

/** the id the next tensor will get (ids only grow: a tensor with a smaller one existed before the call) */
export function nextTensorId(): number { return nextId; }

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** leaves with requiresGrad receive `.grad` from backward() */
  requiresGrad = false;
  grad: Tensor | null = null;
  /** the op that produced this tensor when it depends on a tensor that requires grad */
  gradNode: GradNode | null = null;
  private ref: StorageRef | null;
  /** the storage's backend, kept after dispose() for messages; changes only with moveStorage */
  private home: Backend;
  private readonly tracked: boolean;
  /** a view that holds no share of its storage (see borrow()) */
  private borrowed = false;

  constructor(ref: StorageRef, shape: readonly number[], dtype: DType,
    strides?: readonly number[], offset = 0, track = true) {
    this.ref = ref.retain();
    this.home = ref.backend;
    // frozen arrays shared by every tensor with that shape (strides): nobody can change them
    const interned = internDims(shape);
    this.shape = interned.dims;
    const contiguous = internedContiguousStrides(interned);
    this.strides = strides === undefined ? contiguous : internDims(strides).dims;
    if (this.strides === contiguous) this.contiguousMemo = true;
    this.offset = offset;
    this.dtype = dtype;
    this.tracked = track;
    if (track) trackTensor(this);
  }

  /** a new tensor owning a fresh storage */
  static fromStorage(backend: Backend, storage: Storage, shape: readonly number[]): Tensor {
    if (storage.length < sizeOf(shape)) {
      throw new Error(`internal: storage of ${storage.length} elements is too small for shape ${formatShape(shape)}`);
    }
    return new Tensor(new StorageRef(backend, storage), shape, storage.dtype);
  }

  /** shape and strides never change: the element count and contiguity are computed once (every op reads them) */
  private numelMemo = -1;
  private contiguousMemo: boolean | null = null;

  /** The number of elements (torch.Tensor.numel). */
  numel(): number {
    if (this.numelMemo < 0) this.numelMemo = sizeOf(this.shape);
    return this.numelMemo;
  }

  /** The shape, or the extent of one dimension (negative counts from the end), as torch.Tensor.size(). */
  size(): readonly number[];
  size(dim: number): number;
  size(dim?: number): readonly number[] | number {
    if (dim === undefined) return this.shape;
    if (this.rank === 0) throw new Error(`size(${dim}): the tensor is a scalar (no dimensions)`);
    return this.shape[normalizeAxis(dim, this.rank, 'size')];
  }

  /** the backend holding the storage (changed in place only by Module.to, through moveStorage) */
  get backend(): Backend { return this.home; }
  get rank(): number { return this.shape.length; }
  /** disposed, or a borrowed view whose storage its owners have freed */
  get isDisposed(): boolean { return this.ref === null || this.ref.refs === 0; }

  private live(): StorageRef {
    const ref = this.ref;
    if (ref && ref.refs > 0) return ref;
    throw new Error(ref
      ? `tensor #${this.id} ${formatShape(this.shape)} ${this.dtype} is a borrowed view (a state dict entry) used after the tensor it views was disposed or moved to another backend`
      : `tensor #${this.id} ${formatShape(this.shape)} ${this.dtype} was used after dispose()`);
  }

  get storage(): Storage { return this.live().storage; }
  /** no other tensor (no view, no saved alias) shares its storage: its holder may update it in place */
  get ownsStorageAlone(): boolean { return this.live().refs === 1 && !this.borrowed; }
  get view(): View { return { storage: this.storage, shape: this.shape, strides: this.strides, offset: this.offset }; }

  /** its storage holds exactly its elements in C order from offset 0 (what a raw kernel given only the storage
   * reads; contiguous() keeps a contiguous view's offset) */
  get isDense(): boolean {
    return this.isContiguous && this.offset === 0 && this.storage.length === this.numel();
  }

  get isContiguous(): boolean {
    if (this.contiguousMemo === null) {
      const c = contiguousStrides(this.shape);
      this.contiguousMemo = this.shape.every((d, i) => d === 1 || this.strides[i] === c[i]);
    }
    return this.contiguousMemo;
  }

  /** another tensor object over the same storage (a view): shares ownership of the storage */
  viewAs(shape: readonly number[], strides: readonly number[], offset: number, track = true): Tensor {
    return new Tensor(this.live(), shape, this.dtype, strides, offset, track);
  }

  /**
   * A view of the whole tensor that holds no share of the storage and is not counted as live: valid while the
   * tensors that own the storage live (using it after is an error), and nothing to free (dispose() only ends
   * the view). What a state dict hands out, so that one never disposed, as in PyTorch, leaks nothing.
   */
  borrow(): Tensor {
    const ref = this.live();
    const view = new Tensor(ref, this.shape, this.dtype, this.strides, this.offset, false);
    ref.refs--; // the owners' count alone decides when the storage is freed
    view.borrowed = true;
    return view;
  }

  /** an untracked alias kept alive by the autograd graph until backward has used it */
  alias(): Tensor { return this.viewAs(this.shape, this.strides, this.offset, false); }

  /**
   * Frees this tensor's hold on its storage, its gradient, and its hold on its grad node. Idempotent. The
   * node stays reachable while a later tensor's graph uses it, so the graph below a disposed intermediate
   * still carries gradients to the leaves.
   */
  dispose(): void {
    if (!this.ref) return;
    const tracked = this.ref;
    this.ref = null;
    if (this.tracked) untrackTensor(this);
    if (!this.borrowed) tracked.release();
    if (this.grad) { this.grad.dispose(); this.grad = null; }
    this.gradNode?.drop();
  }

  /**
   * Why this tensor's storage cannot be swapped for a copy on another backend (moveStorage), or null: it must be
   * live, dense, without a grad node, and the only holder of its storage (no view, no tensor saved for backward).
   */
  whyNotMovable(): string | null {
    if (this.ref === null) return 'it was disposed';
    if (this.gradNode) return `it is the output of ${this.gradNode.name}, not a leaf`;
    if (!this.isDense) return 'it is a view (not dense)';
    if (this.ref.refs !== 1) return `${this.ref.refs - 1} other tensor(s) share its storage (views or tensors saved for backward: dispose them or run backward first)`;
    return null;
  }

  /**
   * Replaces the storage by `storage`, which holds the same elements on `backend`, and frees the old one: the same
   * tensor object now lives on `backend` (Module.to's in-place move). Throws, changing nothing, when
   * whyNotMovable() says why not.
   */
  moveStorage(backend: Backend, storage: Storage): void {
    const why = this.whyNotMovable();
    if (why) throw new Error(`moveStorage: ${this} cannot move: ${why}`);
    if (storage.dtype !== this.dtype || storage.length !== this.numel()) {
      throw new Error(`moveStorage: ${this} needs ${this.numel()} ${this.dtype} elements, got ${storage.length} ${storage.dtype}`);
    }
    const old = this.live();
    this.ref = new StorageRef(backend, storage).retain();
    this.home = backend;
    old.release();
  }

  /** Copies the elements (C order) back to the host, as the dtype's typed array. */
  async toArray(): Promise<HostArray> {
    const ref = this.live();
    if (this.isDense) return ref.backend.read(ref.storage);
    const copy = ref.backend.copy(this.view);
    try {
      return await ref.backend.read(copy);
    } finally {
      ref.backend.free(copy);
    }
  }

  /** The elements as nested arrays, one level per dimension, or a number for a 0-d tensor (torch.Tensor.tolist). */
  async toList(): Promise<NestedList> {
    return nest(await this.toArray(), this.shape, 0, 0);
  }

  /** the single element of a one-element tensor */
  async item(): Promise<number> {
    if (this.numel() !== 1) throw new Error(`item(): tensor ${formatShape(this.shape)} has ${this.numel()} elements, not 1`);
    return (await this.toArray())[0];
  }

  toString(): string {
    return `Tensor(#${this.id} ${formatShape(this.shape)} ${this.dtype} on ${this.backend.name}${this.requiresGrad ? ', requiresGrad' : ''}${this.isDisposed ? ', disposed' : ''})`;
  }

  /** console.log(x) prints toString() rather than the tensor's storage and backend internals */
  [Symbol.for('nodejs.util.inspect.custom')](): string { return this.toString(); }
}
