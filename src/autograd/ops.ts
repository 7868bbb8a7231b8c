import type { BinaryOp, DType, IndexCheckWording, ReduceOp, Storage, UnaryOp } from '../kernels/backend.js';
import { Tensor, type EmbeddedGrad } from '../tensor/tensor.js';
import { arange, full } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import {
  broadcastShapes, contiguousStrides, formatShape, normalizeAxes, normalizeAxis, sameShape, sizeOf,
} from '../tensor/shape.js';
import { negated, record } from './graph.js';
import { dense, sliceWindow, withDense } from './dense.js';

/**
 * The differentiable operations. Each runs its forward on the backend and records a backward rule written
 * with other differentiable operations (so gradients of gradients would work, and the kernel count stays
 * small); the heavy ones (matmul, conv3d, pooling, distance transform) call their own backward kernels.
 */

// ---------------------------------------------------------------------------------------------- helpers

function out(like: Tensor, storage: Storage, shape: readonly number[]): Tensor {
  return Tensor.fromStorage(like.backend, storage, shape);
}

export function checkSameBackend(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.backend !== ts[0].backend) {
      const which = t.backend.name === ts[0].backend.name ? `two ${t.backend.name} backend instances` : `${ts[0].backend.name} and ${t.backend.name}`;
      throw new Error(`${op}: tensors live on different backends (${which}); move one with toBackend()`);
    }
  }
}

function checkSameDtype(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== ts[0].dtype) {
      throw new Error(`${op}: dtypes differ (${ts.map((x) => `${formatShape(x.shape)} ${x.dtype}`).join(', ')}); cast() one first`);
    }
  }
}

/**
 * PyTorch's type promotion between the float dtypes, in the elementwise ops and `where` (as in PyTorch,
 * matmul and the convolutions do not promote): true when float32 meets float64 (a float32 constant in a
 * float64 gradcheck), and the op then runs on its operands cast up with `toFloat64` (differentiably, so a
 * float32 input gets a float32 gradient). int32 never mixes: that stays a dtype error.
 */
function mixedFloats(a: Tensor, b: Tensor): boolean {
  return a.dtype !== b.dtype && a.dtype !== 'int32' && b.dtype !== 'int32';
}

function toFloat64(t: Tensor): Tensor { return cast(t, 'float64'); }

export function checkFloat(op: string, t: Tensor): void {
  if (t.dtype === 'int32') throw new Error(`${op}: needs a floating-point tensor, got ${formatShape(t.shape)} int32`);
}

/** a strided view of t broadcast to shape (stride 0 on broadcast dims), no copy */
function broadcastView(t: Tensor, shape: readonly number[]) {
  const lead = shape.length - t.rank;
  const strides = shape.map((d, i) => {
    const j = i - lead;
    if (j < 0) return 0;
    return t.shape[j] === 1 && d !== 1 ? 0 : t.strides[j];
  });
  return { storage: t.storage, shape, strides, offset: t.offset };
}

// ------------------------------------------------------------------------------------------------ views

export function detach(x: Tensor): Tensor {
  return x.viewAs(x.shape, x.strides, x.offset);
}

export function contiguous(x: Tensor): Tensor {
  const y = x.isContiguous ? x.viewAs(x.shape, x.strides, x.offset) : out(x, x.backend.copy(x.view), x.shape);
  return record('contiguous', y, [x], (g) => [g]);
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  let known = 1, holes = 0;
  for (const d of shape) if (d === -1) holes++; else known *= d;
  const inferred = holes === 0 ? shape : shape.map((d) => (d === -1 ? x.numel() / known : d));
  if (holes > 1 || sizeOf(inferred) !== x.numel() || !inferred.every(Number.isInteger)) {
    throw new Error(`reshape: cannot view ${formatShape(x.shape)} (${x.numel()} elements) as ${formatShape(shape)}`);
  }
  let y: Tensor;
  if (x.isContiguous) y = x.viewAs(inferred, contiguousStrides(inferred), x.offset);
  else {
    const copy = out(x, x.backend.copy(x.view), x.shape);
    y = copy.viewAs(inferred, contiguousStrides(inferred), 0);
    copy.dispose();
  }
  return record('reshape', y, [x], (g) => [reshape(g, x.shape)]);
}

