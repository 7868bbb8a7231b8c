import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FillHoles, LabelFilter, LabelToContour, RemoveSmallObjects } from '../../src/imaging/transforms-post.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { floodComponents as flood } from '../helpers/flood-fill.js';
import { cpu } from '../helpers/backends.js';

/**
 * Edges of FillHoles, RemoveSmallObjects, LabelFilter and LabelToContour on the cpu (the mutation runs skip WebGPU
 * tests): each face of the volume, sparse cases where a neighbour past an edge would alias another voxel, options.
 */
type DT = 'float32' | 'int32' | 'float64';
const t = (values: ArrayLike<number>, shape: number[], dtype: DT = 'float32') => fromArray(values, shape, { backend: cpu, dtype });
const values = async (x: Tensor) => Array.from(await x.toArray());


describe('FillHoles edges', () => {
  it('a pocket open to one face only is not filled, for each of the six faces (and the four edges of a 2-D case)', async () => {
    // a 4 × 4 × 4 block of 1 with a pocket of 0 at its centre (1, 1, 1)–(2, 2, 2) and a channel to one face
    for (let axis = 0; axis < 3; axis++) for (const end of [0, 3]) {
      const v = new Array<number>(64).fill(1);
      const at = (x: number, y: number, z: number) => (x * 4 + y) * 4 + z;
      for (let x = 1; x <= 2; x++) for (let y = 1; y <= 2; y++) for (let z = 1; z <= 2; z++) v[at(x, y, z)] = 0;
      const door = [1, 1, 1];
      door[axis] = end;
      v[at(door[0]!, door[1]!, door[2]!)] = 0;
      expect(await values(await new FillHoles().apply(t(v, [1, 4, 4, 4]))), `axis ${axis}, face ${end}`).toEqual(v);
      const closed = v.map((x, i) => (i === at(door[0]!, door[1]!, door[2]!) ? 1 : x));
      expect(await values(await new FillHoles().apply(t(closed, [1, 4, 4, 4])))).toEqual(new Array(64).fill(1));
    }
    for (let axis = 0; axis < 2; axis++) for (const end of [0, 3]) {
      const v = new Array<number>(16).fill(1);
      v[5] = v[6] = v[9] = v[10] = 0;
      const door = [1, 1];
      door[axis] = end;
      v[door[0]! * 4 + door[1]!] = 0;
      expect(await values(await new FillHoles().apply(t(v, [1, 4, 4]))), `2-D axis ${axis}, edge ${end}`).toEqual(v);
    }
  });

  it('appliedLabels null means every label; a 0 among the labels is skipped (the background is never filled)', async () => {
    // an island of 1 inside the background: filling "holes of 0" would erase it
    const v = new Array<number>(25).fill(0);
    v[12] = 1;
    expect(await values(await new FillHoles({ appliedLabels: [0, 1] }).apply(t(v, [1, 5, 5])))).toEqual(v);
    const ring = [1, 1, 1, 1, 0, 1, 1, 1, 1];
    expect(await values(await new FillHoles({ appliedLabels: null }).apply(t(ring, [1, 3, 3])))).toEqual(new Array(9).fill(1));
  });

  it('one-hot appliedLabels must be channel indices: negative or fractional ones are refused', async () => {
    const two = t(new Array(18).fill(0), [2, 3, 3]);
    await expect(new FillHoles({ appliedLabels: -1 }).apply(two)).rejects.toThrow(/FillHoles: appliedLabels -1 is not a channel of \[2, 3, 3\] \(one-hot\)/);
    await expect(new FillHoles({ appliedLabels: 0.5 }).apply(two)).rejects.toThrow(/FillHoles: appliedLabels 0.5 is not a channel/);
    expect(() => new FillHoles({ appliedLabels: 0 })).toThrow(/^FillHoles: appliedLabels 0 is the background/);
  });
});

