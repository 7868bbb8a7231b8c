import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FillHoles, LabelFilter, LabelToContour, RemoveSmallObjects } from '../../src/imaging/transforms-post.js';
import type { Backend } from '../../src/kernels/index.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { floodComponents as flood, neighbourOffsets as offsets } from '../helpers/flood-fill.js';
import { cpu, webgpu } from '../helpers/backends.js';

/**
 * MONAI's post transforms FillHoles, RemoveSmallObjects, LabelFilter and LabelToContour: MONAI's docstring and test
 * examples, independent flood-fill oracles over random cases, the options, dtypes and errors.
 */
type DT = 'float32' | 'int32' | 'float64';
const t = (values: ArrayLike<number>, shape: number[], dtype: DT = 'float32', backend: Backend = cpu) => fromArray(values, shape, { backend, dtype });
const values = async (x: Tensor) => Array.from(await x.toArray());



describe('FillHoles', () => {
  it("MONAI's docstring example (2-D): the enclosed hole of label 1 filled, the open background by 2 and 3 not", async () => {
    const img = [1, 1, 1, 2, 2, 2, 3, 3, 1, 0, 1, 2, 0, 0, 3, 0, 1, 1, 1, 2, 2, 2, 3, 3];
    const want = [...img];
    want[9] = 1;
    expect(await values(await new FillHoles().apply(t(img, [1, 3, 8])))).toEqual(want);
  });

  it('connectivity: a hollow 3 × 3 × 3 block with a corner (3 hops from the centre) or an edge voxel (2 hops) missing', async () => {
    const block = (missing: number[]) => {
      const v = new Array<number>(125).fill(0);
      for (let x = 1; x <= 3; x++) for (let y = 1; y <= 3; y++) for (let z = 1; z <= 3; z++) v[(x * 5 + y) * 5 + z] = 1;
      v[62] = 0; // the centre (2, 2, 2)
      v[(missing[0]! * 5 + missing[1]!) * 5 + missing[2]!] = 0;
      return v;
    };
    for (const [missing, filledUpTo] of [[[1, 1, 1], 2], [[1, 1, 2], 1], [[1, 2, 2], 0]] as const) {
      for (const connectivity of [1, 2, 3] as const) {
        const out = await values(await new FillHoles({ connectivity }).apply(t(block([...missing]), [1, 5, 5, 5])));
        expect(out[62], `missing ${missing}, connectivity ${connectivity}`).toBe(connectivity <= filledUpTo ? 1 : 0);
        expect(out[(missing[0] * 5 + missing[1]) * 5 + missing[2]]).toBe(0); // it touches the outside
      }
    }
  });

  it('agrees with a flood fill from the border on random 3-D class maps, for each connectivity and label', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom(0, 0, 1, 1, 1, 2), { minLength: 64, maxLength: 64 }), fc.constantFrom(1, 2, 3), async (img, connectivity) => {
      const got = await values(await new FillHoles({ connectivity: connectivity as 1 | 2 | 3 }).apply(t(img, [1, 4, 4, 4], 'int32')));
      const want: number[] = [...img];
      for (const label of [1, 2].filter((l) => want.includes(l))) {
        const outside = want.map((v) => (v !== label ? 1 : 0));
        const ids = flood(outside, [4, 4, 4], connectivity);
        const open = new Set<number>();
        for (let i = 0; i < 64; i++) {
          const [x, y, z] = [i >> 4, (i >> 2) & 3, i & 3];
          if ([x, y, z].some((c) => c === 0 || c === 3)) open.add(ids[i]!);
        }
        for (let i = 0; i < 64; i++) if (outside[i] && !open.has(ids[i]!)) want[i] = label;
      }
      expect(got).toEqual(want);
    }), { numRuns: 40 });
  });

  it('a class map: an island of another label inside L is filled too (MONAI fills every enclosed non-L voxel); appliedLabels limits the labels', async () => {
    // 2-D 5 × 5: a ring of 1 around a 2 at the centre, a 3 outside
    const img = [3, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 2, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0];
    const filled = await values(await new FillHoles().apply(t(img, [1, 5, 5])));
    expect(filled[12]).toBe(1);
    expect(await values(await new FillHoles({ appliedLabels: 2 }).apply(t(img, [1, 5, 5])))).toEqual(img);
    expect(await values(await new FillHoles({ appliedLabels: [3, 1] }).apply(t(img, [1, 5, 5])))).toEqual(filled);
    // [] means every label, as MONAI's
    expect(await values(await new FillHoles({ appliedLabels: [] }).apply(t(img, [1, 5, 5])))).toEqual(filled);
  });

  it('one-hot (C > 1): channel L becomes 1 on L and its holes, 0 elsewhere; the other channels untouched; dtype and backend kept', async () => {
    const fg = [0, 0, 0, 0, 0, 0, 0.5, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0];
    const bg = fg.map((v) => (v === 0 ? 1 : 0));
    const input = t([...bg, ...fg], [2, 5, 5], 'float64');
    const out = await new FillHoles().apply(input);
    const want = fg.map((v) => (v !== 0 ? 1 : 0));
    want[12] = 1;
    expect([out.dtype, out.shape, out.backend]).toEqual(['float64', [2, 5, 5], cpu]);
    // channel 0 is the background, never filled (MONAI discards label 0), though the ring is enclosed in it
    expect(await values(out)).toEqual([...bg, ...want]);
    expect(await values(input)).toEqual([...bg, ...fg]);
  });

  it('refuses bad inputs and options, naming them', async () => {
    await expect(new FillHoles().apply(t([0, 1], [2]))).rejects.toThrow(/FillHoles: expected one case \[C, X, Y, Z\] or a 2-D one \[C, H, W\], got \[2\]/);
    await expect(new FillHoles({ appliedLabels: 2 }).apply(t(new Array(8).fill(0), [2, 2, 2]))).rejects.toThrow(/appliedLabels 2 is not a channel of \[2, 2, 2\] \(one-hot\)/);
    await expect(new FillHoles().apply([1] as unknown as Tensor)).rejects.toThrow(/FillHoles: expected a tensor, got object/);
    expect(() => new FillHoles({ appliedLabels: 0 })).toThrow(/appliedLabels 0 is the background, never filled; give null for every label/);
    expect(() => new FillHoles({ connectivity: 4 as 3 })).toThrow(/connectivity must be 1, 2 or 3 .* got 4/);
    expect(() => new FillHoles({ appliedLabels: ['1'] as unknown as number[] })).toThrow(/appliedLabels must be a number or a list of numbers, got \["1"\]/);
  });
});

