import { describe, expect, it } from 'vitest';
import {
  Affine, RandAffine, RandZoom, Zoom, affineMatrix, createRotate, createScale, createShear, createTranslate,
} from '../../src/imaging/transforms-affine.js';
import { matmul4 } from '../../src/imaging/transforms-spatial.js';
import { CenterSpatialCrop, Resize, Rotate90, SpatialPad } from '../../src/imaging/transforms-spatial.js';
import { Rng } from '../../src/imaging/random.js';
import type { Shape3, Volume } from '../../src/imaging/volume.js';

const at = (s: Readonly<Shape3>, x: number, y: number, z: number): number => (x * s[1] + y) * s[2] + z;
const indexVolume = (shape: Shape3): Volume<Float32Array> => ({ data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => i + 1), shape });
function fromFn(shape: Shape3, f: (x: number, y: number, z: number) => number): Volume<Float32Array> {
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let x = 0; x < shape[0]; x++) for (let y = 0; y < shape[1]; y++) for (let z = 0; z < shape[2]; z++) data[at(shape, x, y, z)] = f(x, y, z);
  return { data, shape };
}
const apply4 = (m: number[][], p: readonly number[]): number[] => [0, 1, 2].map((i) => m[i]![0]! * p[0]! + m[i]![1]! * p[1]! + m[i]![2]! * p[2]! + m[i]![3]!);
/** Voxel-index to voxel-index map of a centred matrix (MONAI's compute_w_affine form), written independently of the sampler. */
const voxelMap = (m: number[][], inShape: Shape3, outShape: Shape3): number[][] =>
  matmul4(matmul4(createTranslate(inShape.map((d) => (d - 1) / 2)), m), createTranslate(outShape.map((d) => -(d - 1) / 2)));

describe('affine matrices (MONAI create_rotate / shear / translate / scale)', () => {
  it('rotates each plane as MONAI: radians[0] in (1, 2), radians[1] in (0, 2) with the opposite sign, radians[2] in (0, 1)', () => {
    const t = 0.3, c = Math.cos(t), s = Math.sin(t);
    expect(createRotate([t])).toEqual([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]]);
    expect(createRotate([0, t])).toEqual([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1]].map((r) => r.map((x) => x + 0)));
    const r3 = createRotate([0, 0, t]);
    expect(r3[0]!.slice(0, 2)).toEqual([c, -s]);
    expect(r3[1]!.slice(0, 2)).toEqual([s, c]);
    // the composition order: Rx · Ry · Rz
    const all = createRotate([0.1, 0.2, 0.3]);
    const expected = matmul4(matmul4(createRotate([0.1]), createRotate([0, 0.2])), createRotate([0, 0, 0.3]));
    all.flat().forEach((x, i) => expect(x).toBeCloseTo(expected.flat()[i]!, 15));
  });

  it('places shear, translation and scale entries, and composes rotate · shear · translate · scale', () => {
    expect(createShear([1, 2, 3, 4, 5, 6])).toEqual([[1, 1, 2, 0], [3, 1, 4, 0], [5, 6, 1, 0], [0, 0, 0, 1]]);
    expect(createShear([0.5])).toEqual([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]);
    expect(createTranslate([1, 2])).toEqual([[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 0], [0, 0, 0, 1]]);
    expect(createScale([2])).toEqual([[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]);
    const m = affineMatrix({ rotateParams: [0.1, 0.2, 0.3], shearParams: [0.1, 0, 0, 0.2], translateParams: [1, -2, 3], scaleParams: [1.1, 0.9, 1] });
    const e = matmul4(matmul4(matmul4(createRotate([0.1, 0.2, 0.3]), createShear([0.1, 0, 0, 0.2])), createTranslate([1, -2, 3])), createScale([1.1, 0.9, 1]));
    expect(m).toEqual(e);
    // translate is applied to the scaled coordinates: the point (1, 0, 0) goes to 2 + 1 on x
    expect(apply4(affineMatrix({ translateParams: [1, 0, 0], scaleParams: [2, 1, 1] }), [1, 0, 0])).toEqual([3, 0, 0]);
  });
});

