import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/models/checkpoint.js';

/**
 * Ctrl-C and SIGTERM through exactly the README's command (`npx tsx src/dbisl/train.ts`, here with tiny options
 * on the cpu backend): the run is started in its own process group, signalled once iteration 2 is logged, and
 * must leave a final checkpoint and no process behind. Before the worker process (supervise.ts), tsx killed the
 * busy trainer (no checkpoint) and SIGTERM to npx left the trainer training on.
 *
 * Each case starts npm, tsx and two node processes and trains a few cpu iterations: about 20-40 s on a loaded
 * 2-core machine, so the limit is a generous 300 s per case.
 */

const root = mkdtempSync(join(tmpdir(), 'dbisl-signals-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TINY = ['--backend', 'cpu', '--n-filters', '2', '--patch', '16,16,16', '--batch', '2', '--labeled-batch', '1',
  '--iters', '20', '--checkpoint-every', '100', '--radius', '2', '--no-lcc'];

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, test: () => boolean, limitMs: number): Promise<void> {
  const t0 = Date.now();
  while (!test()) {
    if (Date.now() - t0 > limitMs) throw new Error(`timed out after ${limitMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs the README's command, signals it (the whole group, or npx alone) once iteration 2 is logged. */
async function interruptedRun(name: string, signal: NodeJS.Signals, target: 'group' | 'npx') {
  const out = join(root, name);
  const child = spawn('npx', ['tsx', 'src/dbisl/train.ts', ...TINY, '--out', out], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)), detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { text += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, sig) => r({ code, signal: sig })));
  const pgid = child.pid!;
  try {
    await until('iteration 2 in the output', () => /it 2\/20/.test(text), 200_000);
    if (target === 'group') process.kill(-pgid, signal);
    else process.kill(pgid, signal);
    const exit = await exited;
    // npm may exit before the trainer (its sh dies of the signal): the trainer must still finish and go
    await until('every process of the run to exit', () => !groupAlive(pgid), 120_000);
    return { out, text, exit };
  } finally {
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  }
}

async function expectFinalCheckpoint(run: { out: string; text: string }, signal: NodeJS.Signals): Promise<void> {
  expect(run.text).toContain(`${signal}: stopping after this iteration and writing a checkpoint`);
  const stopped = /stopped at iteration (\d+); checkpoint/.exec(run.text);
  expect(stopped, run.text).not.toBeNull();
  const iteration = Number(stopped![1]);
  expect(iteration).toBeGreaterThanOrEqual(2);
  expect(iteration).toBeLessThan(20);
  const ckpt = await readSafetensors(join(run.out, 'checkpoint.safetensors'));
  expect(ckpt.metadata['voxgrad.iteration']).toBe(String(iteration));
  // no second "stopping" line: the signal relayed by the supervisor is not a second Ctrl-C
  expect(run.text.match(/stopping after this iteration/g)).toHaveLength(1);
}

describe('signals through npx tsx src/dbisl/train.ts', () => {
  it('Ctrl-C (SIGINT to the process group, as a terminal sends it) writes the final checkpoint and exits', async () => {
    const run = await interruptedRun('sigint', 'SIGINT', 'group');
    await expectFinalCheckpoint(run, 'SIGINT');
    expect(run.exit.code === 130 || run.exit.signal === 'SIGINT', JSON.stringify(run.exit)).toBe(true);
  }, 300_000);

  it('SIGTERM to the process group writes the final checkpoint and exits', async () => {
    const run = await interruptedRun('sigterm', 'SIGTERM', 'group');
    await expectFinalCheckpoint(run, 'SIGTERM');
    expect(run.exit.code === 143 || run.exit.signal === 'SIGTERM', JSON.stringify(run.exit)).toBe(true);
  }, 300_000);

  it('SIGTERM to the npx process alone (as `timeout` sends it) stops the trainer too, with its checkpoint', async () => {
    const run = await interruptedRun('sigterm-npx', 'SIGTERM', 'npx');
    await expectFinalCheckpoint(run, 'SIGTERM');
  }, 300_000);
});
