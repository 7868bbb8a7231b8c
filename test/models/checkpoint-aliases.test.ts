import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DynUNet, Linear, ReLU, Sequential, encodeSafetensors, loadModel, readSafetensors, saveModel, saveSafetensors, sharedStateNames, toHost,
  type HostTensor,
} from '../../src/models/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * A tensor registered under several names (MONAI's DynUNet registers its blocks again under `skip_layers.`; a
 * Sequential holding one Linear twice) is written once, as safetensors.torch's save_model does: under the smallest
 * name, each other name in `__metadata__` as `alias: kept`. loadModel reads such a file strictly when every name it
 * lacks is another name of a tensor it holds.
 */

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-aliases-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** filters wide enough that the data, not the header's names, makes most of the file */
const small = (seed: number): DynUNet => new DynUNet({
  inChannels: 1, outChannels: 2, kernelSize: [3, 3, 3], strides: [1, 2, 2], upsampleKernelSize: [2, 2], filters: [8, 16, 32],
  deepSupervision: true, seed, backend: cpu,
});

/** Linear(3 → 2) as layers 0 and 2 (tied), and an untied Linear(2 → 2) as layer 3 */
const tied = (seed: number): Sequential => {
  const shared = new Linear(3, 2, { seed, backend: cpu });
  return new Sequential(shared, new ReLU(), shared, new Linear(2, 2, { seed: seed + 1, backend: cpu }));
};

async function expectSameState(a: Sequential | DynUNet, b: Sequential | DynUNet): Promise<void> {
  const [got, want] = [await toHost(a.stateDict()), await toHost(b.stateDict())];
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [k, t] of want) expect(Array.from(got.get(k)!.data), k).toEqual(Array.from(t.data));
}

describe('safetensors aliases (safetensors.torch save_model / load_model)', () => {
  it("sharedStateNames: each tensor's names, sorted", () => {
    const net = tied(1);
    expect(sharedStateNames(net)).toEqual([['0.weight', '2.weight'], ['0.bias', '2.bias']]);
    net.dispose();
  });

  it('DynUNet: saveModel writes each tensor once (the file about halved), the aliases in the metadata; loadModel reads it back strictly', async () => {
    const net = small(3), other = small(9);
    const groups = sharedStateNames(net);
    const aliases = groups.flatMap(([, ...rest]) => rest);
    expect(aliases.length).toBeGreaterThan(0);
    // each block's tensors under its own name and under skip_layers. (kept when it sorts first: the upsamples' ones)
    expect(groups.every((g) => g.length === 2 && g.filter((k) => k.startsWith('skip_layers.')).length === 1)).toBe(true);
    expect(groups.find((g) => g.includes('upsamples.0.transp_conv.conv.weight'))![0]).toBe('skip_layers.next_layer.upsample.transp_conv.conv.weight');
    const path = join(dir, 'dynunet.safetensors'), everyKey = join(dir, 'dynunet-every-key.safetensors');
    await saveModel(path, net);
    await saveSafetensors(everyKey, net.stateDict());
    const file = await readSafetensors(path);
    expect([...file.tensors.keys()]).toEqual([...net.stateSpec().keys()].filter((k) => !aliases.includes(k)));
    for (const [kept, ...rest] of groups) for (const alias of rest) expect(file.metadata[alias], alias).toBe(kept);
    const ratio = statSync(path).size / statSync(everyKey).size;
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.55);
    const loaded = await loadModel(path, other);
    expect([loaded.missingKeys, loaded.unexpectedKeys]).toEqual([[], []]);
    await expectSameState(other, net);
    for (const m of [net, other]) m.dispose();
  });

  it("a file in save_model's format (the smallest name kept, `alias: kept` metadata) loads strictly; saveModel writes that file", async () => {
    const source = tied(1), target = tied(7);
    const state = await toHost(source.stateDict());
    const kept = new Map<string, HostTensor>(['0.bias', '0.weight', '3.bias', '3.weight'].map((k) => [k, state.get(k)!]));
    const metadata = { '2.bias': '0.bias', '2.weight': '0.weight', format: 'pt' };
    const path = join(dir, 'torch-save-model.safetensors');
    writeFileSync(path, encodeSafetensors(kept, metadata));
    const loaded = await loadModel(path, target);
    expect([loaded.missingKeys, loaded.unexpectedKeys]).toEqual([[], []]);
    await expectSameState(target, source);
    const ours = join(dir, 'tied.safetensors');
    await saveModel(ours, source);
    const file = await readSafetensors(ours);
    expect(new Set(file.tensors.keys())).toEqual(new Set(kept.keys()));
    expect(file.metadata).toEqual({ ...metadata, 'voxgrad.kind': 'model' });
    for (const m of [source, target]) m.dispose();
  });

  it('a missing key that is no alias of a stored tensor, or an unexpected one, is still refused strictly', async () => {
    const source = tied(1), target = tied(7);
    const state = await toHost(source.stateDict());
    const withoutUntied = join(dir, 'without-untied.safetensors'), withoutGroup = join(dir, 'without-group.safetensors');
    const extra = join(dir, 'extra.safetensors');
    writeFileSync(withoutUntied, encodeSafetensors(['0.bias', '0.weight', '3.bias'].map((k) => [k, state.get(k)!])));
    writeFileSync(withoutGroup, encodeSafetensors(['0.weight', '3.bias', '3.weight'].map((k) => [k, state.get(k)!])));
    writeFileSync(extra, encodeSafetensors([...['0.bias', '0.weight', '3.bias', '3.weight'].map((k) => [k, state.get(k)!] as [string, HostTensor]), ['4.weight', state.get('3.weight')!]]));
    await expect(loadModel(withoutUntied, target)).rejects.toThrow(/missing keys: 3\.weight$/m);
    await expect(loadModel(withoutGroup, target)).rejects.toThrow(/missing keys: 0\.bias, 2\.bias$/m);
    await expect(loadModel(extra, target)).rejects.toThrow(/unexpected keys: 4\.weight$/m);
    const partial = await loadModel(withoutGroup, target, { strict: false });
    expect(partial.missingKeys).toEqual(['0.bias', '2.bias']);
    for (const m of [source, target]) m.dispose();
  });
});
