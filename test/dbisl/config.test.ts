import { describe, expect, it } from 'vitest';
import {
  CliError, METHODS, PRESETS, TRAIN_OPTIONS, defaultConfig, evaluateHelp, parseEvaluateArgs, parseTrainArgs, validateConfig, type TrainConfig,
} from '../../src/dbisl/config.js';
import { validateEvaluation } from '../../src/dbisl/evaluate.js';
import { dbislLossConfig, dtcLossConfig } from '../../src/dbisl/losses.js';

function parse(...argv: string[]): TrainConfig {
  const r = parseTrainArgs(argv);
  if (r.help) throw new Error('unexpected help');
  return r.config;
}

describe('config: defaults and presets', () => {
  it('no arguments: the synthetic preset, DBiSL, auto backend', () => {
    const c = parse();
    expect(c.preset).toBe('synthetic');
    expect(c.method).toBe('dbisl');
    expect(c.backend).toBe('auto');
    expect(c.out).toBe('runs/synthetic-dbisl-4l');
    expect(c.batch).toBe(4);
    expect(c.labeledBatch).toBe(2);
    expect(c.patch.every((p) => p % 16 === 0)).toBe(true);
    expect(c.data).toBeNull();
    expect(c.loss.ce && c.loss.supCross && c.loss.con && c.loss.conS2R && c.loss.pse && c.loss.unc).toBe(true);
  });

  it('la: the DTC protocol', () => {
    const c = parse('--preset', 'la', '--data', 'LA');
    expect(c.patch).toEqual([112, 112, 80]);
    expect(c.stride).toEqual([18, 18, 4]);
    expect([c.batch, c.labeledBatch, c.iterations, c.labeled, c.seed]).toEqual([4, 2, 6000, 8, 1337]);
    expect([c.lr, c.lrStep, c.lrGamma, c.momentum, c.weightDecay]).toEqual([0.01, 2500, 0.1, 0.9, 1e-4]);
    expect(c.nFilters).toBe(16);
    expect(c.lcc).toBe(true);
    expect(c.threshold).toBe(0.5);
    // the spec's loss defaults
    expect(c.loss).toEqual(dbislLossConfig());
    expect(c.loss).toMatchObject({ beta: 0.3, betaX: 0.5, gamma: 5, lambdaMax: 1, rampupEpochs: 40, epochIterations: 150, k: 1500, radius: 8, h: 0.35, eps: 'auto', sdfTarget: 'cdt', uncertainty: 'exp' });
  });

  it('--eps: auto by default on every preset and method, a number overrides, anything else is a usage error', () => {
    for (const preset of ['synthetic', 'la', 'brats']) {
      const data = preset === 'synthetic' ? [] : ['--data', 'd'];
      for (const method of ['dbisl', 'dtc']) expect(parse('--preset', preset, ...data, '--method', method).loss.eps).toBe('auto');
    }
    expect(parse('--eps', '1e-6').loss.eps).toBe(1e-6);
    expect(parse('--eps', '1e-6', '--eps', 'auto').loss.eps).toBe('auto');
    expect(() => parse('--eps', 'tiny')).toThrow(/--eps: expected auto or a number, got 'tiny'/);
    expect(() => parse('--eps', '2')).toThrow(/--eps must be auto or in \(0, 1\), got 2/);
  });

  it('brats: 96³ patches, stride 64', () => {
    const c = parse('--preset', 'brats', '--data', 'B');
    expect(c.patch).toEqual([96, 96, 96]);
    expect(c.stride).toEqual([64, 64, 64]);
  });

  it('--method dtc: Dice + 0.3·MSE(compute_sdf) + one-way consistency', () => {
    const c = parse('--preset', 'la', '--data', 'x', '--method', 'dtc');
    expect(c.loss).toEqual(dtcLossConfig());
    expect(c.loss).toMatchObject({ sdfTarget: 'dtc', ce: false, supCross: false, con: true, conR2S: true, conS2R: false, pse: false, unc: false, beta: 0.3 });
  });
});

