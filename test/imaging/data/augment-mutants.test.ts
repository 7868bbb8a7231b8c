import { describe, expect, it } from 'vitest';
import {
  applyAugment,
  applyAugmentInto,
  centerParams,
  cropVolume,
  flipAxis,
  randomRotFlipCrop,
  resolveAugment,
} from '../../../src/imaging/data/augment.js';
import { Rng } from '../../../src/imaging/random.js';
import type { Shape3, Volume } from '../../../src/imaging/volume.js';

/** Checks that mutation testing found unchecked: the z flip, the bounds of applyAugmentInto's writes, the error texts. */

const escape = (s: string): RegExp => new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

function ramp(shape: Shape3): Volume<Float32Array> {
  return { data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => i + 1), shape };
}

describe('flipAxis', () => {
  it('axis 2 is np.flip(m, 2): each (x, y) row reversed along z', () => {
    expect(Array.from(flipAxis(ramp([2, 2, 3]), 2).data)).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10]);
  });
});

describe('applyAugmentInto', () => {
  // rotated shape [4, 5, 3]; z (3 <= 3) triggers the padding [2, 2, 3]; rows a = 0, 1 fall in the zeros, the last
  // row (a, b) = (2, 2) holds data
  const src = ramp([5, 4, 3]);
  const p = resolveAugment({ k: 1, flipAxis: 1, u: [0, 0.7, 0.5] }, src.shape, [3, 3, 3]);

  it('writes exactly dst[dstOffset, dstOffset + patch volume), zeros included, over what was there', () => {
    expect(p.pad).toEqual([2, 2, 3]);
    expect(p.offset).toEqual([0, 4, 3]);
    const patch = applyAugment(src, p).data;
    expect(patch.some((v) => v === 0) && patch.some((v) => v !== 0)).toBe(true);
    const dst = new Float32Array(5 + 27 + 5).fill(7);
    applyAugmentInto(src, p, dst, 5);
    expect(Array.from(dst.subarray(0, 5))).toEqual([7, 7, 7, 7, 7]);
    expect(Array.from(dst.subarray(5, 32))).toEqual(Array.from(patch));
    expect(Array.from(dst.subarray(32))).toEqual([7, 7, 7, 7, 7]);
  });

  it('refuses a destination that cannot hold the patch at the offset', () => {
    const err = escape('applyAugmentInto: destination too small');
    const q = resolveAugment({ k: 0, flipAxis: 0, u: [0, 0, 0] }, [6, 6, 6], [2, 3, 4]); // 24 voxels, P ≠ Q ≠ R
    expect(() => applyAugmentInto(ramp([6, 6, 6]), q, new Float32Array(23))).toThrow(err);
    expect(() => applyAugmentInto(ramp([6, 6, 6]), q, new Float32Array(48), 25)).toThrow(err);
    expect(() => applyAugmentInto(ramp([6, 6, 6]), q, new Float32Array(48), -1)).toThrow(err);
    const fits = new Float32Array(48);
    applyAugmentInto(ramp([6, 6, 6]), q, fits, 24);
    expect(Array.from(fits.subarray(24))).toEqual(Array.from(applyAugment(ramp([6, 6, 6]), q).data));
  });
});

describe('error texts', () => {
  it('cropVolume refuses a negative offset, naming the crop and the shape', () => {
    expect(() => cropVolume(ramp([3, 3, 1]), [-1, 0, 0], [2, 2, 1])).toThrow(escape('cropVolume: crop [-1, 0, 0] + [2, 2, 1] outside shape [3, 3, 1]'));
  });

  it('a patch of two sides is refused', () => {
    expect(() => centerParams([5, 5, 5], [4, 4] as unknown as Shape3)).toThrow(escape('augment: patch must be three positive integers, got [4,4]'));
  });

  it('an image and label of different shapes are named', () => {
    const label: Volume<Uint8Array> = { data: new Uint8Array(48), shape: [4, 4, 3] };
    expect(() => randomRotFlipCrop(ramp([4, 4, 4]), label, [2, 2, 2], new Rng(0))).toThrow(
      escape('augment: image shape [4, 4, 4] differs from label shape [4, 4, 3]'),
    );
  });
});
