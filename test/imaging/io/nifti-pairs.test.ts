import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeNifti, parseNifti, readNifti, readNiftiChannels, readNiftiSync } from '../../../src/imaging/io/nifti.js';

/**
 * NIfTI header/image pairs (.hdr holding the header with magic "ni1", .img the raw voxels) are not read: whichever
 * of the two files a user passes, the error names it and says that pairs are unsupported (not only "bad magic").
 */

let dir = '';
beforeAll(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-nifti-pairs-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** a pair as nibabel's Nifti1Pair writes it: the 348-byte header with magic "ni1\0" and vox_offset 0, the voxels apart */
function pair(): { hdr: Uint8Array; img: Uint8Array } {
  const single = encodeNifti({ data: Float32Array.from({ length: 8 }, (_, i) => i), shape: [2, 2, 2] }, { datatype: 'float32' });
  const hdr = single.slice(0, 348);
  hdr.set([0x6e, 0x69, 0x31, 0], 344);
  new DataView(hdr.buffer).setFloat32(108, 0, true);
  return { hdr, img: single.slice(352) };
}

const readers = [
  ['readNifti', (f: string) => readNifti(f)],
  ['readNiftiChannels', (f: string) => readNiftiChannels(f)],
  ['readNiftiSync', async (f: string) => readNiftiSync(f)],
] as const;

describe('NIfTI header/image pairs', () => {
  it.each(readers)('%s: the .hdr (also gzipped, in any case of its name) is refused, naming it and saying pairs are unsupported', async (_n, read) => {
    const { hdr } = pair();
    for (const [name, bytes] of [['scan.hdr', hdr], ['scan.HDR', hdr], ['scan.hdr.gz', gzipSync(hdr)]] as const) {
      const f = path.join(dir, name);
      writeFileSync(f, bytes);
      await expect(read(f)).rejects.toThrow(new RegExp(`^NIfTI ${f.replace(/[.\\]/g, '\\$&')}: .*header/image pair.*(\\.hdr/\\.img).* unsupported`));
    }
  });

  it.each(readers)('%s: the .img (raw voxels, no header) is refused the same way', async (_n, read) => {
    const f = path.join(dir, 'scan.img');
    writeFileSync(f, pair().img);
    await expect(read(f)).rejects.toThrow(/scan\.img: .*header\/image pairs \(\.hdr\/\.img\) are unsupported/);
  });

  it('a NIfTI-2 pair header (magic "ni2") too, and the message says what to do', () => {
    const hdr = new Uint8Array(540);
    const dv = new DataView(hdr.buffer);
    dv.setInt32(0, 540, true);
    hdr.set([0x6e, 0x69, 0x32, 0], 4);
    expect(() => parseNifti(hdr, 'two.hdr')).toThrow(/^NIfTI two\.hdr: .*header\/image pair.*unsupported.*\.nii/);
  });

  it('a file that is neither names no pair when its name says nothing of one', () => {
    expect(() => parseNifti(new Uint8Array(400), 'noise.nii')).toThrow(/^NIfTI noise\.nii: not a NIfTI-1\/NIfTI-2 single file \(bad sizeof_hdr or magic\)$/);
  });
});
