/**
 * MONAI's ConvertToMultiChannelBasedOnBratsClassesd: a BraTS label (1 necrotic and non-enhancing tumour core,
 * 2 peritumoral oedema, 4 GD-enhancing tumour) to its three overlapping regions.
 */
import type { MultiChannelVolume } from './sliding-window.js';
import { keyList, readVolume, withVolumes, type Transform } from './transforms.js';
import type { Volume } from './volume.js';

/** The BraTS regions in MONAI's channel order: tumour core, whole tumour, enhancing tumour. */
export const BRATS_REGIONS = [
  { name: 'TC', labels: [1, 4] },
  { name: 'WT', labels: [1, 2, 4] },
  { name: 'ET', labels: [4] },
] as const;

export interface ConvertToMultiChannelBasedOnBratsClassesOptions {
  /** the label volumes to convert (uint8 or float BraTS labels [X, Y, Z]) */
  keys: string | readonly string[];
  /**
   * Instead of a channel-first image under the key, the three regions as uint8 volumes [X, Y, Z] under these keys (TC,
   * WT, ET; the label stays): what the spatial transforms can crop and flip with the images. Needs a single key.
   */
  regionKeys?: readonly [string, string, string];
}

/**
 * MONAI's `ConvertToMultiChannelBasedOnBratsClassesd`: each label under `keys` becomes MONAI's channel-first [3, X, Y,
 * Z] of TC (label 1 or 4), WT (1, 2 or 4) and ET (4), as a `MultiChannelVolume`: float 0/1 (MONAI's is bool; the
 * values go to the loss as float targets, and a channel-first image is float here), channel c at
 * `data.subarray(c·X·Y·Z, (c + 1)·X·Y·Z)`, so a batch of them is the target [B, 3, X, Y, Z] as it lies.
 *
 * The spatial transforms move the channel-first result with the images, as MONAI's tutorial does (give Resize and
 * Spacing mode 'nearest' for it); `regionKeys` gives three uint8 volumes [X, Y, Z] instead.
 */
export class ConvertToMultiChannelBasedOnBratsClasses implements Transform {
  readonly #keys: string[];
  readonly #regionKeys: readonly [string, string, string] | null;

  constructor(opts: ConvertToMultiChannelBasedOnBratsClassesOptions) {
    const name = 'ConvertToMultiChannelBasedOnBratsClasses';
    this.#keys = keyList(opts.keys, name);
    const regionKeys = opts.regionKeys ?? null;
    if (regionKeys !== null) {
      keyList(regionKeys, `${name}: regionKeys`);
      if (regionKeys.length !== 3) throw new Error(`${name}: regionKeys must be three keys (TC, WT, ET), got ${JSON.stringify(regionKeys)}`);
      if (this.#keys.length !== 1) throw new Error(`${name}: regionKeys needs a single key, got keys ${JSON.stringify(this.#keys)}`);
    }
    this.#regionKeys = regionKeys && [...regionKeys];
  }

  apply<T extends object>(data: T): T {
    const labels = this.#keys.map((k) => readVolume(data, k, 'ConvertToMultiChannelBasedOnBratsClasses'));
    if (this.#regionKeys) {
      const label = labels[0]!;
      const regions = BRATS_REGIONS.map(({ labels: values }): Volume<Uint8Array> => ({
        data: Uint8Array.from(label.data, (v) => (inRegion(values, v) ? 1 : 0)), shape: [...label.shape],
      }));
      return withVolumes(data, this.#regionKeys, regions);
    }
    return withVolumes(data, this.#keys, labels.map((label): MultiChannelVolume => {
      const n = label.data.length, out = new Float32Array(3 * n);
      BRATS_REGIONS.forEach(({ labels: values }, c) => {
        for (let i = 0; i < n; i++) out[c * n + i] = inRegion(values, label.data[i]!) ? 1 : 0;
      });
      return { data: out, shape: [3, ...label.shape] };
    }));
  }
}

const inRegion = (labels: readonly number[], value: number): boolean => labels.includes(value);
