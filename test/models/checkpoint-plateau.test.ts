import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Linear, ReduceLROnPlateau, SGD, backward, encodeSafetensors, fromArray, loadTrainingCheckpoint, manualSeed, mseLoss,
  readSafetensors, saveTrainingCheckpoint, tidy, toHost, type Module,
} from '../../src/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * ReduceLROnPlateau (no LRScheduler: its step takes the metric) in a training checkpoint: saved and restored with the
 * model and optimizer, so that a resumed run reduces its lr at the same epochs and continues bit for bit; a refused
 * state loads nothing.
 */

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-ckpt-plateau-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** a validation metric that stalls, so that the lr is reduced before and after the checkpoint (patience 1, cooldown 1) */
const METRICS = [1, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85];

function setup(seed: number) {
  manualSeed(seed);
  const model = new Linear(3, 2, { backend: cpu });
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const scheduler = new ReduceLROnPlateau(optimizer, { factor: 0.5, patience: 1, cooldown: 1 });
  return { model, optimizer, scheduler };
}
type Parts = ReturnType<typeof setup>;

/** epochs `from` … `to` − 1: a step on a fixed batch, then the scheduler with that epoch's metric; returns the lrs */
async function train({ model, optimizer, scheduler }: Parts, from: number, to: number): Promise<number[]> {
  const x = fromArray([0.5, -1, 2, 1, 0.25, -0.5], [2, 3], { backend: cpu }), y = fromArray([1, 0, -1, 2], [2, 2], { backend: cpu });
  const lrs: number[] = [];
  for (let epoch = from; epoch < to; epoch++) {
    const loss = tidy(() => mseLoss(model.forward(x), y));
    backward(loss);
    optimizer.step();
    optimizer.zeroGrad();
    loss.dispose();
    scheduler.step(METRICS[epoch]!);
    lrs.push(optimizer.lr);
  }
  x.dispose();
  y.dispose();
  return lrs;
}

const bits = async (m: Module) => Promise.all(m.parameters().map(async (p) => Array.from(new Uint32Array(Float32Array.from(await p.toArray()).buffer))));
const dispose = (p: Parts) => { p.optimizer.dispose(); p.model.dispose(); };

describe('a training checkpoint with ReduceLROnPlateau', () => {
  it('resumes bit for bit: the same reductions, lrs and weights as the run that went on', async () => {
    const run = setup(1);
    const before = await train(run, 0, 5);
    expect(before).toEqual([0.1, 0.1, 0.1, 0.05, 0.05]);
    const path = join(dir, 'plateau.safetensors');
    await saveTrainingCheckpoint(path, { model: run.model, optimizer: run.optimizer, scheduler: run.scheduler, iteration: 5 });
    const saved = run.scheduler.stateDict();
    const continued = await train(run, 5, METRICS.length);
    expect(continued).toEqual([0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125]);

    const fresh = setup(2);
    const loaded = await loadTrainingCheckpoint(path, { model: fresh.model, optimizer: fresh.optimizer, scheduler: fresh.scheduler });
    expect(loaded.iteration).toBe(5);
    expect(fresh.scheduler.stateDict()).toEqual(saved);
    expect(await train(fresh, 5, METRICS.length)).toEqual(continued);
    expect(fresh.scheduler.stateDict()).toEqual(run.scheduler.stateDict());
    expect(await bits(fresh.model)).toEqual(await bits(run.model));
    for (const p of [run, fresh]) dispose(p);
  });

  it('a refused ReduceLROnPlateau state, or an optimizer state refused after it was loaded, leaves model, optimizer and scheduler as they were', async () => {
    const run = setup(1);
    await train(run, 0, 5);
    const path = join(dir, 'plateau-ok.safetensors'), bad = join(dir, 'plateau-bad.safetensors');
    await saveTrainingCheckpoint(path, { model: run.model, optimizer: run.optimizer, scheduler: run.scheduler, iteration: 5 });
    const file = await readSafetensors(path);
    const state = JSON.parse(file.metadata['voxgrad.scheduler']!) as Record<string, unknown>;
    const optimizer = JSON.parse(file.metadata['voxgrad.optimizer']!) as Record<string, unknown>;
    const spoilt: { metadata: Record<string, string>; error: string }[] = [
      { metadata: { 'voxgrad.scheduler': JSON.stringify({ ...state, numBadEpochs: -1 }) }, error: 'ReduceLROnPlateau.loadStateDict: expected { lastEpoch, numBadEpochs, cooldownCounter } as integers ≥ 0' },
      { metadata: { 'voxgrad.optimizer': JSON.stringify({ ...optimizer, type: 'Adam' }) }, error: 'SGD.loadStateDict: the state is of a Adam optimizer' },
    ];
    for (const { error, metadata } of spoilt) {
      writeFileSync(bad, encodeSafetensors(file.tensors, { ...file.metadata, ...metadata }));
      const target = setup(2);
      await train(target, 0, 3);
      const snapshot = async () => ({
        scheduler: target.scheduler.stateDict(), lr: target.optimizer.lr, model: await toHost(target.model.stateDict()),
        optimizer: await toHost(target.optimizer.stateDict().tensors),
      });
      const expected = await snapshot();
      await expect(loadTrainingCheckpoint(bad, { model: target.model, optimizer: target.optimizer, scheduler: target.scheduler })).rejects.toThrow(`${bad}: ${error}`);
      expect(await snapshot()).toEqual(expected);
      dispose(target);
    }
    dispose(run);
  });
});
