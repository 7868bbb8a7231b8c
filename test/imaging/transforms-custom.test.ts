import { describe, expect, it } from 'vitest';
import {
  Compose, RandFlip, Rng, checkProb, keyList, readImage, readSameShape, readVolume, requireRng, withVolumes, type Transform, type Volume,
} from 'voxgrad/imaging';

/**
 * A user's own dictionary transforms, written as the built-in ones are (MONAI's MapTransform): the checked readers
 * and the sample copy come from `voxgrad/imaging`.
 */
class ConvertToMultiChannelBasedOnBratsClasses implements Transform {
  constructor(readonly key: string) {}
  apply<T extends object>(data: T): T {
    const label = readVolume(data, this.key, 'ConvertToMultiChannelBasedOnBratsClasses');
    const region = (test: (v: number) => boolean): Volume<Uint8Array> => ({ data: Uint8Array.from(label.data, (v) => (test(v) ? 1 : 0)), shape: label.shape });
    return withVolumes(data, ['tc', 'wt', 'et'], [region((v) => v === 1 || v === 4), region((v) => v > 0), region((v) => v === 4)]);
  }
}

class RandInvert implements Transform {
  readonly #keys: string[];
  readonly #prob: number;
  constructor(opts: { keys: string | readonly string[]; prob: number }) {
    this.#keys = keyList(opts.keys, 'RandInvert');
    this.#prob = checkProb(opts.prob, 'RandInvert');
  }
  apply<T extends object>(data: T, rng?: Rng): T {
    const images = this.#keys.map((k) => readImage(data, k, 'RandInvert'));
    readSameShape(data, this.#keys, 'RandInvert');
    if (requireRng(rng, 'RandInvert').random() >= this.#prob) return data;
    return withVolumes(data, this.#keys, images.map(({ image }) => ({ ...image, data: image.data.map((x) => -x) })));
  }
}

describe('custom dictionary transforms from the exported machinery', () => {
  it('a transform that adds keys and a random one run in a Compose with the built-ins, and their checks name them', () => {
    const label: Volume<Uint8Array> = { data: Uint8Array.of(0, 1, 2, 4, 4, 2, 1, 0), shape: [2, 2, 2] };
    const image: Volume = { data: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), shape: [2, 2, 2] };
    const pipeline = new Compose([
      new ConvertToMultiChannelBasedOnBratsClasses('label'),
      new RandInvert({ keys: 'image', prob: 1 }),
      new RandFlip({ keys: ['image', 'tc'], prob: 0 }),
    ]);
    // Compose's result is typed as its input: the keys a transform adds need a cast
    type Regions = { tc: Volume<Uint8Array>; wt: Volume<Uint8Array>; et: Volume<Uint8Array> };
    const [out] = pipeline.applyAll({ image, label }, new Rng(0)) as ({ image: Volume; label: Volume<Uint8Array> } & Regions)[];
    expect(Array.from(out!.tc.data)).toEqual([0, 1, 0, 1, 1, 0, 1, 0]);
    expect(Array.from(out!.wt.data)).toEqual([0, 1, 1, 1, 1, 1, 1, 0]);
    expect(Array.from(out!.et.data)).toEqual([0, 0, 0, 1, 1, 0, 0, 0]);
    expect(Array.from(out!.image.data)).toEqual([-1, -2, -3, -4, -5, -6, -7, -8]);
    expect(Array.from(image.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]); // the input is left alone
    expect(() => new ConvertToMultiChannelBasedOnBratsClasses('seg').apply({ label })).toThrow(/ConvertToMultiChannelBasedOnBratsClasses: key 'seg' is missing/);
    expect(() => new RandInvert({ keys: 'label', prob: 1 }).apply({ label }, new Rng(0))).toThrow(/RandInvert: key 'label' holds a Uint8Array/);
    expect(() => new RandInvert({ keys: 'image', prob: 1 }).apply({ image })).toThrow(/RandInvert: a random transform needs an Rng/);
    expect(() => new RandInvert({ keys: [], prob: 2 })).toThrow(/RandInvert: keys must be/);
  });
});
