import { describe, expect, it } from 'vitest';
import { DynUNet, Dropout, init, type DynUNetOptions } from '../../src/models/index.js';
import { deriveSeed } from '../../src/models/module.js';
import { noGrad } from '../../src/autograd/index.js';
import { dispose, rand, zeros } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';

/**
 * What the mutation run of src/models/dynunet.ts found untested (stryker.config.mjs): the count, size, filters,
 * dropout and deepSuprNum checks by name, the dropout layers' salts derived from their module paths, and the deep
 * supervision heads that must be computed by this training forward (not left over from an earlier one).
 */

const tiny = (options: Partial<DynUNetOptions> = {}): DynUNet => new DynUNet({
  inChannels: 1, outChannels: 2, kernelSize: [3, 3, 3], strides: [1, 2, 2], upsampleKernelSize: [2, 2], filters: [2, 3, 4],
  seed: 3, backend: cpu, ...options,
});

describe('DynUNet options (mutation tests)', () => {
  it('refuses channel counts that are not positive integers, naming them', () => {
    expect(() => tiny({ inChannels: 0 })).toThrow(/^DynUNet: inChannels must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ outChannels: 1.5 })).toThrow(/^DynUNet: outChannels must be an integer ≥ 1, got 1\.5$/);
    expect(() => tiny({ filters: [2, 0, 4] })).toThrow(/^DynUNet: every entry of filters must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ filters: [2, 3, 4, 0] })).toThrow(/^DynUNet: every entry of filters must be an integer ≥ 1, got 0$/);
    expect(tiny({ inChannels: 1, outChannels: 1 }).numParameters()).toBe(2582 - 3);
  });

  it('refuses a kernel or a stride of 0 on any axis, naming the level', () => {
    expect(() => tiny({ kernelSize: [3, [3, 0, 3], 3] })).toThrow(/^DynUNet: kernelSize\[1\] \[3, 0, 3\] must be positive$/);
    expect(() => tiny({ strides: [1, 2, [2, 2, 0]], upsampleKernelSize: [2, [2, 2, 0]] })).toThrow(/^DynUNet: strides\[2\] \[2, 2, 0\] must be positive$/);
  });

  it('takes a dropout in [0, 1] or null, refusing others by name', () => {
    for (const p of [-0.1, 1.5, Number.NaN]) expect(() => tiny({ dropout: p })).toThrow(new RegExp(`^DynUNet: dropout must be in \\[0, 1\\] or null, got ${p}$`));
    for (const p of [0, 1]) expect(tiny({ dropout: p }).modules().filter((m) => m instanceof Dropout)).toHaveLength(2 * 5 + 2 + 1);
    expect(tiny({ dropout: null }).modules().some((m) => m instanceof Dropout)).toBe(false);
  });

  it('checks deepSuprNum only under deep supervision: an integer ≥ 1 and below the upsampling levels', () => {
    const four = { kernelSize: [3, 3, 3, 3], strides: [1, 2, 2, 2], upsampleKernelSize: [2, 2, 2], filters: [2, 2, 3, 3] };
    for (const n of [0, 1.5, 3]) {
      expect(() => tiny({ ...four, deepSupervision: true, deepSuprNum: n })).toThrow(new RegExp(`^DynUNet: deepSuprNum must be an integer ≥ 1 and < 3 \\(the upsampling levels\\), got ${n}$`));
    }
    expect(tiny({ ...four, deepSupervision: true, deepSuprNum: 2 }).deepSupervisionHeads?.length).toBe(2);
    expect(tiny({ deepSuprNum: 5 }).deepSupervisionHeads).toBeNull();
    expect(tiny({ deepSupervision: true }).deepSuprNum).toBe(1);
  });

  it('refuses a kernel, stride or upsample kernel that is not a non-negative integer triple, naming the entry', () => {
    expect(() => tiny({ kernelSize: [3, 1.5, 3] })).toThrow(/DynUNet kernelSize\[1\]/);
    expect(() => tiny({ strides: [1, -2, 2] })).toThrow(/DynUNet strides\[1\]/);
    expect(() => tiny({ upsampleKernelSize: [2, [2, 2, 2, 2] as unknown as number] })).toThrow(/DynUNet upsampleKernelSize\[1\]/);
  });

  it('needs at least 3 levels; checks every axis for odd kernels, the padding and the upsample kernels', () => {
    expect(() => tiny({ kernelSize: [3, 3], strides: [1, 2], upsampleKernelSize: [2] })).toThrow(/^DynUNet: kernelSize \(2 entries\) and strides \(2\) must have the same length, at least 3/);
    expect(() => tiny({ kernelSize: [3, [3, 2, 3], 3] })).toThrow(/^DynUNet: kernelSize\[1\] \[3, 2, 3\] must be odd$/);
    expect(() => tiny({ upsampleKernelSize: [2, [2, 2, 1]] })).toThrow(/^DynUNet: upsampleKernelSize\[1\] \[2, 2, 1\] must equal strides\[2\] \[2, 2, 2\]/);
    expect(() => tiny({ kernelSize: [3, [1, 3, 3], 3], strides: [1, [3, 2, 2], 2], upsampleKernelSize: [[3, 2, 2], 2] }))
      .toThrow(/^DynUNet: downsamples\.0\.conv1: kernel \[1, 3, 3\] with stride \[3, 2, 2\] gives a negative padding/);
  });

  it('a residual block gets its 1³ shortcut where the stride differs from 1 on one axis only, the channels kept', () => {
    const net = tiny({ resBlock: true, inChannels: 2, filters: [2, 2, 2], strides: [1, [1, 2, 2], 2], upsampleKernelSize: [[1, 2, 2], 2] });
    const keys = [...net.stateSpec().keys()];
    expect(keys).toContain('downsamples.0.conv3.conv.weight');
    expect(keys).toContain('downsamples.0.norm3.weight');
    expect(keys.some((k) => k.startsWith('input_block.conv3'))).toBe(false);
    const x = rand([1, 2, 4, 8, 8], 1, { backend: cpu });
    const y = noGrad(() => net.eval().forward(x));
    expect(y.shape).toEqual([1, 2, 4, 8, 8]);
    dispose([x, y]);
    net.dispose();
  });

  it("every convolution's weight is He-normal (a = 0.01) from the seed and its own module path", async () => {
    const net = tiny({ deepSupervision: true, deepSuprNum: 2, resBlock: true, kernelSize: [3, 3, 3, 3], strides: [1, 2, 2, 2], upsampleKernelSize: [2, 2, 2], filters: [2, 2, 3, 3] });
    const keys = ['input_block.conv1', 'input_block.conv2', 'input_block.conv3', 'downsamples.0.conv1', 'downsamples.1.conv2', 'bottleneck.conv1', 'bottleneck.conv3',
      'upsamples.0.transp_conv', 'upsamples.0.conv_block.conv1', 'upsamples.2.conv_block.conv2', 'output_block.conv', 'deep_supervision_heads.0.conv', 'deep_supervision_heads.1.conv'];
    for (const key of keys) {
      const w = net.getParameter(`${key}.conv.weight`);
      const want = zeros(w.shape, { backend: cpu });
      init.kaimingNormal_(want, { a: 0.01, seed: deriveSeed(3, `${key}.conv.weight`) });
      expect(Array.from(await w.toArray()), key).toEqual(Array.from(await want.toArray()));
      want.dispose();
    }
    net.dispose();
  });

  it("each dropout layer's salt derives from the seed and its module path (MONAI's Convolution.adn.D)", () => {
    const net = tiny({ dropout: 0.2, seed: 5 });
    for (const path of ['input_block.conv1', 'downsamples.0.conv2', 'upsamples.1.transp_conv', 'output_block.conv']) {
      expect((net.getSubmodule(`${path}.adn.D`) as Dropout).salt, path).toBe(deriveSeed(5, `${path}.adn.D`));
      expect((net.getSubmodule(`${path}.adn.D`) as Dropout).p).toBe(0.2);
    }
  });
});

