import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { defaultConfig, parseTrainArgs, type TrainConfig } from '../../src/dbisl/config.js';
import { main as trainMain } from '../../src/dbisl/train.js';
import { main as evaluateMain } from '../../src/dbisl/evaluate.js';
import { train } from '../../src/dbisl/trainer.js';

/** Option checks, and how train.ts / evaluate.ts end on errors: one line, exit 2 (usage) or 1, the stack with --debug. */

const root = mkdtempSync(join(tmpdir(), 'dbisl-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => { vi.restoreAllMocks(); });

/** runs a main(), returning its exit code and what it wrote to stderr */
async function capture(run: () => Promise<number>): Promise<{ code: number; err: string }> {
  const lines: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { lines.push(a.map(String).join(' ')); });
  vi.spyOn(console, 'log').mockImplementation(() => {});
  const code = await run();
  return { code, err: lines.join('\n') };
}

describe('option checks', () => {
  const parse = (...argv: string[]) => () => parseTrainArgs(argv);
  it('rejects what torch.optim.SGD rejects, a non-positive lr-gamma, epoch-iters 0, huge iteration counts, --data on synthetic', () => {
    expect(parse('--momentum', '-5')).toThrow(/--momentum must be a finite number ≥ 0, got -5/);
    expect(parse('--weight-decay', '-1e-4')).toThrow(/--weight-decay must be a finite number ≥ 0, got -0\.0001/);
    expect(parse('--lr-gamma', '-1')).toThrow(/--lr-gamma must be a finite number > 0, got -1/);
    expect(parse('--lr-gamma', '0')).toThrow(/--lr-gamma must be a finite number > 0/);
    expect(parse('--epoch-iters', '0')).toThrow(/--epoch-iters must be a positive integer, got 0/);
    expect(parse('--rampup', '-1')).toThrow(/--rampup must be an integer ≥ 0, got -1/);
    expect(parse('--iters', '1e20')).toThrow(/--iters: expected an integer, got '1e20'/);
    expect(parse('--iters', '100000000000000000000')).toThrow(/--iters: expected an integer/);
    expect(parse('--iters', '2000000000')).toThrow(/--iters must be at most 1000000000/);
    expect(parse('--n-filters', '100000')).toThrow(/--n-filters must be at most 256/);
    expect(parse('--patch', '2048,32,32')).toThrow(/up to 1024/);
    expect(parse('--data', 'somewhere')).toThrow(/--data somewhere: the synthetic preset generates its data/);
    // several problems stay one line
    expect(parse('--momentum', '-1', '--lr-gamma', '-1')).toThrow(/--momentum must be .*; --lr-gamma must be/);
    expect(parseTrainArgs(['--momentum', '0', '--weight-decay', '0', '--rampup', '0'])).toMatchObject({ help: false });
  });
});

describe('train.ts and evaluate.ts errors', () => {
  it('a usage error: exit 2, one line, no stack', async () => {
    const r = await capture(() => trainMain(['--momentum', '-5']));
    expect(r.code).toBe(2);
    expect(r.err).toBe('train: --momentum must be a finite number ≥ 0, got -5');
    const e = await capture(() => evaluateMain(['--checkpoint']));
    expect(e.code).toBe(2);
    expect(e.err).toBe('evaluate: --checkpoint: missing value (FILE)');
  });

  it('a failed --resume: exit 1, one line naming the file and the cause, the checkpoint left as it is; --debug adds the stack', async () => {
    const out = join(root, 'corrupt');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'checkpoint.safetensors'), 'not a safetensors file');
    const r = await capture(() => trainMain(['--backend', 'cpu', '--resume', '--out', out]));
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^train: --resume failed: .*corrupt\/checkpoint\.safetensors: .*\(the checkpoint is left as it is\)$/);
    const d = await capture(() => trainMain(['--backend', 'cpu', '--resume', '--out', out, '--debug']));
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/\n\s+at /);
    const e = await capture(() => evaluateMain(['--checkpoint', join(out, 'checkpoint.safetensors')]));
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/^evaluate: .*corrupt\/checkpoint\.safetensors: [^\n]*$/);
  });

  it('a checkpoint that cannot be written: the error names the file, the cause and the checkpoint kept', async () => {
    const c: TrainConfig = {
      ...defaultConfig('synthetic', 'dbisl'), out: join(root, 'unwritable'), backend: 'cpu', iterations: 2, batch: 2, labeledBatch: 1, labeled: 2,
      patch: [16, 16, 16], stride: [16, 16, 16], nFilters: 2, checkpointEvery: 1, synthetic: { count: 4, testCount: 1, shape: [20, 18, 16], seed: 3 },
    };
    c.loss = { ...c.loss, radius: 2 };
    const file = join(c.out, 'checkpoint.safetensors');
    // once iteration 2 is logged (before its checkpoint), a directory takes the checkpoint's name: the rename fails
    const progressStream = { isTTY: false, write: (s: string) => {
      if (/it 2\/2/.test(s)) { renameSync(file, join(c.out, 'iteration-1.safetensors')); mkdirSync(file); }
      return true;
    } };
    await expect(train({ config: c, backend: new CpuBackend(), print: () => {}, progressStream, skipEvaluation: true }))
      .rejects.toThrow(/^cannot write the checkpoint of iteration 2 to .*unwritable\/checkpoint\.safetensors \(E\w+: .*\); the checkpoint of iteration 1 is kept$/);
    expect(readdirSync(c.out).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a checkpoint whose configuration is corrupt is named (not "Invalid typed array length")', async () => {
    const { encodeSafetensors } = await import('../../src/models/safetensors.js');
    const bad = join(root, 'bad-config.safetensors');
    const write = (config: string) => writeFileSync(bad, encodeSafetensors(new Map(), { 'voxgrad.config': config }));
    write(JSON.stringify({ ...defaultConfig(), nFilters: 100000 }));
    let e = await capture(() => evaluateMain(['--checkpoint', bad]));
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/^evaluate: .*bad-config\.safetensors: the configuration in the checkpoint is invalid: --n-filters must be at most 256/);
    write('{"preset": "synthetic", "method":');
    e = await capture(() => evaluateMain(['--checkpoint', bad]));
    expect(e.err).toMatch(/^evaluate: .*bad-config\.safetensors: voxgrad\.config in the metadata is not valid JSON \(/);
  });
});