describe('RemoveSmallObjects', () => {
  // MONAI's tests/transforms/post/test_remove_small_objects.py: a 2-D [1, 3, 5] class map
  const input1 = [0, 0, 2, 1, 0, 1, 1, 1, 2, 0, 1, 1, 1, 0, 1];

  it("MONAI's test case: independentChannels false keeps the objects of the union (the twos stay), minSize 2", async () => {
    const output1 = [0, 0, 2, 1, 0, 1, 1, 1, 2, 0, 1, 1, 1, 0, 0];
    for (const dtype of ['float32', 'int32'] as const) {
      expect(await values(await new RemoveSmallObjects({ minSize: 2, independentChannels: false }).apply(t(input1, [1, 3, 5], dtype)))).toEqual(output1);
    }
  });

  it('a class map with values above 1: each label is one object however many pieces (skimage takes integer arrays as labelled)', async () => {
    // eight 1s (one of them apart) and two 2s
    const no2 = input1.map((v) => (v === 2 ? 0 : v));
    expect(await values(await new RemoveSmallObjects({ minSize: 6 }).apply(t(input1, [1, 3, 5])))).toEqual(no2);
    expect(await values(await new RemoveSmallObjects({ minSize: 7, connectivity: 2 }).apply(t(input1, [1, 3, 5], 'int32')))).toEqual(no2);
    expect(await values(await new RemoveSmallObjects({ minSize: 2 }).apply(t(input1, [1, 3, 5])))).toEqual(input1);
    expect(await values(await new RemoveSmallObjects({ minSize: 9 }).apply(t(input1, [1, 3, 5])))).toEqual(new Array(15).fill(0));
    // values truncated to integers, as numpy's astype(int32)
    expect(await values(await new RemoveSmallObjects({ minSize: 1 }).apply(t([0, 1.7, 2.2, 2.9], [1, 2, 2])))).toEqual([0, 1, 2, 2]);
  });

  it('binary cases: components over the four axes [C, X, Y, Z] against a flood-fill oracle, every connectivity and minSize', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 3 }).chain((C) => fc.tuple(fc.constant(C), fc.array(fc.constantFrom(0, 1), { minLength: C * 18, maxLength: C * 18 }))),
      fc.constantFrom(1, 2, 3, 4), fc.integer({ min: 1, max: 12 }),
      async ([C, img], connectivity, minSize) => {
        fc.pre(img.includes(0) && img.includes(1));
        const got = await values(await new RemoveSmallObjects({ minSize, connectivity: connectivity as 1 | 2 | 3 | 4 }).apply(t(img, [C, 3, 2, 3])));
        const ids = flood(img, [C, 3, 2, 3], connectivity);
        const sizes = new Map<number, number>();
        ids.forEach((id) => sizes.set(id, (sizes.get(id) ?? 0) + 1));
        expect(got).toEqual(img.map((v, i) => (v && sizes.get(ids[i]!)! >= minSize ? 1 : 0)));
      }), { numRuns: 80 });
  });

  it('overlapping channels join through the channel axis: a small blob over a large one stays, a lone one goes', async () => {
    const n = 27, big = new Array<number>(n).fill(0), small = new Array<number>(n).fill(0);
    for (let i = 0; i < 9; i++) big[i] = 1; // the plane x = 0
    small[4] = 1; // over the big blob
    small[26] = 1; // alone
    const out = await values(await new RemoveSmallObjects({ minSize: 5 }).apply(t([...big, ...small], [2, 3, 3, 3])));
    expect(out.slice(0, n)).toEqual(big);
    expect(out[n + 4]).toBe(1);
    expect(out[n + 26]).toBe(0);
    // one-hot channels are disjoint: at connectivity 1 they stay apart, at 2 a face neighbour in the next channel joins
    const a = new Array<number>(n).fill(0), b = new Array<number>(n).fill(0);
    for (let i = 0; i < 9; i++) a[i] = 1;
    b[13] = 1; // (1, 1, 1): a face neighbour of (0, 1, 1) in channel 0
    expect((await values(await new RemoveSmallObjects({ minSize: 5 }).apply(t([...a, ...b], [2, 3, 3, 3]))))[n + 13]).toBe(0);
    expect((await values(await new RemoveSmallObjects({ minSize: 5, connectivity: 2 }).apply(t([...a, ...b], [2, 3, 3, 3]))))[n + 13]).toBe(1);
  });

  it('binary values become 0/1; independentChannels false keeps the values; a constant case comes back as it is', async () => {
    // (0, 0, 1) and (0, 1, 1) touch; (1, 0, 0) is alone
    const img = [0, 0.5, 0, 0.5, 0.25, 0, 0, 0];
    expect(await values(await new RemoveSmallObjects({ minSize: 2 }).apply(t(img, [1, 2, 2, 2])))).toEqual([0, 1, 0, 1, 0, 0, 0, 0]);
    expect(await values(await new RemoveSmallObjects({ minSize: 2, independentChannels: false }).apply(t(img, [1, 2, 2, 2])))).toEqual([0, 0.5, 0, 0.5, 0, 0, 0, 0]);
    const ones = t(new Array(8).fill(3), [1, 2, 2, 2], 'int32');
    const same = await new RemoveSmallObjects().apply(ones);
    expect([same.dtype, await values(same)]).toEqual(['int32', new Array(8).fill(3)]);
    expect(same).not.toBe(ones);
  });

  it('byMeasure: minSize a volume, ⌈minSize / voxel volume⌉ voxels (MONAI: pixdim (2, 1) and minSize 3 keep objects of 2)', async () => {
    const input2 = [1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1];
    const got = await values(await new RemoveSmallObjects({ minSize: 3, byMeasure: true, pixdim: [2, 1] }).apply(t(input2, [1, 5, 5])));
    expect(got).toEqual(await values(await new RemoveSmallObjects({ minSize: 2 }).apply(t(input2, [1, 5, 5]))));
    expect(got).toEqual(input2); // components of 6, 2 and 3 voxels
    expect(await values(await new RemoveSmallObjects({ minSize: 5, byMeasure: true, pixdim: 2 }).apply(t(input2, [1, 5, 5])))).toEqual(got);
    expect(await values(await new RemoveSmallObjects({ minSize: 5, byMeasure: true }).apply(t(input2, [1, 5, 5])))).toEqual(input2.map((v, i) => (i < 10 ? v : 0)));
  });

  it('refuses bad inputs and options, naming them', async () => {
    expect(() => new RemoveSmallObjects({ minSize: -1 })).toThrow(/RemoveSmallObjects: minSize must be a finite number ≥ 0, got -1/);
    expect(() => new RemoveSmallObjects({ connectivity: 5 as 4 })).toThrow(/connectivity must be 1, 2, 3 or 4 .* got 5/);
    expect(() => new RemoveSmallObjects({ pixdim: [1, 1, 1] })).toThrow(/pixdim is only used with byMeasure true/);
    expect(() => new RemoveSmallObjects({ byMeasure: true, pixdim: [1, 0, 1] })).toThrow(/pixdim must be a positive spacing or one per spatial axis, got \[1,0,1\]/);
    await expect(new RemoveSmallObjects({ byMeasure: true, pixdim: [1, 1, 1] }).apply(t([0, 1, 2, 0], [1, 2, 2]))).rejects.toThrow(/pixdim has 3 entries for a case of 2 spatial axes \[1, 2, 2\]/);
    await expect(new RemoveSmallObjects().apply(t([0, 2, -1, 0], [1, 2, 2]))).rejects.toThrow(/a class map with negative labels \(-1\)/);
    await expect(new RemoveSmallObjects().apply(t([0, 1], [1, 1, 1, 1, 2]))).rejects.toThrow(/expected one case \[C, X, Y, Z\] or a 2-D one/);
  });
});

