import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import h5wasm from 'h5wasm/node';
import { CpuBackend } from '../../../src/kernels/index.js';
import { LASource, LA_CASE_DIR, LA_CASE_FILE, h5wasmReady, readLAFile } from '../../../src/imaging/io/la.js';
import { defaultConfig } from '../../../src/dbisl/config.js';
import { train } from '../../../src/dbisl/trainer.js';

/** Hostile LA inputs: a dataset too large for h5wasm's heap, a FIFO as a case file, a broken test case found before training. */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'voxgrad-la-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function writeCase(file: string, shape: [number, number, number] = [4, 3, 2], grow?: number[]): Promise<void> {
  await h5wasmReady();
  mkdirSync(path.dirname(file), { recursive: true });
  const n = shape[0] * shape[1] * shape[2];
  const f = new h5wasm.File(file, 'w');
  try {
    const image = f.create_dataset({ name: 'image', data: new Float32Array(n), shape, maxshape: [null, null, null], chunks: shape, compression: 'gzip' });
    f.create_dataset({ name: 'label', data: new Uint8Array(n), shape, chunks: shape, compression: 'gzip' });
    // only the metadata grows: unwritten chunks read as the fill value, the file stays small
    if (grow) image.resize(grow);
  } finally {
    f.close();
  }
}

describe('LA hostile files', () => {
  it('a 4 GiB dataset is refused as too large from its metadata, and the HDF5 module keeps working', async () => {
    const big = path.join(tmp, 'big.h5');
    await writeCase(big, [4, 3, 2], [1024, 1024, 1024]);
    await expect(readLAFile(big)).rejects.toThrow(/big\.h5: dataset 'image' is too large \(shape \[1024,1024,1024\], 4294967296 bytes; at most 1073741824 are read\)/);
    const ok = path.join(tmp, 'ok.h5');
    await writeCase(ok);
    expect((await readLAFile(ok)).image.shape).toEqual([4, 3, 2]);
  });

  it('a FIFO (or a folder) as a case file is refused at once instead of blocking the open', async () => {
    const fifo = path.join(tmp, 'fifo.h5');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await expect(readLAFile(fifo)).rejects.toThrow(/fifo\.h5: not a regular file \(a FIFO\)/);
    await expect(readLAFile(tmp)).rejects.toThrow(/not a regular file \(a folder\)/);
  }, 30_000);

  it('checkCases finds a missing or broken test case, and the trainer runs it before iteration 1', async () => {
    const root = path.join(tmp, 'root');
    for (const id of ['a', 'b', 'c', 'd', 'f']) await writeCase(path.join(root, LA_CASE_DIR, id, LA_CASE_FILE));
    writeFileSync(path.join(root, 'train.list'), 'a\nb\nc\nd\nf\n');
    writeFileSync(path.join(root, 'test.list'), 'e\n');
    const source = new LASource(root);
    const missing = new RegExp(`${path.join(LA_CASE_DIR, 'e', LA_CASE_FILE).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: missing case file`);
    await expect(source.checkCases([...source.trainIds(), ...source.testIds()])).rejects.toThrow(missing);
    const config = { ...defaultConfig('la', 'dbisl'), data: root, labeled: 4, out: path.join(tmp, 'run'), backend: 'cpu' as const };
    const lines: string[] = [];
    await expect(train({ config, source, backend: new CpuBackend(), print: (l) => lines.push(l), skipEvaluation: true })).rejects.toThrow(missing);
    expect(lines).toEqual([]); // nothing started
    // a case file that is not HDF5
    await writeCase(path.join(root, LA_CASE_DIR, 'e', LA_CASE_FILE));
    await expect(source.checkCases([...source.trainIds(), ...source.testIds()])).resolves.toBeUndefined();
    writeFileSync(path.join(root, LA_CASE_DIR, 'e', LA_CASE_FILE), 'text');
    await expect(source.checkCases([...source.trainIds(), ...source.testIds()])).rejects.toThrow(/e\/mri_norm2\.h5: not an HDF5 file/);
  });
});
