import fc from 'fast-check';
import type { Backend, DType, TypedArray, View } from '../../src/kernels/index.js';
import { cpu } from './backends.js';

/** How one operand lies in its storage: axis order, broadcast (stride-0) axes, every-other-element steps, offset. */
export interface Layout { perm: number[]; bcast: boolean[]; step: number[]; offset: number }

export function layoutArb(rank: number, allowBroadcast = true): fc.Arbitrary<Layout> {
  return fc.record({
    perm: fc.shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank }),
    bcast: fc.array(allowBroadcast ? fc.integer({ min: 0, max: 4 }).map((v) => v === 0) : fc.constant(false), { minLength: rank, maxLength: rank }),
    step: fc.array(fc.constantFrom(1, 1, 2), { minLength: rank, maxLength: rank }),
    offset: fc.integer({ min: 0, max: 5 }),
  });
}

export const contiguousLayout = (rank: number): Layout =>
  ({ perm: [...Array(rank).keys()], bcast: new Array<boolean>(rank).fill(false), step: new Array<number>(rank).fill(1), offset: 0 });

/** strides and storage length of a layout */
export function place(shape: readonly number[], l: Layout): { strides: number[]; length: number } {
  const ext = shape.map((n, d) => (l.bcast[d] ? 1 : n * l.step[d]));
  const strides = new Array<number>(shape.length).fill(0);
  let s = 1;
  for (let i = l.perm.length - 1; i >= 0; i--) {
    const d = l.perm[i];
    strides[d] = l.bcast[d] ? 0 : s * l.step[d];
    s *= ext[d];
  }
  return { strides, length: l.offset + s };
}

export interface Pair { gpu: View; cpu: View; values: TypedArray; free(): void }

/** the same strided view, over the same random data, on the given backend and on the cpu */
export function pairOf(g: Backend, shape: readonly number[], l: Layout, data: (n: number) => TypedArray, dtype: DType): Pair {
  const { strides, length } = place(shape, l);
  const values = data(length);
  const gs = g.upload(values, dtype), cs = cpu.upload(values, dtype);
  return {
    gpu: { storage: gs, shape, strides, offset: l.offset },
    cpu: { storage: cs, shape, strides, offset: l.offset },
    values,
    free() { g.free(gs); cpu.free(cs); },
  };
}
