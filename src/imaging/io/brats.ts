/**
 * BraTS-style NIfTI folders as a {@link CaseSource}, with the preprocessing of la-protocol §7.
 *
 * Layout: case `<id>` is found as `<id>_flair.nii.gz` (or `.nii`) with an optional
 * `<id>_seg.nii.gz` next to it, either flat in the root, in `<root>/<id>/`, or one level deeper
 * (`<root>/HGG/<id>/`, `<root>/LGG/<id>/`, the official BraTS 2019 layout). A case without a seg
 * file loads with `label: null`.
 *
 * Split: `train.list` and `test.list` in the root (one id per line; optional `val.list`) when
 * present. Otherwise a deterministic split: the ids sorted by code point, shuffled with
 * Rng(hashSeed('brats-split', splitSeed)) (default splitSeed 0), then the first
 * n − round(n·25/335) − round(n·60/335) are train, the next round(n·25/335) val and the last
 * round(n·60/335) test — the 250 / 25 / 60 proportions of the semi-supervised papers. Training
 * ids stay in the shuffled order, so "labeled = the first N training ids" is a random subset.
 *
 * Preprocessing (per case, {@link preprocessBrats}):
 * 1. whole tumour: label = seg > 0;
 * 2. crop image and label to the bounding box of the nonzero FLAIR voxels (inclusive; the
 *    reference script's `min:max` slicing drops the last index, we keep it);
 * 3. clip the intensities from above at the 99.9th percentile of the cropped volume (all voxels,
 *    zeros included; the smallest value whose empirical CDF reaches 0.999, as skimage's
 *    `cumulative_distribution` used by the reference does);
 * 4. z-score with the mean and (population) std of the voxels > 0, applied to every voxel. The
 *    reference then overwrites the zero voxels with N(0, 1) noise; that is off by default here
 *    (`backgroundNoise: true` turns it on, seeded from the case id, so it stays deterministic).
 */

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { cachedLoad, Lru } from './lru.js';
import { readNifti } from './nifti.js';
import { Rng, hashSeed } from '../random.js';
import { cropOrPad, generateSpatialBoundingBox } from '../transforms-spatial.js';
import { fileProblem, type Case, type CaseSource, type Shape3, type SourceDescription, type Volume } from '../volume.js';

export interface BratsOptions {
  /** Cases kept in memory (LRU). Default 16. */
  cacheSize?: number;
  /** Seed of the deterministic split when there are no list files. Default 0. */
  splitSeed?: number;
  /** Fill the zero (background) voxels with N(0, 1) noise after the z-score, as the reference does. Default false. */
  backgroundNoise?: boolean;
}

export interface BratsCaseFiles {
  id: string;
  flair: string;
  seg: string | null;
}

const FLAIR_RE = /^(.+)_flair\.nii(\.gz)?$/;

