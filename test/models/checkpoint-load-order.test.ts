import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Linear, SGD, Sequential, StepLR, encodeSafetensors, loadTrainingCheckpoint, readSafetensors, saveTrainingCheckpoint,
} from '../../src/models/index.js';
import { fromArray, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * A training checkpoint whose metadata is bad is refused before anything is loaded: the model, the optimizer and the
 * scheduler keep what they held, so a caller that catches the error can go on (or try another file) from a whole state.
 */

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-ckpt-order-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const values = async (t: Tensor) => Array.from(await t.toArray());

function setup(seed: number) {
  const model = new Sequential(new Linear(2, 2, { seed, backend: cpu }));
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  for (const p of optimizer.params) p.grad = fromArray(new Float32Array(p.numel()).fill(seed), p.shape, { backend: cpu });
  optimizer.step();
  optimizer.zeroGrad();
  return { model, optimizer, scheduler: new StepLR(optimizer, 2) };
}

async function withMetadata(path: string, name: string, key: string, value: string): Promise<string> {
  const file = await readSafetensors(path);
  const out = join(dir, name);
  writeFileSync(out, encodeSafetensors(file.tensors, { ...file.metadata, [key]: value }));
  return out;
}

describe('loadTrainingCheckpoint with bad metadata', () => {
  it.each([
    ['voxgrad.scheduler', '{"lastEpoch":', /voxgrad\.scheduler is not valid JSON/],
    ['voxgrad.scheduler', '3', /holds no lr scheduler state/],
    ['voxgrad.config', 'not json', /voxgrad\.config is not valid JSON/],
  ])('%s = %j is refused before the model and the optimizer are loaded', async (key, value, message) => {
    const saved = setup(1);
    const path = join(dir, 'good.safetensors');
    await saveTrainingCheckpoint(path, { model: saved.model, optimizer: saved.optimizer, scheduler: saved.scheduler, iteration: 3 });
    const bad = await withMetadata(path, 'bad.safetensors', key, value);
    const target = setup(2);
    const weightsBefore = await values(target.model.parameters()[0]!);
    const momentumBefore = await values(target.optimizer.stateDict().tensors.get('state.0.momentum_buffer')!);
    await expect(loadTrainingCheckpoint(bad, target)).rejects.toThrow(message);
    expect(await values(target.model.parameters()[0]!)).toEqual(weightsBefore);
    expect(await values(target.optimizer.stateDict().tensors.get('state.0.momentum_buffer')!)).toEqual(momentumBefore);
    expect(await values(saved.model.parameters()[0]!)).not.toEqual(weightsBefore);
    for (const s of [saved, target]) { s.optimizer.dispose(); s.model.dispose(); }
  });
});