export function flatten(x: Tensor, startAxis = 0): Tensor {
  const s = normalizeAxis(startAxis, x.rank, 'flatten');
  return reshape(x, [...x.shape.slice(0, s), -1]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.rank + 1, 'unsqueeze');
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normalizeAxis(axis, x.rank, 'squeeze');
  if (x.shape[a] !== 1) return reshape(x, x.shape);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const d = dims.map((a) => normalizeAxis(a, x.rank, 'permute'));
  if (d.length !== x.rank || new Set(d).size !== x.rank) {
    throw new Error(`permute: [${dims.join(', ')}] is not a permutation of the ${x.rank} axes of ${formatShape(x.shape)}`);
  }
  const y = x.viewAs(d.map((i) => x.shape[i]), d.map((i) => x.strides[i]), x.offset);
  const inverse = new Array<number>(d.length);
  d.forEach((src, i) => { inverse[src] = i; });
  return record('permute', y, [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const dims = x.shape.map((_, i) => i);
  const i = normalizeAxis(a, x.rank, 'transpose'), j = normalizeAxis(b, x.rank, 'transpose');
  [dims[i], dims[j]] = [dims[j], dims[i]];
  return permute(x, dims);
}

/**
 * torch.expand: x broadcast to `shape` as a view (no copy); −1 keeps that axis' size, and new axes go in front
 * (where −1 is refused, as PyTorch).
 */
export function expand(x: Tensor, sizes: readonly number[]): Tensor {
  const lead = sizes.length - x.rank;
  const shape = !sizes.includes(-1) ? sizes : sizes.map((d, i) => {
    if (d !== -1) return d;
    if (i < lead) throw new Error(`expand: size -1 is not allowed in the new leading axis ${i} of [${sizes.join(', ')}] (x ${formatShape(x.shape)})`);
    return x.shape[i - lead];
  });
  const target = broadcastShapes(x.shape, shape);
  if (!sameShape(target, shape)) throw new Error(`expand: ${formatShape(x.shape)} cannot be expanded to ${formatShape(shape)}`);
  const v = broadcastView(x, shape);
  const y = x.viewAs(shape, v.strides, x.offset);
  return record('expand', y, [x], (g) => [sumTo(g, x.shape)]);
}

/** x[start:end:step] along one axis, as a view */
export function slice(x: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  const a = normalizeAxis(axis, x.rank, 'slice');
  const n = x.shape[a];
  const clampIndex = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = clampIndex(start), e = clampIndex(end ?? n);
  if (!Number.isInteger(step) || step < 1) throw new Error(`slice: step must be a positive integer, got ${step}`);
  const len = Math.max(0, Math.ceil((e - s) / step));
  const shape = x.shape.map((d, i) => (i === a ? len : d));
  const strides = x.strides.map((st, i) => (i === a ? st * step : st));
  const y = x.viewAs(shape, strides, x.offset + s * x.strides[a]);
  // the adjoint, embed(g, x.shape, a, s, step), is left to backward: it adds g into those positions of its sum
  return record('slice', y, [x], (g): [EmbeddedGrad] => [{ embedded: g, axis: a, start: s, step }]);
}

/** zeros of `shape` with g written at [start::step] along axis: the adjoint of slice */
export function embed(g: Tensor, shape: readonly number[], axis: number, start: number, step: number): Tensor {
  const z = out(g, g.backend.fill(sizeOf(shape), 0, g.dtype), shape);
  g.backend.copyInto(sliceWindow(z.storage, shape, g, axis, start, step), g.view);
  return record('embed', z, [g], (gz) => [slice(gz, axis, start, start + step * (g.shape[axis] - 1) + 1, step)]);
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors');
  checkSameBackend('concat', ...xs);
  checkSameDtype('concat', ...xs);
  const a = normalizeAxis(axis, xs[0].rank, 'concat');
  for (const t of xs) {
    if (t.rank !== xs[0].rank || t.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw new Error(`concat: shapes ${xs.map((x) => formatShape(x.shape)).join(', ')} differ outside axis ${a}`);
    }
  }
  const shape = xs[0].shape.map((d, i) => (i === a ? xs.reduce((s, t) => s + t.shape[a], 0) : d));
  const y = out(xs[0], xs[0].backend.alloc(sizeOf(shape), xs[0].dtype), shape);
  const strides = contiguousStrides(shape);
  let at = 0;
  const starts: number[] = [];
  for (const t of xs) {
    starts.push(at);
    if (t.numel() > 0) y.backend.copyInto({ storage: y.storage, shape: t.shape, strides, offset: at * strides[a] }, t.view);
    at += t.shape[a];
  }
  // the sizes along the axis as they are now: the caller may reuse its array (record keeps its own copy of the inputs)
  const sizes = xs.map((t) => t.shape[a]);
  return record('concat', y, xs, (g) => sizes.map((size, i) => slice(g, a, starts[i], starts[i] + size)));
}

/** torch.stack: the tensors (all of one shape) joined along a new axis */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('stack: no tensors');
  for (const t of xs) {
    if (!sameShape(t.shape, xs[0].shape)) throw new Error(`stack: shapes ${xs.map((x) => formatShape(x.shape)).join(', ')} differ`);
  }
  const a = normalizeAxis(axis, xs[0].rank + 1, 'stack');
  const columns = xs.map((t) => unsqueeze(t, a));
  const y = concat(columns, a);
  for (const c of columns) c.dispose();
  return y;
}

/**
 * torch.split: views of consecutive pieces along an axis, each of `sizes` elements (the last one smaller when
 * the axis does not divide), or of the given sizes, which must add up to the axis' length.
 */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normalizeAxis(axis, x.rank, 'split');
  const n = x.shape[a];
  let lengths: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes < 1) throw new Error(`split: the split size must be a positive integer, got ${sizes}`);
    lengths = Array.from({ length: Math.max(1, Math.ceil(n / sizes)) }, (_, i) => Math.min(sizes, n - i * sizes));
  } else {
    lengths = [...sizes];
    if (lengths.some((l) => !Number.isInteger(l) || l < 0) || lengths.reduce((s, l) => s + l, 0) !== n) {
      throw new Error(`split: sizes [${lengths.join(', ')}] must be non-negative integers adding up to ${n} (axis ${a} of ${formatShape(x.shape)})`);
    }
  }
  let at = 0;
  return lengths.map((l) => { at += l; return slice(x, a, at - l, at); });
}

/**
 * torch.chunk: ⌈n / chunks⌉ elements per piece along the axis (so possibly fewer than `chunks` pieces); an
 * empty axis gives `chunks` empty pieces.
 */
export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks < 1) throw new Error(`chunk: the number of chunks must be a positive integer, got ${chunks}`);
  const a = normalizeAxis(axis, x.rank, 'chunk');
  const n = x.shape[a];
  return split(x, n === 0 ? new Array<number>(chunks).fill(0) : Math.ceil(n / chunks), a);
}

/** torch.flip: the order of the elements reversed along each of `dims` (a gather per axis) */
export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  const axes = normalizeAxes(dims, x.rank, 'flip');
  let y = x;
  for (const a of axes) {
    const n = x.shape[a];
    if (n <= 1) continue;
    const order = arange(n - 1, -1, -1, { dtype: 'int32', backend: x.backend });
    const reversed = reshape(order, x.shape.map((d, i) => (i === a ? d : 1)));
    const index = expand(reversed, x.shape);
    const next = gather(y, a, index);
    for (const t of [order, reversed, index, ...(y === x ? [] : [y])]) t.dispose();
    y = next;
  }
  return y === x ? contiguous(x) : y;
}

