import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { readSafetensors } from '../../src/models/checkpoint.js';
import type { TrainConfig } from '../../src/dbisl/config.js';
import { TIMING_KEY, train, writeTrainingReport, type EvalPoint, type LogEntry, type RunTiming } from '../../src/dbisl/trainer.js';
import { linePlot } from '../../src/imaging/report/plot.js';
import { tinyTrainConfig } from '../helpers/tiny-train.js';

const root = mkdtempSync(join(tmpdir(), 'dbisl-timing-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tiny = (name: string, overrides: Partial<TrainConfig> = {}): TrainConfig => tinyTrainConfig(join(root, name), overrides);
const quiet = { print: () => {}, progressStream: { write: () => true, isTTY: false }, skipEvaluation: true };
const run = (config: TrainConfig, extra: Partial<Parameters<typeof train>[0]> = {}) => train({ config, backend: new CpuBackend(), ...quiet, ...extra });
const checkpointOf = (c: TrainConfig) => join(c.out, 'checkpoint.safetensors');
const timingOf = async (c: TrainConfig) => JSON.parse((await readSafetensors(checkpointOf(c))).metadata[TIMING_KEY]!) as RunTiming;

/** rewrites the checkpoint's safetensors header (u64 length, JSON) with its timing replaced (undefined: removed) */
function setTiming(file: string, raw: string | undefined): void {
  const bytes = readFileSync(file), length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as { __metadata__: Record<string, string> };
  if (raw === undefined) delete header.__metadata__[TIMING_KEY];
  else header.__metadata__[TIMING_KEY] = raw;
  const text = JSON.stringify(header);
  const json = Buffer.from(text.padEnd(Math.ceil(text.length / 8) * 8, ' '));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([size, json, bytes.subarray(8 + length)]));
}

describe('the run\'s timing across resumptions', () => {
  it('a resumed run adds its own time to the earlier processes\' and says so; one stopped after its first iteration (no step counted) resumes', async () => {
    const c = tiny('resumed');
    expect((await run(c, { stopAt: 1 })).status).toBe('interrupted');
    const first = await timingOf(c);
    expect([first.steps, first.stepSeconds, first.processes]).toEqual([0, 0, 1]);
    expect(first.seconds).toBeGreaterThan(0);
    expect((await run({ ...c, resume: true }, { stopAt: 2 })).status).toBe('interrupted');
    const second = await timingOf(c);
    expect([second.steps, second.stepSeconds, second.processes]).toEqual([0, 0, 2]);
    expect(second.seconds).toBeGreaterThan(first.seconds);
    const lines: string[] = [];
    const done = await run({ ...c, resume: true }, { print: (l: string) => lines.push(l) });
    const third = await timingOf(c);
    expect([third.steps, third.processes]).toEqual([1, 3]);
    expect(third.seconds).toBeGreaterThan(second.seconds);
    expect(third.stepSeconds).toBeGreaterThan(0);
    expect(done.secondsPerIteration).toBe(third.stepSeconds);
    expect(done.message).toMatch(/^trained 4 iterations in .* s\/iteration\), over 3 processes \(resumed\)$/);
    expect(lines).toContain(done.message);
  });

  it('a run of one iteration (no step past the first) gives that iteration\'s time per iteration; a straight run says nothing of processes', async () => {
    const one = await run(tiny('one', { iterations: 1 }));
    expect(one.secondsPerIteration).toBeGreaterThan(0);
    expect(one.message).toMatch(/^trained 1 iterations in .* \(\d+\.\d{3} s\/iteration\)$/);
  });

  it('--resume takes a checkpoint without a timing (an older version\'s): only this process\'s time is known', async () => {
    const c = tiny('untimed');
    await run(c, { stopAt: 2 });
    setTiming(checkpointOf(c), undefined);
    const done = await run({ ...c, resume: true });
    expect(done.status).toBe('done');
    expect(done.message).not.toContain('processes');
    expect(await timingOf(c)).toMatchObject({ steps: 1, processes: 1 });
  });

  it('--resume refuses every malformed timing, quoting it', async () => {
    const c = tiny('malformed');
    await run(c, { stopAt: 2 });
    const good = JSON.parse((await readSafetensors(checkpointOf(c))).metadata[TIMING_KEY]!) as RunTiming;
    const bad = ['not json', 'null', '[]', JSON.stringify({ ...good, processes: undefined }), JSON.stringify({ ...good, steps: '1' }),
      JSON.stringify({ ...good, stepSeconds: -0.5 }), JSON.stringify(good).replace(/"seconds":[^,]+/, '"seconds":1e999')];
    for (const raw of bad) {
      setTiming(checkpointOf(c), raw);
      await expect(run({ ...c, resume: true }), raw).rejects.toThrow(`the run's timing in the metadata (${TIMING_KEY}) is invalid: ${raw}; the checkpoint is left as it is`);
    }
    // zeros are a valid timing (a process stopped after its first iteration)
    setTiming(checkpointOf(c), JSON.stringify({ seconds: 0, stepSeconds: 0, steps: 0, processes: 0 }));
    expect((await run({ ...c, resume: true })).status).toBe('done');
    expect(await timingOf(c)).toMatchObject({ steps: 1, processes: 1 });
  });
});