describe('LabelFilter', () => {
  it("MONAI's docstring example: labels [1, 5, 9] kept, the others 0, any shape and dtype", async () => {
    for (const dtype of ['float32', 'int32', 'float64'] as const) {
      const out = new LabelFilter({ appliedLabels: [1, 5, 9] }).apply(t([1, 2, 3, 4, 5, 6, 7, 8, 9], [3, 3], dtype));
      expect([out.dtype, out.shape, await values(out)]).toEqual([dtype, [3, 3], [1, 0, 0, 0, 5, 0, 0, 0, 9]]);
    }
  });

  it('one label; a fractional label matches no integer; no labels: all 0; negatives and NaN not kept become +0', async () => {
    expect(await values(new LabelFilter({ appliedLabels: 2 }).apply(t([2, -2, 2.5], [3])))).toEqual([2, 0, 0]);
    expect(await values(new LabelFilter({ appliedLabels: [2.5, -2] }).apply(t([2, -2, 2.5], [3])))).toEqual([0, -2, 2.5]);
    expect(await values(new LabelFilter({ appliedLabels: 1.5 }).apply(t([1, 2], [2], 'int32')))).toEqual([0, 0]);
    expect(await values(new LabelFilter({ appliedLabels: [] }).apply(t([1, 2], [2])))).toEqual([0, 0]);
    expect(await values(new LabelFilter({ appliedLabels: 1 }).apply(t([-3, NaN, 1], [3])))).toEqual([0, 0, 1]);
  });

  it('refuses missing or bad labels', () => {
    expect(() => new LabelFilter({} as { appliedLabels: number })).toThrow(/LabelFilter: appliedLabels is required/);
    expect(() => new LabelFilter({ appliedLabels: [1, NaN] })).toThrow(/appliedLabels must be a number or a list of numbers, got \[1,null\]/);
    expect(() => new LabelFilter({ appliedLabels: 1 }).apply(null as unknown as Tensor)).toThrow(/LabelFilter: expected a tensor, got null/);
  });
});

