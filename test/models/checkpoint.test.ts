import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backward, mean, reshape, square, sub } from '../../src/autograd/index.js';
import {
  BatchNorm3d, Linear, ReLU, SGD, Adam, Sequential, StepLR, decodeSafetensors, encodeSafetensors, loadModel,
  loadTrainingCheckpoint, readSafetensors, saveModel, saveTrainingCheckpoint, type HostTensor, type Optimizer,
} from '../../src/models/index.js';
import { dispose, fromArray, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Linear of the flattened input [N, features]; `volume`: its output as [N, C, 1, 1, 1], which BatchNorm3d (5-D only) takes */
class FlatLinear extends Linear {
  constructor(inFeatures: number, outFeatures: number, seed: number, readonly volume: boolean) { super(inFeatures, outFeatures, { seed, backend: cpu }); }

  override forward(x: Tensor): Tensor {
    const y = super.forward(reshape(x, [x.shape[0]!, -1]));
    return this.volume ? reshape(y, [...y.shape, 1, 1, 1]) : y;
  }
}

function makeModel(seed: number): Sequential {
  return new Sequential(new FlatLinear(3, 4, seed, true), new BatchNorm3d(4, { backend: cpu }), new ReLU(), new FlatLinear(4, 2, seed + 1, false));
}

const hasPythonSafetensors = spawnSync('python3', ['-c', 'import safetensors.numpy, numpy'], { encoding: 'utf8' }).status === 0;

describe('safetensors format', () => {
  it('encodes the documented layout: u64 LE header length, space-padded JSON to 8 bytes, tiled offsets', () => {
    const tensors = new Map<string, HostTensor>([
      ['a', { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ['b', { dtype: 'int32', shape: [], data: Int32Array.from([7]) }],
      ['c', { dtype: 'float64', shape: [1], data: Float64Array.from([0.1]) }],
    ]);
    const bytes = encodeSafetensors(tensors, { note: 'hi' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(headerText.trimEnd().length).toBeLessThanOrEqual(n);
    expect(/^ *$/.test(headerText.slice(headerText.trimEnd().length))).toBe(true);
    const header = JSON.parse(headerText) as Record<string, { data_offsets: number[]; dtype: string; shape: number[] }>;
    expect(header.a).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    expect(header.b).toEqual({ dtype: 'I32', shape: [], data_offsets: [24, 28] });
    expect(header.c).toEqual({ dtype: 'F64', shape: [1], data_offsets: [28, 36] });
    expect(header.__metadata__).toEqual({ note: 'hi' });
    expect(bytes.length).toBe(8 + n + 36);
    const back = decodeSafetensors(bytes, 'x.safetensors');
    expect(back.metadata).toEqual({ note: 'hi' });
    expect(Array.from(back.tensors.get('a')!.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.tensors.get('b')).toEqual({ dtype: 'int32', shape: [], data: Int32Array.from([7]) });
    expect(back.tensors.get('c')!.data[0]).toBe(0.1);
  });

  it('corrupt or truncated data: a clear error naming the file', () => {
    const good = encodeSafetensors(new Map([['w', { dtype: 'float32', shape: [4], data: new Float32Array(4) } as HostTensor]]));
    const name = 'model.safetensors';
    expect(() => decodeSafetensors(good.subarray(0, 5), name)).toThrow(/model\.safetensors: .*too short/);
    expect(() => decodeSafetensors(good.subarray(0, good.length - 4), name)).toThrow(/model\.safetensors: .*'w' data_offsets \[0, 16\] are outside the 12 data bytes/);
    const hugeHeader = good.slice();
    new DataView(hugeHeader.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => decodeSafetensors(hugeHeader, name)).toThrow(/model\.safetensors: .*header length 1099511627776 exceeds/);
    const badJson = good.slice();
    badJson[9] = 0x7b; // '{{'
    expect(() => decodeSafetensors(badJson, name)).toThrow(/model\.safetensors: .*JSON header does not parse/);
    const extra = new Uint8Array(good.length + 4);
    extra.set(good);
    expect(() => decodeSafetensors(extra, name)).toThrow(/cover 16 of 20 data bytes/);
    const bad = (header: string) => {
      const h = new TextEncoder().encode(header);
      const b = new Uint8Array(8 + h.length + 16);
      new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
      b.set(h, 8);
      return b;
    };
    expect(() => decodeSafetensors(bad('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}'), name)).toThrow(/needs 16 bytes, its offsets span 12/);
    expect(() => decodeSafetensors(bad('{"w":{"dtype":"U7","shape":[4],"data_offsets":[0,16]}}'), name)).toThrow(/unsupported dtype "U7"/);
    expect(() => decodeSafetensors(bad('{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}'), name)).toThrow(/invalid shape/);
    expect(() => decodeSafetensors(bad('[1,2]'), name)).toThrow(/not a JSON object/);
  });

  it.skipIf(!hasPythonSafetensors)('Python\'s safetensors reads our files and we read its files (I64 → int32)', async () => {
    const model = makeModel(1);
    const path = join(dir, 'interop.safetensors');
    await saveModel(path, model, { origin: 'voxgrad' });
    const py = spawnSync('python3', ['-c', `
import json, sys
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
import numpy as np
d = load_file(sys.argv[1])
with safe_open(sys.argv[1], 'np') as f: meta = f.metadata()
print(json.dumps({k: [list(v.shape), str(v.dtype), float(v.astype(np.float64).sum())] for k, v in d.items()} | {'__meta__': meta}))
save_file({'w': np.arange(6, dtype=np.float32).reshape(2, 3), 'n': np.array(5, dtype=np.int64), 'h': np.array([1.5, -2], dtype=np.float16)}, sys.argv[2], metadata={'k': 'v'})
`, path, join(dir, 'from-python.safetensors')], { encoding: 'utf8' });
    expect(py.stderr).toBe('');
    const seen = JSON.parse(py.stdout) as Record<string, [number[], string, number]> & { __meta__: Record<string, string> };
    expect(seen['0.weight'][0]).toEqual([4, 3]);
    expect(seen['0.weight'][1]).toBe('float32');
    expect(seen['1.num_batches_tracked']).toEqual([[], 'int32', 0]);
    expect(seen['1.running_var'][2]).toBe(4);
    const w = await model.layers[0].namedParameters()[0][1].toArray();
    expect(seen['0.weight'][2]).toBeCloseTo(Array.from(w).reduce((a, b) => a + b, 0), 5);
    expect(seen.__meta__.origin).toBe('voxgrad');
    const back = await readSafetensors(join(dir, 'from-python.safetensors'));
    expect(back.metadata).toEqual({ k: 'v' });
    expect(back.tensors.get('w')).toEqual({ dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) });
    expect(back.tensors.get('n')).toEqual({ dtype: 'int32', shape: [], data: Int32Array.from([5]) });
    expect(Array.from(back.tensors.get('h')!.data)).toEqual([1.5, -2]);
    model.dispose();
  });
});

describe('model checkpoints', () => {
  it('save, load into a fresh model, identical outputs; written atomically (no temporary left)', async () => {
    const a = makeModel(1);
    const x = randn([5, 3], 7, { backend: cpu });
    tidy(() => { a.forward(x); a.forward(x); }); // move the BN running stats and counter
    a.eval();
    const path = join(dir, 'model.safetensors');
    await saveModel(path, a);
    expect(readdirSync(dir).filter((f) => f.includes('model.safetensors'))).toEqual(['model.safetensors']);
    const b = makeModel(99).eval();
    await loadModel(path, b);
    const [ya, yb] = tidy(() => [a.forward(x), b.forward(x)]);
    expect(Array.from(await yb.toArray())).toEqual(Array.from(await ya.toArray()));
    const nbt = b.stateDict();
    expect(Array.from(await nbt.get('1.num_batches_tracked')!.toArray())).toEqual([2]);
    dispose([x, ya, yb, nbt]);
    a.dispose(); b.dispose();
  });

  it('loading checks names, shapes and dtypes and names every mismatch and the file', async () => {
    const path = join(dir, 'other.safetensors');
    const other = new Sequential(new Linear(3, 5, { seed: 1, backend: cpu }), new BatchNorm3d(5, { backend: cpu }));
    await saveModel(path, other);
    const m = makeModel(2);
    let message = '';
    try { await loadModel(path, m); } catch (e) { message = (e as Error).message; }
    expect(message).toContain(path);
    expect(message).toMatch(/size mismatch for 0\.weight: checkpoint \[5, 3\], model \[4, 3\]/);
    expect(message).toMatch(/size mismatch for 1\.running_mean/);
    expect(message).toMatch(/missing keys: 3\.weight, 3\.bias/);
    await expect(loadModel(join(dir, 'absent.safetensors'), m)).rejects.toThrow(/absent\.safetensors: cannot read/);
    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, readFileSync(path).subarray(0, 100));
    await expect(loadModel(truncated, m)).rejects.toThrow(/truncated\.safetensors: not a valid safetensors file/);
    other.dispose(); m.dispose();
  });
});

describe('training checkpoints', () => {
  async function trainSteps(model: Sequential, opt: Optimizer, from: number, n: number): Promise<number[]> {
    const losses: number[] = [];
    for (let it = from; it < from + n; it++) {
      const x = randn([6, 3], 100 + it, { backend: cpu }), y = randn([6, 2], 200 + it, { backend: cpu });
      const loss = tidy(() => mean(square(sub(model.forward(x), y))));
      backward(loss);
      opt.step();
      opt.zeroGrad();
      losses.push(await loss.item());
      dispose([x, y, loss]);
    }
    return losses;
  }

  for (const kind of ['SGD', 'Adam'] as const) {
    it(`${kind}: a resumed run continues exactly (same losses on the cpu backend)`, async () => {
      const make = (m: Sequential): Optimizer => (kind === 'SGD'
        ? new SGD(m.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 })
        : new Adam(m.parameters(), { lr: 0.01 }));
      const a = makeModel(3), optA = make(a);
      await trainSteps(a, optA, 0, 3);
      const path = join(dir, `train-${kind}.safetensors`);
      await saveTrainingCheckpoint(path, { model: a, optimizer: optA, iteration: 3, rngState: { data: [1, 2] }, config: { lr: 0.05 } });
      const file = await readSafetensors(path);
      expect([...file.tensors.keys()].filter((k) => k.startsWith('optimizer.'))).toEqual(
        kind === 'SGD' ? [0, 1, 2, 3, 4, 5].map((i) => `optimizer.state.${i}.momentum_buffer`)
          : [0, 1, 2, 3, 4, 5].flatMap((i) => [`optimizer.state.${i}.exp_avg`, `optimizer.state.${i}.exp_avg_sq`]),
      );
      expect(file.metadata['voxgrad.iteration']).toBe('3');
      const continued = await trainSteps(a, optA, 3, 3);

      const b = makeModel(50), optB = make(b);
      const restored = await loadTrainingCheckpoint(path, { model: b, optimizer: optB });
      expect(restored.iteration).toBe(3);
      expect(restored.rngState).toEqual({ data: [1, 2] });
      expect(restored.config).toEqual({ lr: 0.05 });
      const resumed = await trainSteps(b, optB, 3, 3);
      expect(resumed).toEqual(continued);
      // a model checkpoint loader accepts the training checkpoint (optimizer entries are skipped)
      const c = makeModel(51);
      await loadModel(path, c);
      await expect(loadTrainingCheckpoint(join(dir, 'model.safetensors'), { model: c, optimizer: make(c) })).rejects.toThrow(/not a training checkpoint/);
      for (const x of [optA, optB]) x.dispose();
      for (const m of [a, b, c]) m.dispose();
    });
  }

  it('with an lr scheduler: its state is saved and restored, and the resumed run continues exactly', async () => {
    const withScheduler = async (model: Sequential, opt: Optimizer, scheduler: StepLR, from: number, n: number) => {
      const losses: number[] = [];
      for (let it = from; it < from + n; it++) { losses.push(...await trainSteps(model, opt, it, 1)); scheduler.step(); }
      return losses;
    };
    const a = makeModel(3), optA = new SGD(a.parameters(), { lr: 0.05, momentum: 0.9 }), schedA = new StepLR(optA, 2, { gamma: 0.5 });
    await withScheduler(a, optA, schedA, 0, 3);
    const path = join(dir, 'train-scheduler.safetensors');
    await saveTrainingCheckpoint(path, { model: a, optimizer: optA, scheduler: schedA, iteration: 3 });
    const continued = await withScheduler(a, optA, schedA, 3, 3);

    const b = makeModel(50), optB = new SGD(b.parameters(), { lr: 0.05, momentum: 0.9 }), schedB = new StepLR(optB, 2, { gamma: 0.5 });
    await loadTrainingCheckpoint(path, { model: b, optimizer: optB, scheduler: schedB });
    expect(schedB.lastEpoch).toBe(3);
    expect(optB.lr).toBe(0.05 * 0.5);
    expect(await withScheduler(b, optB, schedB, 3, 3)).toEqual(continued);
    expect(optB.lr).toBe(optA.lr);

    const plain = join(dir, 'train-no-scheduler.safetensors');
    await saveTrainingCheckpoint(plain, { model: a, optimizer: optA, iteration: 6 });
    await expect(loadTrainingCheckpoint(plain, { model: b, optimizer: optB, scheduler: schedB }))
      .rejects.toThrow(/train-no-scheduler\.safetensors: holds no lr scheduler state \(saved without a scheduler\)/);
    for (const x of [optA, optB]) x.dispose();
    for (const m of [a, b]) m.dispose();
  });

  it('an optimizer entry for a parameter the optimizer lacks is an error naming the file', async () => {
    const a = makeModel(3), optA = new SGD(a.parameters(), { lr: 0.1, momentum: 0.9 });
    const g: Tensor[] = [];
    for (const p of a.parameters()) { p.grad = fromArray(new Float32Array(p.numel()).fill(0.1), p.shape, { backend: cpu }); g.push(p.grad); }
    optA.step();
    optA.zeroGrad();
    const path = join(dir, 'train-mismatch.safetensors');
    await saveTrainingCheckpoint(path, { model: a, optimizer: optA, iteration: 1 });
    const b = makeModel(3), optB = new SGD(b.parameters().slice(0, 2), { lr: 0.1, momentum: 0.9 });
    await expect(loadTrainingCheckpoint(path, { model: b, optimizer: optB })).rejects.toThrow(/train-mismatch\.safetensors: optimizer entry optimizer\.state\.2\.momentum_buffer names no parameter/);
    optA.dispose(); optB.dispose(); a.dispose(); b.dispose();
  });

  it('a checkpoint holding NaN or ±Inf is refused by loadModel and loadTrainingCheckpoint, naming the file and the tensor', async () => {
    const a = makeModel(3), opt = new SGD(a.parameters(), { lr: 0.1, momentum: 0.9 });
    for (const p of a.parameters()) p.grad = fromArray(new Float32Array(p.numel()).fill(0.1), p.shape, { backend: cpu });
    opt.step();
    opt.zeroGrad();
    const good = join(dir, 'finite.safetensors');
    await saveTrainingCheckpoint(good, { model: a, optimizer: opt, iteration: 1 });
    const file = await readSafetensors(good);
    const corrupt = async (name: string, key: string, values: number[], meta: Record<string, string> = {}) => {
      const t = file.tensors.get(key)!;
      const data = Float32Array.from(t.data);
      data.set(values);
      const tensors = new Map(file.tensors);
      tensors.set(key, { ...t, data });
      const path = join(dir, name);
      writeFileSync(path, encodeSafetensors(tensors, { ...file.metadata, ...meta }));
      return path;
    };
    const nan = await corrupt('nan.safetensors', '1.running_var', [1, NaN, Infinity]);
    const message = /nan\.safetensors: tensor 1\.running_var holds non-finite values \(1 NaN, 1 \+Inf of 4 elements \(the first at element 1: NaN\)\); refusing this checkpoint/;
    await expect(loadModel(nan, makeModel(4))).rejects.toThrow(message);
    const b = makeModel(4), optB = new SGD(b.parameters(), { lr: 0.1, momentum: 0.9 });
    await expect(loadTrainingCheckpoint(nan, { model: b, optimizer: optB })).rejects.toThrow(message);
    const inf = await corrupt('inf.safetensors', 'optimizer.state.0.momentum_buffer', [-Infinity]);
    await expect(loadTrainingCheckpoint(inf, { model: b, optimizer: optB })).rejects.toThrow(/inf\.safetensors: tensor optimizer\.state\.0\.momentum_buffer holds non-finite values \(1 -Inf of 12/);
    // a negative iteration is no place to resume from
    const negative = await corrupt('negative.safetensors', '0.weight', [], { 'voxgrad.iteration': '-5' });
    await expect(loadTrainingCheckpoint(negative, { model: b, optimizer: optB })).rejects.toThrow(/negative\.safetensors: metadata voxgrad\.iteration '-5' is not an integer ≥ 0/);
    await expect(loadTrainingCheckpoint(good, { model: b, optimizer: optB })).resolves.toMatchObject({ iteration: 1 });
    opt.dispose(); optB.dispose(); a.dispose(); b.dispose();
  });
});
