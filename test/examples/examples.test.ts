import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNifti } from '../../src/imaging/io/nifti.js';

/**
 * The five examples as processes at small sizes on the cpu backend (at these sizes it beats WebGPU on
 * llvmpipe, whose shader compilation alone takes longer): each learns (its metric after training beats the
 * one at initialisation by a margin: the U-Net, the BraTS SegResNet, the spleen UNet and the ResNet classifier on held-out
 * volumes, the registration on its training pairs),
 * writes its checkpoint and loss plot, and answers --help and bad options (one line, exit status 2).
 */

const root = mkdtempSync(join(tmpdir(), 'voxgrad-examples-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Run { code: number | null; stdout: string; stderr: string }

function run(script: string, args: readonly string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

interface FinalLine { metric: string; before: number; after: number; better: boolean }

function finalLine(r: Run): FinalLine {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as FinalLine;
}

function expectOutputs(out: string): void {
  expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
  expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*training loss[\s\S]*<\/svg>\s*$/);
}

/** each row's arguments end the script with exit status 2 and the row's one-line message */
async function expectUsageErrors(script: string, rows: readonly (readonly [readonly string[], string])[]): Promise<void> {
  for (const [args, message] of rows) {
    const r = await run(script, args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(message);
  }
}

describe('examples/unet.ts', () => {
  it('learns to segment two structures (mean foreground Dice on held-out volumes up by ≥ 0.15)', async () => {
    const out = join(root, 'unet');
    const r = await run('examples/unet.ts', ['--backend', 'cpu', '--size', '8', '--eval-size', '12', '--eval-cases', '1', '--features', '4,8',
      '--batch', '2', '--iters', '30', '--lr', '0.02', '--noise', '0.25', '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const last = finalLine(r);
    expect(last.metric).toBe('mean foreground Dice');
    expect(last.after - last.before, r.stdout).toBeGreaterThan(0.15);
    expect(last.better).toBe(true);
    expect(r.stderr).toMatch(/train 30\/30/);
    expectOutputs(out);
  }, 300_000);

  it('--help, and one-line errors with exit status 2', async () => {
    const help = await run('examples/unet.ts', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--eval-size +held-out volume extent/);
    await expectUsageErrors('examples/unet.ts', [
      [['--size', '10'], 'unet: --size 10 must be divisible by 4 (3 levels) (see --help)'],
      [['--upsample', 'cubic'], "unet: --upsample 'cubic' is not one of deconv, trilinear (see --help)"],
      [['--iters', '0'], 'unet: --iters must be at least 1, got 0 (see --help)'],
    ]);
  }, 120_000);
});

describe('examples/registration.ts', () => {
  // at 8³ and a minute of cpu time the network does not yet generalise to new pairs (the default run shows that);
  // what it must show here is that the whole path learns: U-Net → displacement → gridSample → loss → gradients
  it('learns to register its training pairs (mean structure Dice of the warped labels up by ≥ 0.08)', async () => {
    const out = join(root, 'registration');
    const r = await run('examples/registration.ts', ['--backend', 'cpu', '--size', '8', '--features', '4,8', '--train-pairs', '2',
      '--eval-pairs', '0', '--batch', '1', '--deformation', '2', '--iters', '60', '--lr', '0.03', '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const last = finalLine(r);
    expect(last.metric).toBe('mean structure Dice (training pairs)');
    expect(last.after - last.before, r.stdout).toBeGreaterThan(0.08);
    expect(last.better).toBe(true);
    expect(r.stdout).toMatch(/after training, training pairs: Dice [\d.]+ %, folding [\d.]+ % of voxels/);
    expectOutputs(out);
  }, 300_000);

  // seeds 1, 2 at these settings: gains 0.114, 0.095
  it("learns with MONAI's pieces too: local NCC + bending energy of a velocity field integrated by dvf2ddf", async () => {
    const out = join(root, 'registration-monai');
    const r = await run('examples/registration.ts', ['--backend', 'cpu', '--size', '8', '--features', '4,8', '--train-pairs', '2',
      '--eval-pairs', '0', '--batch', '1', '--deformation', '2', '--iters', '60', '--lr', '0.03', '--similarity', 'ncc', '--smoothness', 'bending',
      '--integration-steps', '4', '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const last = finalLine(r);
    expect(last.after - last.before, r.stdout).toBeGreaterThan(0.06);
    expectOutputs(out);
  }, 300_000);

  it('one-line errors with exit status 2', async () => {
    await expectUsageErrors('examples/registration.ts', [
      [['--window', '4'], 'registration: --window must be odd, got 4 (see --help)'],
      [['--smoothness', 'curl'], "registration: --smoothness 'curl' is not one of gradient, diffusion, bending (see --help)"],
      [['--eval-pairs', '0'], 'registration: --eval-pairs 0 evaluates on the training pairs: give --train-pairs too (see --help)'],
      [['--similarity'], "registration: Option '--similarity <value>' argument missing (see --help)"],
    ]);
  }, 120_000);
});

describe('examples/brats.ts', () => {
  // seeds 1–5 at these settings (5 with --amp): gains 0.77, 0.59, 0.53, 0.54, 0.54
  it('learns to segment TC, WT and ET (mean region Dice on held-out cases up by ≥ 0.35)', async () => {
    const out = join(root, 'brats');
    const r = await run('examples/brats.ts', ['--backend', 'cpu', '--size', '12', '--crop', '8', '--init-filters', '8', '--blocks-down', '1,1',
      '--train-cases', '8', '--val-cases', '2', '--iters', '40', '--warmup', '4', '--lr', '0.01', '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const last = finalLine(r);
    expect(last.metric).toBe('mean Dice of TC, WT and ET');
    expect(last.after - last.before, r.stdout).toBeGreaterThan(0.35);
    expect(last.better).toBe(true);
    expect(r.stdout).toMatch(/after training, validation cases: mean Dice [\d.]+ % \(TC [\d.]+ %, WT [\d.]+ %, ET [\d.]+ %\)/);
    expect(r.stderr).toMatch(/train 40\/40/);
    expectOutputs(out);
  }, 300_000);

  it('--help, --amp as a flag, and one-line errors with exit status 2', async () => {
    const help = await run('examples/brats.ts', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--amp +mixed precision: autocast \(float16 convolutions\) and GradScaler\n/);
    await expectUsageErrors('examples/brats.ts', [
      [['--crop', '9'], 'brats: --crop 9 must be divisible by 2 (2 levels) (see --help)'],
      [['--crop', '32'], 'brats: --crop 32 must be at most --size 16 (see --help)'],
      [['--warmup', '5', '--iters', '5'], 'brats: --warmup 5 must be less than --iters 5 (see --help)'],
      [['--init-filters', '12'], 'brats: --init-filters 12 must be at most 8 or a multiple of 8 (GroupNorm groups) (see --help)'],
      [['--amp=on'], "brats: Option '--amp' does not take an argument (see --help)"],
    ]);
  }, 180_000);
});

describe('examples/classification.ts', () => {
  // seeds 1–3 at these settings: ROC AUC 0.50 → 0.69, 0.50 → 0.83, 0.41 → 0.72
  it('learns to tell three shapes apart (macro ROC AUC on held-out volumes up by ≥ 0.1)', async () => {
    const out = join(root, 'classification');
    const r = await run('examples/classification.ts', ['--backend', 'cpu', '--size', '12', '--conv1-size', '3', '--conv1-stride', '2',
      '--widen', '0.0625', '--batch', '6', '--iters', '100', '--lr', '0.01', '--noise', '0.2', '--train-cases', '60', '--val-cases', '24', '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const last = finalLine(r);
    expect(last.metric).toBe('ROC AUC (macro) on held-out volumes');
    expect(last.after - last.before, r.stdout).toBeGreaterThan(0.1);
    expect(last.better).toBe(true);
    expect(r.stdout).toMatch(/after training, held-out volumes: accuracy [\d.]+ %, ROC AUC [\d.]+ \(ellipsoid [\d.]+, box [\d.]+, shell [\d.]+\)/);
    expect(r.stderr).toMatch(/train 100\/100/);
    expectOutputs(out);
  }, 300_000);

  it('--help, and one-line errors with exit status 2', async () => {
    const help = await run('examples/classification.ts', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--depth +MONAI's resnet10 or resnet18 \(10 \| 18\); default 10\n/);
    await expectUsageErrors('examples/classification.ts', [
      [['--depth', '34'], "classification: --depth '34' is not one of 10, 18 (see --help)"],
      [['--batch', '1'], 'classification: --batch must be at least 2, got 1 (see --help)'],
      [['--widen', '0.01'], 'classification: --widen must be at least 0.015625, got 0.01 (see --help)'],
    ]);
  }, 120_000);
});

/** the world centroid (mm) of a NIfTI mask's voxels above 0.5, through the file's affine */
async function worldCentroid(file: string): Promise<number[]> {
  const { volume, info } = await readNifti(file);
  const [X, Y, Z] = volume.shape, A = info.affine, sum = [0, 0, 0];
  let n = 0;
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) {
    if (volume.data[(x * Y + y) * Z + z]! <= 0.5) continue;
    n++;
    for (let i = 0; i < 3; i++) sum[i]! += A[i]![0]! * x + A[i]![1]! * y + A[i]![2]! * z + A[i]![3]!;
  }
  return sum.map((v) => v / n);
}

describe('examples/spleen.ts', () => {
  // at these settings: Dice 0.06 → 0.56; the predictions' spleens lie within 4 mm of the labels' in world space
  it('learns the spleen from NIfTI files (validation Dice up by ≥ 0.3) and writes predictions in the cases\' world space', async () => {
    const out = join(root, 'spleen');
    const r = await run('examples/spleen.ts', ['--backend', 'cpu', '--epochs', '6', '--val-interval', '3', '--channels', '4,8,16',
      '--train-cases', '4', '--val-cases', '2', '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const last = finalLine(r);
    expect(last.metric).toBe('validation Dice of the spleen');
    expect(last.after - last.before, r.stdout).toBeGreaterThan(0.3);
    expect(r.stdout).toMatch(/epoch 3: validation Dice [\d.]+ %, best [\d.]+ % at epoch \d/);
    expect(r.stderr).toMatch(/train 12\/12/);
    expectOutputs(out);
    expect(existsSync(join(out, 'best_metric_model.safetensors'))).toBe(true);
    for (const id of ['spleen_4', 'spleen_5']) {
      // the label as generated (LPS, 0.8 × 0.8 × 2.5 mm) and the prediction after CropForeground, Orientation and Spacing
      const [label, prediction] = [await readNifti(join(out, 'data', `${id}_seg.nii.gz`)), await readNifti(join(out, `${id}_pred.nii.gz`))];
      expect(label.info.affine[0]![0]).toBeLessThan(0);
      expect(prediction.info.pixdim.map((v) => Number(v.toFixed(4)))).toEqual([1.6, 1.6, 2.5]);
      expect(prediction.info.affine[0]![0]).toBeGreaterThan(0); // RAS
      const [a, b] = [await worldCentroid(join(out, 'data', `${id}_seg.nii.gz`)), await worldCentroid(join(out, `${id}_pred.nii.gz`))];
      expect(Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!), `${a} against ${b}`).toBeLessThan(5);
      // and inverted (Invert) onto the label's own grid: its shape and affine, the same spleen in world space
      const original = await readNifti(join(out, `${id}_pred_original.nii.gz`));
      expect(original.volume.shape).toEqual(label.volume.shape);
      expect(original.info.affine).toEqual(label.info.affine);
      const c = await worldCentroid(join(out, `${id}_pred_original.nii.gz`));
      expect(Math.hypot(a[0]! - c[0]!, a[1]! - c[1]!, a[2]! - c[2]!), `${a} against ${c}`).toBeLessThan(5);
    }
  }, 300_000);

  it('--help, and one-line errors with exit status 2', async () => {
    const help = await run('examples/spleen.ts', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--samples +RandCropByPosNegLabel crops per case; default 4\n/);
    await expectUsageErrors('examples/spleen.ts', [
      [['--channels', '8,x'], "spleen: --channels must be two or more positive integers separated by commas, got '8,x' (see --help)"],
      [['--crop', '24', '--channels', '4,8'], 'spleen: --crop 24 must fit the resampled body (at most 20 for --size 48 and --slices 20) (see --help)'],
    ]);
  }, 120_000);
});