/**
 * torch.roll: elements shifted by `shifts` along `dims` with wrap-around (element i moves to (i + shift) mod n);
 * without dims, along the flattened tensor, whose shape is then restored.
 */
export function roll(x: Tensor, shifts: number | readonly number[], dims?: number | readonly number[]): Tensor {
  const s = typeof shifts === 'number' ? [shifts] : [...shifts];
  if (s.some((v) => !Number.isInteger(v))) throw new Error(`roll: shifts must be integers, got [${s.join(', ')}]`);
  if (dims === undefined) {
    if (s.length !== 1) throw new Error(`roll: ${s.length} shifts need as many dims`);
    return reshape(roll(reshape(x, [-1]), s, 0), x.shape);
  }
  const d = typeof dims === 'number' ? [dims] : [...dims];
  if (d.length !== s.length) throw new Error(`roll: ${s.length} shifts for ${d.length} dims`);
  let y = x;
  d.forEach((axis, k) => {
    const a = normalizeAxis(axis, x.rank, 'roll');
    const n = x.shape[a];
    if (n === 0) return;
    const shift = ((s[k] % n) + n) % n;
    if (shift === 0) return;
    const [head, tail] = [slice(y, a, 0, n - shift), slice(y, a, n - shift)];
    const next = concat([tail, head], a);
    for (const t of [head, tail, ...(y === x ? [] : [y])]) t.dispose();
    y = next;
  });
  return y === x ? contiguous(x) : y;
}

/**
 * torch.Tensor.repeat: the tensor tiled sizes[i] times along each axis; with more sizes than axes, the shape
 * is first prefixed with ones. (An expand of an interleaved view, then one copy.)
 */
export function repeat(x: Tensor, sizes: readonly number[]): Tensor {
  if (sizes.length < x.rank) throw new Error(`repeat: ${sizes.length} repeat sizes for a tensor of rank ${x.rank} (give at least one per axis)`);
  if (sizes.some((r) => !Number.isInteger(r) || r < 0)) throw new Error(`repeat: sizes must be non-negative integers, got [${sizes.join(', ')}]`);
  const shape = [...new Array<number>(sizes.length - x.rank).fill(1), ...x.shape];
  const interleaved = shape.flatMap((d) => [1, d]);
  const tiled = shape.flatMap((d, i) => [sizes[i], d]);
  const v = reshape(x, interleaved);
  const e = expand(v, tiled);
  const y = reshape(e, shape.map((d, i) => d * sizes[i]));
  v.dispose();
  e.dispose();
  return y;
}

/**
 * F.one_hot: int32 class indices of any shape → int32 [..., numClasses], 1 at each index. numClasses is
 * required (PyTorch infers it from the largest index, which would need a readback). An index outside
 * [0, numClasses) raises, as PyTorch's: on the cpu backend at once, on WebGPU at the next readback (the kernel
 * reports it on the device and leaves that row zero).
 */
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  if (indices.dtype !== 'int32') throw new Error(`oneHot: indices ${formatShape(indices.shape)} must be int32, got ${indices.dtype}`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  const ic = indices.isDense ? indices : dense(indices);
  const y = out(indices, indices.backend.oneHot(ic.storage, indices.numel(), numClasses), [...indices.shape, numClasses]);
  if (ic !== indices) ic.dispose();
  return y;
}

export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

export interface PadOptions {
  /** default 'constant' */
  mode?: PadMode;
  /** the fill of 'constant' (default 0); the other modes take none, as PyTorch */
  value?: number;
}

/**
 * F.pad with PyTorch's pad order, last axis first: [last before, last after, second-last before, …] (for NCDHW,
 * [wBefore, wAfter, hBefore, hAfter, dBefore, dAfter]). The third argument is the constant's value, or
 * { mode, value }. 'reflect' mirrors about the edge element (… x2 x1 | x0 x1 x2 …, each pad < the axis' size),
 * 'replicate' repeats it, 'circular' wraps around (each pad ≤ the size); as PyTorch, these three pad the last 1–3
 * axes of a tensor with one or two more axes in front (2k pad values on a tensor of rank k + 1 or k + 2), and their
 * gradient sums into the source elements (a gather per padded axis).
 * A negative pad crops, as PyTorch's: 'constant' and 'circular' crop first and pad the cropped tensor (circular
 * wraps around the cropped part, each positive pad at most its size); 'reflect' and 'replicate' read padded
 * position k of the uncropped axis (mirrored or clamped about the original edges) and keep at least one element.
 */
export function pad(x: Tensor, pads: readonly number[], options: number | PadOptions = 0): Tensor {
  const { mode = 'constant', value } = typeof options === 'number' ? { value: options } : options;
  if (pads.length % 2 !== 0 || pads.length / 2 > x.rank) throw new Error(`pad: ${pads.length} pad values for a tensor of rank ${x.rank}`);
  if (pads.some((p) => !Number.isInteger(p))) throw new Error(`pad: padding must be integers, got [${pads.join(', ')}]`);
  if (mode !== 'constant') return padBySource(x, pads, mode, value);
  const cropped = cropByNegativePads(x, pads, mode);
  const before = new Array<number>(x.rank).fill(0);
  const shape = [...cropped.shape];
  for (let i = 0; i < pads.length / 2; i++) {
    const axis = x.rank - 1 - i;
    before[axis] = Math.max(pads[2 * i], 0);
    shape[axis] += before[axis] + Math.max(pads[2 * i + 1], 0);
  }
  const y = out(x, x.backend.fill(sizeOf(shape), value ?? 0, x.dtype), shape);
  const strides = contiguousStrides(shape);
  if (cropped.numel() > 0) {
    y.backend.copyInto({ storage: y.storage, shape: cropped.shape, strides, offset: before.reduce((s, b, i) => s + b * strides[i], 0) }, cropped.view);
  }
  const inner = cropped.shape;
  record('pad', y, [cropped], (g) => {
    let r = g;
    for (let axis = 0; axis < x.rank; axis++) if (shape[axis] !== inner[axis]) r = slice(r, axis, before[axis], before[axis] + inner[axis]);
    return [r];
  });
  if (cropped !== x) cropped.dispose();
  return y;
}

