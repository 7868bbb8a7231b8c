/**
 * One trainer per output folder: `<out>/train.lock` holds the holder's pid, host, start time (and, on Linux, the
 * process's start tick from /proc, so a reused pid is not mistaken for the holder). It is created atomically
 * (open with 'wx'); a lock whose process is gone (on this host) is stale and taken over; any other is refused
 * with an error naming the holder.
 */
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE = 'train.lock';

interface LockInfo {
  pid: number;
  host: string;
  /** ISO time the holder took the lock */
  started: string;
  /** the holder's start time in clock ticks since boot (/proc/<pid>/stat field 22), null off Linux */
  processStart: number | null;
  command: string;
}

export class FolderLockedError extends Error {
  override name = 'FolderLockedError';
}

/** A process's start time in clock ticks since boot (Linux), or null. */
function processStartOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "pid (comm)": state is field 3, starttime field 22
    const v = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** Is the lock's holder still running (on this host; a lock of another host counts as held)? */
function holderRuns(info: LockInfo): boolean {
  if (info.host !== hostname()) return true;
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = processStartOf(info.pid);
  return info.processStart === null || start === null || start === info.processStart;
}

function describeHolder(info: LockInfo): string {
  return `process ${info.pid} on ${info.host}, since ${info.started} (${info.command})`;
}

async function readLock(file: string): Promise<LockInfo | null> {
  try {
    const info = JSON.parse(await readFile(file, 'utf8')) as LockInfo;
    return Number.isInteger(info.pid) && typeof info.host === 'string' ? info : null;
  } catch {
    return null;
  }
}

export interface FolderLock {
  file: string;
  /** removes the lock file, if it is still this process's */
  release(): Promise<void>;
}

/** Takes the lock of an output folder (creating the folder), or throws FolderLockedError naming the holder. */
export async function lockFolder(dir: string, command = process.argv.slice(1).join(' ')): Promise<FolderLock> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString(), processStart: processStartOf(process.pid), command };
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(file, 'wx');
      try { await fh.writeFile(JSON.stringify(mine) + '\n'); } finally { await fh.close(); }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${file}: cannot create the lock (${(e as Error).message})`);
    }
    const holder = await readLock(file);
    if (holder !== null && holderRuns(holder)) {
      throw new FolderLockedError(`${dir} is in use by another trainer: ${describeHolder(holder)}; use another --out, or stop that run (lock: ${file})`);
    }
    if (attempt >= 5) throw new FolderLockedError(`${file}: could not take the lock over (remove it if no trainer uses ${dir})`);
    // stale (its process is gone), or unreadable (being written this instant: look again). Several processes may
    // find it stale at once: under a guard file, only the one that still sees the same stale lock removes it.
    await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
    if (holder === null) continue;
    const guard = `${file}.takeover`;
    let fh;
    try {
      fh = await open(guard, 'wx');
    } catch {
      continue;
    }
    try {
      const again = await readLock(file);
      if (again && again.pid === holder.pid && again.started === holder.started) await rm(file, { force: true });
    } finally {
      await fh.close();
      await rm(guard, { force: true });
    }
  }
  return {
    file,
    async release() {
      const holder = await readLock(file);
      if (holder && holder.pid === mine.pid && holder.started === mine.started) await rm(file, { force: true });
    },
  };
}
