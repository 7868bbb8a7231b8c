import { describe, expect, it } from 'vitest';
import {
  BorderPad, CenterSpatialCrop, CropForeground, DivisiblePad, Flip, RandCropByLabelClasses, RandCropByPosNegLabel, RandFlip, RandRotate90,
  RandSpatialCrop, RandSpatialCropSamples, Resize, ResizeWithPadOrCrop, Rotate90, SpatialPad,
} from '../../src/imaging/transforms-spatial.js';
import { Affine, Zoom } from '../../src/imaging/transforms-affine.js';
import { Rng } from '../../src/imaging/random.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

/**
 * Crops, pads, flips and 90° rotations move the sample's affine with the voxels, so that every voxel keeps its world
 * position (MONAI's MetaTensor affine after SpatialCrop/SpatialPad/Flip/Rotate90). Checked independently of the
 * region or the axes: each output voxel that came from the input (values are i + 1, padding is 0) is found in the
 * input by the world point the new affine gives it, mapped back through the old affine. Resize's affine is MONAI's
 * scale_affine: each output voxel's world point is the centre of the input block it averages.
 */

const SHAPE: Shape3 = [7, 6, 5];
const n = SHAPE[0] * SHAPE[1] * SHAPE[2];
// a rotation about z by 30°, voxel sizes 1.5, 2, 3, and an origin
const c = Math.cos(Math.PI / 6), s = Math.sin(Math.PI / 6);
const AFFINE = [[1.5 * c, -2 * s, 0, -40], [1.5 * s, 2 * c, 0, 12.5], [0, 0, 3, 7], [0, 0, 0, 1]];

function sample() {
  const image: Volume<Float32Array> = { data: Float32Array.from({ length: n }, (_, i) => i + 1), shape: [...SHAPE] };
  // a label block in the middle, a second class beside it
  const label: Volume<Uint8Array> = { data: new Uint8Array(n), shape: [...SHAPE] };
  for (let x = 2; x < 5; x++) for (let y = 1; y < 4; y++) for (let z = 1; z < 4; z++) label.data[(x * SHAPE[1] + y) * SHAPE[2] + z] = x === 4 ? 2 : 1;
  return { image, label, affine: AFFINE.map((r) => [...r]), id: 'case' };
}

/** the input voxel (integer coordinates) that the world point of output voxel `p` under `outAffine` is in the input */
function inputVoxel(outAffine: number[][], p: Shape3): number[] {
  const w = [0, 1, 2].map((i) => outAffine[i]![0]! * p[0] + outAffine[i]![1]! * p[1] + outAffine[i]![2]! * p[2] + outAffine[i]![3]!);
  // invert AFFINE: its 3x3 part is R·diag(1.5, 2, 3) with R a rotation about z
  const d = [w[0]! - AFFINE[0]![3]!, w[1]! - AFFINE[1]![3]!, w[2]! - AFFINE[2]![3]!];
  return [(c * d[0]! + s * d[1]!) / 1.5, (-s * d[0]! + c * d[1]!) / 2, d[2]! / 3];
}

function expectWorldKept(out: { image: Volume<Float32Array>; affine: number[][] }): void {
  const [X, Y, Z] = out.image.shape;
  let fromInput = 0;
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
    const v = out.image.data[(x * Y + y) * Z + z]!;
    if (v === 0) continue; // padding
    const q = inputVoxel(out.affine, [x, y, z]);
    for (const k of q) expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-9);
    const [i, j, k] = q.map(Math.round) as Shape3;
    expect(v).toBe((i * SHAPE[1] + j) * SHAPE[2] + k + 1);
    fromInput++;
  }
  expect(fromInput).toBeGreaterThan(0);
}

