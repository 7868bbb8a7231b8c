import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `data` to `file` atomically: a temporary file beside it is written and fsync'ed, renamed over
 * `file`, and the directory is fsync'ed, so a reader (or a crash) sees the old file or the whole new one.
 * The temporary file is removed when anything fails.
 */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let renamed = false;
  try {
    const fh = await open(tmp, 'w');
    try {
      let off = 0;
      while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    renamed = true;
  } finally {
    if (!renamed) await rm(tmp, { force: true });
  }
  try {
    const dh = await open(dir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  } catch { /* directories cannot be fsync'ed on every platform: best effort */ }
}
