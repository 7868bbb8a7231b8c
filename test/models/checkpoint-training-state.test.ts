import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Adam, Dropout, GradScaler, Linear, Module, autocast, backward, ema, encodeSafetensors, fromArray, loadModel,
  loadTrainingCheckpoint, manualSeed, mseLoss, readSafetensors, saveTrainingCheckpoint, tidy, type Tensor,
} from '../../src/index.js';
import { Rng } from '../../src/imaging/random.js';
import { cpu } from '../helpers/backends.js';

/** Training checkpoints with the GradScaler, an EMA teacher, the data generator and the dropout layers' state. */

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-ckpt-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class Net extends Module {
  a = new Linear(6, 8, { backend: cpu });
  drop = new Dropout(0.5);
  b = new Linear(8, 2, { backend: cpu });
  forward(x: Tensor): Tensor { return this.b.forward(this.drop.forward(this.a.forward(x).relu())); }
}

/** a run's parts as a PyTorch user builds them; `seed` draws the initial weights and the dropout salts */
function setup(seed: number) {
  manualSeed(seed);
  const model = new Net(), teacher = new Net();
  teacher.loadStateDict(model.stateDict());
  const optimizer = new Adam(model.parameters(), { lr: 1e-2 });
  return { model, teacher, optimizer, scaler: new GradScaler({ initScale: 1024, growthInterval: 2 }), rng: new Rng(seed) };
}
type Parts = ReturnType<typeof setup>;

/** PyTorch's loop: a batch from the generator, autocast, the scaled backward, step, update, EMA; no seedDropout */
async function train(parts: Parts, steps: number): Promise<number[]> {
  const { model, teacher, optimizer, scaler, rng } = parts;
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const x = fromArray(Array.from({ length: 24 }, () => rng.uniform(-1, 1)), [4, 6], { backend: cpu });
    const y = fromArray(Array.from({ length: 8 }, () => rng.uniform(-1, 1)), [4, 2], { backend: cpu });
    const loss = tidy(() => autocast(() => mseLoss(model.forward(x), y), { dtype: 'float16' }));
    backward(scaler.scale(loss));
    await scaler.step(optimizer);
    scaler.update();
    optimizer.zeroGrad();
    ema(teacher, model, 0.9);
    losses.push(await loss.item());
    for (const t of [loss, x, y]) t.dispose();
  }
  return losses;
}

const bits = async (m: Module) => Promise.all(m.parameters().map(async (p) => Array.from(new Uint32Array(Float32Array.from(await p.toArray()).buffer))));
const dispose = (p: Parts) => { p.scaler.dispose(); p.optimizer.dispose(); p.model.dispose(); p.teacher.dispose(); };