describe('DynUNet deep supervision (mutation tests)', () => {
  it('a training forward whose skip layers did not run in training refuses to stack stale or missing heads', () => {
    const net = tiny({ deepSupervision: true });
    const x = rand([1, 1, 8, 8, 8], 2, { backend: cpu });
    net.skipLayers.eval();
    expect(() => noGrad(() => net.forward(x))).toThrow(/^DynUNet: deep supervision head 0 was not computed \(skip_layers is in evaluation mode while the DynUNet trains\)$/);
    // after a proper training forward, the heads are used once: they are not left for the next forward
    net.train();
    const y = noGrad(() => net.forward(x));
    expect(y.shape).toEqual([1, 2, 2, 8, 8, 8]);
    net.skipLayers.eval();
    expect(() => noGrad(() => net.forward(x))).toThrow(/deep supervision head 0 was not computed/);
    dispose([x, y]);
    net.dispose();
  });
  it('with 4 levels and deepSuprNum 1, only level 1 carries a head', () => {
    const net = tiny({ deepSupervision: true, kernelSize: [3, 3, 3, 3], strides: [1, 2, 2, 2], upsampleKernelSize: [2, 2, 2], filters: [2, 2, 3, 3] });
    const keys = [...net.stateSpec().keys()];
    expect(keys).toContain('skip_layers.next_layer.super_head.conv.conv.weight');
    expect(keys.some((k) => k.startsWith('skip_layers.super_head') || k.startsWith('skip_layers.next_layer.next_layer.super_head'))).toBe(false);
    const x = rand([1, 1, 16, 16, 16], 3, { backend: cpu });
    const y = noGrad(() => net.forward(x));
    expect(y.shape).toEqual([1, 2, 2, 16, 16, 16]);
    dispose([x, y]);
    net.dispose();
  });
});

describe('DynUNet input checks (mutation tests)', () => {
  it('refuses an input of another rank, one whose level 1 does not match level 0, and an empty one, by name', () => {
    const net = tiny();
    const flat = rand([1, 1, 8, 8], 1, { backend: cpu });
    expect(() => net.forward(flat)).toThrow(/^DynUNet: input must be \[N, 1, D, H, W\], got \[1, 1, 8, 8\]$/);
    const oneStride = tiny({ strides: [1, 2, 1], upsampleKernelSize: [2, 1] });
    const odd = rand([1, 1, 5, 4, 4], 1, { backend: cpu });
    expect(() => oneStride.forward(odd)).toThrow(/^DynUNet: input \[1, 1, 5, 4, 4\]: level 1's output \[3, 2, 2\] upsampled gives \[6, 4, 4\], not level 0's \[5, 4, 4\]/);
    const empty = zeros([1, 1, 0, 4, 4], { backend: cpu });
    expect(() => net.forward(empty)).toThrow(/^DynUNet: input \[1, 1, 0, 4, 4\]: level 2's output \[0, 1, 1\]/);
    dispose([flat, odd, empty]);
    [net, oneStride].forEach((m) => m.dispose());
  });
});