/** x without what the negative pads crop (a view; x itself when no pad is negative) */
function cropByNegativePads(x: Tensor, pads: readonly number[], mode: PadMode): Tensor {
  let y = x;
  for (let i = 0; i < pads.length / 2; i++) {
    const axis = x.rank - 1 - i, n = x.shape[axis], cropBefore = Math.max(-pads[2 * i], 0), cropAfter = Math.max(-pads[2 * i + 1], 0);
    if (cropBefore + cropAfter === 0) continue;
    if (cropBefore + cropAfter > n) {
      throw new Error(`pad: mode '${mode}' crops [${pads[2 * i]}, ${pads[2 * i + 1]}] from axis ${axis} of ${formatShape(x.shape)}, more than its size ${n}`);
    }
    const next = slice(y, axis, cropBefore, n - cropAfter);
    if (y !== x) y.dispose();
    y = next;
  }
  return y;
}

/**
 * the source index along an axis of size n of each of its m padded positions (pads may be negative): 'reflect' and
 * 'replicate' read position k − before of the uncropped axis, 'circular' wraps around the cropped part
 */
function padSourceIndices(mode: Exclude<PadMode, 'constant'>, before: number, after: number, n: number): Int32Array {
  const m = before + n + after;
  if (mode === 'replicate') return Int32Array.from({ length: m }, (_, k) => Math.min(Math.max(k - before, 0), n - 1));
  if (mode === 'reflect') {
    return Int32Array.from({ length: m }, (_, k) => { const j = k - before; return j < 0 ? -j : j >= n ? 2 * (n - 1) - j : j; });
  }
  const start = Math.max(-before, 0), kept = n - start - Math.max(-after, 0);
  return Int32Array.from({ length: m }, (_, k) => start + ((((k - Math.max(before, 0)) % kept) + kept) % kept));
}

/** the rule of each mode a pad must keep, or null when it does; pads may be negative */
function padModeViolation(mode: Exclude<PadMode, 'constant'>, before: number, after: number, n: number): string | null {
  if (mode === 'reflect') return before < n && after < n ? null : 'padding less than the size of';
  if (mode === 'replicate') return null;
  if (before > n || after > n) return 'padding at most the size of';
  const kept = n + Math.min(before, 0) + Math.min(after, 0);
  if (kept < 0) return 'cropping at most the size of';
  return before <= kept && after <= kept ? null : 'each positive pad at most the size left after cropping';
}

/** pad's 'reflect', 'replicate' and 'circular' modes: along each padded axis, a gather of the source indices */
function padBySource(x: Tensor, pads: readonly number[], mode: PadMode, value: number | undefined): Tensor {
  if (mode !== 'reflect' && mode !== 'replicate' && mode !== 'circular') {
    throw new Error(`pad: unknown mode '${String(mode)}'; valid: constant, reflect, replicate, circular`);
  }
  if (value !== undefined && value !== 0) throw new Error(`pad: mode '${mode}' takes no value (PyTorch), got ${value}`);
  const axes = pads.length / 2;
  if (axes < 1 || axes > 3 || (x.rank !== axes + 1 && x.rank !== axes + 2)) {
    throw new Error(`pad: mode '${mode}' pads the last 1–3 axes of a tensor with one or two more axes (PyTorch), got ${pads.length} pad values for ${formatShape(x.shape)}`);
  }
  let y = x;
  for (let i = 0; i < axes; i++) {
    const axis = x.rank - 1 - i, n = x.shape[axis], before = pads[2 * i], after = pads[2 * i + 1];
    if (before === 0 && after === 0) continue;
    if (n < 1) throw new Error(`pad: mode '${mode}' cannot pad the empty axis ${axis} of ${formatShape(x.shape)}`);
    const rule = padModeViolation(mode, before, after, n);
    if (rule !== null) throw new Error(`pad: mode '${mode}' needs ${rule} axis ${axis}, got [${before}, ${after}] for ${formatShape(x.shape)}`);
    const m = before + n + after;
    const least = mode === 'circular' ? 0 : 1; // PyTorch's reflection and replication pads keep at least one element
    if (m < least) throw new Error(`pad: mode '${mode}' crops [${before}, ${after}] from axis ${axis} of ${formatShape(x.shape)}, leaving ${m} (at least ${least})`);
    const line = Tensor.fromStorage(x.backend, x.backend.upload(padSourceIndices(mode, before, after, n), 'int32'), x.shape.map((_, a) => (a === axis ? m : 1)));
    const index = expand(line, y.shape.map((d, a) => (a === axis ? m : d)));
    const next = gather(y, axis, index);
    for (const t of [line, index, ...(y === x ? [] : [y])]) t.dispose();
    y = next;
  }
  return y === x ? contiguous(x) : y;
}

// ------------------------------------------------------------------------------------------ elementwise

function unaryOp(op: UnaryOp, x: Tensor, params: readonly number[] = []): Tensor {
  return out(x, x.backend.unary(op, x.view, params), x.shape);
}

export function neg(x: Tensor): Tensor { return record('neg', unaryOp('neg', x), [x], (g) => [neg(g)]); }
export function exp(x: Tensor): Tensor {
  const y = unaryOp('exp', x);
  return record('exp', y, [x], (g, [ys]) => [mul(g, ys)], [y]);
}
export function log(x: Tensor): Tensor { return record('log', unaryOp('log', x), [x], (g, [xs]) => [div(g, xs)], [x]); }
export function sqrt(x: Tensor): Tensor {
  const y = unaryOp('sqrt', x);
  return record('sqrt', y, [x], (g, [ys]) => [div(mulScalar(g, 0.5), ys)], [y]);
}
export function rsqrt(x: Tensor): Tensor {
  const y = unaryOp('rsqrt', x);
  return record('rsqrt', y, [x], (g, [ys]) => [mul(g, mulScalar(powScalar(ys, 3), -0.5))], [y]);
}
export function abs(x: Tensor): Tensor { return record('abs', unaryOp('abs', x), [x], (g, [xs]) => [mul(g, sign(xs))], [x]); }
export function sign(x: Tensor): Tensor { return unaryOp('sign', x); }
/**
 * torch.round (a half to the even integer: round(2.5) = 2, round(−0.5) = −0), floor, ceil and trunc, elementwise; an
 * int32 tensor comes back unchanged. Piecewise constant: not differentiable here (PyTorch's gradient is 0).
 */
