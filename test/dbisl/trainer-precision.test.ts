import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyTrainConfig } from '../helpers/tiny-train.js';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { readSafetensors } from '../../src/models/checkpoint.js';
import { CliError, parseTrainArgs, type TrainConfig } from '../../src/dbisl/config.js';
import { train, type LogEntry } from '../../src/dbisl/trainer.js';
import { resumeConfig } from '../../src/dbisl/train.js';

const root = mkdtempSync(join(tmpdir(), 'dbisl-precision-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tiny = (name: string, overrides: Partial<TrainConfig> = {}): TrainConfig => tinyTrainConfig(join(root, name), overrides);

const quiet = { print: () => {}, progressStream: { write: () => true, isTTY: false }, skipEvaluation: true };
const run = (config: TrainConfig, extra: Partial<Parameters<typeof train>[0]> = {}) => train({ config, backend: new CpuBackend(), ...quiet, ...extra });
const readLog = (dir: string): LogEntry[] => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogEntry);

describe('--precision', () => {
  it('parses fp32 (the default) and mixed-emulated; refuses native mixed naming what it needs; --help lists it', () => {
    const parsed = (argv: string[]) => { const r = parseTrainArgs(argv); if (r.help) throw new Error('help'); return r.config.precision; };
    expect(parsed([])).toBe('fp32');
    expect(parsed(['--precision', 'mixed-emulated'])).toBe('mixed-emulated');
    expect(() => parseTrainArgs(['--precision', 'mixed'])).toThrow(CliError);
    expect(() => parseTrainArgs(['--precision', 'mixed'])).toThrow(/--precision mixed .* needs the float16 \/ subgroup-matrix conv3d kernels, which are not written yet; --precision mixed-emulated/);
    expect(() => parseTrainArgs(['--precision', 'bf16'])).toThrow("--precision: 'bf16' is not valid; valid: fp32, mixed-emulated");
    const help = parseTrainArgs(['--help']);
    expect(help.help && help.text).toMatch(/--precision fp32\|mixed-emulated\s+training arithmetic: .*\(default: fp32\)/);
  });

  it('mixed-emulated: trains, logs the loss scale of every iteration (halved after each skipped step), resumes bit for bit', async () => {
    const straight = tiny('mixed-straight', { precision: 'mixed-emulated' });
    const done = await run(straight);
    expect(done.status).toBe('done');
    const split = tiny('mixed-split', { precision: 'mixed-emulated' });
    expect((await run(split, { stopAt: 2 })).status).toBe('interrupted');
    expect((await run({ ...split, resume: true })).status).toBe('done');

    const a = readLog(straight.out), b = readLog(split.out);
    expect(a.map((e) => e.iteration)).toEqual([1, 2, 3, 4]);
    for (const e of a) {
      expect(e.lossScale).toBeGreaterThan(0);
      expect(typeof e.stepSkipped).toBe('boolean');
    }
    expect(a[0]!.lossScale).toBe(65536);
    for (let i = 1; i < a.length; i++) expect(a[i]!.lossScale).toBe(a[i - 1]!.lossScale! * (a[i - 1]!.stepSkipped ? 0.5 : 1));
    expect(b.map((e) => [e.terms, e.lossScale, e.stepSkipped])).toEqual(a.map((e) => [e.terms, e.lossScale, e.stepSkipped]));
    const ca = await readSafetensors(join(straight.out, 'checkpoint.safetensors'));
    const cb = await readSafetensors(join(split.out, 'checkpoint.safetensors'));
    for (const [k, t] of ca.tensors) expect(Array.from(cb.tensors.get(k)!.data), k).toEqual(Array.from(t.data));
    expect(cb.metadata['voxgrad.rng']).toBe(ca.metadata['voxgrad.rng']);
    const rng = JSON.parse(ca.metadata['voxgrad.rng']!) as { gradScaler?: Record<string, number> };
    const last = a[a.length - 1]!;
    expect(rng.gradScaler).toMatchObject({ scale: last.lossScale! * (last.stepSkipped ? 0.5 : 1), growthInterval: 2000 });
    const skipped = a.filter((e) => e.stepSkipped).length, finalScale = rng.gradScaler!.scale;
    expect(done.message).toContain(`; ${skipped} of 4 steps skipped (a gradient overflowed float16), loss scale ${finalScale} after the last`);
    expect(readFileSync(join(straight.out, 'report.md'), 'utf8')).toContain(`- precision: mixed-emulated (float16 conv3d operands and output gradients, float32 accumulation); ${skipped} of 4 steps skipped`);
  });

  it('mixed-emulated trains differently from fp32 (the rounding reaches the weights); fp32 logs no scale', async () => {
    const fp32 = tiny('fp32', { iterations: 2 }), mixed = tiny('mixed', { iterations: 2, precision: 'mixed-emulated' });
    await run(fp32);
    await run(mixed);
    const a = readLog(fp32.out), b = readLog(mixed.out);
    expect(a.every((e) => e.lossScale === undefined && e.stepSkipped === undefined)).toBe(true);
    // iteration 1's forward already reads rounded operands
    expect(b[0]!.terms.total).not.toBe(a[0]!.terms.total);
    expect(Math.abs(b[0]!.terms.total! - a[0]!.terms.total!)).toBeLessThan(0.05 * a[0]!.terms.total!);
  });

  it('mixed-emulated reads back no more per iteration than fp32 (the scale and the skip come with the loss terms); only its checkpoints read the scaler state', async () => {
    const reads = async (config: TrainConfig) => {
      const backend = new CpuBackend();
      const read = vi.spyOn(backend, 'read');
      expect((await train({ config, backend, ...quiet })).status).toBe('done');
      return read.mock.calls.length;
    };
    // one checkpoint (at the end): the scaler's scale and growth tracker, two reads
    const fp32 = await reads(tiny('reads-fp32', { checkpointEvery: 4 }));
    expect(await reads(tiny('reads-mixed', { checkpointEvery: 4, precision: 'mixed-emulated' }))).toBe(fp32 + 2);
  });

  it('the precision of a checkpoint cannot change on resume', async () => {
    const c = tiny('switch', { iterations: 2 });
    await run(c);
    const cli = parseTrainArgs(['--out', c.out, '--resume', '--precision', 'mixed-emulated']);
    if (cli.help) throw new Error('help');
    await expect(resumeConfig(cli.config, cli.explicit)).rejects.toThrow(/--precision \(fp32 in the checkpoint, mixed-emulated given\)/);
  });
});
