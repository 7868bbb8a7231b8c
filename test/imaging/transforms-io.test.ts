import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CacheDataset, Compose, DataLoader, Dataset, EnsureChannelFirst, LoadImage, RandFlip, Spacing, affineToSpacing, writeNifti,
} from '../../src/imaging.js';
import type { MultiChannelVolume, Volume } from '../../src/imaging/volume.js';
import { cpu } from '../helpers/backends.js';

/** MONAI's LoadImaged (NIfTI) and EnsureChannelFirstd, and a pipeline from file paths to batches. */

let dir = '';
beforeAll(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-transforms-io-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });
const file = (name: string): string => path.join(dir, name);

/** R_z(θ) · diag(2, 3, 4) with an offset: columns of norms 2, 3, 4 whatever θ. */
const theta = Math.PI / 6;
const oblique = [
  [2 * Math.cos(theta), -3 * Math.sin(theta), 0, -10],
  [2 * Math.sin(theta), 3 * Math.cos(theta), 0, 5],
  [0, 0, 4, 7.5],
  [0, 0, 0, 1],
];
const diag = [[1.5, 0, 0, 0], [0, 1.5, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]];
/** NIfTI-1 keeps the sform in float32. */
const asStored = (a: number[][]): number[][] => a.map((row, r) => (r === 3 ? row : row.map((v) => Math.fround(v))));

const image = (shape: [number, number, number], offset = 0): Volume => ({ data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => i * 0.5 + offset), shape });

