/**
 * MONAI's inverse of a preprocessing pipeline (dictionary form). Every invertible spatial transform (the pads, the
 * crops, Flip, Rotate90, Orientation, Spacing, Resize, Zoom, Affine and their random forms) records what it did to
 * each key under `<key>_transforms` (a list of `TransformRecord`s, the last applied last: the region of a crop or
 * pad, the axes of a flip or turn, the sizes, ratios or matrix of a resampling, the shapes before and after, and the
 * sample's affine and spacing before), and its `inverse(sample)` undoes its last record and pops it;
 * `Compose.inverse` undoes its steps in reverse order. `Invert` (MONAI's `Invertd`) replays the records of an
 * original key such as 'image' backwards onto another key such as a model's 'pred', which maps a prediction made in
 * the transformed space back onto the original grid, affine and spacing.
 */
import { keyList, readChannels, transformsKey, withVolumes, type InverseOptions, type SampleTransform, type TransformRecord } from './transforms.js';

/** What `Invert` follows: a Compose (or one invertible transform) whose records the samples carry. */
export interface Invertible {
  inverse<T extends object>(data: T, opts?: InverseOptions): T;
}

export interface InvertOptions {
  /** The keys to map back (a model's prediction, 'pred'). */
  keys: string | readonly string[];
  /** The pipeline (or transform) whose records to follow backwards. */
  transform: Invertible;
  /** The key whose records are replayed onto each of `keys` ('image'): one for all keys, or one per key. */
  origKeys: string | readonly string[];
  /**
   * Resample with nearest-neighbour interpolation whatever the forward used (MONAI's `nearest_interp`, default
   * true: labels and argmax maps keep their values), once or per key. False uses each transform's mode for the
   * original key (a Uint8Array prediction is still resampled with 'nearest' where that key had no mode given).
   */
  nearestInterp?: boolean | readonly boolean[];
  /**
   * Write the original geometry the records hold (the sample's affine and spacing entries before the pipeline) into
   * the sample, as MONAI puts it in the inverted key's metadata, so that a SaveImage of the inverted key writes it on
   * the original grid. Default true. The other keys (the transformed 'image') are left as they are.
   */
  writeGeometry?: boolean;
}

/**
 * MONAI's `Invertd`: for each of `keys`, the records of its `origKeys` entry are replayed backwards onto it through
 * `transform.inverse` (with nearest interpolation unless told otherwise), so a prediction made on the preprocessed
 * image comes back on the original grid. The original key's own records and volume are not touched. The key must
 * have the spatial shape the original key's last record left (its channel count is free).
 */
export class Invert implements SampleTransform {
  readonly #keys: string[];
  readonly #origKeys: string[];
  readonly #nearest: boolean[];
  readonly #transform: Invertible;
  readonly #writeGeometry: boolean;

  constructor(opts: InvertOptions) {
    const name = 'Invert';
    this.#keys = keyList(opts.keys, name);
    const orig = keyList(opts.origKeys, `${name} (origKeys)`);
    if (orig.length !== 1 && orig.length !== this.#keys.length) {
      throw new Error(`${name}: origKeys must be one key or one per key (${this.#keys.length} keys), got ${JSON.stringify(opts.origKeys)}`);
    }
    this.#origKeys = this.#keys.map((_, i) => orig[orig.length === 1 ? 0 : i]!);
    const nearest = opts.nearestInterp ?? true;
    const list = typeof nearest === 'boolean' ? this.#keys.map(() => nearest) : Array.isArray(nearest) ? [...nearest] : [];
    if (list.length !== this.#keys.length || !list.every((x) => typeof x === 'boolean')) {
      throw new Error(`${name}: nearestInterp must be a boolean or one per key (${this.#keys.length} keys), got ${JSON.stringify(opts.nearestInterp)}`);
    }
    this.#nearest = list;
    if (typeof opts.transform?.inverse !== 'function') {
      throw new Error(`${name}: transform must be the Compose (or invertible transform) that made the records, one with an inverse(sample) method`);
    }
    this.#transform = opts.transform;
    this.#writeGeometry = opts.writeGeometry ?? true;
  }

  apply<T extends object>(data: T): T {
    const name = 'Invert';
    const d = data as Record<string, unknown>;
    const geometry: Record<string, unknown> = {};
    // a key inverted onto itself (keys 'image', origKeys 'image') leaves its records popped
    const lists: Record<string, unknown> = {};
    const volumes = this.#keys.map((key, i) => {
      const origKey = this.#origKeys[i]!;
      const shape = readChannels(data, key, name).shape;
      const records = d[transformsKey(origKey)];
      if (!Array.isArray(records)) {
        throw new Error(`${name}: the sample has no '${transformsKey(origKey)}' (origKey '${origKey}'): run the transform on a sample with key '${origKey}' first`);
      }
      const last = records[records.length - 1] as TransformRecord | undefined;
      if (last && shape.some((s, a) => s !== last.outSize[a])) {
        throw new Error(`${name}: key '${key}' has spatial shape [${shape.join(', ')}], the transforms left origKey '${origKey}' at [${last.outSize.join(', ')}]`);
      }
      const inverted = this.#transform.inverse({ [origKey]: d[key], [transformsKey(origKey)]: records }, { nearest: this.#nearest[i]! }) as Record<string, unknown>;
      for (const [k, v] of Object.entries(inverted)) if (k !== origKey && k !== transformsKey(origKey)) geometry[k] = v;
      if (key === origKey) lists[transformsKey(key)] = inverted[transformsKey(origKey)];
      return readChannels(inverted, origKey, `${name} (the inverse of '${key}')`).volume;
    });
    const out = { ...withVolumes(data, this.#keys, volumes), ...lists };
    return (this.#writeGeometry ? { ...out, ...geometry } : out) as T;
  }
}