describe('a training checkpoint with scaler, extra models, rng and dropout', () => {
  it('resumes bit for bit, in a fresh model of other initial weights and dropout salts, without seedDropout', async () => {
    const run = setup(1);
    await train(run, 3);
    const path = join(dir, 'full.safetensors');
    await saveTrainingCheckpoint(path, { model: run.model, optimizer: run.optimizer, scaler: run.scaler, extraModels: { ema: run.teacher }, rng: run.rng, iteration: 3 });
    const file = await readSafetensors(path);
    expect([...file.tensors.keys()].filter((k) => k.startsWith('ema.'))).toEqual(['ema.a.weight', 'ema.a.bias', 'ema.b.weight', 'ema.b.bias']);
    expect(JSON.parse(file.metadata['voxgrad.scaler']!)).toEqual(await run.scaler.stateDict());
    expect(Object.keys(JSON.parse(file.metadata['voxgrad.dropout']!))).toEqual(['drop']);
    const continued = await train(run, 4);

    const fresh = setup(2);
    const loaded = await loadTrainingCheckpoint(path, { model: fresh.model, optimizer: fresh.optimizer, scaler: fresh.scaler, extraModels: { ema: fresh.teacher }, rng: fresh.rng });
    expect(loaded.iteration).toBe(3);
    expect(fresh.model.drop.salt).toBe(run.model.drop.salt);
    expect(await train(fresh, 4)).toEqual(continued);
    expect(await bits(fresh.model)).toEqual(await bits(run.model));
    expect(await bits(fresh.teacher)).toEqual(await bits(run.teacher));
    expect(await fresh.scaler.stateDict()).toEqual(await run.scaler.stateDict());
    expect(fresh.rng.state()).toEqual(run.rng.state());
    // a model checkpoint loader takes the model alone (the extra model's entries are skipped, strict as it is)
    const alone = setup(3);
    await loadModel(path, alone.model);
    for (const p of [run, fresh, alone]) dispose(p);
  });

  it('without the dropout state (a file of before), the resumed run draws other masks', async () => {
    const run = setup(1);
    await train(run, 2);
    const path = join(dir, 'no-dropout.safetensors');
    await saveTrainingCheckpoint(path, { model: run.model, optimizer: run.optimizer, scaler: run.scaler, rng: run.rng, iteration: 2 });
    const continued = await train(run, 2);
    const file = await readSafetensors(path);
    const { 'voxgrad.dropout': _dropout, ...older } = file.metadata;
    const old = join(dir, 'older.safetensors');
    writeFileSync(old, encodeSafetensors(file.tensors, older));
    const fresh = setup(1), resumed = setup(1);
    await loadTrainingCheckpoint(old, { model: fresh.model, optimizer: fresh.optimizer, scaler: fresh.scaler, rng: fresh.rng });
    expect(await train(fresh, 2)).not.toEqual(continued);
    await loadTrainingCheckpoint(path, { model: resumed.model, optimizer: resumed.optimizer, scaler: resumed.scaler, rng: resumed.rng });
    expect(await train(resumed, 2)).toEqual(continued);
    for (const p of [run, fresh, resumed]) dispose(p);
  });

  it('what is asked for and not in the file is refused, naming the file, before anything is loaded', async () => {
    const run = setup(1);
    await train(run, 1);
    const path = join(dir, 'bare.safetensors');
    await saveTrainingCheckpoint(path, { model: run.model, optimizer: run.optimizer, iteration: 1 });
    const fresh = setup(2);
    const before = await bits(fresh.model);
    const base = { model: fresh.model, optimizer: fresh.optimizer };
    await expect(loadTrainingCheckpoint(path, { ...base, scaler: fresh.scaler })).rejects.toThrow(/bare\.safetensors: holds no GradScaler state \(saved without a scaler\)$/);
    await expect(loadTrainingCheckpoint(path, { ...base, extraModels: { ema: fresh.teacher } })).rejects.toThrow(/bare\.safetensors: holds no extra model 'ema' \(it holds none\)$/);
    await expect(loadTrainingCheckpoint(path, { ...base, rng: fresh.rng })).rejects.toThrow(/bare\.safetensors: holds no generator state \(saved without rng or rngState\)$/);
    expect(await bits(fresh.model)).toEqual(before);
    const withEma = join(dir, 'with-ema.safetensors');
    await saveTrainingCheckpoint(withEma, { model: run.model, optimizer: run.optimizer, extraModels: { ema: run.teacher }, iteration: 1 });
    await expect(loadTrainingCheckpoint(withEma, { ...base, extraModels: { swa: fresh.teacher } })).rejects.toThrow(/with-ema\.safetensors: holds no extra model 'swa' \(it holds 'ema'\)$/);
    // a corrupt saved state is named with the file
    const file = await readSafetensors(withEma);
    const bad = join(dir, 'bad-scaler.safetensors');
    writeFileSync(bad, encodeSafetensors(file.tensors, { ...file.metadata, 'voxgrad.scaler': '{"scale":-1}' }));
    await expect(loadTrainingCheckpoint(bad, { ...base, scaler: fresh.scaler })).rejects.toThrow(/bad-scaler\.safetensors: GradScaler\.loadStateDict: missing or non-numeric growthFactor/);
    for (const p of [run, fresh]) dispose(p);
  });

  it('malformed extra-model or dropout metadata, and dropout layers that differ, are named with the file; strict: false skips the latter', async () => {
    const run = setup(1);
    const path = join(dir, 'good.safetensors');
    await saveTrainingCheckpoint(path, { model: run.model, optimizer: run.optimizer, extraModels: { ema: run.teacher }, iteration: 0 });
    const file = await readSafetensors(path);
    const variant = (name: string, meta: Record<string, string>) => {
      const out = join(dir, name);
      writeFileSync(out, encodeSafetensors(file.tensors, { ...file.metadata, ...meta }));
      return out;
    };
    const fresh = setup(2);
    const base = { model: fresh.model, optimizer: fresh.optimizer };
    await expect(loadTrainingCheckpoint(variant('x1.safetensors', { 'voxgrad.extraModels': '{' }), base)).rejects.toThrow(/x1\.safetensors: metadata voxgrad\.extraModels is not valid JSON/);
    await expect(loadModel(variant('x2.safetensors', { 'voxgrad.extraModels': '[1]' }), fresh.model)).rejects.toThrow(/x2\.safetensors: metadata voxgrad\.extraModels is malformed$/);
    await expect(loadTrainingCheckpoint(variant('x3.safetensors', { 'voxgrad.dropout': '3' }), base)).rejects.toThrow(/x3\.safetensors: the dropout state is malformed$/);
    const other = variant('x4.safetensors', { 'voxgrad.dropout': JSON.stringify({ 'a.drop': { seed: 1, salt: 2, calls: 0 } }) });
    await expect(loadTrainingCheckpoint(other, base)).rejects.toThrow(/x4\.safetensors: Net\.loadDropoutState: missing dropout layers: drop; unexpected dropout layers: a\.drop$/);
    await expect(loadTrainingCheckpoint(other, { ...base, strict: false })).resolves.toMatchObject({ iteration: 0 });
    const emaDropout = variant('x5.safetensors', { 'voxgrad.extraModels': JSON.stringify({ ema: { dropout: {} } }) });
    await expect(loadTrainingCheckpoint(emaDropout, { ...base, extraModels: { ema: fresh.teacher } }))
      .rejects.toThrow(/x5\.safetensors \(extra model 'ema'\): Net\.loadDropoutState: missing dropout layers: drop$/);
    for (const p of [run, fresh]) dispose(p);
  });

  it('an extra model name that would clash with the model\'s keys or the optimizer\'s is refused when saving', async () => {
    const run = setup(1);
    const save = (name: string) => saveTrainingCheckpoint(join(dir, 'clash.safetensors'), { model: run.model, optimizer: run.optimizer, extraModels: { [name]: run.teacher }, iteration: 0 });
    await expect(save('optimizer')).rejects.toThrow(/clash\.safetensors: extra model name 'optimizer' is taken by the optimizer state/);
    await expect(save('a')).rejects.toThrow(/extra model name 'a' is the prefix of the model's own keys \(e\.g\. a\.weight\)/);
    await expect(save('ema.1')).rejects.toThrow(/extra model name 'ema\.1' must be letters, digits, _ or -/);
    await expect(saveTrainingCheckpoint(join(dir, 'both.safetensors'), { model: run.model, optimizer: run.optimizer, rng: run.rng, rngState: [1], iteration: 0 }))
      .rejects.toThrow(/both\.safetensors: give rng or rngState, not both/);
    dispose(run);
  });
});

describe('Module.dropoutState', () => {
  it('round trips every dropout layer\'s generator; strict names missing and unexpected layers; a malformed state is refused', () => {
    manualSeed(4);
    const a = new Net(), b = new Net();
    a.drop.setDropoutSeed(7);
    tidy(() => a.forward(fromArray(new Float32Array(12), [2, 6], { backend: cpu })));
    const state = a.dropoutState();
    expect(state).toEqual({ drop: { seed: 7, salt: a.drop.salt, calls: 1 } });
    b.loadDropoutState(state);
    expect(b.drop.nextMaskSeed()).toBe(a.drop.nextMaskSeed());
    expect(() => b.loadDropoutState({})).toThrow('Net.loadDropoutState: missing dropout layers: drop');
    expect(() => b.loadDropoutState({ ...state, other: state.drop! })).toThrow('Net.loadDropoutState: unexpected dropout layers: other');
    b.loadDropoutState({ other: state.drop! }, false);
    expect(() => b.loadDropoutState({ drop: { seed: -1, salt: 0, calls: 0 } })).toThrow(/dropout layer 'drop': the state must be/);
    a.dispose(); b.dispose();
  });
});
