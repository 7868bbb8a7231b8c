/** Shapes, strides and PyTorch's broadcasting rules. */
export { contiguousStrides, sizeOf } from '../kernels/layout.js';

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

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
  const list = (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normalizeAxis(a, rank, op));
  if (new Set(list).size !== list.length) throw new Error(`${op}: repeated axis in [${list.join(', ')}]`);
  return list.sort((a, b) => a - b);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