export function round(x: Tensor): Tensor { return unaryOp('round', x); }
export function floor(x: Tensor): Tensor { return unaryOp('floor', x); }
export function ceil(x: Tensor): Tensor { return unaryOp('ceil', x); }
export function trunc(x: Tensor): Tensor { return unaryOp('trunc', x); }
export function square(x: Tensor): Tensor {
  return record('square', unaryOp('square', x), [x], (g, [xs]) => [mul(g, mulScalar(xs, 2))], [x]);
}
export function reciprocal(x: Tensor): Tensor {
  const y = unaryOp('reciprocal', x);
  return record('reciprocal', y, [x], (g, [ys]) => [neg(mul(g, square(ys)))], [y]);
}
export function relu(x: Tensor): Tensor {
  const y = unaryOp('relu', x);
  return record('relu', y, [x], (g, [ys]) => [reluBackward(g, ys)], [y]);
}
/** g where relu's output y is positive, else 0, in one pass; linear in g, so its own backward is itself */
function reluBackward(g: Tensor, y: Tensor): Tensor {
  return record('reluBackward', binaryOp('reluBackward', g, y), [g], (gg, [ys]) => [reluBackward(gg, ys)], [y]);
}
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return record('leakyRelu', unaryOp('leakyRelu', x, [slope]), [x],
    (g, [xs]) => [mul(g, affine(step(xs, 0), 1 - slope, slope))], [x]);
}
export function sigmoid(x: Tensor): Tensor {
  const y = unaryOp('sigmoid', x);
  return record('sigmoid', y, [x], (g, [ys]) => [mul(g, mul(ys, affine(ys, -1, 1)))], [y]);
}
export function tanh(x: Tensor): Tensor {
  const y = unaryOp('tanh', x);
  return record('tanh', y, [x], (g, [ys]) => [mul(g, affine(square(ys), -1, 1))], [y]);
}
/** log(1 + e^x), stable for large |x| */
export function softplus(x: Tensor): Tensor {
  return record('softplus', unaryOp('softplus', x), [x], (g, [xs]) => [mul(g, sigmoid(xs))], [x]);
}
/** torch.erf; its derivative is 2/√π · e^(−x²) */
export function erf(x: Tensor): Tensor {
  return record('erf', unaryOp('erf', x), [x], (g, [xs]) => [mul(g, mulScalar(exp(neg(square(xs))), 2 / Math.sqrt(Math.PI)))], [x]);
}
/** x^exponent; with exponent 0 the gradient is 0 everywhere, also at x = 0 (PyTorch's pow_backward) */
export function powScalar(x: Tensor, exponent: number): Tensor {
  return record('powScalar', unaryOp('powScalar', x, [exponent]), [x], (g, [xs]) => [exponent === 0
    ? full(x.shape, 0, { dtype: g.dtype, backend: g.backend })
    : mul(g, mulScalar(powScalar(xs, exponent - 1), exponent))], [x]);
}
/** torch.clamp; the gradient passes where lo ≤ x ≤ hi, bounds included (0 at NaN, as PyTorch's clamp_backward) */
export function clamp(x: Tensor, lo = -Infinity, hi = Infinity): Tensor {
  return record('clamp', unaryOp('clamp', x, [lo, hi]), [x],
    (g, [xs]) => [mul(g, unaryOp('inRange', xs, [lo, hi]))], [x]);
}
/** a·x + b */
export function affine(x: Tensor, a: number, b: number): Tensor {
  return record('affine', unaryOp('affine', x, [a, b]), [x], (g) => [a === 1 ? g : mulScalar(g, a)]);
}
export const mulScalar = (x: Tensor, a: number): Tensor => affine(x, a, 0);
export const addScalar = (x: Tensor, b: number): Tensor => affine(x, 1, b);
/** 1 where x > t (or x ≥ t when inclusive), else 0 (NaN: 0); no gradient */
export function step(x: Tensor, t: number, inclusive = false): Tensor {
  return inclusive ? unaryOp('inRange', x, [t, Infinity]) : unaryOp('step', x, [t]);
}

function binaryOp(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  checkSameBackend(op, a, b);
  checkSameDtype(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape);
  return out(a, a.backend.binary(op, broadcastView(a, shape), broadcastView(b, shape)), shape);
}

/** Sums a broadcast gradient back to an input's shape. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return reshape(sum(g, axes), shape);
}

export function add(a: Tensor, b: Tensor): Tensor {
  if (mixedFloats(a, b)) return tidy(() => add(toFloat64(a), toFloat64(b)));
  return record('add', binaryOp('add', a, b), [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}
export function sub(a: Tensor, b: Tensor): Tensor {
  if (mixedFloats(a, b)) return tidy(() => sub(toFloat64(a), toFloat64(b)));
  return record('sub', binaryOp('sub', a, b), [a, b],
    (g) => [a.requiresGrad ? sumTo(g, a.shape) : null, b.requiresGrad ? negated(sumTo(g, b.shape)) : null]);
}
export function mul(a: Tensor, b: Tensor): Tensor {
  if (mixedFloats(a, b)) return tidy(() => mul(toFloat64(a), toFloat64(b)));
  return record('mul', binaryOp('mul', a, b), [a, b],
    (g, [as, bs]) => [a.requiresGrad ? sumTo(mul(g, bs), a.shape) : null, b.requiresGrad ? sumTo(mul(g, as), b.shape) : null], [a, b]);
}
export function div(a: Tensor, b: Tensor): Tensor {
  if (mixedFloats(a, b)) return tidy(() => div(toFloat64(a), toFloat64(b)));
  return record('div', binaryOp('div', a, b), [a, b], (g, [as, bs]) => [
    a.requiresGrad ? sumTo(div(g, bs), a.shape) : null,
    b.requiresGrad ? sumTo(neg(div(mul(g, as), square(bs))), b.shape) : null,
  ], [a, b]);
}
/**
 * a^b. As PyTorch's pow_backward_self/pow_backward_exponent, the base gradient is 0 where b = 0 and the
 * exponent gradient 0 where a = 0 and b ≥ 0 (instead of 0·0⁻¹ and 0·log 0, NaN).
 */
