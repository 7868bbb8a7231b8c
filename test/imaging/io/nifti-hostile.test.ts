import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { NIFTI_MAX_BYTES, readNifti, readNiftiSync, writeNifti } from '../../../src/imaging/io/nifti.js';
import { BratsSource } from '../../../src/imaging/io/brats.js';

/** Hostile NIfTI inputs (BraTS reads its cases through readNifti): a FIFO, a folder, a gzip bomb; BraTS's file checks. */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-nifti-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('readNifti on hostile files', () => {
  it('a FIFO or a folder is refused at once instead of blocking the read', async () => {
    const fifo = path.join(tmp, 'case.nii.gz');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await expect(readNifti(fifo)).rejects.toThrow(/case\.nii\.gz: not a regular file \(a FIFO\)/);
    await expect(readNifti(tmp)).rejects.toThrow(/not a regular file \(a folder\)/);
    await expect(readNifti(path.join(tmp, 'none.nii'))).rejects.toThrow(/none\.nii: missing file/);
  }, 30_000);

  it('readNiftiSync refuses a FIFO and a folder too (in a child process: a blocked synchronous read cannot time out)', () => {
    const fifo = path.join(tmp, 'sync.nii');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const read = (file: string) => spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      `import { readNiftiSync } from './src/imaging/io/nifti.ts';
       try { readNiftiSync(process.argv[1]); console.log('read'); } catch (e) { console.log(e.message); }`, file],
    { encoding: 'utf8', timeout: 60_000 });
    expect(read(fifo).stdout).toMatch(/sync\.nii: not a regular file \(a FIFO\)/);
    expect(read(tmp).stdout).toMatch(/not a regular file \(a folder\)/);
    expect(() => readNiftiSync(path.join(tmp, 'none.nii'))).toThrow(/none\.nii: missing file/);
  }, 120_000);

  it('a gzip stream that inflates past the limit is refused as too large, not allocated (async and sync)', async () => {
    const bomb = path.join(tmp, 'bomb.nii.gz');
    // 1 GiB + 1 MiB of zeros: gzip members of 1 MiB each (about 1 kB compressed), concatenated as gzip allows
    const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
    writeFileSync(bomb, Buffer.concat(Array.from({ length: NIFTI_MAX_BYTES / (1 << 20) + 1 }, () => member)));
    await expect(readNifti(bomb)).rejects.toThrow(new RegExp(`bomb\\.nii\\.gz: too large: decompresses to more than ${NIFTI_MAX_BYTES} bytes`));
    expect(() => readNiftiSync(bomb)).toThrow(new RegExp(`bomb\\.nii\\.gz: too large: decompresses to more than ${NIFTI_MAX_BYTES} bytes`));
  }, 120_000);
});

describe('BraTS checkCases (run by the trainer before iteration 1)', () => {
  it('finds a case file that went missing or became a FIFO after the folder was listed', async () => {
    const root = path.join(tmp, 'brats');
    const shape: [number, number, number] = [4, 4, 4];
    mkdirSync(root);
    for (const id of ['a', 'b', 'c', 'd']) {
      writeNifti(path.join(root, `${id}_flair.nii.gz`), { data: new Float32Array(64).fill(1), shape }, { datatype: 'float32' });
      writeNifti(path.join(root, `${id}_seg.nii.gz`), { data: new Uint8Array(64), shape }, { datatype: 'uint8' });
    }
    const source = new BratsSource(root);
    await expect(source.checkCases([...source.trainIds(), ...source.testIds()])).resolves.toBeUndefined();
    const seg = path.join(root, `${source.testIds()[0]}_seg.nii.gz`);
    rmSync(seg);
    expect(spawnSync('mkfifo', [seg]).status).toBe(0);
    await expect(source.checkCases([...source.trainIds(), ...source.testIds()])).rejects.toThrow(new RegExp(`BraTS .*${path.basename(seg).replace('.', '\\.')}: not a regular file \\(a FIFO\\)`));
    rmSync(seg);
    await expect(source.checkCases([...source.trainIds(), ...source.testIds()])).rejects.toThrow(/_seg\.nii\.gz: missing file/);
  });
});