describe('config: command line', () => {
  it('every option is applied', () => {
    const c = parse('--labeled', '6', '--iters', '12', '--batch', '6', '--labeled-batch', '3', '--patch', '48,32,16',
      '--lr', '0.02', '--seed', '7', '--backend', 'cpu', '--out', 'o', '--resume', '--eval-every', '5', '--eval-cases', '2', '--n-filters', '4',
      '--no-sup-cross', '--no-con', '--no-pse', '--no-unc', '--beta', '0.1', '--beta-x', '0.2', '--gamma', '3', '--k', '50',
      '--h', '0.5', '--radius', '3', '--lambda-max', '0.7', '--sdf-target', 'dtc', '--uncertainty', 'mask', '--no-lcc',
      '--save-predictions', '--checkpoint-every', '3', '--stride=8,8,8');
    expect(c).toMatchObject({
      labeled: 6, iterations: 12, batch: 6, labeledBatch: 3, patch: [48, 32, 16], lr: 0.02, seed: 7, backend: 'cpu', out: 'o',
      resume: true, evalEvery: 5, evalCases: 2, nFilters: 4, lcc: false, savePredictions: true, checkpointEvery: 3, stride: [8, 8, 8],
    });
    expect(c.loss).toMatchObject({
      supCross: false, con: false, pse: false, unc: false, beta: 0.1, betaX: 0.2, gamma: 3, k: 50, h: 0.5, radius: 3,
      lambdaMax: 0.7, sdfTarget: 'dtc', uncertainty: 'mask',
    });
    // and switched back on after --method dtc
    expect(parse('--method', 'dtc', '--pse', '--con-s2r').loss).toMatchObject({ pse: true, conS2R: true, supCross: false });
  });

  it('unknown options are errors that list the valid ones', () => {
    expect(() => parse('--iterations', '5')).toThrow(CliError);
    expect(() => parse('--iterations', '5')).toThrow(/unknown option '--iterations'.*--iters/s);
    expect(() => parse('extra')).toThrow(/unexpected argument 'extra'/);
    expect(() => parse('--no-iters')).toThrow(/unknown option/);
  });

  it('invalid values say what is valid', () => {
    expect(() => parse('--iters', 'many')).toThrow(/--iters: expected an integer, got 'many'/);
    expect(() => parse('--iters', '0')).toThrow(/--iters must be a positive integer/);
    expect(() => parse('--backend', 'cuda')).toThrow(/--backend: 'cuda' is not valid; valid: auto, webgpu, cpu/);
    expect(() => parse('--preset', 'kits')).toThrow(/valid: synthetic, la, brats/);
    expect(() => parse('--patch', '32,32')).toThrow(/three integers/);
    expect(() => parse('--patch', '24,32,32')).toThrow(/multiple of 16/);
    expect(() => parse('--lr')).toThrow(/--lr: missing value/);
    expect(() => parse('--lr', '--iters', '3')).toThrow(/--lr: missing value/);
    expect(() => parse('--preset', 'la', '--data', 'x', '--labeled', '10')).toThrow(/one of 4, 8, 16, 40/);
    expect(() => parse('--preset', 'la')).toThrow(/needs --data DIR/);
    expect(() => parse('--labeled-batch', '5')).toThrow(/--labeled-batch must be an integer in \[1, --batch = 4\]/);
    expect(() => parse('--resume=yes')).toThrow(/takes no value/);
    expect(() => parse('--uncertainty', 'entropy')).toThrow(/valid: exp, mask/);
    expect(() => parse('--eval-cases', '-1')).toThrow(/^--eval-cases must be an integer ≥ 0, got -1$/);
  });

  it('every check names its option: --lr-step (named lrStep before), --stride with the patch side it exceeds', () => {
    expect(() => parse('--lr-step', '0')).toThrow(/^--lr-step must be a positive integer, got 0$/);
    expect(() => parse('--stride', '8,8,20')).toThrow(/^--stride 8,8,20: every stride must be an integer in \[1, patch side 16\]$/);
  });

  it('the defaults of every preset and method pass the checks; evaluate.ts checks its overrides with the same rules', () => {
    for (const preset of PRESETS) {
      for (const method of METHODS) expect(() => validateConfig({ ...defaultConfig(preset, method), data: preset === 'synthetic' ? null : 'd' })).not.toThrow();
    }
    expect(() => validateEvaluation({ ...defaultConfig('la'), data: null })).toThrow(/^the la preset needs --data DIR/);
    expect(() => validateEvaluation({ ...defaultConfig(), stride: [40, 8, 8], threshold: 1 }))
      .toThrow(/^--stride 40,8,8: every stride must be an integer in \[1, patch side 32\]; --threshold must be in \(0, 1\), got 1$/);
    // training-only rules are not evaluate.ts's business
    expect(() => validateEvaluation({ ...defaultConfig(), iterations: 0, labeled: 99 })).not.toThrow();
  });

  it('--help lists every option with its default', () => {
    const r = parseTrainArgs(['--help']);
    expect(r.help).toBe(true);
    const text = r.help ? r.text : '';
    for (const spec of TRAIN_OPTIONS) expect(text).toContain(`--${spec.form === 'switch' ? `[no-]${spec.name}` : spec.name}`);
    const lines = text.split('\n').filter((l) => l.trimStart().startsWith('--'));
    expect(lines.length).toBe(TRAIN_OPTIONS.length);
    for (const l of lines) expect(l).toMatch(/\(default: [^)]*\)$/);
    expect(text).toMatch(/--iters N\s+training iterations \(default: \d+\)/);
    expect(text).toContain('--beta X');
    // the defaults follow --preset / --method
    const la = parseTrainArgs(['--preset', 'la', '--method', 'dtc', '--help']);
    expect(la.help && la.text).toMatch(/--iters N\s+training iterations \(default: 6000\)/);
    expect(la.help && la.text).toMatch(/--sdf-target cdt\|dtc .*\(default: dtc\)/);
  });

  it('defaultConfig returns independent objects', () => {
    const a = defaultConfig();
    a.patch[0] = 1;
    a.loss.beta = 9;
    expect(defaultConfig().patch[0]).not.toBe(1);
    expect(defaultConfig().loss.beta).toBe(0.3);
  });

  it('evaluate.ts: --checkpoint is required, overrides parse, help lists the options', () => {
    expect(() => parseEvaluateArgs([])).toThrow(/--checkpoint FILE is required/);
    expect(() => parseEvaluateArgs(['--checkpoint', 'c', '--iters', '3'])).toThrow(/unknown option '--iters'/);
    const r = parseEvaluateArgs(['--checkpoint', 'c.safetensors', '--data', 'd', '--no-lcc', '--stride', '8,8,4']);
    expect(r.help).toBe(false);
    if (!r.help) expect(r.args).toMatchObject({ checkpoint: 'c.safetensors', data: 'd', lcc: false, stride: [8, 8, 4] });
    expect(evaluateHelp()).toContain('--checkpoint FILE');
    expect(evaluateHelp()).toContain('--[no-]lcc');
  });
});