describe('writeTrainingReport: the evaluations and the processes', () => {
  const log: LogEntry[] = [1, 2].map((iteration) => ({ iteration, lr: 0.01, lambda: 0, time: iteration, liveBuffers: 1, liveTensors: 1, terms: { total: 1 / iteration } }));
  const report = async (name: string, evalHistory: EvalPoint[], evalEvery: number, processes: number) => {
    const out = join(root, name);
    const files = await writeTrainingReport(out, {
      config: tiny(name, { evalEvery, figures: false }), log, evalHistory, evaluation: null, secondsPerIteration: 0.25, trainSeconds: 90,
      processes, backendDescription: 'cpu', model: 'tiny',
    });
    return { files, md: readFileSync(join(out, 'report.md'), 'utf8'), dice: existsSync(join(out, 'dice.svg')) ? readFileSync(join(out, 'dice.svg'), 'utf8') : null };
  };

  it('a line per set of cases in dice.svg and a row per evaluation in report.md, in the order they ran', async () => {
    const history: EvalPoint[] = [
      { iteration: 2, dice: 0.5, cases: 2 }, { iteration: 4, dice: 0.625, cases: 2 }, { iteration: 4, dice: 0.6, cases: 3 },
      { iteration: 4, dice: 0.75 },
    ];
    const r = await report('table', history, 2, 1);
    expect(r.dice).toBe(linePlot([
      { name: 'test Dice, first 2 test cases', x: [2, 4], y: [50, 62.5] },
      { name: 'test Dice, first 3 test cases', x: [4], y: [60] },
      { name: 'test Dice, all test cases', x: [4], y: [75] },
    ], { title: 'Dice on the test split during training', xLabel: 'iteration', yLabel: 'Dice (%)', id: 'dice' }));
    expect(r.md).toContain(['![Dice during training](dice.svg)', '', '| iteration | cases | Dice (%) |', '|---:|---|---:|',
      '| 2 | first 2 test cases | 50.00 |', '| 4 | first 2 test cases | 62.50 |', '| 4 | first 3 test cases | 60.00 |',
      '| 4 | all test cases | 75.00 |', '', '## Machine'].join('\n'));
    expect(r.md).toContain('- 4 iterations in 1:30, **0.250 s/iteration** (mean, first iteration excluded)\n');
  });

  it('the mean per iteration names the processes of a resumed run; no evaluation, no Dice table', async () => {
    const r = await report('resumed-report', [{ iteration: 4, dice: 0.75 }], 0, 3);
    expect(r.md).toContain('**0.250 s/iteration** (mean, the first iteration of each of the 3 processes that trained it (resumed) excluded)\n');
    expect([r.dice, r.files.dicePlot, r.md.includes('| iteration |')]).toEqual([null, undefined, false]);
  });
});
