import { describe, expect, it } from 'vitest';
import {
  add, conv3d, convTranspose3d, groupNorm, interpolate, leakyRelu, noGrad, relu,
} from '../../src/autograd/index.js';
import {
  BatchNorm3d, Dropout3d, decodeSafetensors, loadHostStateDict, GroupNorm, InstanceNorm3d, LeakyReLU, SegResNet, Upsample, crossEntropy,
  type SegResNetOptions,
} from '../../src/models/index.js';
import { dispose, memory, rand, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { adamLosses, ballSegmentation, expectInputGradcheck } from '../helpers/model-checks.js';

/**
 * MONAI's SegResNet (monai/networks/nets/segresnet.py, blocks in monai/networks/blocks/segresnet_block.py):
 * MONAI's parameter count and state-dict names, shapes, the forward against the same network written out
 * with the functional ops, a float64 gradient check, and a few training steps.
 */

const tiny = (options: SegResNetOptions = {}): SegResNet => new SegResNet({
  initFilters: 2, norm: ['group', { numGroups: 2 }], blocksDown: [1, 2], blocksUp: [1], seed: 3, backend: cpu, ...options,
});

describe('SegResNet structure', () => {
  it("the default configuration has MONAI's 1 176 186 parameters", () => {
    // Counted from MONAI's layer list with f = initFilters = 8, inChannels 1, outChannels 2; every conv but the
    // last has no bias; ResBlock(c) = two GroupNorms (2c each) + two 3³ convs c→c (27c² each) = 54c² + 4c.
    //   convInit 3³ 1→8                                   27·8                        =     216
    //   down 0: ResBlock(8)                               54·64 + 32                  =   3 488
    //   down 1: 3³ stride 2 8→16, 2 × ResBlock(16)        27·128 + 2·(54·256 + 64)    =  31 232
    //   down 2: 3³ stride 2 16→32, 2 × ResBlock(32)       27·512 + 2·(54·1024 + 128)  = 124 672
    //   down 3: 3³ stride 2 32→64, 4 × ResBlock(64)       27·2048 + 4·(54·4096 + 256) = 941 056
    //   up 0: 1³ 64→32, ResBlock(32)                      2048 + 55 424               =  57 472
    //   up 1: 1³ 32→16, ResBlock(16)                      512 + 13 888                =  14 400
    //   up 2: 1³ 16→8, ResBlock(8)                        128 + 3 488                 =   3 616
    //   conv_final: GroupNorm(8), 1³ 8→2 with bias        16 + 16 + 2                 =      34
    // sum 1 176 186, the count "State-of-the-Art Stroke Lesion Segmentation at 1/1000th of Parameters" (Fedorov
    // et al.) reports for MONAI's SegResNet. 'deconv' adds per decoder level a 2³ transposed conv c→c with bias
    // (c = 32, 16, 8): 8·(32² + 16² + 8²) + 56 = 10 808.
    const net = new SegResNet({ backend: cpu });
    expect(net.numParameters()).toBe(1_176_186);
    const deconv = new SegResNet({ upsampleMode: 'deconv', backend: cpu });
    expect(deconv.numParameters()).toBe(1_176_186 + 10_808);
    net.dispose();
    deconv.dispose();
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree (a small configuration, deconv)", () => {
    const net = tiny({ upsampleMode: 'deconv' });
    const res = (p: string, c: number): [string, number[]][] => [
      [`${p}.norm1.weight`, [c]], [`${p}.norm1.bias`, [c]], [`${p}.norm2.weight`, [c]], [`${p}.norm2.bias`, [c]],
      [`${p}.conv1.conv.weight`, [c, c, 3, 3, 3]], [`${p}.conv2.conv.weight`, [c, c, 3, 3, 3]],
    ];
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['convInit.conv.weight', [2, 1, 3, 3, 3]],
      ...res('down_layers.0.1', 2),
      ['down_layers.1.0.conv.weight', [4, 2, 3, 3, 3]],
      ...res('down_layers.1.1', 4),
      ...res('down_layers.1.2', 4),
      ...res('up_layers.0.0', 2),
      ['up_samples.0.0.conv.weight', [2, 4, 1, 1, 1]],
      ['up_samples.0.1.deconv.weight', [2, 2, 2, 2, 2]],
      ['up_samples.0.1.deconv.bias', [2]],
      ['conv_final.0.weight', [2]], ['conv_final.0.bias', [2]],
      ['conv_final.2.conv.weight', [2, 2, 1, 1, 1]], ['conv_final.2.conv.bias', [2]],
    ]);
    // the parameterless modules are where MONAI has them, under MONAI's class names
    const modules = new Map(net.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    // conv_final.1 is act_mod itself, so PyTorch's named_modules() (duplicates removed) lists it under act_mod only
    expect(net.namedModules().map(([n]) => n)).not.toContain('conv_final.1');
    expect([...modules].slice(0, 4)).toEqual([['', 'SegResNet'], ['act_mod', 'ReLU'], ['convInit', 'Convolution'], ['convInit.conv', 'Conv3d']]);
    expect([modules.get('down_layers.0.0'), modules.get('down_layers.0.1'), modules.get('down_layers.0.1.act'), modules.get('up_samples.0.1'), modules.get('conv_final.1')])
      .toEqual(['Identity', 'ResBlock', 'ReLU', 'UpSample', 'ReLU']);
    net.dispose();
  });

  it("a state dict in PyTorch's safetensors layout (F32, num_batches_tracked as I64) under these keys loads strictly", async () => {
    const net = tiny({ norm: 'batch', upsampleMode: 'deconv' });
    const spec = [...net.stateSpec()];
    // the bytes as safetensors.torch.save_file writes them: u64 header length, JSON header, then the data
    const header: Record<string, { dtype: string; shape: readonly number[]; data_offsets: [number, number] }> = {};
    const chunks: Uint8Array[] = [];
    let offset = 0;
    spec.forEach(([name, { shape, dtype }], i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const bytes = dtype === 'int32'
        ? new Uint8Array(BigInt64Array.from({ length: n }, () => 7n).buffer)
        : new Uint8Array(Float32Array.from({ length: n }, (_, j) => i + j / 64).buffer);
      header[name] = { dtype: dtype === 'int32' ? 'I64' : 'F32', shape, data_offsets: [offset, offset + bytes.length] };
      chunks.push(bytes);
      offset += bytes.length;
    });
    const json = new TextEncoder().encode(JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8, ' '));
    const file = new Uint8Array(8 + json.length + offset);
    new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
    file.set(json, 8);
    chunks.reduce((at, c) => { file.set(c, at); return at + c.length; }, 8 + json.length);
    expect(loadHostStateDict(net, decodeSafetensors(file).tensors)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const state = net.stateDict();
    const index = spec.findIndex(([k]) => k === 'up_samples.0.1.deconv.weight');
    expect(Array.from(await state.get('up_samples.0.1.deconv.weight')!.toArray())).toEqual(Array.from({ length: 32 }, (_, j) => index + j / 64));
    expect(Array.from(await state.get('down_layers.1.2.norm2.num_batches_tracked')!.toArray())).toEqual([7]);
    dispose([...state.values()]);
    net.dispose();
  });

  it("norm, act, upsampleMode and dropoutProb build MONAI's layers", () => {
    const batch = tiny({ norm: 'batch', act: ['leakyrelu', { negativeSlope: 0.2 }], dropoutProb: 0.3 });
    expect([...batch.stateSpec().keys()].filter((k) => k.startsWith('down_layers.0.1.norm1.'))).toEqual(
      ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((k) => `down_layers.0.1.norm1.${k}`));
    expect(batch.modules().filter((m) => m instanceof BatchNorm3d)).toHaveLength(2 * 4 + 1);
    // one per ResBlock, and act_mod, which conv_final uses too
    const acts = [...new Set(batch.modules().filter((m) => m instanceof LeakyReLU))];
    expect(acts.length).toBe(4 + 1);
    expect(batch.convFinal.at(1)).toBe(batch.actMod);
    expect(acts.every((a) => a.negativeSlope === 0.2)).toBe(true);
    expect(batch.dropout).toBeInstanceOf(Dropout3d);
    expect(batch.dropout?.p).toBe(0.3);
    expect(batch.namedModules().at(-1)?.[0]).toBe('dropout');
    // InstanceNorm3d as PyTorch's default: no affine parameters
    const instance = tiny({ norm: 'instance', act: 'leakyrelu' });
    expect(instance.modules().filter((m) => m instanceof InstanceNorm3d)).toHaveLength(2 * 4 + 1);
    expect([...instance.stateSpec().keys()].some((k) => k.includes('norm'))).toBe(false);
    expect(instance.modules().filter((m) => m instanceof LeakyReLU).every((a) => (a as LeakyReLU).negativeSlope === 0.01)).toBe(true);
    // the default norm is GroupNorm with 8 groups; the default upsampling trilinear, align_corners False
    const defaults = new SegResNet({ initFilters: 8, blocksDown: [1, 1], blocksUp: [1], backend: cpu });
    expect(defaults.modules().filter((m) => m instanceof GroupNorm).every((g) => (g as GroupNorm).numGroups === 8)).toBe(true);
    const upsample = defaults.modules().find((m) => m instanceof Upsample) as Upsample;
    expect(upsample.extraRepr()).toBe("scale_factor=2.0, mode='trilinear'");
    expect(defaults.dropout).toBeNull();
    for (const m of [batch, instance, defaults]) m.dispose();
  });

  it('output shapes for inputs whose sizes are multiples of 2^(levels − 1); other inputs and options are refused by name', () => {
    const net = new SegResNet({ backend: cpu });
    const cases: [number[], number[]][] = [[[1, 1, 8, 8, 8], [1, 2, 8, 8, 8]], [[2, 1, 16, 8, 24], [2, 2, 16, 8, 24]]];
    for (const [input, output] of cases) {
      const x = rand(input, 1, { backend: cpu });
      const y = noGrad(() => net.forward(x));
      expect(y.shape).toEqual(output);
      dispose([x, y]);
    }
    const small = tiny({ inChannels: 2, outChannels: 3, blocksDown: [1, 0, 1], blocksUp: [0, 1] });
    const x = rand([1, 2, 4, 12, 8], 2, { backend: cpu });
    const y = small.forward(x);
    expect(y.shape).toEqual([1, 3, 4, 12, 8]);
    const features = tiny({ inChannels: 2, useConvFinal: false });
    const z = features.forward(rand([1, 2, 2, 2, 2], 3, { backend: cpu }));
    expect(z.shape).toEqual([1, 2, 2, 2, 2]);
    const withFinal = tiny({ inChannels: 2 });
    expect(features.numParameters()).toBe(withFinal.numParameters());

    const before = memory().liveTensors;
    const odd = rand([1, 1, 8, 12, 8], 4, { backend: cpu });
    expect(() => net.forward(odd)).toThrow(/^SegResNet: input \[1, 1, 8, 12, 8\] has spatial sizes \[8, 12, 8\], which must be multiples of 8 \(2\^\(4 − 1\) for 4 levels of blocksDown\)$/);
    expect(() => small.forward(odd)).toThrow(/^SegResNet: input must be \[N, 2, D, H, W\], got \[1, 1, 8, 12, 8\]$/);
    odd.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ blocksUp: [1, 1] })).toThrow(/^SegResNet: blocksUp \[1, 1\] needs one entry fewer than blocksDown \[1, 2\] \(one per decoder level\)$/);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^SegResNet: only spatialDims 3 is supported, got 2$/);
    expect(() => tiny({ upsampleMode: 'pixelshuffle' as 'deconv' })).toThrow(/^SegResNet: upsampleMode 'pixelshuffle' is not supported; valid: nontrainable, deconv$/);
    expect(() => tiny({ norm: 'layer' as 'batch' })).toThrow(/^SegResNet: unknown norm 'layer'; valid: group, batch, instance$/);
    expect(() => tiny({ blocksDown: [1, -1] })).toThrow(/^SegResNet: every entry of blocksDown and blocksUp must be an integer ≥ 0, got -1$/);
    expect(() => tiny({ norm: 'group' })).toThrow(/^GroupNorm: 2 channels do not split into 8 groups$/);
    dispose([x, y, z]);
    for (const m of [net, small, features, withFinal]) m.dispose();
  });
});