function findSeg(dir: string, id: string): string | null {
  for (const ext of ['.nii.gz', '.nii']) {
    const p = path.join(dir, `${id}_seg${ext}`);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Finds the cases under a BraTS root (flat, `<id>/`, or `<group>/<id>/`). Sorted by id. */
export function discoverBratsCases(root: string): BratsCaseFiles[] {
  const found = new Map<string, BratsCaseFiles>();
  const scan = (dir: string, depth: number): void => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (e) {
      throw new Error(`BraTS ${dir}: cannot list folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (depth < 2) scan(full, depth + 1);
        continue;
      }
      const m = FLAIR_RE.exec(e.name);
      if (!m) continue;
      const id = m[1]!;
      const prev = found.get(id);
      if (prev) {
        if (path.dirname(prev.flair) !== dir) throw new Error(`BraTS ${root}: case '${id}' found twice: ${prev.flair} and ${full}`);
        // both <id>_flair.nii and <id>_flair.nii.gz in one folder: the .nii.gz wins
        if (full.endsWith('.gz')) found.set(id, { id, flair: full, seg: prev.seg });
        continue;
      }
      found.set(id, { id, flair: full, seg: findSeg(dir, id) });
    }
  };
  scan(root, 0);
  return [...found.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function readList(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * The value at the q-quantile (0 < q <= 1) in the "inverted CDF" sense: the smallest v with
 * #{x <= v} / n >= q.
 */
export function quantileLower(data: Float32Array, q: number): number {
  if (data.length === 0) return NaN;
  const s = Float32Array.from(data).sort();
  const k = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length - 1e-9) - 1));
  return s[k]!;
}

/** Bounding box [lo, hi] (inclusive) of the nonzero voxels, or null when all are zero. */
export function nonzeroBoundingBox(v: Volume<Float32Array>): { lo: Shape3; hi: Shape3 } | null {
  const { start, end } = generateSpatialBoundingBox(v, { selectFn: (x) => x !== 0 });
  return end[0] === 0 ? null : { lo: start, hi: [end[0] - 1, end[1] - 1, end[2] - 1] };
}

/** The inclusive box [lo, hi] of `v`. */
function cropBox<T extends Float32Array | Uint8Array>(v: Volume<T>, lo: Shape3, hi: Shape3): Volume<T> {
  return cropOrPad(v, lo, [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1]);
}

/**
 * la-protocol §7 preprocessing of one case (see the module comment). `name` is used in errors.
 */
export function preprocessBrats(
  flair: Volume<Float32Array>,
  seg: Volume<Float32Array> | null,
  opts: { name?: string; backgroundNoise?: boolean; noiseSeed?: number } = {},
): { image: Volume<Float32Array>; label: Volume<Uint8Array> | null; box: { lo: Shape3; hi: Shape3 } } {
  const name = opts.name ?? 'case';
  if (seg && seg.shape.some((s, i) => s !== flair.shape[i])) {
    throw new Error(`BraTS ${name}: flair shape [${flair.shape.join(', ')}] differs from seg shape [${seg.shape.join(', ')}]`);
  }
  for (let i = 0; i < flair.data.length; i++) {
    if (!Number.isFinite(flair.data[i]!)) throw new Error(`BraTS ${name}: non-finite flair value at flat index ${i}`);
  }
  const box = nonzeroBoundingBox(flair);
  if (!box) throw new Error(`BraTS ${name}: flair image is all zero (no brain)`);
  const img = cropBox(flair, box.lo, box.hi);
  let label: Volume<Uint8Array> | null = null;
  if (seg) {
    const wt: Volume<Uint8Array> = { data: new Uint8Array(seg.data.length), shape: seg.shape };
    for (let i = 0; i < seg.data.length; i++) wt.data[i] = seg.data[i]! > 0 ? 1 : 0;
    label = cropBox(wt, box.lo, box.hi);
  }
  const d = img.data;
  const cap = quantileLower(d, 0.999);
  for (let i = 0; i < d.length; i++) if (d[i]! > cap) d[i] = cap;
  let n = 0;
  let mean = 0;
  for (let i = 0; i < d.length; i++) if (d[i]! > 0) { n++; mean += d[i]!; }
  if (n === 0) throw new Error(`BraTS ${name}: no positive flair voxels to normalize`);
  mean /= n;
  let varr = 0;
  for (let i = 0; i < d.length; i++) if (d[i]! > 0) varr += (d[i]! - mean) ** 2;
  const std = Math.sqrt(varr / n) || 1;
  const rng = opts.backgroundNoise ? new Rng(opts.noiseSeed ?? 0) : null;
  for (let i = 0; i < d.length; i++) {
    const zero = d[i] === 0;
    d[i] = (d[i]! - mean) / std;
    if (zero && rng) d[i] = rng.normal();
  }
  return { image: img, label, box };
}

/** A BraTS-style folder of NIfTI cases. */
export class BratsSource implements CaseSource {
  readonly name = 'BraTS';
  readonly root: string;
  readonly #files = new Map<string, BratsCaseFiles>();
  readonly #train: string[];
  readonly #val: string[];
  readonly #test: string[];
  readonly #backgroundNoise: boolean;
  readonly #splitSeed: number;
  readonly #cache: Lru<Promise<Case>>;

  constructor(root: string, opts: BratsOptions = {}) {
    this.root = path.resolve(root);
    let isDir = false;
    try {
      isDir = statSync(this.root).isDirectory();
    } catch {
      throw new Error(`BraTS ${this.root}: missing data root folder`);
    }
    if (!isDir) throw new Error(`BraTS ${this.root}: data root is not a folder`);
    for (const c of discoverBratsCases(this.root)) this.#files.set(c.id, c);
    if (this.#files.size === 0) throw new Error(`BraTS ${this.root}: no <case>_flair.nii(.gz) files found`);
    this.#cache = new Lru(opts.cacheSize ?? 16);
    this.#backgroundNoise = opts.backgroundNoise ?? false;
    this.#splitSeed = opts.splitSeed ?? 0;
    const trainList = path.join(this.root, 'train.list');
    const testList = path.join(this.root, 'test.list');
    const valList = path.join(this.root, 'val.list');
    if (existsSync(trainList) || existsSync(testList)) {
      if (!existsSync(trainList)) throw new Error(`BraTS ${trainList}: missing list file (test.list exists)`);
      if (!existsSync(testList)) throw new Error(`BraTS ${testList}: missing list file (train.list exists)`);
      this.#train = readList(trainList);
      this.#test = readList(testList);
      this.#val = existsSync(valList) ? readList(valList) : [];
      for (const [file, ids] of [[trainList, this.#train], [testList, this.#test], [valList, this.#val]] as const) {
        for (const id of ids) if (!this.#files.has(id)) throw new Error(`BraTS ${file}: case '${id}' has no ${id}_flair.nii(.gz) under the root`);
      }
    } else {
      const ids = [...this.#files.keys()];
      new Rng(hashSeed('brats-split', this.#splitSeed)).shuffle(ids);
      const n = ids.length;
      const nTest = Math.round((n * 60) / 335);
      const nVal = Math.round((n * 25) / 335);
      this.#train = ids.slice(0, n - nVal - nTest);
      this.#val = ids.slice(n - nVal - nTest, n - nTest);
      this.#test = ids.slice(n - nTest);
    }
  }

  trainIds(): string[] {
    return [...this.#train];
  }

  testIds(): string[] {
    return [...this.#test];
  }

  valIds(): string[] {
    return [...this.#val];
  }

  /** The first n training ids (labeled set: 25 = 10 %, 50 = 20 % on BraTS2019). */
  labeledIds(n: number): string[] {
    if (!Number.isInteger(n) || n < 0 || n > this.#train.length) throw new Error(`BratsSource: labeled count ${n} not in [0, ${this.#train.length}]`);
    return this.#train.slice(0, n);
  }

  unlabeledIds(n: number): string[] {
    return this.#train.slice(this.labeledIds(n).length);
  }

  describe(): SourceDescription {
    return { kind: 'brats', root: this.root, splitSeed: this.#splitSeed, backgroundNoise: this.#backgroundNoise };
  }

  /** The files of a case. */
  caseFiles(id: string): BratsCaseFiles {
    const f = this.#files.get(id);
    if (!f) throw new Error(`BraTS ${this.root}: unknown case '${id}'`);
    return { ...f };
  }

  /** Before training: every file of the given cases is still there and a regular file (a stat each). */
  async checkCases(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const f = this.#files.get(id);
      if (!f) throw new Error(`BraTS ${this.root}: unknown case '${id}'`);
      for (const file of [f.flair, ...(f.seg ? [f.seg] : [])]) {
        const problem = await fileProblem(file);
        if (problem) throw new Error(`BraTS ${file}: ${problem}`);
      }
    }
  }

  load(id: string): Promise<Case> {
    const files = this.#files.get(id);
    if (!files) return Promise.reject(new Error(`BraTS ${this.root}: unknown case '${id}'`));
    return cachedLoad(this.#cache, id, async (): Promise<Case> => {
      const [flair, seg] = await Promise.all([readNifti(files.flair), files.seg ? readNifti(files.seg) : Promise.resolve(null)]);
      const r = preprocessBrats(flair.volume, seg ? seg.volume : null, {
        name: files.flair,
        backgroundNoise: this.#backgroundNoise,
        noiseSeed: hashSeed('brats-noise', id),
      });
      return { id, image: r.image, label: r.label };
    });
  }
}