/** Test oracle: 26·x − Σ of its 26 neighbours (8 in 2-D; zeros beyond the edges), clamped to [0, 1]. */
function laplaceContour(img: number[], shape: number[]): number[] {
  const n = shape.reduce((a, b) => a * b, 1), steps = offsets(shape.length, shape.length);
  const strides = shape.map((_, a) => shape.slice(a + 1).reduce((p, s) => p * s, 1));
  return img.map((v, i) => {
    const c = Math.floor(i / n), local = i - c * n, at = strides.map((s, a) => Math.floor(local / s) % shape[a]!);
    let acc = steps.length * v;
    for (const d of steps) {
      const q = at.map((p, a) => p + d[a]!);
      if (q.every((p, a) => p >= 0 && p < shape[a]!)) acc -= img[c * n + q.reduce((s, p, a) => s + p * strides[a]!, 0)]!;
    }
    return Math.min(1, Math.max(0, acc));
  });
}

describe('LabelToContour', () => {
  it('of a binary mask: 1 on the foreground voxels with a background neighbour or on the border (3-D and 2-D, per channel)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom(0, 1, 1), { minLength: 72, maxLength: 72 }), fc.boolean(), async (img, twoD) => {
      const shape = twoD ? [2, 6, 6] : [2, 3, 3, 4];
      const got = await values(new LabelToContour().apply(t(img, shape)));
      expect(got).toEqual(laplaceContour(img, shape.slice(1)));
      // the characterisation for a binary mask: a foreground voxel on the border, or with a background neighbour
      const spatial = shape.slice(1), strides = spatial.map((_, a) => spatial.slice(a + 1).reduce((p, q) => p * q, 1));
      const steps = offsets(spatial.length, spatial.length);
      const edge = img.map((v, i) => {
        const local = i % 36, at = strides.map((q, a) => Math.floor(local / q) % spatial[a]!);
        return v === 1 && steps.some((d) => {
          const q = at.map((p, a) => p + d[a]!);
          return q.some((p, a) => p < 0 || p >= spatial[a]!) || img[i - local + q.reduce((acc, p, a) => acc + p * strides[a]!, 0)] === 0;
        }) ? 1 : 0;
      });
      expect(got).toEqual(edge);
    }), { numRuns: 30 });
  });

  it('non-binary values: the clamped Laplacian; int32 in, int32 out; a 3 × 3 × 3 cube in 5³: its 26 surface voxels', async () => {
    const img = Array.from({ length: 27 }, (_, i) => (i * 5) % 7 - 2);
    expect(await values(new LabelToContour().apply(t(img, [1, 3, 3, 3], 'float64')))).toEqual(laplaceContour(img, [3, 3, 3]));
    const cube = new Array<number>(125).fill(0);
    for (let x = 1; x <= 3; x++) for (let y = 1; y <= 3; y++) for (let z = 1; z <= 3; z++) cube[(x * 5 + y) * 5 + z] = 1;
    const out = new LabelToContour().apply(t(cube, [1, 5, 5, 5], 'int32'));
    const got = await values(out);
    expect(out.dtype).toBe('int32');
    expect(got.reduce((a, b) => a + b, 0)).toBe(26);
    expect(got[62]).toBe(0);
    expect(got.every((v, i) => v <= cube[i]!)).toBe(true);
  });

  it('refuses another kernel or rank', () => {
    expect(() => new LabelToContour({ kernelType: 'Sobel' as 'Laplace' })).toThrow(/kernelType must be 'Laplace' \(MONAI's only one\), got "Sobel"/);
    expect(() => new LabelToContour().apply(t([0, 1], [1, 1, 1, 1, 2]))).toThrow(/LabelToContour: expected one case \[C, X, Y, Z\] or a 2-D one \[C, H, W\], got \[1, 1, 1, 1, 2\]/);
  });
});

describe('LabelFilter and LabelToContour on WebGPU', () => {
  it('agree with the cpu', async () => {
    const g = await webgpu();
    const img = Array.from({ length: 2 * 4 * 3 * 5 }, (_, i) => (i * 7) % 4);
    const filtered = new LabelFilter({ appliedLabels: [1, 3] }).apply(t(img, [2, 4, 3, 5], 'float32', g));
    expect([filtered.backend, await values(filtered)]).toEqual([g, await values(new LabelFilter({ appliedLabels: [1, 3] }).apply(t(img, [2, 4, 3, 5])))]);
    const binary = img.map((v) => (v > 1 ? 1 : 0));
    const contour = new LabelToContour().apply(t(binary, [2, 4, 3, 5], 'float32', g));
    expect([contour.backend, await values(contour)]).toEqual([g, laplaceContour(binary, [4, 3, 5])]);
  });
});
