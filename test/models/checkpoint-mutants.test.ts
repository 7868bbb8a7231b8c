import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Adam, BatchNorm3d, Linear, ModuleDict, SGD, Sequential, StepLR, checkFinite, encodeSafetensors, loadHostStateDict, loadModel,
  loadTrainingCheckpoint, readSafetensors, saveModel, saveSafetensors, saveTrainingCheckpoint, toHost, type HostTensor,
} from '../../src/models/index.js';
import type { DType, Storage, TypedArray } from '../../src/kernels/backend.js';
import { CpuBackend } from '../../src/kernels/index.js';
import { fromArray, liveTensorCount, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/** Checkpoint files: what each function writes and reads back, the errors naming the file, and nothing leaked. */

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-ckpt-mutants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const values = async (t: Tensor) => Array.from(await t.toArray());
const linear = (seed: number) => new Linear(2, 2, { seed, backend: cpu });

/** A cpu backend that, as WebGPU, holds no float64 tensors. */
class Float32OnlyBackend extends CpuBackend {
  override upload(data: TypedArray, dtype: DType): Storage {
    if (dtype === 'float64') throw new Error('this backend holds no float64 tensors');
    return super.upload(data, dtype);
  }
}

/** one SGD step with momentum on gradient 0.5 everywhere, so that every parameter has a momentum buffer */
function stepOnce(opt: SGD | Adam): void {
  for (const p of opt.params) p.grad = fromArray(new Float32Array(p.numel()).fill(0.5), p.shape, { backend: cpu });
  opt.step();
  opt.zeroGrad();
}

describe('safetensors files', () => {
  it('saveSafetensors writes host tensors and tensors alike, with the metadata; toHost reads tensors back', async () => {
    const t = fromArray([1.5, -2], [2], { backend: cpu });
    const host: HostTensor = { dtype: 'int32', shape: [1, 2], data: Int32Array.of(7, -8) };
    const path = join(dir, 'mixed.safetensors');
    await saveSafetensors(path, new Map<string, Tensor | HostTensor>([['t', t], ['h', host]]), { k: 'v' });
    const file = await readSafetensors(path);
    expect(file.metadata).toEqual({ k: 'v' });
    expect(file.tensors.get('t')).toEqual({ dtype: 'float32', shape: [2], data: Float32Array.of(1.5, -2) });
    expect(file.tensors.get('h')).toEqual(host);
    await saveSafetensors(join(dir, 'no-meta.safetensors'), new Map([['t', t]]));
    expect((await readSafetensors(join(dir, 'no-meta.safetensors'))).metadata).toEqual({});
    const back = await toHost(new Map([['a', t]]));
    expect([...back.keys()]).toEqual(['a']);
    expect(back.get('a')).toEqual({ dtype: 'float32', shape: [2], data: Float32Array.of(1.5, -2) });
    t.dispose();
  });

  it('a file that cannot be read is named with the reason', async () => {
    const path = join(dir, 'absent.safetensors');
    await expect(readSafetensors(path)).rejects.toThrow(new RegExp(`^${path.replace(/[.]/g, '\\.')}: cannot read the checkpoint \\(ENOENT: `));
  });

  it('checkFinite passes finite floats and int32 tensors, and names the first tensor with NaN or ±Inf', () => {
    const ok = new Map<string, HostTensor>([
      ['f', { dtype: 'float32', shape: [2], data: Float32Array.of(0, -1e30) }],
      ['n', { dtype: 'int32', shape: [1], data: Int32Array.of(-5) }],
    ]);
    expect(() => checkFinite('a.safetensors', ok)).not.toThrow();
    const bad = new Map<string, HostTensor>([...ok, ['g', { dtype: 'float64', shape: [3], data: Float64Array.of(1, Infinity, 2) }]]);
    expect(() => checkFinite('a.safetensors', bad))
      .toThrow(/^a\.safetensors: tensor g holds non-finite values \(1 \+Inf of 3 elements \(the first at element 1: \+Inf\)\); refusing this checkpoint$/);
  });
});

describe('model checkpoints', () => {
  it('saveModel stamps format pt and kind model, keeps the caller\'s metadata, and frees its state dict', async () => {
    const m = linear(1);
    const live = liveTensorCount();
    const path = join(dir, 'meta-model.safetensors');
    await saveModel(path, m, { note: 'x' });
    expect(liveTensorCount()).toBe(live);
    const file = await readSafetensors(path);
    expect(file.metadata).toEqual({ format: 'pt', 'voxgrad.kind': 'model', note: 'x' });
    await saveModel(join(dir, 'plain-model.safetensors'), m);
    expect((await readSafetensors(join(dir, 'plain-model.safetensors'))).metadata).toEqual({ format: 'pt', 'voxgrad.kind': 'model' });
    const loaded = await loadModel(path, linear(2));
    expect(loaded).toEqual({ missingKeys: [], unexpectedKeys: [], metadata: { format: 'pt', 'voxgrad.kind': 'model', note: 'x' } });
    m.dispose();
  });

  it('in a model checkpoint, a submodule named "optimizer" is part of the model; in a training one, optimizer.* is not', async () => {
    const withOptimizerModule = (seed: number) => new ModuleDict({ optimizer: linear(seed) });
    const a = withOptimizerModule(1), b = withOptimizerModule(2);
    const path = join(dir, 'optimizer-named.safetensors');
    await saveModel(path, a);
    expect(await loadModel(path, b)).toMatchObject({ missingKeys: [], unexpectedKeys: [] });
    const [wa, wb] = [a, b].map((m) => m.stateDict().get('optimizer.weight')!);
    expect(await values(wb!)).toEqual(await values(wa!));
    wa!.dispose(); wb!.dispose();
    a.dispose(); b.dispose();
  });

  it('strict: false loads what matches and reports the rest; tensors are converted to the model\'s dtype', async () => {
    const path = join(dir, 'partial.safetensors');
    // float64 weights (as numpy writes them) and an extra key
    writeFileSync(path, encodeSafetensors(new Map<string, HostTensor>([
      ['weight', { dtype: 'float64', shape: [2, 2], data: Float64Array.of(0.1, 0.2, 0.3, 0.4) }],
      ['extra', { dtype: 'float32', shape: [1], data: Float32Array.of(1) }],
    ])));
    const m = linear(3);
    const live = liveTensorCount();
    await expect(loadModel(path, m)).rejects.toThrow(/partial\.safetensors: Error\(s\) in loading state dict for Linear:\n {2}missing keys: bias\n {2}unexpected keys: extra$/);
    expect(await loadModel(path, m, { strict: false })).toEqual({ missingKeys: ['bias'], unexpectedKeys: ['extra'], metadata: {} });
    expect(liveTensorCount()).toBe(live);
    const w = m.stateDict().get('weight')!;
    expect(w.dtype).toBe('float32');
    expect(await values(w)).toEqual([0.1, 0.2, 0.3, 0.4].map(Math.fround));
    w.dispose(); m.dispose();
  });

  it('float64 values load onto a backend without float64 (as a GPU backend), converted to the model\'s float32', async () => {
    const path = join(dir, 'f64-weights.safetensors');
    writeFileSync(path, encodeSafetensors(new Map<string, HostTensor>([
      ['weight', { dtype: 'float64', shape: [2, 2], data: Float64Array.of(0.1, 0.2, 0.3, 0.4) }],
      ['bias', { dtype: 'float64', shape: [2], data: Float64Array.of(-0.1, 0.7) }],
    ])));
    const m = new Linear(2, 2, { seed: 1, backend: new Float32OnlyBackend() });
    await loadModel(path, m);
    expect(await values(m.weight)).toEqual([0.1, 0.2, 0.3, 0.4].map(Math.fround));
    expect(await values(m.bias!)).toEqual([-0.1, 0.7].map(Math.fround));
    m.dispose();
  });

  it('a float tensor for an int32 buffer (BatchNorm\'s num_batches_tracked) is a dtype mismatch, not a silent conversion', async () => {
    const bn = new BatchNorm3d(2, { backend: cpu });
    const host = await toHost(bn.stateDict());
    host.set('num_batches_tracked', { dtype: 'float32', shape: [], data: Float32Array.of(3.5) });
    expect(() => loadHostStateDict(bn, host, true, 'bn.safetensors'))
      .toThrow(/^bn\.safetensors: Error\(s\) in loading state dict for BatchNorm3d:\n {2}dtype mismatch for num_batches_tracked: checkpoint float32, model int32$/);
    host.set('num_batches_tracked', { dtype: 'int32', shape: [], data: Int32Array.of(3) });
    loadHostStateDict(bn, host, true, 'bn.safetensors');
    const n = bn.stateDict().get('num_batches_tracked')!;
    expect([n.dtype, await values(n)]).toEqual(['int32', [3]]);
    n.dispose(); bn.dispose();
  });

  it('loadHostStateDict: int32 stays int32, errors are prefixed by the source ("state dict" by default), nothing is leaked', async () => {
    const m = linear(4);
    const live = liveTensorCount();
    const host = new Map<string, HostTensor>([['weight', { dtype: 'int32', shape: [2, 2], data: Int32Array.of(1, 2, 3, 4) }]]);
    expect(() => loadHostStateDict(m, host)).toThrow(/^state dict: Error\(s\) in loading state dict for Linear:\n {2}dtype mismatch for weight: checkpoint int32, model float32\n {2}missing keys: bias$/);
    expect(() => loadHostStateDict(m, host, false, 'w.safetensors')).toThrow(/^w\.safetensors: Error\(s\) in loading state dict for Linear:\n {2}dtype mismatch for weight: checkpoint int32, model float32$/);
    expect(liveTensorCount()).toBe(live);
    m.dispose();
  });
});

describe('training checkpoints', () => {
  async function saved(name: string, extra: { metadata?: Record<string, string>; withScheduler?: boolean } = {}) {
    const model = new Sequential(linear(5)), opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    stepOnce(opt);
    const scheduler = extra.withScheduler ? new StepLR(opt, 2) : undefined;
    const path = join(dir, name);
    const live = liveTensorCount();
    await saveTrainingCheckpoint(path, { model, optimizer: opt, iteration: 4, scheduler, ...(extra.metadata ? { metadata: extra.metadata } : {}) });
    expect(liveTensorCount()).toBe(live);
    opt.dispose(); model.dispose();
    return path;
  }
  const target = () => {
    const model = new Sequential(linear(6));
    return { model, optimizer: new SGD(model.parameters(), { lr: 0.5, momentum: 0.1 }) };
  };

  it('the metadata: the caller\'s keys, then ours (which the caller cannot override); rng and config null when not given', async () => {
    const path = await saved('meta.safetensors', { metadata: { note: 'n', 'voxgrad.kind': 'model', 'voxgrad.iteration': '99', format: 'x' } });
    const meta = (await readSafetensors(path)).metadata;
    expect(meta.note).toBe('n');
    expect(meta.format).toBe('pt');
    expect(meta['voxgrad.kind']).toBe('training');
    expect(meta['voxgrad.iteration']).toBe('4');
    expect(meta['voxgrad.rng']).toBe('null');
    expect(meta['voxgrad.config']).toBe('null');
    expect(meta['voxgrad.scheduler']).toBeUndefined();
    expect(JSON.parse(meta['voxgrad.optimizer']!)).toEqual({ type: 'SGD', hyper: expect.objectContaining({ lr: 0.1, momentum: 0.9 }), scalars: { 'state.0.step': 1, 'state.1.step': 1 } });
    const t = target();
    const restored = await loadTrainingCheckpoint(path, t);
    expect(restored).toEqual({ iteration: 4, rngState: null, config: null, metadata: meta });
    // the optimizer's hyperparameters and momentum come back
    expect(t.optimizer.paramGroups[0]!.lr).toBe(0.1);
    const state = t.optimizer.stateDict();
    expect(await values(state.tensors.get('state.0.momentum_buffer')!)).toEqual([0.5, 0.5, 0.5, 0.5]);
    t.optimizer.dispose(); t.model.dispose();
  });

  /** the training checkpoint at `path` with some metadata replaced (undefined: removed) */
  async function withMetadata(path: string, name: string, changes: Record<string, string | undefined>): Promise<string> {
    const file = await readSafetensors(path);
    const meta: Record<string, string> = { ...file.metadata };
    for (const [k, v] of Object.entries(changes)) { if (v === undefined) delete meta[k]; else meta[k] = v; }
    const out = join(dir, name);
    writeFileSync(out, encodeSafetensors(file.tensors, meta));
    return out;
  }

  it('refuses an iteration that is not an integer ≥ 0, naming it', async () => {
    const path = await saved('iteration.safetensors');
    for (const iteration of ['1.5', 'abc', '-1', undefined]) {
      const bad = await withMetadata(path, 'bad-iteration.safetensors', { 'voxgrad.iteration': iteration });
      const t = target();
      await expect(loadTrainingCheckpoint(bad, t)).rejects.toThrow(`bad-iteration.safetensors: metadata voxgrad.iteration '${iteration}' is not an integer ≥ 0`);
      t.optimizer.dispose(); t.model.dispose();
    }
    const zero = await withMetadata(path, 'zero-iteration.safetensors', { 'voxgrad.iteration': '0' });
    const t = target();
    expect((await loadTrainingCheckpoint(zero, t)).iteration).toBe(0);
    t.optimizer.dispose(); t.model.dispose();
  });

  it('refuses optimizer metadata that does not parse or names no type, and metadata that is not JSON, naming the key', async () => {
    const path = await saved('optmeta.safetensors');
    const cases: [Record<string, string | undefined>, RegExp][] = [
      [{ 'voxgrad.optimizer': '{"type":' }, /optmeta-bad\.safetensors: metadata voxgrad\.optimizer is not valid JSON \(\S/],
      [{ 'voxgrad.optimizer': undefined }, /optmeta-bad\.safetensors: metadata voxgrad\.optimizer is missing or malformed$/],
      [{ 'voxgrad.optimizer': '{"hyper":{}}' }, /optmeta-bad\.safetensors: metadata voxgrad\.optimizer is missing or malformed$/],
      [{ 'voxgrad.optimizer': '7' }, /optmeta-bad\.safetensors: metadata voxgrad\.optimizer is missing or malformed$/],
      [{ 'voxgrad.rng': '{' }, /optmeta-bad\.safetensors: metadata voxgrad\.rng is not valid JSON/],
      [{ 'voxgrad.config': 'nope' }, /optmeta-bad\.safetensors: metadata voxgrad\.config is not valid JSON/],
      // the optimizer's own refusal, prefixed by the file
      [{ 'voxgrad.optimizer': '{"type":"Adam"}' }, /^.*optmeta-bad\.safetensors: SGD\.loadStateDict: the state is of a Adam optimizer$/],
    ];
    for (const [changes, message] of cases) {
      const bad = await withMetadata(path, 'optmeta-bad.safetensors', changes);
      const live = liveTensorCount();
      const t = target();
      await expect(loadTrainingCheckpoint(bad, t)).rejects.toThrow(message);
      t.optimizer.dispose(); t.model.dispose();
      expect(liveTensorCount()).toBe(live);
    }
  });

  it('an optimizer type alone is enough: no hyperparameters or scalars means the optimizer\'s own and step 0', async () => {
    const path = await saved('type-only.safetensors');
    const bare = await withMetadata(path, 'type-only-bare.safetensors', { 'voxgrad.optimizer': '{"type":"SGD"}' });
    const t = target();
    await loadTrainingCheckpoint(bare, t);
    expect(t.optimizer.paramGroups[0]!.lr).toBe(0.5);
    expect(t.optimizer.stateDict().scalars).toEqual({});
    t.optimizer.dispose(); t.model.dispose();
  });

  it('an optimizer entry whose name holds no parameter index is refused, naming it', async () => {
    const path = await saved('entry.safetensors');
    const file = await readSafetensors(path);
    const t = target();
    for (const key of ['momentum_buffer', 'buffers.state.0.momentum_buffer']) {
      const tensors = new Map(file.tensors);
      tensors.set(`optimizer.${key}`, file.tensors.get('optimizer.state.0.momentum_buffer')!);
      const bad = join(dir, 'entry-bad.safetensors');
      writeFileSync(bad, encodeSafetensors(tensors, file.metadata));
      await expect(loadTrainingCheckpoint(bad, t)).rejects
        .toThrow(`entry-bad.safetensors: optimizer entry optimizer.${key} names no parameter (the optimizer has 2)`);
    }
    t.optimizer.dispose(); t.model.dispose();
  });

  it('an optimizer of more than ten parameters resumes (parameter indices of two digits)', async () => {
    const make = (seed: number) => new Sequential(...Array.from({ length: 6 }, (_, i) => linear(seed + i)));
    const a = make(10), optA = new SGD(a.parameters(), { lr: 0.1, momentum: 0.9 });
    stepOnce(optA);
    const path = join(dir, 'twelve.safetensors');
    await saveTrainingCheckpoint(path, { model: a, optimizer: optA, iteration: 1 });
    const b = make(30), optB = new SGD(b.parameters(), { lr: 0.1, momentum: 0.9 });
    await loadTrainingCheckpoint(path, { model: b, optimizer: optB });
    const [sa, sb] = [optA, optB].map((o) => o.stateDict());
    expect([...sb!.tensors.keys()]).toEqual([...sa!.tensors.keys()]);
    expect(sb!.tensors.has('state.11.momentum_buffer')).toBe(true);
    expect(await values(sb!.tensors.get('state.11.momentum_buffer')!)).toEqual(await values(sa!.tensors.get('state.11.momentum_buffer')!));
    for (const x of [optA, optB]) x.dispose();
    for (const m of [a, b]) m.dispose();
  });

  it('strict: false restores a model that lacks some keys; strict (the default) refuses it', async () => {
    const path = await saved('strict.safetensors');
    const file = await readSafetensors(path);
    const tensors = new Map(file.tensors);
    tensors.set('0.extra', { dtype: 'float32', shape: [1], data: Float32Array.of(1) });
    const extra = join(dir, 'strict-extra.safetensors');
    writeFileSync(extra, encodeSafetensors(tensors, file.metadata));
    const t = target();
    await expect(loadTrainingCheckpoint(extra, t)).rejects.toThrow(/strict-extra\.safetensors: Error\(s\) in loading state dict for Sequential:\n {2}unexpected keys: 0\.extra$/);
    await expect(loadTrainingCheckpoint(extra, { ...t, strict: false })).resolves.toMatchObject({ iteration: 4 });
    t.optimizer.dispose(); t.model.dispose();
  });

  it('a tensor of a dtype the engine cannot hold: refused by default, skipped with strict: false', async () => {
    const path = await saved('f8.safetensors');
    // append an F8_E4M3 tensor to the file: u64 header length, JSON header, data
    const bytes = readFileSync(path);
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { data_offsets?: number[] }>;
    const end = bytes.length - 8 - n;
    header['0.scale8'] = { dtype: 'F8_E4M3', shape: [2], data_offsets: [end, end + 2] } as never;
    const text = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + text.length + end + 2);
    new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
    out.set(text, 8);
    out.set(bytes.subarray(8 + n), 8 + text.length);
    const f8 = join(dir, 'f8-extra.safetensors');
    writeFileSync(f8, out);
    const t = target();
    await expect(loadTrainingCheckpoint(f8, t)).rejects.toThrow(/f8-extra\.safetensors: .*'0\.scale8' has unsupported dtype "F8_E4M3"/);
    const warn = console.warn;
    const warnings: string[] = [];
    console.warn = (message: string) => { warnings.push(message); };
    try {
      await expect(loadTrainingCheckpoint(f8, { ...t, strict: false })).resolves.toMatchObject({ iteration: 4 });
    } finally {
      console.warn = warn;
    }
    expect(warnings.join('\n')).toMatch(/'0\.scale8'.*"F8_E4M3"/);
    t.optimizer.dispose(); t.model.dispose();
  });

  it('optimizer state stored as float64 is loaded in the parameters\' dtype', async () => {
    const path = await saved('f64.safetensors');
    const file = await readSafetensors(path);
    const tensors = new Map(file.tensors);
    tensors.set('optimizer.state.1.momentum_buffer', { dtype: 'float64', shape: [2], data: Float64Array.of(0.1, 0.3) });
    const f64 = join(dir, 'f64-state.safetensors');
    writeFileSync(f64, encodeSafetensors(tensors, file.metadata));
    const t = target();
    await loadTrainingCheckpoint(f64, t);
    const buf = t.optimizer.stateDict().tensors.get('state.1.momentum_buffer')!;
    expect(buf.dtype).toBe('float32');
    expect(await values(buf)).toEqual([0.1, 0.3].map(Math.fround));
    t.optimizer.dispose(); t.model.dispose();
  });

  it('a scheduler state the scheduler refuses is named with the file', async () => {
    const path = await saved('sched.safetensors', { withScheduler: true });
    const bad = await withMetadata(path, 'sched-bad.safetensors', { 'voxgrad.scheduler': '{"lastEpoch":-3}' });
    const t = target();
    await expect(loadTrainingCheckpoint(bad, { ...t, scheduler: new StepLR(t.optimizer, 2) }))
      .rejects.toThrow(/^.*sched-bad\.safetensors: StepLR\.loadStateDict: lastEpoch must be an integer ≥ 0, got -3$/);
    const notObject = await withMetadata(path, 'sched-number.safetensors', { 'voxgrad.scheduler': '3' });
    await expect(loadTrainingCheckpoint(notObject, { ...t, scheduler: new StepLR(t.optimizer, 2) }))
      .rejects.toThrow(/sched-number\.safetensors: holds no lr scheduler state \(saved without a scheduler\)$/);
    t.optimizer.dispose(); t.model.dispose();
  });
});
