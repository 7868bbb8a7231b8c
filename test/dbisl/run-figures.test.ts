import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { defaultConfig, evaluateHelp, parseEvaluateArgs, parseTrainArgs, type TrainConfig } from '../../src/dbisl/config.js';
import { evaluateCheckpoint } from '../../src/dbisl/evaluate.js';
import { train } from '../../src/dbisl/trainer.js';

const root = mkdtempSync(join(tmpdir(), 'dbisl-figures-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Two iterations of a tiny V-Net on the cpu backend, two test cases. */
function tiny(name: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  const c = defaultConfig('synthetic', 'dbisl');
  return {
    ...c, out: join(root, name), backend: 'cpu', iterations: 2, batch: 2, labeledBatch: 1, labeled: 2,
    patch: [16, 16, 16], stride: [16, 16, 16], nFilters: 2, checkpointEvery: 2, evalBatch: 2, evalEvery: 1,
    synthetic: { count: 4, testCount: 2, shape: [20, 18, 16], seed: 3 },
    loss: { ...c.loss, radius: 2, epochIterations: 1, rampupEpochs: 2 },
    ...overrides,
  };
}
const quiet = { print: () => {}, progressStream: { write: () => true, isTTY: false } };

describe('options', () => {
  it('train.ts: --[no-]figures and --figure-axis', () => {
    const on = parseTrainArgs([]);
    expect(on.help === false && [on.config.figures, on.config.figureAxis]).toEqual([true, 'axial']);
    const off = parseTrainArgs(['--no-figures', '--figure-axis', 'sagittal']);
    expect(off.help === false && [off.config.figures, off.config.figureAxis]).toEqual([false, 'sagittal']);
    expect(() => parseTrainArgs(['--figure-axis', 'oblique'])).toThrow(/--figure-axis: 'oblique' is not valid; valid: sagittal, coronal, axial/);
  });

  it('evaluate.ts: --figures-only --cases, --no-figures, --figure-axis', () => {
    const p = parseEvaluateArgs(['--checkpoint', 'c.safetensors', '--figures-only', '--cases', 'a, b', '--figure-axis', 'coronal']);
    expect(p.help === false && p.args).toMatchObject({ figuresOnly: true, cases: ['a', 'b'], figureAxis: 'coronal', figures: null });
    const q = parseEvaluateArgs(['--checkpoint', 'c.safetensors', '--no-figures']);
    expect(q.help === false && q.args).toMatchObject({ figuresOnly: false, cases: null, figures: false });
    expect(() => parseEvaluateArgs(['--checkpoint', 'c', '--cases', 'a,,b'])).toThrow(/--cases: expected case ids separated by commas/);
    expect(() => parseEvaluateArgs(['--checkpoint', 'c', '--figures-only', '--no-figures'])).toThrow(/--figures-only contradicts --no-figures/);
    for (const o of ['--figures-only', '--cases ID,ID', '--[no-]figures', '--figure-axis']) expect(evaluateHelp()).toContain(o);
  });
});

describe('figures after training and from evaluate.ts (cpu backend, tiny configuration)', () => {
  it('overlay PNGs, report.md with the best / median / worst case, report.html; --figures-only --cases; --no-figures', { timeout: 300_000 }, async () => {
    const c = tiny('run');
    const r = await train({ config: c, backend: new CpuBackend(), ...quiet });
    expect(r.status).toBe('done');
    const pngs = readdirSync(join(c.out, 'figures')).sort();
    expect(pngs).toEqual(['syn-004_axial.png', 'syn-005_axial.png']);
    const png = decode(readFileSync(join(c.out, 'figures', pngs[0]!)));
    expect(png.channels).toBe(3);
    expect(png.width).toBeGreaterThan(200);
    const md = readFileSync(join(c.out, 'report.md'), 'utf8');
    expect(md).toContain('## Cases: best, median and worst by Dice');
    expect(md).toMatch(/!\[best: syn-00[45]\]\(figures\/syn-00[45]_axial\.png\)/);
    expect(md).toMatch(/!\[worst: syn-00[45]\]\(figures\/syn-00[45]_axial\.png\)/);
    expect(md).toContain('`report.html`');
    const html = readFileSync(join(c.out, 'report.html'), 'utf8');
    for (const s of ['id="case-0"', 'id="case-1"', 'url(#losses-area)', 'url(#dice-area)', 'syn-005']) expect(html).toContain(s);
    expect(r.files.html).toBe(join(c.out, 'report.html'));

    // evaluate.ts on the checkpoint: only one case's PNG, on another axis, nothing else
    const out = join(c.out, 'only');
    const ev = await evaluateCheckpoint({
      checkpoint: join(c.out, 'checkpoint.safetensors'), out, backend: new CpuBackend(), print: () => {},
      ids: ['syn-005'], figuresOnly: true, overrides: { figureAxis: 'coronal' },
    });
    expect(ev.evaluation.rows.map((row) => row.id)).toEqual(['syn-005']);
    expect(readdirSync(out)).toEqual(['figures']);
    expect(readdirSync(join(out, 'figures'))).toEqual(['syn-005_coronal.png']);
    await expect(evaluateCheckpoint({ checkpoint: join(c.out, 'checkpoint.safetensors'), out, backend: new CpuBackend(), print: () => {}, ids: ['nope'] }))
      .rejects.toThrow(/--cases: nope not in/);

    const off = tiny('off', { figures: false, iterations: 1, evalEvery: 0, checkpointEvery: 1 });
    await train({ config: off, backend: new CpuBackend(), ...quiet });
    expect(existsSync(join(off.out, 'figures'))).toBe(false);
    expect(existsSync(join(off.out, 'report.html'))).toBe(false);
    expect(readFileSync(join(off.out, 'report.md'), 'utf8')).not.toContain('best, median and worst');
  });
});
