import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CpuBackend } from '../../src/kernels/index.js';
import { loadModel, readSafetensors, saveSafetensors, toHost } from '../../src/models/checkpoint.js';
import type { HostTensor } from '../../src/models/safetensors.js';
import { noGrad } from '../../src/autograd/graph.js';
import { fromArray } from '../../src/tensor/creation.js';
import { dispose } from '../../src/tensor/memory.js';
import { checkHeadLayout, HEAD_LAYOUT, HEAD_LAYOUT_KEY, VNetDualTask } from '../../src/dbisl/model.js';

const root = mkdtempSync(join(tmpdir(), 'dbisl-model-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("VNetDualTask uses DTC's head names (vnet_sdf.py)", () => {
  it('a state dict written with DTC names gives the segmentation from out_conv2 and the tanh SDF from out_conv', async () => {
    const backend = new CpuBackend();
    const written = new VNetDualTask({ nFilters: 2, dropout: false, seed: 1, backend });
    const host = await toHost(written.module.stateDict());
    written.module.dispose();
    // known heads: zero weights, so each head's output is its bias everywhere
    const head = (name: string, bias: number): void => {
      const w = host.get(`${name}.weight`)!;
      host.set(`${name}.weight`, { ...w, data: new Float32Array(w.data.length) } as HostTensor);
      host.set(`${name}.bias`, { ...host.get(`${name}.bias`)!, data: Float32Array.of(bias) } as HostTensor);
    };
    head('out_conv', 0.5); // DTC: out_tanh = tanh(out_conv(x9))
    head('out_conv2', -3); // DTC: out_seg = out_conv2(x9)
    const file = join(root, 'dtc.safetensors');
    await saveSafetensors(file, host); // no voxgrad metadata, as a file converted from DTC's PyTorch checkpoint

    const model = new VNetDualTask({ nFilters: 2, dropout: false, seed: 2, backend });
    await loadModel(file, model.module);
    model.module.eval();
    const out = model.forward(fromArray(new Float32Array(2 * 16 * 16 * 16).map((_, i) => Math.sin(i)), [2, 1, 16, 16, 16], { backend }));
    const seg = await out.seg.toArray(), sdf = await out.sdf.toArray();
    expect(new Set(Array.from(seg))).toEqual(new Set([-3]));
    expect(new Set(Array.from(sdf))).toEqual(new Set([Math.fround(Math.tanh(0.5))]));
    model.module.dispose();
  });

  it('segment(x) is forward(x).seg, the same floats, without computing the SDF head', async () => {
    const backend = new CpuBackend();
    const model = new VNetDualTask({ nFilters: 2, dropout: false, seed: 5, backend });
    model.module.eval();
    const x = fromArray(new Float32Array(16 * 16 * 16).map((_, i) => Math.cos(i)), [1, 1, 16, 16, 16], { backend });
    const both = noGrad(() => model.forward(x));
    const sdfHead = vi.spyOn(model.module.headConvs[0]!, 'forward');
    const seg = noGrad(() => model.segment(x));
    expect(sdfHead).not.toHaveBeenCalled();
    expect(Array.from(await seg.toArray())).toEqual(Array.from(await both.seg.toArray()));
    dispose([x, seg, both.seg, both.sdf]);
    model.module.dispose();
  });

  it('refuses a checkpoint of the swapped layout (voxgrad 0.1.0) and accepts the current one and foreign files', () => {
    expect(() => checkHeadLayout({ 'dbisl.method': 'dbisl' }, 'old.safetensors')).toThrow(/old\.safetensors: written with the head layout 'out_conv=seg,out_conv2=sdf'/);
    expect(() => checkHeadLayout({ [HEAD_LAYOUT_KEY]: 'out_conv=seg,out_conv2=sdf' }, 'x')).toThrow(/will not load the heads swapped/);
    expect(() => checkHeadLayout({ 'dbisl.method': 'dtc', [HEAD_LAYOUT_KEY]: HEAD_LAYOUT }, 'x')).not.toThrow();
    expect(() => checkHeadLayout({}, 'x')).not.toThrow();
  });

  it('the trainer-style metadata round-trips through a file', async () => {
    const backend = new CpuBackend();
    const model = new VNetDualTask({ nFilters: 2, dropout: false, seed: 1, backend });
    const file = join(root, 'ours.safetensors');
    await saveSafetensors(file, model.module.stateDict(), { 'dbisl.method': 'dbisl', [HEAD_LAYOUT_KEY]: HEAD_LAYOUT });
    const f = await readSafetensors(file);
    expect(() => checkHeadLayout(f.metadata, file)).not.toThrow();
    expect(model.describe()).toContain('out_conv (tanh SDF) and out_conv2 (seg logits)');
    model.module.dispose();
  });
});
