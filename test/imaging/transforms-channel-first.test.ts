import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CenterSpatialCrop, ResizeWithPadOrCrop, SpatialPad, cropOrPad } from '../../src/imaging/transforms-spatial.js';
import { Compose, Lambda, type LambdaVolume } from '../../src/imaging/transforms.js';
import type { MultiChannelVolume, Shape3, Volume } from '../../src/imaging/volume.js';

/** Channel c's voxel (x, y, z) of a channel-first volume, 0 outside it. */
function voxel(v: MultiChannelVolume<Float32Array | Uint8Array>, c: number, x: number, y: number, z: number): number {
  const [, X, Y, Z] = v.shape;
  return x < 0 || y < 0 || z < 0 || x >= X || y >= Y || z >= Z ? 0 : v.data[((c * X + x) * Y + y) * Z + z]!;
}

/** A channel-first volume whose every voxel holds its flat index + 1. */
const indexImage = (shape: [number, number, number, number]): MultiChannelVolume =>
  ({ data: Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => i + 1), shape });

describe('cropOrPad on channel-first volumes (MONAI\'s SpatialCrop/SpatialPad)', () => {
  it('crops and pads every channel of [C, X, Y, Z] alike, spatial start and size, the result channel-first', () => {
    const side = fc.integer({ min: 1, max: 4 });
    fc.assert(fc.property(
      fc.tuple(fc.integer({ min: 1, max: 3 }), side, side, side),
      fc.tuple(fc.integer({ min: -3, max: 4 }), fc.integer({ min: -3, max: 4 }), fc.integer({ min: -3, max: 4 })),
      fc.tuple(side, side, side),
      (shape, start, size) => {
        const image = indexImage(shape);
        const out = cropOrPad(image, start, size);
        expect(out.shape).toEqual([shape[0], ...size]);
        const expected: number[] = [];
        for (let c = 0; c < shape[0]; c++) {
          for (let a = 0; a < size[0]; a++) for (let b = 0; b < size[1]; b++) for (let d = 0; d < size[2]; d++) {
            expected.push(voxel(image, c, start[0] + a, start[1] + b, start[2] + d));
          }
        }
        expect([...out.data]).toEqual(expected);
      },
    ));
  });

  it('keeps a uint8 label uint8 and a volume [X, Y, Z] three-dimensional', () => {
    const label: MultiChannelVolume<Uint8Array> = { data: Uint8Array.from([1, 2, 3, 4]), shape: [2, 2, 1, 1] };
    const cropped = cropOrPad(label, [1, 0, 0], [1, 1, 2]);
    expect(cropped.data).toBeInstanceOf(Uint8Array);
    expect(cropped).toEqual({ data: Uint8Array.from([2, 0, 4, 0]), shape: [2, 1, 1, 2] });
    const volume = { data: Float32Array.from([1, 2]), shape: [2, 1, 1] as Shape3 };
    expect(cropOrPad(volume, [-1, 0, 0], [2, 1, 1])).toEqual({ data: Float32Array.from([0, 1]), shape: [2, 1, 1] });
  });
});

