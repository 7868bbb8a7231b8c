import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { temporaryName, writeFileAtomic } from '../../src/models/atomic.js';
import { defaultConfig, parseTrainArgs, type TrainConfig } from '../../src/dbisl/config.js';
import { LOCK_FILE, lockFolder } from '../../src/dbisl/lock.js';
import { train } from '../../src/dbisl/trainer.js';

/** The output folder's lock (one trainer per folder), --overwrite, and per-process temporary file names. */

const root = mkdtempSync(join(tmpdir(), 'dbisl-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** the pid of a process that has exited */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function writeLock(dir: string, info: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ host: hostname(), started: '2026-01-01T00:00:00.000Z', processStart: null, command: 'x', ...info }));
}

describe('output folder lock', () => {
  it('a second holder is refused with a message naming the first; release frees the folder', async () => {
    const dir = join(root, 'held');
    const lock = await lockFolder(dir, 'train.ts --out held');
    const info = JSON.parse(readFileSync(lock.file, 'utf8')) as { pid: number; started: string };
    expect(info.pid).toBe(process.pid);
    await expect(lockFolder(dir)).rejects.toThrow(new RegExp(`held is in use by another trainer: process ${process.pid} on .*, since ${info.started} \\(train\\.ts --out held\\)`));
    await lock.release();
    expect(existsSync(lock.file)).toBe(false);
    const again = await lockFolder(dir);
    await again.release();
  });

  it('the stale lock of a dead process, or of a reused pid (another start time), is taken over', async () => {
    const dir = join(root, 'stale');
    writeLock(dir, { pid: deadPid() });
    const lock = await lockFolder(dir);
    expect((JSON.parse(readFileSync(lock.file, 'utf8')) as { pid: number }).pid).toBe(process.pid);
    await lock.release();
    if (existsSync(`/proc/${process.pid}/stat`)) {
      writeLock(dir, { pid: process.pid, processStart: 1 }); // this pid, but a process started at another time
      const lock2 = await lockFolder(dir);
      await lock2.release();
    }
  });

  it('racing takeovers of one stale lock: exactly one wins', async () => {
    const dir = join(root, 'race');
    writeLock(dir, { pid: deadPid() });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => lockFolder(dir)));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/in use by another trainer|could not take the lock over/);
    await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof lockFolder>>>).value.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('release leaves a lock that another process took in the meantime', async () => {
    const dir = join(root, 'taken');
    const lock = await lockFolder(dir);
    writeLock(dir, { pid: deadPid() });
    await lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });
});

describe('trainer and the output folder', () => {
  const quiet = { print: () => {}, progressStream: { write: () => true, isTTY: false }, skipEvaluation: true };
  const tiny = (name: string, overrides: Partial<TrainConfig> = {}): TrainConfig => {
    const c = defaultConfig('synthetic', 'dbisl');
    return {
      ...c, out: join(root, name), backend: 'cpu', iterations: 1, batch: 2, labeledBatch: 1, labeled: 2, patch: [16, 16, 16],
      stride: [16, 16, 16], nFilters: 2, checkpointEvery: 1, evalBatch: 2, synthetic: { count: 4, testCount: 1, shape: [20, 18, 16], seed: 3 },
      loss: { ...c.loss, radius: 2 }, ...overrides,
    };
  };

  it('a folder in use by another trainer is refused, naming the holder', async () => {
    const c = tiny('busy');
    const lock = await lockFolder(c.out, 'the other trainer');
    try {
      await expect(train({ config: c, backend: new CpuBackend(), ...quiet })).rejects.toThrow(/busy is in use by another trainer: process \d+ .*\(the other trainer\)/);
    } finally {
      await lock.release();
    }
  });

  it('a folder holding a checkpoint is refused without --resume or --overwrite; the lock is released after each run', async () => {
    const c = tiny('again');
    expect((await train({ config: c, backend: new CpuBackend(), ...quiet })).status).toBe('done');
    expect(existsSync(join(c.out, LOCK_FILE))).toBe(false);
    await expect(train({ config: c, backend: new CpuBackend(), ...quiet })).rejects.toThrow(/again holds a checkpoint \(checkpoint\.safetensors\): continue it with --resume, or start afresh with --overwrite/);
    expect(existsSync(join(c.out, LOCK_FILE))).toBe(false);
    expect((await train({ config: { ...c, overwrite: true }, backend: new CpuBackend(), ...quiet })).status).toBe('done');
    expect(() => parseTrainArgs(['--resume', '--overwrite'])).toThrow(/--resume and --overwrite contradict/);
    expect(parseTrainArgs(['--overwrite'])).toMatchObject({ config: { overwrite: true } });
  });
});

describe('atomic writes', () => {
  it('temporary names are per process and per write, so concurrent writes of one file do not collide', async () => {
    const f = join(root, 'atomic', 'x.txt');
    expect(temporaryName(f)).toMatch(new RegExp(`x\\.txt\\.${process.pid}\\.\\d+\\.tmp$`));
    expect(temporaryName(f)).not.toBe(temporaryName(f));
    const big = (ch: string) => ch.repeat(1 << 20);
    await Promise.all(['a', 'b', 'c'].map((ch) => writeFileAtomic(f, big(ch))));
    const text = readFileSync(f, 'utf8');
    expect([big('a'), big('b'), big('c')]).toContain(text);
    expect(readdirSync(join(root, 'atomic'))).toEqual(['x.txt']);
  });
});