describe('Affine', () => {
  const shape: Shape3 = [5, 6, 4];

  it('identity parameters keep images and labels bit for bit, in every mode and padding', () => {
    const image = fromFn(shape, (x, y, z) => Math.sin(x * 1.3 + y * 0.7 - z) * 100 + 1e-3 * x);
    const label = { data: Uint8Array.from(image.data, (v) => (v > 0 ? 2 : 0)), shape };
    for (const paddingMode of ['zeros', 'border', 'reflection'] as const) {
      for (const opts of [{}, { rotateParams: [0, 0, 0], translateParams: [0, 0, 0], scaleParams: [1, 1, 1], shearParams: [0] }]) {
        const out = new Affine({ keys: ['image', 'label'], paddingMode, ...opts }).apply({ image, label });
        expect(out.image.data).toEqual(image.data);
        expect(out.label.data).toEqual(label.data);
        expect(out.label.data).toBeInstanceOf(Uint8Array);
        expect(new Affine({ keys: 'image', mode: 'nearest', paddingMode, ...opts }).apply({ image }).image.data).toEqual(image.data);
      }
    }
  });

  it('a 90° rotation in the (0, 1) plane is Rotate90 with k = −1 (nearest exactly, bilinear within float32)', () => {
    const cube: Shape3 = [5, 5, 3];
    const image = indexVolume(cube);
    const expected = new Rotate90({ keys: 'image', k: 3 }).apply({ image }).image;
    const near = new Affine({ keys: 'image', rotateParams: [0, 0, Math.PI / 2], mode: 'nearest' }).apply({ image }).image;
    expect([...near.data]).toEqual([...expected.data]);
    const lin = new Affine({ keys: 'image', rotateParams: [0, 0, Math.PI / 2] }).apply({ image }).image;
    lin.data.forEach((v, i) => expect(v).toBeCloseTo(expected.data[i]!, 4));
    // radians[0] rotates the (1, 2) plane: Rotate90 on axes [1, 2]
    const yz: Shape3 = [3, 4, 4];
    const img2 = indexVolume(yz);
    const near2 = new Affine({ keys: 'image', rotateParams: [Math.PI / 2], mode: 'nearest' }).apply({ image: img2 }).image;
    expect([...near2.data]).toEqual([...new Rotate90({ keys: 'image', k: 3, spatialAxes: [1, 2] }).apply({ image: img2 }).image.data]);
  });

  it('maps every output voxel to the source point the matrix gives (nearest: that voxel; bilinear: a linear field exactly)', () => {
    const params = { rotateParams: [0.3, -0.2, 0.5], shearParams: [0.1, 0, -0.05], translateParams: [0.4, -0.3, 0.2], scaleParams: [0.5, 0.45, 0.5] };
    const inShape: Shape3 = [8, 9, 7], outShape: Shape3 = [6, 7, 5];
    const f = (x: number, y: number, z: number): number => 2 * x - 3 * y + 0.5 * z + 7;
    const image = fromFn(inShape, f);
    const t = new Affine({ keys: 'image', spatialSize: outShape, paddingMode: 'zeros', ...params });
    const w = voxelMap(affineMatrix(params), inShape, outShape);
    const lin = t.apply({ image }).image;
    const near = new Affine({ keys: 'image', spatialSize: outShape, mode: 'nearest', paddingMode: 'zeros', ...params }).apply({ image }).image;
    expect(lin.shape).toEqual(outShape);
    let inside = 0;
    for (let a = 0; a < 6; a++) for (let b = 0; b < 7; b++) for (let c = 0; c < 5; c++) {
      const p = apply4(w, [a, b, c]);
      expect(p.every((x, d) => x >= 0 && x <= inShape[d]! - 1)).toBe(true); // the scale keeps every point inside
      inside++;
      expect(lin.data[at(outShape, a, b, c)]).toBeCloseTo(f(p[0]!, p[1]!, p[2]!), 3);
      const r = p.map(Math.round);
      expect(near.data[at(outShape, a, b, c)]).toBe(f(r[0]!, r[1]!, r[2]!));
    }
    expect(inside).toBe(6 * 7 * 5);
  });

  it('pads outside the volume with zeros, the border or the reflection (grid_sample, align_corners = False)', () => {
    const line = { data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [6, 1, 1] as Shape3 };
    const run = (translate: number, paddingMode: 'zeros' | 'border' | 'reflection'): number[] =>
      [...new Affine({ keys: 'image', translateParams: [translate], paddingMode }).apply({ image: line }).image.data];
    // integer shift 3: sources 3 … 8
    expect(run(3, 'zeros')).toEqual([4, 5, 6, 0, 0, 0]);
    expect(run(3, 'border')).toEqual([4, 5, 6, 6, 6, 6]);
    expect(run(3, 'reflection')).toEqual([4, 5, 6, 6, 5, 4]);
    // half shift 2.5: sources 2.5 … 7.5, reflected about 5.5
    expect(run(2.5, 'zeros')).toEqual([3.5, 4.5, 5.5, 3, 0, 0]);
    expect(run(2.5, 'border')).toEqual([3.5, 4.5, 5.5, 6, 6, 6]);
    expect(run(2.5, 'reflection')).toEqual([3.5, 4.5, 5.5, 6, 5.5, 4.5]);
    expect(run(-3, 'reflection')).toEqual([3, 2, 1, 1, 2, 3]);
    // nearest rounds half to even: source 2.5 → 2, 3.5 → 4
    const near = new Affine({ keys: 'image', translateParams: [2.5], mode: 'nearest', paddingMode: 'zeros' }).apply({ image: line }).image;
    expect([...near.data]).toEqual([3, 5, 5, 0, 0, 0]);
  });

  it('spatialSize with the identity is a centred crop or pad (an even difference)', () => {
    const image = indexVolume([7, 6, 5]);
    const small = new Affine({ keys: 'image', spatialSize: [5, 4, -1], paddingMode: 'zeros' }).apply({ image }).image;
    expect([...small.data]).toEqual([...new CenterSpatialCrop({ keys: 'image', roiSize: [5, 4, -1] }).apply({ image }).image.data]);
    const big = new Affine({ keys: 'image', spatialSize: [9, 8, 7], paddingMode: 'zeros' }).apply({ image }).image;
    expect([...big.data]).toEqual([...new SpatialPad({ keys: 'image', spatialSize: [9, 8, 7] }).apply({ image }).image.data]);
  });

  it('updates the sample affine so every voxel keeps its world position', () => {
    const inShape: Shape3 = [6, 5, 4];
    const image = indexVolume(inShape);
    const affine = [[0, -1.5, 0, 10], [2, 0, 0, -3], [0, 0, 0.7, 1], [0, 0, 0, 1]];
    const params = { rotateParams: [0, 0, Math.PI / 2], translateParams: [1, 0, -1] };
    const out = new Affine({ keys: 'image', mode: 'nearest', spatialSize: [5, 6, 4], ...params }).apply({ image, affine });
    const w = voxelMap(affineMatrix(params), inShape, [5, 6, 4]);
    for (const o of [[0, 0, 0], [4, 5, 3], [2, 3, 1]]) {
      const src = apply4(w, o);
      apply4(out.affine, o).forEach((x, i) => expect(x).toBeCloseTo(apply4(affine, src)[i]!, 12));
    }
    expect('affine' in new Affine({ keys: 'image' }).apply({ image })).toBe(false);
  });

  it('moves every channel alike and takes modes per key', () => {
    const shape3: Shape3 = [4, 4, 3], n = 48;
    const image = { data: Float32Array.from({ length: 2 * n }, (_, i) => i * 0.5), shape: [2, 4, 4, 3] as [number, number, number, number] };
    const label = { data: Uint8Array.from({ length: n }, (_, i) => i % 3), shape: shape3 };
    const opts = { rotateParams: [0.2], translateParams: [0.5, 0, 0] };
    const out = new Affine({ keys: ['image', 'label'], mode: ['bilinear', 'nearest'], ...opts }).apply({ image, label });
    expect(out.image.shape).toEqual([2, 4, 4, 3]);
    for (let c = 0; c < 2; c++) {
      const single = new Affine({ keys: 'image', ...opts }).apply({ image: { data: image.data.slice(c * n, (c + 1) * n), shape: shape3 } }).image;
      expect([...out.image.data.slice(c * n, (c + 1) * n)]).toEqual([...single.data]);
    }
    expect(out.label.data).toBeInstanceOf(Uint8Array);
  });

  it('names the bad option or key', () => {
    expect(() => new Affine({ keys: 'image', rotateParams: [1, 2, 3, 4] })).toThrow(/rotateParams must be a finite number or up to 3/);
    expect(() => new Affine({ keys: 'image', shearParams: [NaN] })).toThrow(/shearParams/);
    expect(() => new Affine({ keys: 'image', affine: [[1, 0], [0, 1]] })).toThrow(/affine must be a 4x4/);
    expect(() => new Affine({ keys: 'image', mode: 'bicubic' as 'nearest' })).toThrow(/mode must be 'bilinear', 'nearest'/);
    expect(() => new Affine({ keys: ['image', 'label'], paddingMode: ['zeros'] })).toThrow(/paddingMode .* per key \(2 keys\)/);
    expect(() => new Affine({ keys: 'image', spatialSize: [1.5, 2, 2] })).toThrow(/spatialSize must be an integer/);
    const label = { data: new Uint8Array(8), shape: [2, 2, 2] as Shape3 };
    expect(() => new Affine({ keys: 'label', mode: 'bilinear' }).apply({ label })).toThrow(/key 'label' is a Uint8Array volume.*'nearest'/);
    expect(() => new Affine({ keys: 'label' }).apply({ label, affine: [[1]] })).toThrow(/Affine: key 'affine' must hold the sample's affine, a 4x4 row-major/);
    expect(() => new Affine({ keys: ['image', 'label'] }).apply({ image: indexVolume([2, 2, 3]), label })).toThrow(/key 'label' has shape/);
  });
});

describe('RandAffine', () => {
  const shape: Shape3 = [6, 5, 4];
  const ranges = { rotateRange: [0.3, [0.1, 0.2], 0] as const, shearRange: 0.1, translateRange: [[1, 2]] as const, scaleRange: [0.1, 0.1, 0.2] };

  it('with prob 1 resamples with the parameters drawn in MONAI order (u, rotate, shear, translate, scale + 1)', () => {
    const image = fromFn(shape, (x, y, z) => x * y - z);
    const rng = new Rng(7), ref = rng.clone();
    const out = new RandAffine({ keys: 'image', prob: 1, ...ranges }).apply({ image }, rng).image;
    expect(ref.random() < 1).toBe(true);
    const rotateParams = [ref.uniform(-0.3, 0.3), ref.uniform(0.1, 0.2), ref.uniform(-0, 0)];
    const shearParams = [ref.uniform(-0.1, 0.1)];
    const translateParams = [ref.uniform(1, 2)];
    const scaleParams = [ref.uniform(-0.1, 0.1) + 1, ref.uniform(-0.1, 0.1) + 1, ref.uniform(-0.2, 0.2) + 1];
    expect(rng.state()).toEqual(ref.state());
    const expected = new Affine({ keys: 'image', rotateParams, shearParams, translateParams, scaleParams }).apply({ image }).image;
    expect([...out.data]).toEqual([...expected.data]);
    expect([...out.data]).not.toEqual([...image.data]);
  });

  it('with prob 0 returns the sample as it is but draws the parameters all the same', () => {
    const image = indexVolume(shape), sample = { image };
    const rng = new Rng(3), ref = rng.clone();
    // the volume itself, and a record saying it did nothing (for its inverse)
    const skipped = new RandAffine({ keys: 'image', prob: 0, ...ranges }).apply(sample, rng);
    expect(skipped.image).toBe(sample.image);
    expect(skipped).toEqual({ image: sample.image, image_transforms: [expect.objectContaining({ className: 'RandAffine', doTransform: false })] });
    for (let i = 0; i < 1 + 3 + 1 + 1 + 3; i++) ref.random();
    expect(rng.state()).toEqual(ref.state());
    // a new size still resamples, through the identity: a centred crop
    const cropped = new RandAffine({ keys: 'image', prob: 0, spatialSize: [4, 3, 2] }).apply(sample, new Rng(1)).image;
    expect([...cropped.data]).toEqual([...new CenterSpatialCrop({ keys: 'image', roiSize: [4, 3, 2] }).apply(sample).image.data]);
  });

  it('applies one draw to every key and keeps labels uint8', () => {
    const image = indexVolume(shape), label = { data: Uint8Array.from(image.data, (v) => v % 4), shape };
    const out = new RandAffine({ keys: ['image', 'label'], prob: 1, rotateRange: 0.5, mode: 'nearest' }).apply({ image, label }, new Rng(11));
    out.label.data.forEach((v, i) => expect(v).toBe(out.image.data[i]! === 0 ? 0 : out.image.data[i]! % 4));
  });

  it('names the bad option', () => {
    expect(() => new RandAffine({ keys: 'image', prob: 2 })).toThrow(/prob must be in \[0, 1\]/);
    expect(() => new RandAffine({ keys: 'image', rotateRange: [[0.2, 0.1]] })).toThrow(/rotateRange must be .* min ≤ max/);
    expect(() => new RandAffine({ keys: 'image', shearRange: [1, 1, 1, 1, 1, 1, 1] })).toThrow(/shearRange .* up to 6/);
    expect(() => new RandAffine({ keys: 'image' }).apply({ image: indexVolume(shape) })).toThrow(/needs an Rng/);
  });
});

describe('Zoom / RandZoom', () => {
  it('zoom 1 keeps the volume bit for bit in every mode', () => {
    const image = fromFn([4, 5, 3], (x, y, z) => Math.cos(x + 2 * y + 3 * z));
    for (const mode of ['area', 'trilinear', 'nearest'] as const) expect(new Zoom({ keys: 'image', zoom: 1, mode }).apply({ image }).image.data).toEqual(image.data);
  });

  it('without keepSize is Resize to ⌊size·zoom⌋', () => {
    const image = indexVolume([4, 5, 3]);
    for (const mode of ['area', 'trilinear', 'nearest'] as const) {
      const out = new Zoom({ keys: 'image', zoom: [1.5, 0.6, 2], mode, keepSize: false }).apply({ image }).image;
      expect(out.shape).toEqual([6, 3, 6]);
      expect([...out.data]).toEqual([...new Resize({ keys: 'image', spatialSize: [6, 3, 6], mode }).apply({ image }).image.data]);
    }
  });

  it('with keepSize crops an enlarged volume at its centre and pads a shrunk one with its edge (or zeros)', () => {
    const image = indexVolume([4, 4, 4]);
    const big = new Zoom({ keys: 'image', zoom: 2, mode: 'nearest' }).apply({ image }).image;
    const resized = new Resize({ keys: 'image', spatialSize: 8, mode: 'nearest' }).apply({ image }).image;
    expect([...big.data]).toEqual([...new CenterSpatialCrop({ keys: 'image', roiSize: 4 }).apply({ image: resized }).image.data]);
    const src: Shape3 = [6, 4, 2];
    const line = indexVolume(src);
    const small = new Zoom({ keys: 'image', zoom: 0.5, mode: 'nearest' }).apply({ image: line }).image; // ⌊·/2⌋ = [3, 2, 1], padded [1,2] [1,1] [0,1]
    expect(small.shape).toEqual(src);
    const zeros = new Zoom({ keys: 'image', zoom: 0.5, mode: 'nearest', paddingMode: 'constant' }).apply({ image: line }).image;
    const before = [1, 1, 0];
    for (let x = 0; x < 6; x++) for (let y = 0; y < 4; y++) for (let z = 0; z < 2; z++) {
      const r = [x - before[0]!, y - before[1]!, z - before[2]!];
      const inside = r[0]! >= 0 && r[0]! < 3 && r[1]! >= 0 && r[1]! < 2 && r[2]! >= 0 && r[2]! < 1;
      const clamp = [Math.min(Math.max(r[0]!, 0), 2), Math.min(Math.max(r[1]!, 0), 1), 0];
      const v = line.data[at(src, 2 * clamp[0]!, 2 * clamp[1]!, 0)]; // nearest: resized voxel j is source 2j
      expect(small.data[at(src, x, y, z)]).toBe(v);
      expect(zeros.data[at(src, x, y, z)]).toBe(inside ? v : 0);
    }
  });

  it('RandZoom with prob 1 zooms by the drawn factors (one draw for all axes, or one per axis)', () => {
    const image = indexVolume([6, 5, 4]);
    const rng = new Rng(5), ref = rng.clone();
    const out = new RandZoom({ keys: 'image', prob: 1, minZoom: 0.6, maxZoom: 1.4 }).apply({ image }, rng).image;
    ref.random();
    const z = ref.uniform(0.6, 1.4);
    expect([...out.data]).toEqual([...new Zoom({ keys: 'image', zoom: z }).apply({ image }).image.data]);
    const rng2 = new Rng(6), ref2 = rng2.clone();
    const out2 = new RandZoom({ keys: 'image', prob: 1, minZoom: [0.5, 1, 1.2], maxZoom: [0.7, 1.1, 1.5], mode: 'trilinear' }).apply({ image }, rng2).image;
    ref2.random();
    const zs = [ref2.uniform(0.5, 0.7), ref2.uniform(1, 1.1), ref2.uniform(1.2, 1.5)] as [number, number, number];
    expect([...out2.data]).toEqual([...new Zoom({ keys: 'image', zoom: zs, mode: 'trilinear' }).apply({ image }).image.data]);
  });

  it('RandZoom with prob 0 returns the sample and still draws the factor', () => {
    const sample = { image: indexVolume([3, 3, 3]) };
    const rng = new Rng(9), ref = rng.clone();
    // the volume itself, and a record saying it did nothing (for its inverse)
    const skipped = new RandZoom({ keys: 'image', prob: 0 }).apply(sample, rng);
    expect(skipped.image).toBe(sample.image);
    expect(skipped).toEqual({ image: sample.image, image_transforms: [expect.objectContaining({ className: 'RandZoom', doTransform: false })] });
    ref.random();
    ref.random();
    expect(rng.state()).toEqual(ref.state());
  });

  it('labels take nearest and stay uint8; names the bad option', () => {
    const label = { data: Uint8Array.from({ length: 27 }, (_, i) => i % 3), shape: [3, 3, 3] as Shape3 };
    const out = new Zoom({ keys: 'label', zoom: 1.7 }).apply({ label }).label;
    expect(out.data).toBeInstanceOf(Uint8Array);
    expect(() => new Zoom({ keys: 'label', zoom: 1.7, mode: 'area' }).apply({ label })).toThrow(/key 'label' is a Uint8Array/);
    expect(() => new Zoom({ keys: 'label', zoom: 0 })).toThrow(/zoom must be a positive number/);
    expect(() => new Zoom({ keys: 'label', zoom: 1, paddingMode: 'reflect' as 'edge' })).toThrow(/paddingMode must be 'edge' or 'constant'/);
    expect(() => new Zoom({ keys: 'label', zoom: 0.2 }).apply({ label })).toThrow(/shrinks the shape \[3, 3, 3\] to \[0, 0, 0\]/);
    expect(() => new RandZoom({ keys: 'label', minZoom: 1.2, maxZoom: 1.1 })).toThrow(/minZoom 1.2 exceeds maxZoom 1.1/);
  });
});

describe('the voxgrad/imaging entry', () => {
  it('exports the new spatial transforms', async () => {
    const entry = await import('../../src/imaging.js');
    const affine = await import('../../src/imaging/transforms-affine.js');
    const spatial = await import('../../src/imaging/transforms-spatial.js');
    expect([entry.Affine, entry.RandAffine, entry.Zoom, entry.RandZoom, entry.Rand3DElastic]).toEqual([affine.Affine, affine.RandAffine, affine.Zoom, affine.RandZoom, affine.Rand3DElastic]);
    expect([entry.Orientation, entry.DivisiblePad, entry.BorderPad, entry.RandSpatialCropSamples, entry.RandCropByLabelClasses])
      .toEqual([spatial.Orientation, spatial.DivisiblePad, spatial.BorderPad, spatial.RandSpatialCropSamples, spatial.RandCropByLabelClasses]);
  });
});

describe('Zoom on channel-first keys; nearest with border padding', () => {
  it('zooms every channel alike', () => {
    const n = 5 * 4 * 3;
    const image = { data: Float32Array.from({ length: 3 * n }, (_, i) => (i * 37) % 11), shape: [3, 5, 4, 3] as [number, number, number, number] };
    for (const zoom of [0.6, 1.5]) {
      const out = new Zoom({ keys: 'image', zoom }).apply({ image }).image;
      expect(out.shape).toEqual([3, 5, 4, 3]);
      for (let c = 0; c < 3; c++) {
        const single = new Zoom({ keys: 'image', zoom }).apply({ image: { data: image.data.slice(c * n, (c + 1) * n), shape: [5, 4, 3] as Shape3 } }).image;
        expect([...out.data.slice(c * n, (c + 1) * n)]).toEqual([...single.data]);
      }
    }
  });

  it('nearest clamps to the border and reflects as bilinear does', () => {
    const line = { data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [1, 6, 1] as Shape3 };
    const run = (paddingMode: 'zeros' | 'border' | 'reflection'): number[] =>
      [...new Affine({ keys: 'image', translateParams: [0, -3.4], mode: 'nearest', paddingMode }).apply({ image: line }).image.data];
    // sources −3.4 … 1.6 along axis 1
    expect(run('zeros')).toEqual([0, 0, 0, 1, 2, 3]);
    expect(run('border')).toEqual([1, 1, 1, 1, 2, 3]);
    expect(run('reflection')).toEqual([3, 2, 1, 1, 2, 3]);
  });
});