describe('Lambda on channel-first volumes (MONAI\'s Lambdad)', () => {
  it('hands func the whole [C, X, Y, Z] volume and keeps what it returns, of any channel count', () => {
    const image = indexImage([3, 2, 1, 1]);
    const seen: LambdaVolume['shape'][] = [];
    const secondChannel = new Lambda({
      keys: 'image',
      func: (v) => {
        seen.push(v.shape);
        const [, X, Y, Z] = v.shape as [number, number, number, number];
        const n = X * Y * Z;
        return { data: v.data.slice(n, 2 * n), shape: [1, X, Y, Z] };
      },
    });
    const out = new Compose<{ image: LambdaVolume }, false>([secondChannel]).apply({ image, id: 'c0' });
    expect(seen).toEqual([[3, 2, 1, 1]]);
    expect(out).toEqual({ image: { data: Float32Array.from([3, 4]), shape: [1, 2, 1, 1] }, id: 'c0' });
    expect(image.data).toEqual(indexImage([3, 2, 1, 1]).data);
  });

  it('still takes a function written for [X, Y, Z] volumes (type-checked by tsc)', () => {
    const negate = (v: Volume<Float32Array | Uint8Array>): Volume<Float32Array | Uint8Array> => ({ data: v.data.map((x) => -x), shape: v.shape });
    const image = { data: Float32Array.from([1, 2]), shape: [2, 1, 1] as Shape3 };
    expect(new Lambda({ keys: 'image', func: negate }).apply({ image }).image).toEqual({ data: Float32Array.from([-1, -2]), shape: [2, 1, 1] });
  });

  it('may turn a volume [X, Y, Z] into a channel-first one, and checks a channel-first result', () => {
    const label = { data: Uint8Array.from([0, 1]), shape: [2, 1, 1] as Shape3 };
    const addChannel = new Lambda({ keys: 'label', func: (v) => ({ data: v.data, shape: [1, ...(v.shape as Shape3)] }) });
    expect(addChannel.apply({ label }).label).toEqual({ data: Uint8Array.from([0, 1]), shape: [1, 2, 1, 1] });
    const wrong = new Lambda({ keys: 'image', func: (v) => ({ data: v.data, shape: [2, 2, 1, 1] }) });
    expect(() => wrong.apply({ image: indexImage([3, 2, 1, 1]) }))
      .toThrow(/^Lambda \(func's result\): key 'image' is not a channel-first image .*\(shape \[2,2,1,1\]\)$/);
  });
});

describe('ResizeWithPadOrCrop (MONAI\'s ResizeWithPadOrCropd)', () => {
  it('by hand: a longer axis cropped about its centre, a shorter one padded (symmetric: ⌊d/2⌋ before) or at the end', () => {
    const image = { data: Float32Array.from([1, 2, 3, 4, 5]), shape: [5, 1, 1] as Shape3 };
    expect([...new ResizeWithPadOrCrop({ keys: 'image', spatialSize: [3, 1, 1] }).apply({ image }).image.data]).toEqual([2, 3, 4]);
    expect([...new ResizeWithPadOrCrop({ keys: 'image', spatialSize: [8, -1, 0] }).apply({ image }).image.data]).toEqual([0, 1, 2, 3, 4, 5, 0, 0]);
    expect([...new ResizeWithPadOrCrop({ keys: 'image', spatialSize: [1, 1, 7], method: 'end' }).apply({ image: { ...image, shape: [1, 1, 5] as Shape3 } }).image.data])
      .toEqual([1, 2, 3, 4, 5, 0, 0]);
    expect(() => new ResizeWithPadOrCrop({ keys: 'image', spatialSize: 2, method: 'edge' as 'end' })).toThrow(/^ResizeWithPadOrCrop: method must be 'symmetric' or 'end', got "edge"$/);
  });

  it('is SpatialPad then CenterSpatialCrop on channel-first keys of any channel counts, the output of the requested size', () => {
    const side = fc.integer({ min: 1, max: 5 });
    fc.assert(fc.property(fc.tuple(side, side, side), fc.tuple(fc.integer({ min: -1, max: 6 }), fc.integer({ min: -1, max: 6 }), fc.integer({ min: -1, max: 6 })),
      fc.constantFrom<'symmetric' | 'end'>('symmetric', 'end'), (shape, spatialSize, method) => {
        const sample = { image: indexImage([2, ...shape]), label: { data: Uint8Array.from(indexImage([1, ...shape]).data), shape: [1, ...shape] as [number, number, number, number] } };
        const keys = ['image', 'label'];
        const got = new ResizeWithPadOrCrop({ keys, spatialSize, method }).apply(sample);
        const want = new Compose<object, false>([new SpatialPad({ keys, spatialSize, method }), new CenterSpatialCrop({ keys, roiSize: spatialSize })]).apply(sample);
        // the volumes only: each transform also records itself under image_transforms / label_transforms (one record against two)
        expect({ image: got.image, label: got.label }).toEqual({ image: want.image, label: want.label });
        expect(got.image.shape).toEqual([2, ...spatialSize.map((s, a) => (s > 0 ? s : shape[a]))]);
      }));
  });
});