export function pow(a: Tensor, b: Tensor): Tensor {
  if (mixedFloats(a, b)) return tidy(() => pow(toFloat64(a), toFloat64(b)));
  const y = binaryOp('pow', a, b);
  return record('pow', y, [a, b], (g, [as, bs, ys]) => {
    const zero = full([], 0, { dtype: g.dtype, backend: g.backend });
    return [
      a.requiresGrad ? sumTo(where(eq(bs, zero), zero, mul(g, mul(bs, pow(as, addScalar(bs, -1))))), a.shape) : null,
      b.requiresGrad ? sumTo(where(mul(eq(as, zero), ge(bs, zero)), zero, mul(g, mul(ys, log(as)))), b.shape) : null,
    ];
  }, [a, b, y]);
}
/** elementwise max; ties send half the gradient to each side (PyTorch) */
export function maximum(a: Tensor, b: Tensor): Tensor {
  if (mixedFloats(a, b)) return tidy(() => maximum(toFloat64(a), toFloat64(b)));
  return record('maximum', binaryOp('max', a, b), [a, b], (g, [as, bs]) => {
    const toA = add(gt(as, bs), mulScalar(eq(as, bs), 0.5));
    return [sumTo(mul(g, toA), a.shape), sumTo(mul(g, affine(toA, -1, 1)), b.shape)];
  }, [a, b]);
}
export function minimum(a: Tensor, b: Tensor): Tensor {
  if (mixedFloats(a, b)) return tidy(() => minimum(toFloat64(a), toFloat64(b)));
  return record('minimum', binaryOp('min', a, b), [a, b], (g, [as, bs]) => {
    const toA = add(lt(as, bs), mulScalar(eq(as, bs), 0.5));
    return [sumTo(mul(g, toA), a.shape), sumTo(mul(g, affine(toA, -1, 1)), b.shape)];
  }, [a, b]);
}

type ComparisonOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

/**
 * a ∘ b elementwise with broadcasting (torch.eq, ne, lt, le, gt, ge), b a tensor or a number. voxgrad has no bool
 * dtype: the result holds 1 (true) or 0 (false) in the operands' dtype (float32 for float32 operands, float64 when
 * float32 meets float64, int32 for int32), which `where` takes as its condition and `mul` as a mask. A number is
 * compared in the tensor's dtype, as PyTorch does (x.eq(0.1) rounds 0.1 to float32 for a float32 x); an int32
 * tensor against a fractional number is compared exactly. Any comparison with NaN is false except ne (IEEE, as
 * PyTorch). Not differentiable: the result never requires grad.
 */
function compare(op: ComparisonOp, a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') {
    if (a.dtype === 'int32' && !(Number.isInteger(b) && b >= -(2 ** 31) && b < 2 ** 31)) return compareIntegers(op, a, b);
    const s = full([], b, { dtype: a.dtype, backend: a.backend });
    try { return binaryOp(op, a, s); } finally { s.dispose(); }
  }
  if (mixedFloats(a, b)) return tidy(() => binaryOp(op, toFloat64(a), toFloat64(b)));
  return binaryOp(op, a, b);
}

/** int32 x ∘ c for a number c that no int32 equals (fractional, beyond the range, ±Infinity, NaN) */
function compareIntegers(op: ComparisonOp, x: Tensor, c: number): Tensor {
  const constant = (v: boolean) => full(x.shape, v ? 1 : 0, { dtype: 'int32', backend: x.backend });
  if (Number.isNaN(c) || op === 'eq' || op === 'ne') return constant(op === 'ne');
  // for an integer x: x < c ⇔ x ≤ c ⇔ x ≤ ⌊c⌋, and x > c ⇔ x ≥ c ⇔ x ≥ ⌈c⌉
  const below = op === 'lt' || op === 'le';
  const bound = below ? Math.floor(c) : Math.ceil(c);
  if (bound >= 2 ** 31) return constant(below);
  if (bound < -(2 ** 31)) return constant(!below);
  return compare(below ? 'le' : 'ge', x, bound);
}

export const eq = (a: Tensor, b: Tensor | number): Tensor => compare('eq', a, b);
export const ne = (a: Tensor, b: Tensor | number): Tensor => compare('ne', a, b);
export const lt = (a: Tensor, b: Tensor | number): Tensor => compare('lt', a, b);
export const le = (a: Tensor, b: Tensor | number): Tensor => compare('le', a, b);
export const gt = (a: Tensor, b: Tensor | number): Tensor => compare('gt', a, b);
export const ge = (a: Tensor, b: Tensor | number): Tensor => compare('ge', a, b);

/** x ≠ 0 (NaN counts as true, as PyTorch) as 0/1 in `dtype` */
function truth(x: Tensor, dtype: DType): Tensor {
  const t = ne(x, 0);
  if (t.dtype === dtype) return t;
  try { return cast(t, dtype); } finally { t.dispose(); }
}

/**
 * torch.logical_not, logical_and, logical_or, logical_xor: nonzero (NaN included) is true; the result is 0/1 in
 * the first operand's dtype (see the comparisons), with broadcasting; not differentiable.
 */
