import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { LoadImage, NIFTI_MAX_BYTES } from '../../src/imaging.js';

/** LoadImage reads synchronously (a transform is synchronous): hostile files are refused as readNifti refuses them. */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-transforms-io-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('LoadImage on hostile files', () => {
  it('a FIFO is refused at once instead of blocking the read', () => {
    const fifo = path.join(tmp, 'case.nii.gz');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(() => new LoadImage({ keys: 'image' }).apply({ image: fifo })).toThrow(/LoadImage: key 'image': NIfTI .*case\.nii\.gz: not a regular file \(a FIFO\)/);
  });

  it('a gzip stream that inflates past the limit is refused as too large', () => {
    const bomb = path.join(tmp, 'bomb.nii.gz');
    // 1 GiB + 1 MiB of zeros: gzip members of 1 MiB each (about 1 kB compressed), concatenated as gzip allows
    const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
    writeFileSync(bomb, Buffer.concat(Array.from({ length: NIFTI_MAX_BYTES / (1 << 20) + 1 }, () => member)));
    expect(() => new LoadImage({ keys: 'label' }).apply({ label: bomb }))
      .toThrow(new RegExp(`LoadImage: key 'label': NIfTI .*bomb\\.nii\\.gz: too large: decompresses to more than ${NIFTI_MAX_BYTES} bytes`));
  }, 60_000);
});
