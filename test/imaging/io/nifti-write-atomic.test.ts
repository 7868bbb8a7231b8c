import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readNiftiSync, writeNifti } from '../../../src/imaging/io/nifti.js';

/**
 * writeNifti is atomic: a write that fails part way (here the disk fills after 100 bytes) leaves the file that was
 * there whole and no temporary file behind, so a crashed or failed run never leaves a truncated prediction.
 */

// the disk fills up once `full` is set: every write puts its first 100 bytes down, then fails with ENOSPC
const disk = vi.hoisted(() => ({ full: false }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const part = (data: unknown) => (data instanceof Uint8Array ? data.subarray(0, 100) : String(data).slice(0, 100));
  return {
    ...real,
    writeFileSync: (file: fs.PathOrFileDescriptor, data: string | NodeJS.ArrayBufferView, ...rest: []) => {
      if (!disk.full) return real.writeFileSync(file, data, ...rest);
      real.writeFileSync(file, part(data));
      throw enospc();
    },
    writeSync: (fd: number, buffer: Uint8Array, offset = 0, length = buffer.length - offset) => {
      if (!disk.full) return real.writeSync(fd, buffer, offset, length);
      real.writeSync(fd, buffer, offset, Math.min(length, 100));
      throw enospc();
    },
  };
});

let dir = '';
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxgrad-nifti-atomic-')); });
afterAll(() => { disk.full = false; if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

describe('writeNifti on a disk that fills up', () => {
  it.each(['pred.nii', 'pred.nii.gz'])('%s: the error names the file; the old file stays whole, no temporary is left', (name) => {
    const file = path.join(dir, name);
    const old = { data: Float32Array.from({ length: 64 }, (_, i) => i), shape: [4, 4, 4] as [number, number, number] };
    writeNifti(file, old);
    disk.full = true;
    try {
      expect(() => writeNifti(file, { data: new Float32Array(64).fill(7), shape: [4, 4, 4] })).toThrow(`NIfTI ${file}: cannot write file: ENOSPC`);
    } finally {
      disk.full = false;
    }
    expect(Array.from(readNiftiSync(file).volume.data)).toEqual(Array.from(old.data));
    expect(fs.readdirSync(dir).filter((f) => f.startsWith(name) && f !== name)).toEqual([]);
  });
});