describe("crops and pads keep each voxel's world position in the sample's affine", () => {
  const keys = ['image', 'label'];
  const single = [
    ['CropForeground', new CropForeground({ keys, sourceKey: 'label', margin: 1 })],
    ['SpatialPad', new SpatialPad({ keys, spatialSize: [9, 8, 8] })],
    ['CenterSpatialCrop', new CenterSpatialCrop({ keys, roiSize: [3, 4, 2] })],
    ['ResizeWithPadOrCrop', new ResizeWithPadOrCrop({ keys, spatialSize: [4, 9, 3] })],
    ['RandSpatialCrop', new RandSpatialCrop({ keys, roiSize: [4, 3, 2] })],
    ['DivisiblePad', new DivisiblePad({ keys, k: 4 })],
    ['BorderPad', new BorderPad({ keys, spatialBorder: [1, 0, 2, 3, 0, 1] })],
    ['Flip (x and z)', new Flip({ keys, spatialAxis: [0, 2] })],
    ['Flip (all axes)', new Flip({ keys })],
    ['RandFlip (prob 1, y)', new RandFlip({ keys, prob: 1, spatialAxis: 1 })],
    ['Rotate90 (k 1, axes 0 1)', new Rotate90({ keys })],
    ['Rotate90 (k 2, axes 1 2)', new Rotate90({ keys, k: 2, spatialAxes: [1, 2] })],
    ['Rotate90 (k 3, axes 2 0)', new Rotate90({ keys, k: 3, spatialAxes: [2, 0] })],
    ['Rotate90 (k −1, axes 0 2)', new Rotate90({ keys, k: -1, spatialAxes: [0, 2] })],
    ['RandRotate90 (prob 1)', new RandRotate90({ keys, prob: 1, spatialAxes: [1, 0] })],
  ] as const;
  for (const [name, t] of single) {
    it(name, () => {
      const data = sample();
      const out = t.apply(data, new Rng(3)) as ReturnType<typeof sample>;
      expectWorldKept(out);
      expect(data.affine).toEqual(AFFINE); // the input's entry is not changed in place
      expect(out.id).toBe('case');
    });
  }

  const several = [
    ['RandCropByPosNegLabel', new RandCropByPosNegLabel({ keys, labelKey: 'label', spatialSize: [3, 3, 3], numSamples: 4 })],
    ['RandSpatialCropSamples', new RandSpatialCropSamples({ keys, roiSize: [3, 2, 4], numSamples: 3 })],
    ['RandCropByLabelClasses', new RandCropByLabelClasses({ keys, labelKey: 'label', spatialSize: [2, 3, 3], numClasses: 3, numSamples: 4 })],
  ] as const;
  for (const [name, t] of several) {
    it(`${name}: each sample its own region and affine`, () => {
      const outs = t.apply(sample(), new Rng(5)) as unknown as ReturnType<typeof sample>[];
      expect(outs.length).toBeGreaterThan(1);
      for (const out of outs) expectWorldKept(out);
      expect(new Set(outs.map((o) => JSON.stringify(o.affine))).size).toBeGreaterThan(1);
    });
  }

  it('Rotate90 permutes a spacing entry with the axes (with an affine or without one); a flip keeps it', () => {
    const { image, label } = sample();
    const spacing = [1.5, 2, 3];
    expect(new Rotate90({ keys, spatialAxes: [0, 2] }).apply({ image, label, spacing }).spacing).toEqual([3, 2, 1.5]);
    const rotated = new Rotate90({ keys, spatialAxes: [1, 2] }).apply({ ...sample(), spacing });
    expect(rotated.spacing).toEqual([1.5, 3, 2]);
    expect(rotated.affine.map((row) => row.slice(0, 3)).slice(0, 3).map((_, d) => Math.hypot(...[0, 1, 2].map((i) => rotated.affine[i]![d]!))))
      .toEqual([1.5, 3, 2].map((v) => expect.closeTo(v, 12)));
    expect(new Flip({ keys }).apply({ image, label, spacing }).spacing).toEqual(spacing);
  });

  it("Resize ('area', halving y, x and z kept): each output voxel's world point is its input block's centre, the spacing scaled", () => {
    const data = sample();
    const out = new Resize({ keys: 'image', spatialSize: [7, 3, 5], mode: 'area' }).apply({ ...data, spacing: [1.5, 2, 3] });
    expect(out.spacing.map((v) => Number(v.toFixed(12)))).toEqual([1.5, 4, 3]);
    const [X, Y, Z] = out.image.shape;
    for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
      const [i, j, k] = inputVoxel(out.affine, [x, y, z]);
      // y: the block {2y, 2y + 1}, centre 2y + ½; x and z unchanged
      expect(i).toBeCloseTo(x, 9);
      expect(j).toBeCloseTo(2 * y + 0.5, 9);
      expect(k).toBeCloseTo(z, 9);
      const at = (yy: number) => data.image.data[(x * SHAPE[1] + yy) * SHAPE[2] + z]!;
      expect(out.image.data[(x * Y + y) * Z + z]).toBeCloseTo((at(2 * y) + at(2 * y + 1)) / 2, 4);
    }
  });

  it("Zoom (×2 'nearest', keepSize): each output voxel's world point lies on the input voxel it copies; without keepSize as Resize", () => {
    const data = sample();
    const out = new Zoom({ keys: 'image', zoom: 2, mode: 'nearest' }).apply({ ...data, spacing: [1.5, 2, 3] });
    expect(out.image.shape).toEqual(SHAPE);
    expect(out.spacing.map((v) => Number(v.toFixed(12)))).toEqual([0.75, 1, 1.5]);
    const [X, Y, Z] = out.image.shape;
    for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
      // the zoomed voxel j reads input ⌊j/2⌋, whose centre is within a quarter voxel of j's: round(q) is it
      const q = inputVoxel(out.affine, [x, y, z]);
      for (const k of q) expect(Math.abs(k - Math.round(k))).toBeLessThan(0.25 + 1e-9);
      const [i, j, k] = q.map(Math.round) as Shape3;
      expect(out.image.data[(x * Y + y) * Z + z]).toBe((i * SHAPE[1] + j) * SHAPE[2] + k + 1);
    }
    const half = new Zoom({ keys: 'image', zoom: 0.5, keepSize: false }).apply(sample());
    const resized = new Resize({ keys: 'image', spatialSize: [3, 3, 2] }).apply(sample());
    expect(half.image.shape).toEqual([3, 3, 2]);
    expect(half.affine).toEqual(resized.affine);
    expect(() => new Zoom({ keys: 'image', zoom: 0.1 }).apply(sample()))
      .toThrow(/^Zoom: zoom \[0\.1, 0\.1, 0\.1\] shrinks the shape \[7, 6, 5\] to \[0, 0, 0\], an empty volume$/);
  });

  it("Affine's scaling reaches the spacing entry (from the new affine, or from the spacing alone)", () => {
    const affine = new Affine({ keys: 'image', scaleParams: [2, 1, 0.5], paddingMode: 'zeros' });
    const withAffine = affine.apply({ ...sample(), spacing: [1.5, 2, 3] });
    expect(withAffine.spacing.map((v) => Number(v.toFixed(12)))).toEqual([3, 2, 1.5]);
    const { image } = sample();
    expect(affine.apply({ image, spacing: [1.5, 2, 3] }).spacing.map((v) => Number(v.toFixed(12)))).toEqual([3, 2, 1.5]);
  });

  it('a sample without an affine gets none; a malformed one is named', () => {
    const { image, label } = sample();
    expect('affine' in new SpatialPad({ keys, spatialSize: 8 }).apply({ image, label })).toBe(false);
    expect(() => new CenterSpatialCrop({ keys, roiSize: 2 }).apply({ image, label, affine: [[1, 0, 0]] }))
      .toThrow(/CenterSpatialCrop: key 'affine' must hold the sample's affine, a 4x4 row-major number\[\]\[\]/);
  });
});
