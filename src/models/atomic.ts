/**
 * Atomic file writes: the content goes to `<file>.<pid>.<n>.tmp` (one name per process and write, so two
 * processes or two writes never share a temporary file), is fsync'ed, then renamed over `<file>`.
 * A reader sees either the old file or the complete new one, never a partial write; when the
 * write fails (or the content callback throws) the old file is left untouched and the
 * temporary file is removed.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A chunk sink handed to a content callback. */
export type ChunkWriter = (chunk: string | Uint8Array) => void;

/**
 * What to write: a whole string / byte array, or a callback that writes chunks (for content
 * too large to build in one piece). The callback may be async in {@link writeFileAtomic}.
 */
export type AtomicContent = string | Uint8Array | ((write: ChunkWriter) => void | Promise<void>);

export interface AtomicWriteOptions {
  /** create the parent directory first (default true) */
  mkdir?: boolean;
}

let writes = 0;

/** A temporary name next to `file`, unique to this process and this write. */
export function temporaryName(file: string): string {
  return `${file}.${process.pid}.${writes++}.tmp`;
}

function fsyncDirSync(dir: string): void {
  // best effort: makes the rename durable; not supported on every platform
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* ignore */ }
}

/** Synchronous atomic write (see module comment). The callback must be synchronous here. */
export function writeFileAtomicSync(
  file: string,
  content: string | Uint8Array | ((write: ChunkWriter) => void),
  opts: AtomicWriteOptions = {},
): void {
  const tmp = temporaryName(file);
  if (opts.mkdir ?? true) mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(tmp, 'w');
  let ok = false;
  try {
    const write: ChunkWriter = (chunk) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    };
    if (typeof content === 'function') {
      const r: unknown = content(write);
      if (r instanceof Promise) throw new Error('writeFileAtomicSync: the content callback must be synchronous');
    } else write(content);
    fsyncSync(fd);
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) rmSync(tmp, { force: true });
  }
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDirSync(dirname(file));
}

/** Asynchronous atomic write (see module comment). */
export async function writeFileAtomic(
  file: string,
  content: AtomicContent,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = temporaryName(file);
  if (opts.mkdir ?? true) await mkdir(dirname(file), { recursive: true });
  const fh = await open(tmp, 'w');
  let ok = false;
  try {
    if (typeof content === 'function') {
      // chunks are queued and written in order; the callback may write synchronously many times
      let chain: Promise<void> = Promise.resolve();
      let failed: unknown = null;
      const write: ChunkWriter = (chunk) => {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Uint8Array.from(chunk);
        chain = chain.then(async () => {
          if (failed !== null) return;
          try {
            let off = 0;
            while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
          } catch (e) { failed = e; }
        });
      };
      try {
        await content(write);
      } finally {
        await chain;
      }
      if (failed !== null) throw failed;
    } else {
      await fh.writeFile(content);
    }
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await rm(tmp, { force: true });
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  try {
    const dh = await open(dirname(file), 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  } catch { /* best effort */ }
}