/** SegResNet written out with the functional ops from MONAI's description, reading the weights by their MONAI names. */
function segResNetByHand(net: SegResNet, x: Tensor, groups: number, act: (t: Tensor) => Tensor): Tensor {
  const params = new Map(net.namedParameters());
  const w = (key: string): Tensor => {
    const p = params.get(key);
    if (!p) throw new Error(`no parameter ${key}`);
    return p;
  };
  const normAct = (t: Tensor, key: string) => act(groupNorm(t, groups, w(`${key}.weight`), w(`${key}.bias`)));
  const conv = (t: Tensor, key: string, stride = 1) => conv3d(t, w(`${key}.conv.weight`), null, { stride, padding: 1 });
  const resBlock = (t: Tensor, key: string) =>
    add(conv(normAct(conv(normAct(t, `${key}.norm1`), `${key}.conv1`), `${key}.norm2`), `${key}.conv2`), t);
  let y = conv(x, 'convInit');
  const features: Tensor[] = [];
  net.blocksDown.forEach((blocks, level) => {
    if (level > 0) y = conv(y, `down_layers.${level}.0`, 2);
    for (let j = 1; j <= blocks; j++) y = resBlock(y, `down_layers.${level}.${j}`);
    features.push(y);
  });
  net.blocksUp.forEach((blocks, i) => {
    const narrowed = conv3d(y, w(`up_samples.${i}.0.conv.weight`));
    const up = net.upsampleMode === 'deconv'
      ? convTranspose3d(narrowed, w(`up_samples.${i}.1.deconv.weight`), w(`up_samples.${i}.1.deconv.bias`), { stride: 2 })
      : interpolate(narrowed, { scaleFactor: 2, mode: 'trilinear', alignCorners: false });
    y = add(up, features[features.length - 2 - i]!);
    for (let j = 0; j < blocks; j++) y = resBlock(y, `up_layers.${i}.${j}`);
  });
  return conv3d(normAct(y, 'conv_final.0'), w('conv_final.2.conv.weight'), w('conv_final.2.conv.bias'));
}