describe('LoadImage', () => {
  it('a 3-D file to a volume [X, Y, Z], the affine and the spacing (the norms of its columns) under their keys; other keys kept', () => {
    const img = image([3, 2, 4]);
    writeNifti(file('ct.nii.gz'), img, { affine: oblique });
    const out = new LoadImage({ keys: 'image' }).apply({ image: file('ct.nii.gz'), id: 7 }) as unknown as { image: Volume; affine: number[][]; spacing: number[]; id: number };
    expect(out.image).toEqual(img);
    expect(out.affine).toEqual(asStored(oblique));
    out.spacing.forEach((s, a) => expect(s).toBeCloseTo([2, 3, 4][a]!, 5));
    expect(out.id).toBe(7);
    expect(affineToSpacing([[0, -2, 0, 1], [3, 0, 0, 2], [0, 0, 1.5, 3], [0, 0, 0, 1]])).toEqual([3, 2, 1.5]);
  });

  it('ensureChannelFirst gives [1, X, Y, Z]; a 4-D file is [C, X, Y, Z]; a list of files is the channels of one image', () => {
    const a = image([2, 2, 3]), b = image([2, 2, 3], 100);
    writeNifti(file('a.nii'), a, { affine: diag });
    writeNifti(file('b.nii'), b, { affine: diag });
    const four: MultiChannelVolume = { data: Float32Array.from({ length: 2 * 12 }, (_, i) => i), shape: [2, 2, 2, 3] };
    writeNifti(file('four.nii'), four, { affine: diag });
    const one = new LoadImage({ keys: 'image', ensureChannelFirst: true }).apply({ image: file('a.nii') }) as unknown as { image: MultiChannelVolume };
    expect(one.image).toEqual({ data: a.data, shape: [1, 2, 2, 3] });
    expect((new LoadImage({ keys: 'image' }).apply({ image: file('four.nii') }) as unknown as { image: MultiChannelVolume }).image).toEqual(four);
    const stacked = new LoadImage({ keys: 'image' }).apply({ image: [file('a.nii'), file('b.nii')] }) as unknown as { image: MultiChannelVolume; spacing: number[] };
    expect(stacked.image).toEqual({ data: Float32Array.from([...a.data, ...b.data]), shape: [2, 2, 2, 3] });
    expect(stacked.spacing).toEqual([1.5, 1.5, 2]);
    const three = new LoadImage({ keys: 'image' }).apply({ image: [file('four.nii'), file('a.nii')] }) as unknown as { image: MultiChannelVolume };
    expect(three.image.shape).toEqual([3, 2, 2, 3]);
  });

  it('dtype uint8 for labels (integers 0..255, checked); image and label share the affine and spacing entries', () => {
    const label: Volume<Uint8Array> = { data: Uint8Array.from({ length: 12 }, (_, i) => i % 3), shape: [2, 2, 3] };
    writeNifti(file('seg.nii.gz'), label, { affine: diag });
    writeNifti(file('img.nii.gz'), image([2, 2, 3]), { affine: diag });
    const out = new LoadImage({ keys: ['image', 'label'], dtype: 'uint8', affineKey: 'world' }).apply({ image: file('seg.nii.gz'), label: file('seg.nii.gz') }) as unknown as { label: Volume<Uint8Array>; world: number[][] };
    expect(out.label).toEqual(label);
    expect(out.world).toEqual(diag);
    expect(() => new LoadImage({ keys: 'image', dtype: 'uint8' }).apply({ image: file('img.nii.gz') }))
      .toThrow(new RegExp(`LoadImage: key 'image' \\(${file('img.nii.gz').replace(/[.\\]/g, '\\$&')}\\): dtype 'uint8' needs integer values 0..255, voxel 1 is 0.5`));
    const both = new LoadImage({ keys: ['image', 'label'] }).apply({ image: file('img.nii.gz'), label: file('seg.nii.gz') }) as unknown as { image: Volume; label: Volume };
    expect(both.label.data).toBeInstanceOf(Float32Array);
  });

  it("each key's file goes to <key>_filename (the first of a list), or under another postfix, or nowhere", () => {
    writeNifti(file('f1.nii'), image([2, 2, 2]), { affine: diag });
    writeNifti(file('f2.nii.gz'), image([2, 2, 2]), { affine: diag });
    const out = new LoadImage({ keys: ['image', 'label'] }).apply({ image: [file('f1.nii'), file('f2.nii.gz')], label: file('f2.nii.gz'), id: 'x' }) as Record<string, unknown>;
    expect(out.image_filename).toBe(file('f1.nii'));
    expect(out.label_filename).toBe(file('f2.nii.gz'));
    expect(Object.keys(out).sort()).toEqual(['affine', 'id', 'image', 'image_filename', 'label', 'label_filename', 'spacing']);
    const meta = new LoadImage({ keys: 'image', filenamePostfix: '_meta_file' }).apply({ image: file('f1.nii') }) as Record<string, unknown>;
    expect(meta.image_meta_file).toBe(file('f1.nii'));
    expect(meta.image_filename).toBeUndefined();
    expect(() => new LoadImage({ keys: 'image', filenamePostfix: '' })).toThrow(/LoadImage: filenamePostfix must be a non-empty string or null, got ""/);
    expect(() => new LoadImage({ keys: ['image', 'image_filename'] })).toThrow(/LoadImage: key 'image_filename' is both loaded and where the file name of 'image' goes/);
  });

  it('affines that differ between the keys are an error naming both files; with affineKey and spacingKey null nothing is checked or written', () => {
    writeNifti(file('p.nii'), image([2, 2, 2]), { affine: diag });
    writeNifti(file('q.nii'), image([2, 2, 2]), { affine: oblique });
    expect(() => new LoadImage({ keys: ['image', 'label'] }).apply({ image: file('p.nii'), label: file('q.nii') }))
      .toThrow(/LoadImage: the affines of key 'label' \(.*q\.nii\) and key 'image' \(.*p\.nii\) differ, and they share 'affine'/);
    const free = new LoadImage({ keys: ['image', 'label'], affineKey: null, spacingKey: null, filenamePostfix: null }).apply({ image: file('p.nii'), label: file('q.nii') });
    expect(Object.keys(free)).toEqual(['image', 'label']);
    expect(() => new LoadImage({ keys: 'image' }).apply({ image: [file('p.nii'), file('q.nii')] })).toThrow(/LoadImage: key 'image': the affines of .*q\.nii and .*p\.nii differ/);
    writeNifti(file('small.nii'), image([2, 2, 1]), { affine: diag });
    expect(() => new LoadImage({ keys: 'image' }).apply({ image: [file('p.nii'), file('small.nii')] }))
      .toThrow(/key 'image': .*small\.nii is \[2, 2, 1\] but .*p\.nii is \[2, 2, 2\]; the files of one image must share a shape/);
  });

  it('clear errors naming the key and the file', () => {
    const load = new LoadImage({ keys: 'image' });
    expect(() => load.apply({ label: 'x.nii' })).toThrow(/LoadImage: key 'image' must hold a file path or a non-empty list of paths, got nothing \(the key is missing\)/);
    expect(() => load.apply({ image: 3 })).toThrow(/key 'image' must hold a file path or a non-empty list of paths, got 3/);
    expect(() => load.apply({ image: [] })).toThrow(/got \[\]/);
    expect(() => load.apply({ image: file('none.nii.gz') })).toThrow(/LoadImage: key 'image': NIfTI .*none\.nii\.gz: missing file/);
    mkdirSync(file('folder.nii'), { recursive: true });
    expect(() => load.apply({ image: file('folder.nii') })).toThrow(/NIfTI .*folder\.nii: not a regular file \(a folder\)/);
    writeFileSync(file('text.nii'), 'not a nifti file at all');
    expect(() => load.apply({ image: file('text.nii') })).toThrow(/LoadImage: key 'image': NIfTI .*text\.nii: not a NIfTI-1\/NIfTI-2 single file/);
    writeFileSync(file('broken.nii.gz'), Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
    expect(() => load.apply({ image: file('broken.nii.gz') })).toThrow(/NIfTI .*broken\.nii\.gz: corrupt gzip stream/);
    expect(() => new LoadImage({ keys: [] })).toThrow(/LoadImage: keys must be a key or a non-empty list of keys/);
    expect(() => new LoadImage({ keys: 'image', dtype: 'int16' as 'uint8' })).toThrow(/LoadImage: dtype must be 'float32' or 'uint8', got "int16"/);
    expect(() => new LoadImage({ keys: 'image', affineKey: '' })).toThrow(/LoadImage: affineKey must be a key or null, got ""/);
    expect(() => new LoadImage({ keys: ['image', 'spacing'] })).toThrow(/LoadImage: key 'spacing' is both loaded and where the spacing goes/);
  });
});

describe('EnsureChannelFirst', () => {
  it('[X, Y, Z] to [1, X, Y, Z] sharing the data, uint8 kept; a channel-first volume as it is', () => {
    const v = image([2, 1, 3]);
    const label: Volume<Uint8Array> = { data: Uint8Array.from([0, 1, 1, 0, 2, 0]), shape: [2, 1, 3] };
    const multi: MultiChannelVolume = { data: new Float32Array(12), shape: [2, 2, 1, 3] };
    const out = new EnsureChannelFirst({ keys: ['image', 'label', 'multi'] }).apply({ image: v, label, multi, id: 'x' }) as unknown as Record<string, MultiChannelVolume<Float32Array | Uint8Array>>;
    expect(out.image!.shape).toEqual([1, 2, 1, 3]);
    expect(out.image!.data).toBe(v.data);
    expect(out.label!).toEqual({ data: label.data, shape: [1, 2, 1, 3] });
    expect(out.multi!).toBe(multi);
    expect(out.id).toBe('x');
    expect(() => new EnsureChannelFirst({ keys: 'image' }).apply({ label })).toThrow(/EnsureChannelFirst: key 'image' is missing from the sample \(it has 'label'\)/);
    expect(() => new EnsureChannelFirst({ keys: 'image' }).apply({ image: { data: new Float32Array(3), shape: [2, 2, 2] } })).toThrow(/EnsureChannelFirst: key 'image'/);
  });
});

describe('from file paths to batches (MONAI\'s first tutorial)', () => {
  it('CacheDataset over LoadImage, EnsureChannelFirst, Spacing and RandFlip: batches [B, 1, X, Y, Z], the geometry per sample, the loads cached', async () => {
    const files = [0, 1, 2].map((i) => {
      const img = image([4, 2, 2], i), seg: Volume<Uint8Array> = { data: Uint8Array.from({ length: 16 }, (_, k) => (k + i) % 2), shape: [4, 2, 2] };
      writeNifti(file(`case${i}.nii.gz`), img, { affine: diag });
      writeNifti(file(`case${i}_seg.nii.gz`), seg, { affine: diag });
      return { image: file(`case${i}.nii.gz`), label: file(`case${i}_seg.nii.gz`) };
    });
    const transforms = new Compose([
      new LoadImage({ keys: ['image', 'label'] }),
      new EnsureChannelFirst({ keys: ['image', 'label'] }),
      new Spacing({ keys: ['image', 'label'], pixdim: [3, 1.5, 2], mode: ['trilinear', 'nearest'] }),
      new RandFlip({ keys: ['image', 'label'], prob: 0.5, spatialAxis: 0 }),
    ]);
    const ds = new CacheDataset(files, transforms);
    expect(ds.firstRandom).toBe(3);
    const missing = [files[0]!, { ...files[1]!, label: file('missing_seg.nii.gz') }];
    expect(() => new CacheDataset(missing, transforms)).toThrow(/CacheDataset: item 1: LoadImage: key 'label': NIfTI .*missing_seg\.nii\.gz: missing file/);
    const lazy = new DataLoader(new Dataset(missing, transforms), { batchSize: 2 })[Symbol.asyncIterator]();
    await expect(lazy.next()).rejects.toThrow(/^Dataset: item 1: LoadImage: key 'label': NIfTI .*missing_seg\.nii\.gz: missing file$/);
    rmSync(file('case1.nii.gz'));
    const batches = [];
    for await (const batch of new DataLoader(ds, { batchSize: 2, backend: cpu })) batches.push(batch);
    expect(batches.map((b) => b.image instanceof Array ? 'array' : b.image.shape)).toEqual([[2, 1, 2, 2, 2], [1, 1, 2, 2, 2]]);
    expect(batches[0]!.spacing).toEqual([[3, 1.5, 2], [3, 1.5, 2]]);
    expect((batches[1]!.affine as number[][][]).map((a) => a.length)).toEqual([4]);
    expect(batches[0]!.label instanceof Array ? null : batches[0]!.label.dtype).toBe('float32');
  });
});