export const logicalNot = (x: Tensor): Tensor => eq(x, 0);
export const logicalAnd = (a: Tensor, b: Tensor): Tensor => tidy(() => binaryOp('mul', truth(a, a.dtype), truth(b, a.dtype)));
export const logicalOr = (a: Tensor, b: Tensor): Tensor => tidy(() => binaryOp('max', truth(a, a.dtype), truth(b, a.dtype)));
export const logicalXor = (a: Tensor, b: Tensor): Tensor => tidy(() => binaryOp('ne', truth(a, a.dtype), truth(b, a.dtype)));

/** cond ≠ 0 ? a : b with broadcasting */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  if (mixedFloats(a, b)) return tidy(() => where(cond, toFloat64(a), toFloat64(b)));
  checkSameBackend('where', cond, a, b);
  checkSameDtype('where', a, b);
  const shape = broadcastShapes(cond.shape, a.shape, b.shape);
  const y = out(a, a.backend.where(broadcastView(cond, shape), broadcastView(a, shape), broadcastView(b, shape)), shape);
  return record('where', y, [a, b], (g, [cs]) => {
    const zero = full([], 0, { dtype: g.dtype, backend: g.backend });
    return [sumTo(where(cs, g, zero), a.shape), sumTo(where(cs, zero, g), b.shape)];
  }, [cond]);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  // to its own dtype: a view that stays on the graph (a bare view would silently drop the gradient)
  if (x.dtype === dtype) return record('cast', x.viewAs(x.shape, x.strides, x.offset), [x], (g) => [g]);
  const y = out(x, x.backend.cast(x.view, dtype), x.shape);
  if (dtype === 'int32' || x.dtype === 'int32') return y;
  return record('cast', y, [x], (g) => [cast(g, x.dtype)]);
}

// ------------------------------------------------------------------------------------------- reductions

function reduceOp(op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean): Tensor {
  const shape: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    if (!axes.includes(i)) shape.push(x.shape[i]);
    else if (keepdim) shape.push(1);
  }
  return out(x, x.backend.reduce(op, x.view, axes), shape);
}

/** a reduced gradient (or value) broadcast back over the reduced axes of `shape` */
function unreduce(g: Tensor, shape: readonly number[], axes: number[]): Tensor {
  return expand(reshape(g, shape.map((d, i) => (axes.includes(i) ? 1 : d))), shape);
}

/** a reduction's axes: none, or an empty list, reduces over all of them (as torch.sum(x, dim=[])) */
function reductionAxes(axes: number | readonly number[] | undefined, rank: number, op: string): number[] {
  return normalizeAxes(typeof axes !== 'number' && axes?.length === 0 ? undefined : axes, rank, op);
}

export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = reductionAxes(axes, x.rank, 'sum');
  return record('sum', reduceOp('sum', x, ax, keepdim), [x], (g) => [unreduce(g, x.shape, ax)]);
}

export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = reductionAxes(axes, x.rank, 'mean');
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  return mulScalar(sum(x, ax, keepdim), 1 / n);
}

/** PyTorch raises where a max/min would reduce over nothing (its identity, ∓∞, is no element's value) */
function checkNonEmptyAxes(op: 'max' | 'min', x: Tensor, axes: readonly number[]): void {
  const empty = axes.find((a) => x.shape[a] === 0);
  if (empty !== undefined) throw new Error(`${op}: cannot reduce over axis ${empty} of size 0 (input ${formatShape(x.shape)})`);
}

/** amax/amin: the gradient is shared evenly by the elements equal to the extremum (torch.amax, torch.max(x)) */
function extremum(op: 'max' | 'min', x: Tensor, axes: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  const ax = reductionAxes(axes, x.rank, op);
  checkNonEmptyAxes(op, x, ax);
  const y = reduceOp(op, x, ax, keepdim);
  return record(op, y, [x], (g, [xs, ys]) => {
    const hit = eq(xs, unreduce(ys, x.shape, ax));
    return [div(mul(unreduce(g, x.shape, ax), hit), unreduce(sum(hit, ax, true), x.shape, ax))];
  }, [x, y]);
}

/** torch.max(x, dim)/min: the whole gradient goes to the index it would return (the first extremum; NaN wins) */
function extremumAlong(op: 'max' | 'min', x: Tensor, axis: number, keepdim: boolean): Tensor {
  const a = normalizeAxis(axis, x.rank, op);
  checkNonEmptyAxes(op, x, [a]);
  const y = reduceOp(op, x, [a], keepdim);
  return record(op, y, [x], (g, [xs]) => {
    const index = argmax(op === 'max' ? xs : neg(xs), a, true);
    return [scatterAdd(reshape(g, index.shape), a, index, x.shape)];
  }, [x]);
}

/**
 * Without axes torch.max(x); along one dim (a number) torch.max(x, dim).values, whose gradient goes to the first
 * maximum; along a list of dims torch.amax (ties share the gradient).
 */
