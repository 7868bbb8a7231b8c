import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Compose, LoadImage, readNiftiChannelsSync, readNiftiSync, writeNifti } from '../../src/imaging.js';
import { CopyItems, SaveImage } from '../../src/imaging/transforms-utility.js';
import type { MultiChannelVolume, Volume } from '../../src/imaging/volume.js';

/**
 * MONAI's SaveImaged for NIfTI (monai/transforms/io/dictionary.py, the FolderLayout naming of monai/data/utils.py's
 * create_file_basename; tests/transforms/test_save_imaged.py): SaveImage → readNiftiSync round trips, the names, no
 * silent overwrite, the errors.
 */

let dir: string;
beforeAll(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-save-image-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

/** An oblique affine with a flip and an offset: what a loaded scan may carry (exact in float32). */
const AFFINE = [[0, -1.5, 0, 12.5], [2, 0, 0, -30.25], [0, 0, -0.75, 8], [0, 0, 0, 1]];

const image = (): Volume => ({ data: Float32Array.from({ length: 4 * 3 * 2 }, (_, i) => (i * 37) % 11 - 4.25), shape: [4, 3, 2] });

function quiet(): { lines: string[]; logger: (l: string) => void } {
  const lines: string[] = [];
  return { lines, logger: (l) => lines.push(l) };
}

describe('SaveImage', () => {
  it('LoadImage → SaveImage → readNiftiSync: the same voxels and affine, at <outputDir>/<name>/<name>_trans.nii.gz', () => {
    const source = path.join(dir, 'in', 'case1.nii.gz');
    mkdirSync(path.join(dir, 'in'));
    writeNifti(source, image(), { affine: AFFINE });
    const out = path.join(dir, 'out1');
    const log = quiet();
    const pipeline = new Compose([
      new CopyItems({ keys: 'image', names: 'image_filename' }),
      new LoadImage({ keys: 'image' }),
      new SaveImage({ keys: 'image', outputDir: out, logger: log.logger }),
    ]);
    const sample = pipeline.apply({ image: source }) as Record<string, unknown>;
    const file = path.join(out, 'case1', 'case1_trans.nii.gz');
    expect(log.lines).toEqual([`file written: ${file}.`]);
    const back = readNiftiSync(file);
    expect(back.volume.shape).toEqual([4, 3, 2]);
    expect(Array.from(back.volume.data)).toEqual(Array.from(image().data));
    expect(back.info.affine).toEqual(AFFINE);
    expect(back.info.datatype).toBe('float32'); // MONAI's output_dtype default
    expect(sample.image_filename).toBe(source);
    expect(readdirSync(path.join(out, 'case1'))).toEqual(['case1_trans.nii.gz']); // no temporary file left
  });

  it('a channel-first image is written [X, Y, Z, C] and read back as [C, X, Y, Z]; a label as uint8; affineKey null: the identity', () => {
    const pred: MultiChannelVolume = { data: Float32Array.from({ length: 3 * 2 * 2 * 2 }, (_, i) => i / 4), shape: [3, 2, 2, 2] };
    const label = { data: Float32Array.from({ length: 12 }, (_, i) => i % 3), shape: [2, 2, 3] as [number, number, number] };
    const out = path.join(dir, 'out2');
    const sample = { pred, label, src: '/data/case2.nii.gz', affine: AFFINE };
    new SaveImage({ keys: 'pred', outputDir: out, filenameKeys: 'src', outputPostfix: 'prob', separateFolder: false, outputExt: '.nii', printLog: false }).apply(sample);
    new SaveImage({ keys: 'label', outputDir: out, filenameKeys: ['src'], outputPostfix: 'seg', outputDtype: 'uint8', affineKey: null, printLog: false }).apply(sample);
    const probs = readNiftiChannelsSync(path.join(out, 'case2_prob.nii'));
    expect(probs.image.shape).toEqual([3, 2, 2, 2]);
    expect(Array.from(probs.image.data)).toEqual(Array.from(pred.data));
    expect(probs.info.affine).toEqual(AFFINE);
    const seg = readNiftiSync(path.join(out, 'case2', 'case2_seg.nii.gz'));
    expect(seg.info.datatype).toBe('uint8');
    expect(Array.from(seg.volume.data)).toEqual(Array.from(label.data));
    expect(seg.info.affine).toEqual([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]);
    const u8 = { data: Uint8Array.of(0, 1, 2, 3), shape: [1, 2, 2] as [number, number, number] };
    new SaveImage({ keys: 'l', outputDir: out, filenameKeys: 'src', printLog: false }).apply({ l: u8, src: 'u8.nii', affine: AFFINE });
    const asFloat = readNiftiSync(path.join(out, 'u8', 'u8_trans.nii.gz'));
    expect(asFloat.info.datatype).toBe('float32'); // MONAI's default output dtype, whatever the input's
    expect(Array.from(asFloat.volume.data)).toEqual([0, 1, 2, 3]);
  });

  it('outputPath: MONAI\'s create_file_basename (the extension .nii.gz as one, dataRootDir keeps the subfolders)', () => {
    const t = new SaveImage({ keys: 'x', outputDir: '/output', outputPostfix: 'seg', dataRootDir: '/foo/bar', printLog: false });
    // MONAI's docstring example: /foo/bar/test1/image.nii → /output/test1/image/image_seg.nii.gz
    expect(t.outputPath('/foo/bar/test1/image.nii')).toBe(path.normalize('/output/test1/image/image_seg.nii.gz'));
    expect(t.outputPath('image.nii.gz')).toBe(path.normalize('/output/image/image_seg.nii.gz'));
    const flat = new SaveImage({ keys: 'x', outputDir: 'out', outputPostfix: '', separateFolder: false, outputExt: '.nii', printLog: false });
    // after '.gz', one more extension goes, whatever it is (MONAI's second splitext)
    expect(flat.outputPath('/a/b/case.tar.gz')).toBe(path.normalize('out/case.nii'));
    expect(flat.outputPath('scan')).toBe(path.normalize('out/scan.nii'));
    expect(new SaveImage({ keys: 'x', printLog: false }).outputPath('/d/testfile0.nii.gz')).toBe(path.normalize('testfile0/testfile0_trans.nii.gz'));
  });

  it('never overwrites silently: a file that is there is an error (the old file kept) unless overwrite; two keys for one file always', () => {
    const out = path.join(dir, 'out3');
    const sample = { image: image(), image_filename: 'c3.nii.gz', affine: AFFINE };
    const t = new SaveImage({ keys: 'image', outputDir: out, printLog: false });
    t.apply(sample);
    const file = path.join(out, 'c3', 'c3_trans.nii.gz');
    const before = statSync(file).size;
    const changed = { ...sample, image: { data: new Float32Array(24).fill(7), shape: [4, 3, 2] as [number, number, number] } };
    expect(() => t.apply(changed)).toThrow(new RegExp(`SaveImage: key 'image': .*c3_trans\\.nii\\.gz is already there; set overwrite: true to replace it`));
    expect(statSync(file).size).toBe(before);
    expect(Array.from(readNiftiSync(file).volume.data)).toEqual(Array.from(image().data));
    new SaveImage({ keys: 'image', outputDir: out, overwrite: true, printLog: false }).apply(changed);
    expect(Array.from(readNiftiSync(file).volume.data)).toEqual(new Array(24).fill(7));
    expect(readdirSync(path.join(out, 'c3'))).toEqual(['c3_trans.nii.gz']);
    const both = new SaveImage({ keys: ['image', 'label'], outputDir: out, filenameKeys: 'image_filename', overwrite: true, printLog: false });
    expect(() => both.apply({ ...sample, label: image() })).toThrow(/SaveImage: keys 'image' and 'label' would both be written to .*c3_trans\.nii\.gz/);
  });

  it('errors name what is missing or wrong', () => {
    const out = path.join(dir, 'out4');
    const t = new SaveImage({ keys: 'pred', outputDir: out, printLog: false });
    expect(() => t.apply({ pred: image(), affine: AFFINE })).toThrow(/SaveImage: key 'pred' needs the path of its source file under 'pred_filename', which is missing; keep the path before LoadImage replaces it/);
    expect(() => t.apply({ pred: image(), pred_filename: 3, affine: AFFINE })).toThrow(/under 'pred_filename', which holds 3/);
    expect(() => t.apply({ pred: image(), pred_filename: 'p.nii' })).toThrow(/SaveImage: key 'affine' must hold the sample's affine/);
    expect(() => t.apply({ pred_filename: 'p.nii', affine: AFFINE })).toThrow(/SaveImage: key 'pred' is missing/);
    expect(() => new SaveImage({ keys: 'pred', outputDir: out, outputDtype: 'uint8', printLog: false }).apply({ pred: image(), pred_filename: 'p.nii', affine: AFFINE }))
      .toThrow(/SaveImage: key 'pred': casting to uint8 needs values in \(-1, 256\)/);
    expect(existsSync(out)).toBe(false); // nothing written by a failed call
    expect(() => new SaveImage({ keys: 'x', outputExt: '.png' as '.nii' })).toThrow(/outputExt must be '\.nii\.gz' or '\.nii'/);
    expect(() => new SaveImage({ keys: 'x', outputDtype: 'int16' as 'uint8' })).toThrow(/outputDtype must be 'float32' or 'uint8'/);
    expect(() => new SaveImage({ keys: 'x', outputPostfix: 'a/b' })).toThrow(/outputPostfix must not contain a path separator/);
    expect(() => new SaveImage({ keys: 'x', outputDir: '' })).toThrow(/outputDir must be a folder/);
    expect(() => new SaveImage({ keys: 'x', affineKey: '' })).toThrow(/affineKey must be a key or null/);
    expect(() => new SaveImage({ keys: ['x', 'y'], filenameKeys: ['a'] })).toThrow(/filenameKeys has 1 entries for 2 keys/);
    expect(() => new SaveImage({ keys: 'x', overwrite: 'yes' as unknown as boolean })).toThrow(/overwrite must be true or false/);
  });
});
