import { describe, expect, it } from 'vitest';
import { Orientation, Spacing, affineOrientation, orientationCodes } from '../../src/imaging/transforms-spatial.js';
import { Compose } from '../../src/imaging/transforms.js';
import { encodeNifti, parseNifti } from '../../src/imaging/io/nifti.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

const at = (s: Readonly<Shape3>, x: number, y: number, z: number): number => (x * s[1] + y) * s[2] + z;
const indexVolume = (shape: Shape3): Volume<Float32Array> => ({ data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => i + 1), shape });

/** Solves A·p = w for the 3x3 part (Cramer), the voxel index of a world point. */
function worldToVoxel(a: number[][], w: number[]): number[] {
  const m = [0, 1, 2].map((i) => [0, 1, 2].map((j) => a[i]![j]!));
  const b = [0, 1, 2].map((i) => w[i]! - a[i]![3]!);
  const det = (q: number[][]): number => q[0]![0]! * (q[1]![1]! * q[2]![2]! - q[1]![2]! * q[2]![1]!) - q[0]![1]! * (q[1]![0]! * q[2]![2]! - q[1]![2]! * q[2]![0]!) + q[0]![2]! * (q[1]![0]! * q[2]![1]! - q[1]![1]! * q[2]![0]!);
  const d = det(m);
  return [0, 1, 2].map((k) => det(m.map((row, i) => row.map((x, j) => (j === k ? b[i]! : x)))) / d);
}
const voxelToWorld = (a: number[][], p: readonly number[]): number[] => [0, 1, 2].map((i) => a[i]![0]! * p[0]! + a[i]![1]! * p[1]! + a[i]![2]! * p[2]! + a[i]![3]!);

/** Every output voxel holds the input voxel at the same world position (mapped back through the old affine). */
function expectSameWorld(before: Volume<Float32Array>, oldAffine: number[][], after: Volume<Float32Array>, newAffine: number[][]): void {
  const [P, Q, R] = after.shape;
  for (let a = 0; a < P; a++) for (let b = 0; b < Q; b++) for (let c = 0; c < R; c++) {
    const old = worldToVoxel(oldAffine, voxelToWorld(newAffine, [a, b, c])).map((x) => Math.round(x * 1e6) / 1e6);
    expect(old.every((x) => Number.isInteger(x))).toBe(true);
    expect(after.data[at(after.shape, a, b, c)]).toBe(before.data[at(before.shape, old[0]!, old[1]!, old[2]!)]);
  }
}