export const max = (x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor =>
  (typeof axes === 'number' ? extremumAlong('max', x, axes, keepdim) : extremum('max', x, axes, keepdim));
/** as max: torch.min(x), torch.min(x, dim).values (first minimum), or torch.amin over a list of dims */
export const min = (x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor =>
  (typeof axes === 'number' ? extremumAlong('min', x, axes, keepdim) : extremum('min', x, axes, keepdim));
/** torch.amax over `axes` (all when omitted): ties share the gradient evenly */
export const amax = (x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor => extremum('max', x, axes, keepdim);
/** torch.amin over `axes` (all when omitted): ties share the gradient evenly */
export const amin = (x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor => extremum('min', x, axes, keepdim);

export function argmax(x: Tensor, axis: number, keepdim = false): Tensor {
  const a = normalizeAxis(axis, x.rank, 'argmax');
  const shape = keepdim ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return out(x, x.backend.argmax(x.view, a), shape);
}

export interface VarianceOptions {
  /** the divisor is max(0, n − correction) (default 1, Bessel's; PyTorch ≥ 2.0's name) */
  correction?: number;
  /** true: correction 1, false: 0 (the older torch.var argument; not together with correction) */
  unbiased?: boolean;
  keepdim?: boolean;
}

/**
 * torch.var over axes (all when omitted or []): Σ(x − x̄)²/max(0, n − correction), so NaN (or Inf) where
 * n ≤ correction, as PyTorch (which also warns).
 */
export function variance(x: Tensor, axes?: number | readonly number[], options: VarianceOptions = {}): Tensor {
  return varianceAs('var', x, axes, options);
}

/** torch.std: the square root of `variance` with the same options */
export function std(x: Tensor, axes?: number | readonly number[], options: VarianceOptions = {}): Tensor {
  return tidy(() => sqrt(varianceAs('std', x, axes, options)));
}

function varianceAs(op: string, x: Tensor, axes: number | readonly number[] | undefined, options: VarianceOptions): Tensor {
  if (options.unbiased !== undefined && options.correction !== undefined) throw new Error(`${op}: give either unbiased or correction, not both`);
  const correction = options.correction ?? ((options.unbiased ?? true) ? 1 : 0);
  if (!(correction >= 0 && Number.isFinite(correction))) throw new Error(`${op}: correction must be a finite number ≥ 0, got ${correction}`);
  const ax = reductionAxes(axes, x.rank, op);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  const centered = sub(x, mean(x, ax, true));
  return mulScalar(sum(square(centered), ax, options.keepdim ?? false), 1 / Math.max(n - correction, 0));
}

// --------------------------------------------------------------------------------------- linear algebra

export function matmul(a: Tensor, b: Tensor): Tensor {
  checkSameBackend('matmul', a, b);
  checkSameDtype('matmul', a, b);
  if (a.rank === 0 || b.rank === 0) throw new Error('matmul: both operands need at least one dimension');
  if (a.rank === 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.rank === 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  const [m, k] = a.shape.slice(-2), [k2, n] = b.shape.slice(-2);
  if (k !== k2) throw new Error(`matmul: ${formatShape(a.shape)} @ ${formatShape(b.shape)}: inner dimensions ${k} and ${k2} differ`);
  const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = sizeOf(batchShape);
  const operand = (t: Tensor, rows: number, cols: number): [Tensor, number] => {
    const own = sizeOf(t.shape.slice(0, -2));
    const target = own === 1 ? [rows, cols] : [...batchShape, rows, cols];
    const e = t.backend.copy(broadcastView(t, target));
    return [out(t, e, target), own === 1 ? 0 : rows * cols];
  };
  const [ac, as] = operand(a, m, k), [bc, bs] = operand(b, k, n);
  const y = out(a, a.backend.matmul(ac.storage, bc.storage, batch, m, k, n, as, bs), [...batchShape, m, n]);
  ac.dispose();
  bc.dispose();
  return record('matmul', y, [a, b], (g, [asv, bsv]) => [
    a.requiresGrad ? sumTo(matmul(g, transpose(bsv)), a.shape) : null,
    b.requiresGrad ? sumTo(matmul(transpose(asv), g), b.shape) : null,
  ], [a, b]);
}

function checkIndex(op: string, x: Tensor, axis: number, index: Tensor): void {
  if (index.dtype !== 'int32') throw new Error(`${op}: index must be int32, got ${index.dtype}`);
  if (index.rank !== x.rank || index.shape.some((d, i) => i !== axis && d !== x.shape[i])) {
    throw new Error(`${op}: index ${formatShape(index.shape)} must match ${formatShape(x.shape)} except along axis ${axis}`);
  }
}

/** torch.gather (the index matches x outside `axis`); `wording` words an index out of range (default: gather's) */
export function gather(x: Tensor, axis: number, index: Tensor, wording?: IndexCheckWording): Tensor {
  const a = normalizeAxis(axis, x.rank, 'gather');
  checkIndex('gather', x, a, index);
  const ic = index.isDense ? index : dense(index);
  const y = out(x, withDense([x], (xs) => x.backend.gather(xs, x.shape, a, ic.storage, index.shape, wording)), index.shape);
  record('gather', y, [x], (g, [is]) => [scatterAdd(g, a, is, x.shape)], [ic]);
  if (ic !== index) ic.dispose();
  return y;
}

/** zeros of `shape` plus src summed into the positions that index names along axis */
export function scatterAdd(src: Tensor, axis: number, index: Tensor, shape: readonly number[]): Tensor {
  const a = normalizeAxis(axis, src.rank, 'scatterAdd');
  const ic = index.isDense ? index : dense(index);
  const y = out(src, withDense([src], (ss) => src.backend.scatterAdd(ss, index.shape, a, ic.storage, shape)), shape);
  record('scatterAdd', y, [src], (g, [is]) => [gather(g, a, is)], [ic]);
  if (ic !== index) ic.dispose();
  return y;
}

// ------------------------------------------------------------------------------------- state and moves

/** Copies src into dst's elements in place (same shape, broadcasting src); not differentiable. */
export function assign(dst: Tensor, src: Tensor): void {
  checkSameBackend('assign', dst, src);
  checkSameDtype('assign', dst, src);
  const v = broadcastView(src, dst.shape);
  if (v.storage === dst.storage) {
    const tmp = dst.backend.copy(v);
    dst.backend.copyInto(dst.view, { storage: tmp, shape: dst.shape, strides: contiguousStrides(dst.shape), offset: 0 });
    dst.backend.free(tmp);
  } else dst.backend.copyInto(dst.view, v);
}

/** The same values on another backend (and optionally another dtype); a new leaf. */
export async function toBackend(x: Tensor, backend: Tensor['backend'], dtype: DType = x.dtype): Promise<Tensor> {
  const data = await x.toArray();
  return Tensor.fromStorage(backend, backend.upload(data, dtype), x.shape);
}
