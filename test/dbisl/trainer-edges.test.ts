import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import type { TrainConfig } from '../../src/dbisl/config.js';
import { train, type TrainResult } from '../../src/dbisl/trainer.js';
import { tinyTrainConfig } from '../helpers/tiny-train.js';

/**
 * The edges of the evaluations during training: --eval-cases at or above the number of test cases means all of them
 * (one series, labelled so); a run stopped after an evaluation and resumed does not evaluate that iteration again.
 */

const root = mkdtempSync(join(tmpdir(), 'dbisl-trainer-edges-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
process.env.VOXGRAD_CACHE_DIR = join(root, 'conv3d-cache');

const tiny = (name: string, overrides: Partial<TrainConfig> = {}): TrainConfig => tinyTrainConfig(join(root, name), overrides);
const synthetic = { count: 4, testCount: 3, shape: [20, 18, 16] as [number, number, number], seed: 3 };

async function run(config: TrainConfig, lines: string[] = [], extra: Partial<Parameters<typeof train>[0]> = {}): Promise<TrainResult> {
  return train({ config, backend: new CpuBackend(), print: (l) => lines.push(l), progressStream: { write: () => true, isTTY: false }, ...extra });
}

const evalRows = (dir: string): string[] => readFileSync(join(dir, 'report.md'), 'utf8').split('\n').filter((l) => /^\| \d+ \| /.test(l));

describe('evaluations during training: edges', () => {
  it('--eval-cases equal to the number of test cases evaluates all of them, labelled "all test cases"', async () => {
    const lines: string[] = [];
    const c = tiny('eval-cases-all', { evalEvery: 2, evalCases: 3, synthetic, figures: false });
    await run(c, lines);
    expect(lines.filter((l) => l.startsWith('eval at iteration'))).toEqual([expect.stringMatching(/^eval at iteration 2: Dice [\d.]+ %$/)]);
    expect(evalRows(c.out).map((l) => l.split('|')[2]!.trim())).toEqual(['all test cases', 'all test cases']);
  });

  it('a run stopped right after an evaluation and resumed evaluates that iteration once', async () => {
    const c = tiny('eval-stop-resume', { evalEvery: 2, figures: false });
    const lines: string[] = [];
    await run(c, lines, { stopAt: 2, skipEvaluation: true });
    await run({ ...c, resume: true }, lines);
    expect(lines.filter((l) => l.startsWith('eval at iteration')).map((l) => l.split(':')[0])).toEqual(['eval at iteration 2']);
    expect(evalRows(c.out).map((l) => l.split('|')[1]!.trim())).toEqual(['2', '4']);
  });
});
