/** Shapes, strides and PyTorch's broadcasting rules. */
import { contiguousStrides, formatShape } from '../kernels/layout.js';

export { contiguousStrides, formatShape, sizeOf } from '../kernels/layout.js';

/** PyTorch broadcasting: align trailing dimensions; each pair must be equal or contain a 1. */
export function broadcastShapes(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = rank - s.length + i;
      if (s[i] === out[d] || s[i] === 1) continue;
      if (out[d] === 1) { out[d] = s[i]; continue; }
      throw new Error(`shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast together (dimension ${d}: ${out[d]} vs ${s[i]})`);
    }
  }
  return out;
}

/** Normalises a possibly negative axis against a rank, naming the op on error. */
export function normalizeAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) {
    throw new Error(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

export function normalizeAxes(axes: number | readonly number[] | undefined, rank: number, op: string): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [normalizeAxis(axes, rank, op)] : [];
  // an insertion sort: a handful of axes (Array.prototype.sort allocates a work array per call)
  if (typeof axes !== 'number') {
    for (const axis of axes) {
      const a = normalizeAxis(axis, rank, op);
      let i = list.length;
      list.push(a);
      for (; i > 0 && list[i - 1]! > a; i--) list[i] = list[i - 1]!;
      list[i] = a;
    }
  }
  for (let i = 1; i < list.length; i++) if (list[i] === list[i - 1]) throw new Error(`${op}: repeated axis in [${list.join(', ')}]`);
  return list;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A shape or strides as tensors hold them: frozen, one array per content (see internDims). */
export interface InternedDims {
  readonly dims: readonly number[];
  /** the contiguous strides of dims as a shape (interned too), made when first asked for */
  contiguous: readonly number[] | null;
  next: InternedDims | null;
}

/** an interned array's own entry (a non-enumerable property: equality checks and copies do not see it) */
const INTERNED = Symbol('voxgrad interned dims');
type MarkedDims = readonly number[] & { readonly [INTERNED]?: InternedDims };

/** the table starts over past this many entries (equal arrays are then no longer always identical: only slower) */
const MAX_INTERNED = 16384;
let interned = new Map<number, InternedDims>();
let internedCount = 0;

/**
 * The frozen array with dims' content that tensors share: a training step uses a few dozen shapes, so its
 * tensors take their shapes and strides from here instead of freezing a copy each (and sameShape of two of
 * them is usually an identity test).
 */
export function internDims(dims: readonly number[]): InternedDims {
  // most shapes handed to a tensor are another tensor's (interned already): known by identity, with no hashing
  const known = (dims as MarkedDims)[INTERNED];
  if (known !== undefined) return known;
  let hash = dims.length;
  for (let i = 0; i < dims.length; i++) hash = Math.imul(hash ^ dims[i]!, 0x01000193) ^ (hash >>> 15);
  hash &= 0x3fffffff;
  let entry = interned.get(hash);
  while (entry && !sameShape(entry.dims, dims)) entry = entry.next ?? undefined;
  if (entry) return entry;
  if (internedCount >= MAX_INTERNED) { interned = new Map(); internedCount = 0; }
  const copy = dims.slice();
  entry = { dims: copy, contiguous: null, next: interned.get(hash) ?? null };
  Object.defineProperty(copy, INTERNED, { value: entry });
  Object.freeze(copy);
  interned.set(hash, entry);
  internedCount++;
  return entry;
}

/** the interned contiguous strides of an interned shape */
export function internedContiguousStrides(shape: InternedDims): readonly number[] {
  return shape.contiguous ??= internDims(contiguousStrides(shape.dims)).dims;
}
