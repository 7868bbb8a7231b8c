import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GradScaler, Linear, SGD, encodeSafetensors, loadTrainingCheckpoint, readSafetensors, saveTrainingCheckpoint } from '../../src/models/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * loadTrainingCheckpoint's refusals before anything is loaded (found by mutation testing): several absent extra models
 * and several saved ones listed, each quoted, comma-separated; a scaler state that is JSON but not an object (hand-edited
 * metadata) refused as absent, the model unchanged.
 */
const dir = mkdtempSync(join(tmpdir(), 'voxgrad-ckpt-load-mutants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const linear = (seed: number) => new Linear(2, 2, { seed, backend: cpu });

describe('loadTrainingCheckpoint: refusals that name what is missing', () => {
  it('every absent extra model and every saved one, quoted and comma-separated; a scaler state that is a number', async () => {
    const [model, ema, swa, other] = [linear(1), linear(2), linear(3), linear(4)];
    const optimizer = new SGD(model.parameters(), { lr: 0.1 });
    const path = join(dir, 'extras.safetensors');
    await saveTrainingCheckpoint(path, { model, optimizer, extraModels: { ema, swa }, iteration: 1 });
    await expect(loadTrainingCheckpoint(path, { model, optimizer, extraModels: { a: other, ema: other, b: other } }))
      .rejects.toThrow(/extras\.safetensors: holds no extra model 'a', 'b' \(it holds 'ema', 'swa'\)$/);

    const file = await readSafetensors(path);
    const bad = join(dir, 'scaler-number.safetensors');
    writeFileSync(bad, encodeSafetensors(file.tensors, { ...file.metadata, 'voxgrad.scaler': '5' }));
    const fresh = linear(5), before = Array.from(await fresh.weight.toArray());
    const freshOptimizer = new SGD(fresh.parameters(), { lr: 0.1 });
    await expect(loadTrainingCheckpoint(bad, { model: fresh, optimizer: freshOptimizer, scaler: new GradScaler() }))
      .rejects.toThrow(/scaler-number\.safetensors: holds no GradScaler state \(saved without a scaler\)$/);
    expect(Array.from(await fresh.weight.toArray())).toEqual(before);
    for (const m of [model, ema, swa, other, fresh]) m.dispose();
    optimizer.dispose();
    freshOptimizer.dispose();
  });
});