describe('SegResNet forward and backward (cpu)', () => {
  const configurations: [string, SegResNetOptions, (t: Tensor) => Tensor][] = [
    ['nontrainable upsampling, ReLU', { upsampleMode: 'nontrainable' }, relu],
    ['deconv upsampling, LeakyReLU(0.2), three levels with an empty decoder level', {
      upsampleMode: 'deconv', act: ['leakyrelu', { negativeSlope: 0.2 }], blocksDown: [1, 2, 1], blocksUp: [0, 1],
    }, (t) => leakyRelu(t, 0.2)],
  ];
  for (const [what, options, act] of configurations) {
    it(`equals the network written out with conv3d, groupNorm, the activation, interpolate/convTranspose3d and add: ${what}`, async () => {
      const net = tiny({ inChannels: 2, outChannels: 3, ...options });
      const x = randn([2, 2, 4, 8, 4], 5, { backend: cpu });
      const [got, want] = noGrad(() => [net.forward(x), tidy(() => segResNetByHand(net, x, 2, act))]);
      expect(got.shape).toEqual([2, 3, 4, 8, 4]);
      // the same floats: the fused norm + ReLU computes what the two ops do
      expect(Array.from(await got.toArray())).toEqual(Array.from(await want.toArray()));
      // dropout after convInit: the identity in eval, channels zeroed in training
      const dropped = tiny({ inChannels: 2, outChannels: 3, ...options, dropoutProb: 0.5 });
      dropped.eval();
      const evaluated = noGrad(() => dropped.forward(x));
      expect(Array.from(await evaluated.toArray())).toEqual(Array.from(await got.toArray()));
      dropped.train();
      const trained = noGrad(() => dropped.forward(x));
      expect(Array.from(await trained.toArray())).not.toEqual(Array.from(await got.toArray()));
      dispose([x, got, want, evaluated, trained]);
      net.dispose();
      dropped.dispose();
    });
  }

  it.each(['nontrainable', 'deconv'] as const)('the gradient with respect to the input passes a float64 gradient check (%s)', async (upsampleMode) => {
    const net = tiny({ upsampleMode, norm: ['group', { numGroups: 1 }], blocksDown: [1, 1] });
    await expectInputGradcheck(net, [1, 1, 4, 4, 4]);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps on a tiny synthetic volume reduce the cross-entropy; every parameter gets a gradient', async () => {
    const { image, target } = ballSegmentation(8);
    const net = new SegResNet({ initFilters: 4, norm: ['group', { numGroups: 2 }], blocksDown: [1, 1], blocksUp: [1], seed: 11, backend: cpu });
    const losses = await adamLosses(net, () => tidy(() => crossEntropy(net.forward(image), target)), 8);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });
});