describe('affineOrientation (nibabel io_orientation)', () => {
  it('reads the axis codes of axis-aligned, permuted and rotated affines', () => {
    expect(orientationCodes(affineOrientation([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))).toBe('RAS');
    expect(orientationCodes(affineOrientation([[-2, 0, 0, 5], [0, -0.5, 0, 1], [0, 0, 3, 0], [0, 0, 0, 1]]))).toBe('LPS');
    expect(orientationCodes(affineOrientation([[0, 0, 1, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]))).toBe('PSR');
    // a 60° rotation about z: voxel axis 0 runs along (0.5, 0.87, 0) (anterior), axis 1 along (−0.87, 0.5, 0) (left)
    const c = Math.cos(Math.PI / 3), s = Math.sin(Math.PI / 3);
    expect(orientationCodes(affineOrientation([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))).toBe('ALS');
    // 30°: still closest to RAS
    expect(orientationCodes(affineOrientation([[s, -c, 0, 0], [c, s, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))).toBe('RAS');
  });

  it('reads a sheared affine as its nearest orientation', () => {
    expect(orientationCodes(affineOrientation([[1, 0.9, 0, 0], [0.1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))).toBe('RAS');
  });

  it('rejects singular affines', () => {
    expect(() => affineOrientation([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])).toThrow(/zero column/);
    expect(() => affineOrientation([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])).toThrow(/singular/);
  });
});

describe('Orientation', () => {
  const shape: Shape3 = [3, 4, 5];

  it('keeps a volume already in the target orientation bit for bit, affine and spacing too', () => {
    const affine = [[2, 0, 0, -3], [0, 1, 0, 4], [0, 0, 0.5, 1], [0, 0, 0, 1]];
    const image = indexVolume(shape);
    const out = new Orientation({ keys: 'image', axcodes: 'RAS' }).apply({ image, affine, spacing: [2, 1, 0.5], id: 'a' });
    expect(out.image.shape).toEqual(shape);
    expect([...out.image.data]).toEqual([...image.data]);
    expect(out.affine).toEqual(affine);
    expect(out.spacing).toEqual([2, 1, 0.5]);
    expect(out.id).toBe('a');
  });

  it('LPS → RAS flips x and y, and every voxel keeps its world position', () => {
    const affine = [[-2, 0, 0, 10], [0, -1, 0, 7], [0, 0, 3, -1], [0, 0, 0, 1]];
    const image = indexVolume(shape);
    const out = new Orientation({ keys: 'image', axcodes: 'RAS' }).apply({ image, affine });
    expect(out.image.shape).toEqual(shape);
    expect(out.image.data[at(shape, 0, 0, 0)]).toBe(image.data[at(shape, 2, 3, 0)]);
    expect(out.affine).toEqual([[2, 0, 0, 10 - 2 * 2], [0, 1, 0, 7 - 3], [0, 0, 3, -1], [0, 0, 0, 1]]);
    expect(orientationCodes(affineOrientation(out.affine))).toBe('RAS');
    expectSameWorld(image, affine, out.image, out.affine);
  });

  it('permutes axes (and the spacing) of an oblique, permuted affine, for every target', () => {
    const c = Math.cos(0.2), s = Math.sin(0.2);
    // voxel axis 0 → world z (spacing 3), axis 1 → world −x rotated a little (2), axis 2 → world y (0.5)
    const affine = [[0, -2 * c, -0.5 * s, 1], [0, 2 * s, 0.5 * c, 2], [3, 0, 0, 3], [0, 0, 0, 1]];
    expect(orientationCodes(affineOrientation(affine))).toBe('SLA');
    const image = indexVolume(shape);
    for (const axcodes of ['RAS', 'LPI', 'ASR', 'ipl']) {
      const out = new Orientation({ keys: ['image'], axcodes }).apply({ image, affine, spacing: [3, 2, 0.5] });
      expect(orientationCodes(affineOrientation(out.affine))).toBe(axcodes.toUpperCase());
      expectSameWorld(image, affine, out.image, out.affine);
      const spacingOf = (a: number[][]): number[] => [0, 1, 2].map((j) => Math.hypot(a[0]![j]!, a[1]![j]!, a[2]![j]!));
      // the spacing is the new affine's column lengths (MONAI's affine_to_spacing): the given [3, 2, 0.5] permuted
      const expected = spacingOf(out.affine);
      out.spacing.forEach((x, j) => expect(x).toBeCloseTo(expected[j]!, 12));
      expect([...out.spacing].sort().map((x) => Number(x.toFixed(12)))).toEqual([0.5, 2, 3]);
    }
  });

  it('moves every channel of a channel-first image and a uint8 label alike', () => {
    const affine = [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]]; // ARI
    const n = 3 * 4 * 5;
    const image = { data: Float32Array.from({ length: 2 * n }, (_, i) => i), shape: [2, 3, 4, 5] as [number, number, number, number] };
    const label = { data: Uint8Array.from({ length: n }, (_, i) => i % 7), shape };
    const out = new Orientation({ keys: ['image', 'label'], axcodes: 'RAS' }).apply({ image, label, affine });
    expect(out.image.shape).toEqual([2, 4, 3, 5]);
    expect(out.label.shape).toEqual([4, 3, 5]);
    expect(out.label.data).toBeInstanceOf(Uint8Array);
    for (let ch = 0; ch < 2; ch++) {
      const before = { data: image.data.slice(ch * n, (ch + 1) * n), shape };
      const after = { data: out.image.data.slice(ch * n, (ch + 1) * n), shape: [4, 3, 5] as Shape3 };
      expectSameWorld(before, affine, after, out.affine);
    }
    expectSameWorld({ data: Float32Array.from(label.data), shape }, affine, { data: Float32Array.from(out.label.data), shape: [4, 3, 5] }, out.affine);
  });

  it('reads the affine under affineKey and leaves a sample without spacing without one', () => {
    const out = new Orientation({ keys: 'image', axcodes: 'LAS', affineKey: 'imageAffine' })
      .apply({ image: indexVolume(shape), imageAffine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] });
    expect(out.imageAffine[0]).toEqual([-1, 0, 0, 2]);
    expect('spacing' in out).toBe(false);
  });

  it('names the bad option or key', () => {
    for (const axcodes of ['RA', 'RAR', 'XYZ', 'RASS']) expect(() => new Orientation({ keys: 'image', axcodes })).toThrow(/axcodes must be three letters/);
    const o = new Orientation({ keys: 'image', axcodes: 'RAS' });
    expect(() => o.apply({ image: indexVolume(shape) })).toThrow(/key 'affine' must hold the sample's affine/);
    expect(() => o.apply({ image: indexVolume(shape), affine: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] })).toThrow(/4x4/);
    expect(() => o.apply({ image: indexVolume(shape), affine: [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] })).toThrow(/key 'affine'.*zero column/);
    expect(() => o.apply({ affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] })).toThrow(/key 'image' is missing/);
  });
});

describe('Spacing keeps the sample affine in step', () => {
  it('scales the affine columns by the spacing ratios, so that Orientation → Spacing keeps world positions', () => {
    const shape: Shape3 = [5, 7, 4];
    const image = indexVolume(shape);
    const affine = [[-1, 0, 0, 3], [0, 0, 2, -1], [0, -0.5, 0, 2], [0, 0, 0, 1]]; // LIA, spacing [1, 0.5, 2]
    expect(orientationCodes(affineOrientation(affine))).toBe('LIA');
    const sample = { image, affine, spacing: [1, 0.5, 2] };
    const orientation = new Orientation({ keys: 'image', axcodes: 'RAS' }), spacing = new Spacing({ keys: 'image', pixdim: [2, 1, 2], mode: 'nearest' });
    const mid = orientation.apply(sample);
    expect(mid.image.shape).toEqual([5, 4, 7]);
    expect(mid.spacing).toEqual([1, 2, 0.5]);
    const out = new Compose<{ affine: number[][]; spacing: number[] }, false>([orientation, spacing]).apply(sample);
    expect(orientationCodes(affineOrientation(out.affine))).toBe('RAS');
    expect(out.spacing).toEqual([2, 1, 2]);
    expect([0, 1, 2].map((j) => Math.hypot(out.affine[0]![j]!, out.affine[1]![j]!, out.affine[2]![j]!))).toEqual([2, 1, 2]);
    // ratios [2, 0.5, 4]: shape round((5 − 1)/2 + 1), round((4 − 1)/0.5 + 1), round((7 − 1)/4 + 1) = round(2.5) → 2
    expect(out.image.shape).toEqual([3, 7, 2]);
    const ratio = [2, 0.5, 4];
    for (let a = 0; a < 3; a++) for (let b = 0; b < 7; b++) for (let c = 0; c < 2; c++) {
      const src = [a * ratio[0]!, b * ratio[1]!, c * ratio[2]!];
      voxelToWorld(out.affine, [a, b, c]).forEach((w, i) => expect(w).toBeCloseTo(voxelToWorld(mid.affine, src)[i]!, 12));
      if (b % 2 === 0) expect(out.image.data[at(out.image.shape, a, b, c)]).toBe(mid.image.data[at(mid.image.shape, src[0]!, src[1]!, src[2]!)]);
    }
  });

  it('leaves a sample without an affine without one, and names a bad one', () => {
    const out = new Spacing({ keys: 'image', pixdim: [2, 2, 2] }).apply({ image: indexVolume([3, 3, 3]), spacing: [1, 1, 1] });
    expect('affine' in out).toBe(false);
    expect(() => new Spacing({ keys: 'image', pixdim: [2, 2, 2] }).apply({ image: indexVolume([3, 3, 3]), spacing: [1, 1, 1], affine: 'x' })).toThrow(/Spacing: key 'affine' must hold the sample's affine/);
  });
});

describe('Orientation on a NIfTI affine', () => {
  it('reads the affine as parseNifti gives it (the sform of a file whose voxel axes run S, L, A)', () => {
    const shape: Shape3 = [4, 3, 5];
    const image = indexVolume(shape);
    const sform = [[0, -0.8, 0, 12], [0, 0, 1.2, -4], [2, 0, 0, 7], [0, 0, 0, 1]]; // voxel axes → S, L, A
    const nifti = parseNifti(encodeNifti(image, { affine: sform }), 'oblique.nii');
    expect(orientationCodes(affineOrientation(nifti.info.affine))).toBe('SLA');
    const out = new Orientation({ keys: 'image', axcodes: 'RAS' }).apply({ image: nifti.volume, affine: nifti.info.affine });
    expect(out.image.shape).toEqual([3, 5, 4]);
    expect(orientationCodes(affineOrientation(out.affine))).toBe('RAS');
    expectSameWorld(nifti.volume, nifti.info.affine, out.image, out.affine);
  });
});