describe('RemoveSmallObjects edges', () => {
  it('sparse cases over several channels against the flood-fill oracle (a neighbour past an edge must not alias another voxel)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 2, max: 3 }).chain((C) => fc.tuple(fc.constant(C), fc.array(fc.constantFrom(0, 0, 0, 0, 1), { minLength: C * 36, maxLength: C * 36 }))),
      fc.constantFrom(1, 2, 3, 4), fc.integer({ min: 2, max: 4 }),
      async ([C, img], connectivity, minSize) => {
        fc.pre(img.includes(1));
        const got = await values(await new RemoveSmallObjects({ minSize, connectivity: connectivity as 1 | 2 | 3 | 4 }).apply(t(img, [C, 4, 3, 3])));
        const ids = flood(img, [C, 4, 3, 3], connectivity);
        const sizes = new Map<number, number>();
        ids.forEach((id) => sizes.set(id, (sizes.get(id) ?? 0) + 1));
        expect(got).toEqual(img.map((v, i) => (v && sizes.get(ids[i]!)! >= minSize ? 1 : 0)));
      }), { numRuns: 150 });
  });

  it('each one-step neighbour across channels joins at connectivity 2 (a voxel and its six face neighbours one channel on)', async () => {
    const at = (x: number, y: number, z: number) => (x * 3 + y) * 3 + z;
    for (const [dx, dy, dz] of [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]) {
      const img = new Array<number>(54).fill(0);
      img[at(1, 1, 1)] = 1;
      img[27 + at(1 + dx!, 1 + dy!, 1 + dz!)] = 1;
      expect(await values(await new RemoveSmallObjects({ minSize: 2, connectivity: 2 }).apply(t(img, [2, 3, 3, 3]))), `step ${dx}, ${dy}, ${dz}`).toEqual(img);
      expect(await values(await new RemoveSmallObjects({ minSize: 2, connectivity: 1 }).apply(t(img, [2, 3, 3, 3])))).toEqual(new Array(54).fill(0));
    }
  });

  it('minSize 0 removes nothing (the background stays 0); connectivity null is 4; dtype kept', async () => {
    const img = [0, 1, 0, 0, 0, 0, 0, 1];
    expect(await values(await new RemoveSmallObjects({ minSize: 0 }).apply(t(img, [1, 2, 2, 2])))).toEqual(img);
    // (0, 0, 0) and (1, 1, 1): three hops apart, joined at connectivity 3 and 4 (null) only
    const diag = [1, 0, 0, 0, 0, 0, 0, 1];
    expect(await values(await new RemoveSmallObjects({ minSize: 2, connectivity: null }).apply(t(diag, [1, 2, 2, 2])))).toEqual(diag);
    expect(await values(await new RemoveSmallObjects({ minSize: 2, connectivity: 3 }).apply(t(diag, [1, 2, 2, 2])))).toEqual(diag);
    expect(await values(await new RemoveSmallObjects({ minSize: 2, connectivity: 2 }).apply(t(diag, [1, 2, 2, 2])))).toEqual(new Array(8).fill(0));
    const out = await new RemoveSmallObjects({ minSize: 2 }).apply(t([0, 3, 3, 2], [1, 2, 2], 'int32'));
    expect([out.dtype, await values(out)]).toEqual(['int32', [0, 3, 3, 0]]);
  });

  it('byMeasure with a pixdim per axis removes below ⌈minSize / volume⌉; bad pixdims are refused', async () => {
    const img = [1, 1, 0, 0, 0, 0, 1, 1, 1]; // objects of 2 and 3 voxels
    expect(await values(await new RemoveSmallObjects({ minSize: 5, byMeasure: true, pixdim: [2, 1] }).apply(t(img, [1, 3, 3])))).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1]);
    expect(() => new RemoveSmallObjects({ byMeasure: true, pixdim: [1, 1, 1, 1] })).toThrow(/RemoveSmallObjects: pixdim must be a positive spacing or one per spatial axis, got \[1,1,1,1\]/);
    expect(() => new RemoveSmallObjects({ byMeasure: true, pixdim: [] })).toThrow(/pixdim must be a positive spacing/);
    expect(() => new RemoveSmallObjects({ byMeasure: true, pixdim: 'x' as unknown as number })).toThrow(/pixdim must be a positive spacing/);
    expect(() => new RemoveSmallObjects({ minSize: Infinity })).toThrow(/^RemoveSmallObjects: minSize must be a finite number ≥ 0, got Infinity/);
  });
});

describe('RemoveSmallObjects names and copies', () => {
  it('keeps its own copy of pixdim, the float64 dtype of a binary case, and names itself in errors from apply', async () => {
    const pixdim = [2, 1];
    const t1 = new RemoveSmallObjects({ minSize: 5, byMeasure: true, pixdim });
    pixdim[0] = 100;
    const img = [1, 1, 0, 0, 0, 0, 1, 1, 1];
    const out = await t1.apply(t(img, [1, 3, 3], 'float64'));
    expect([out.dtype, await values(out)]).toEqual(['float64', [0, 0, 0, 0, 0, 0, 1, 1, 1]]);
    await expect(new RemoveSmallObjects().apply(t([0, 2, -1, 0], [1, 2, 2]))).rejects.toThrow(/^RemoveSmallObjects: a class map with negative labels/);
    expect(() => new LabelFilter({ appliedLabels: 'x' as unknown as number })).toThrow(/^LabelFilter: appliedLabels must be a number or a list of numbers/);
  });
});

describe('LabelFilter and LabelToContour edges', () => {
  it('LabelFilter with no labels keeps the dtype; without options it names the option', async () => {
    const out = new LabelFilter({ appliedLabels: [] }).apply(t([1, 2], [2], 'int32'));
    expect([out.dtype, await values(out)]).toEqual(['int32', [0, 0]]);
    expect(() => new LabelFilter(undefined as unknown as { appliedLabels: number })).toThrow(/^LabelFilter: appliedLabels is required/);
  });

  it('LabelToContour keeps float64 precision (no float32 round trip)', async () => {
    const img = new Array<number>(27).fill(0);
    img[13] = 1e-9;
    const out = await values(new LabelToContour().apply(t(img, [1, 3, 3, 3], 'float64')));
    expect(out[13]).toBe(26e-9);
    expect(out.filter((v) => v !== 0)).toEqual([26e-9]);
  });
});
