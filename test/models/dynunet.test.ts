import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  add, concat, conv3d, convTranspose3d, instanceNorm, leakyRelu, noGrad, slice,
} from '../../src/autograd/index.js';
import {
  BatchNorm3d, DynUNet, Dropout, GroupNorm, InstanceNorm3d, LeakyReLU, ReLU, UnetBasicBlock, UnetResBlock, crossEntropy,
  encodeSafetensors, loadModel, toHost, type DynUNetOptions,
} from '../../src/models/index.js';
import { dispose, memory, rand, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { adamLosses, ballSegmentation, expectInputGradcheck } from '../helpers/model-checks.js';

/**
 * MONAI's DynUNet (monai/networks/nets/dynunet.py, blocks in monai/networks/blocks/dynunet_block.py): MONAI's
 * parameter counts and state-dict keys (skip_layers included), shapes, options and their errors, the forward
 * against the network written out with the functional ops, a float64 gradient check and a few training steps.
 */

const tiny = (options: Partial<DynUNetOptions> = {}): DynUNet => new DynUNet({
  inChannels: 1, outChannels: 2, kernelSize: [3, 3, 3], strides: [1, 2, 2], upsampleKernelSize: [2, 2], filters: [2, 3, 4],
  seed: 3, backend: cpu, ...options,
});

const dir = mkdtempSync(join(tmpdir(), 'voxgrad-dynunet-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DynUNet structure', () => {
  it("nnU-Net's 3-D default configuration has MONAI's 31 189 410 parameters", () => {
    // kernel 3 at 6 levels, strides [1, 2, 2, 2, 2, 2], filters min(2^(5+i), 320) = [32, 64, 128, 256, 320, 320],
    // inChannels 1, outChannels 2, InstanceNorm3d(affine) and no conv biases but the output's.
    // UnetBasicBlock(a→b) = 27ab + 27b² + 4b; UnetUpBlock(a→b) = 8ab (2³ transposed conv) + UnetBasicBlock(2b→b) = 8ab + 81b² + 4b.
    //   input_block 1→32 28 640; downsamples 32→64 166 144, 64→128 664 064, 128→256 2 655 232, 256→320 4 977 920;
    //   bottleneck 320→320 5 530 880; upsamples 320→320 9 114 880, 320→256 5 964 800, 256→128 1 589 760,
    //   128→64 397 568, 64→32 99 456; output_block 1³ 32→2 with bias 66: sum 31 189 410.
    const options: DynUNetOptions = {
      inChannels: 1, outChannels: 2, kernelSize: [3, 3, 3, 3, 3, 3], strides: [1, 2, 2, 2, 2, 2], upsampleKernelSize: [2, 2, 2, 2, 2], backend: cpu,
    };
    const net = new DynUNet(options);
    expect(net.filters).toEqual([32, 64, 128, 256, 320, 320]);
    expect(net.numParameters()).toBe(31_189_410);
    net.dispose();
  });

  it('parameter counts of small configurations: residual blocks, transposed-conv bias, deep supervision heads', () => {
    // filters [2, 3, 4], inChannels 1, outChannels 2: basic 1→2 = 54 + 108 + 8 = 170, 2→3 = 162 + 243 + 12 = 417,
    // 3→4 = 324 + 432 + 16 = 772; up 4→3 = 96 + 729 + 12 = 837, 3→2 = 48 + 324 + 8 = 380; out 2→2 = 6: 2 582.
    expect(tiny().numParameters()).toBe(2582);
    // UnetResBlock adds conv3 (1³ a→b) and norm3 (2b) where channels or stride change: all three encoder blocks,
    // 2 + 4 = 6, 6 + 6 = 12, 12 + 8 = 20
    expect(tiny({ resBlock: true }).numParameters()).toBe(2582 + 38);
    // transBias: a bias per transposed conv output channel (3 + 2); a head per supervised level: 1³ 3→2 with bias (8)
    expect(tiny({ transBias: true, deepSupervision: true }).numParameters()).toBe(2582 + 5 + 8);
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree, skip_layers holding the same tensors again", () => {
    const net = tiny({ deepSupervision: true, transBias: true });
    const basic = (p: string, a: number, b: number): [string, number[]][] => [
      [`${p}.conv1.conv.weight`, [b, a, 3, 3, 3]], [`${p}.conv2.conv.weight`, [b, b, 3, 3, 3]],
      [`${p}.norm1.weight`, [b]], [`${p}.norm1.bias`, [b]], [`${p}.norm2.weight`, [b]], [`${p}.norm2.bias`, [b]],
    ];
    const up = (p: string, a: number, b: number): [string, number[]][] => [
      [`${p}.transp_conv.conv.weight`, [a, b, 2, 2, 2]], [`${p}.transp_conv.conv.bias`, [b]], ...basic(`${p}.conv_block`, 2 * b, b),
    ];
    const head = (p: string, a: number): [string, number[]][] => [[`${p}.conv.conv.weight`, [2, a, 1, 1, 1]], [`${p}.conv.conv.bias`, [2]]];
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ...basic('input_block', 1, 2),
      ...basic('downsamples.0', 2, 3),
      ...basic('bottleneck', 3, 4),
      ...up('upsamples.0', 4, 3),
      ...up('upsamples.1', 3, 2),
      ...head('output_block', 2),
      ...head('deep_supervision_heads.0', 3),
      ...basic('skip_layers.downsample', 1, 2),
      ...basic('skip_layers.next_layer.downsample', 2, 3),
      ...basic('skip_layers.next_layer.next_layer', 3, 4),
      ...up('skip_layers.next_layer.upsample', 4, 3),
      ...head('skip_layers.next_layer.super_head', 3),
      ...up('skip_layers.upsample', 3, 2),
    ]);
    // the aliases are the same parameters, counted once (PyTorch's named_parameters removes duplicates)
    expect(net.getParameter('skip_layers.next_layer.next_layer.conv2.conv.weight')).toBe(net.getParameter('bottleneck.conv2.conv.weight'));
    expect(net.getParameter('skip_layers.next_layer.super_head.conv.conv.bias')).toBe(net.getParameter('deep_supervision_heads.0.conv.conv.bias'));
    expect(net.namedParameters().map(([k]) => k).some((k) => k.startsWith('skip_layers'))).toBe(false);
    const modules = new Map(net.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect([modules.get(''), modules.get('input_block'), modules.get('input_block.conv1'), modules.get('input_block.conv1.conv'), modules.get('input_block.lrelu'),
      modules.get('upsamples.0'), modules.get('upsamples.0.transp_conv.conv'), modules.get('output_block'), modules.get('skip_layers'), modules.get('skip_layers.next_layer')])
      .toEqual(['DynUNet', 'UnetBasicBlock', 'Convolution', 'Conv3d', 'LeakyReLU', 'UnetUpBlock', 'ConvTranspose3d', 'UnetOutBlock', 'DynUNetSkipLayer', 'DynUNetSkipLayer']);
    // the dropout sits where MONAI's get_conv_layer puts it: Convolution.adn.D, an elementwise nn.Dropout
    const dropped = tiny({ dropout: 0.2, resBlock: true });
    expect(dropped.getSubmodule('downsamples.0.conv3.adn.D')).toBeInstanceOf(Dropout);
    expect(dropped.modules().filter((m) => m instanceof Dropout)).toHaveLength(3 * 3 + 2 * 3 + 1);
    expect(dropped.stateSpec().size).toBe(tiny({ resBlock: true }).stateSpec().size);
    for (const m of [net, dropped]) m.dispose();
  });

  it('a MONAI state dict in safetensors loads with loadModel: every key, or strictly without the skip_layers aliases (safetensors.torch.save_model)', async () => {
    const net = tiny({ deepSupervision: true });
    const spec = [...net.stateSpec()];
    const owner = new Map(net.namedParameters().map(([k, p]) => [p, k]));
    // distinct values per tensor; an alias carries its original's values, as a state_dict() of one model
    const valueOf = (key: string): Float32Array => {
      const index = spec.findIndex(([k]) => k === (owner.get(net.getParameter(key)) ?? key));
      return Float32Array.from({ length: net.getParameter(key).numel() }, (_, j) => index + j / 64);
    };
    const host = (keys: string[]) => new Map(keys.map((k) => [k, { dtype: 'float32' as const, shape: [...net.getParameter(k).shape], data: valueOf(k) }]));
    const all = spec.map(([k]) => k), deduplicated = all.filter((k) => !k.startsWith('skip_layers.'));
    writeFileSync(join(dir, 'all.safetensors'), encodeSafetensors(host(all), { format: 'pt' }));
    writeFileSync(join(dir, 'dedup.safetensors'), encodeSafetensors(host(deduplicated), { format: 'pt' }));
    const loaded = await loadModel(join(dir, 'all.safetensors'), net);
    expect([loaded.missingKeys, loaded.unexpectedKeys]).toEqual([[], []]);
    const want = await toHost(net.stateDict());
    for (const [k] of spec) expect(Array.from(want.get(k)!.data), k).toEqual(Array.from(valueOf(k)));
    const other = tiny({ deepSupervision: true, seed: 9 });
    const strict = await loadModel(join(dir, 'dedup.safetensors'), other);
    expect([strict.missingKeys, strict.unexpectedKeys]).toEqual([[], []]);
    const got = await toHost(other.stateDict());
    for (const [k] of spec) expect(Array.from(got.get(k)!.data), k).toEqual(Array.from(valueOf(k)));
    for (const m of [net, other]) m.dispose();
  });

  it("normName, actName and the filters' default build MONAI's layers", () => {
    const instance = tiny();
    const norms = instance.modules().filter((m) => m instanceof InstanceNorm3d) as InstanceNorm3d[];
    expect(norms).toHaveLength(2 * 5);
    expect(norms.every((n) => n.weight !== null && n.runningMean === null)).toBe(true);
    expect(instance.modules().filter((m) => m instanceof LeakyReLU).every((a) => (a as LeakyReLU).negativeSlope === 0.01)).toBe(true);
    const batch = tiny({ normName: 'batch', actName: 'relu' });
    expect(batch.modules().filter((m) => m instanceof BatchNorm3d)).toHaveLength(2 * 5);
    expect(batch.modules().filter((m) => m instanceof ReLU)).toHaveLength(5);
    const group = tiny({ normName: ['group', { numGroups: 1 }], actName: ['leakyrelu', { negativeSlope: 0.2 }], filters: [2, 3, 4, 5] });
    expect(group.modules().filter((m) => m instanceof GroupNorm)).toHaveLength(2 * 5);
    expect(group.filters).toEqual([2, 3, 4]);
    expect((group.getSubmodule('bottleneck.lrelu') as LeakyReLU).negativeSlope).toBe(0.2);
    const plain = tiny({ normName: 'instance' });
    expect([...plain.stateSpec().keys()].some((k) => k.includes('norm'))).toBe(false);
    expect(new DynUNet({ inChannels: 1, outChannels: 1, kernelSize: [1, 1, 1, 1, 1, 1, 1], strides: [1, 1, 1, 1, 1, 1, 1], upsampleKernelSize: [1, 1, 1, 1, 1, 1], backend: cpu }).filters)
      .toEqual([32, 64, 128, 256, 320, 320, 320]);
    for (const m of [instance, batch, group, plain]) m.dispose();
  });

  it("MONAI's initialisation, seeded by module path: He-normal weights (a = 0.01), zero biases", async () => {
    const net = tiny({ filters: [16, 32, 32], transBias: true });
    // std = gain / √fan_in, gain = √(2 / (1 + 0.01²)); fan_in of the transposed conv's [32, 32, 2, 2, 2] weight: 32 · 8
    const stdOf = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0) / v.length);
    const gain = Math.sqrt(2 / (1 + 0.01 ** 2));
    const conv = await net.getParameter('downsamples.0.conv2.conv.weight').toArray();
    expect(stdOf(conv) / (gain / Math.sqrt(32 * 27))).toBeCloseTo(1, 1);
    const transposed = await net.getParameter('upsamples.0.transp_conv.conv.weight').toArray();
    expect(stdOf(transposed) / (gain / Math.sqrt(32 * 8))).toBeCloseTo(1, 1);
    for (const key of ['upsamples.0.transp_conv.conv.bias', 'output_block.conv.conv.bias']) expect(Array.from(await net.getParameter(key).toArray()).every((v) => v === 0)).toBe(true);
    // the same seed, the same weights; another seed, others
    const [again, other] = [tiny({ filters: [16, 32, 32], transBias: true }), tiny({ filters: [16, 32, 32], transBias: true, seed: 4 })];
    expect(Array.from(await again.getParameter('downsamples.0.conv2.conv.weight').toArray())).toEqual(Array.from(conv));
    expect(Array.from(await other.getParameter('downsamples.0.conv2.conv.weight').toArray())).not.toEqual(Array.from(conv));
    for (const m of [net, again, other]) m.dispose();
  });

  it('output shapes: the input size divided by strides[0], anisotropic kernels and strides, deep supervision in training only', () => {
    const cases: [Partial<DynUNetOptions>, number[], number[]][] = [
      [{}, [2, 1, 8, 4, 12], [2, 2, 8, 4, 12]],
      [{ resBlock: true, inChannels: 2, outChannels: 3 }, [1, 2, 4, 8, 4], [1, 3, 4, 8, 4]],
      [{ strides: [2, 2, 2] }, [1, 1, 8, 8, 16], [1, 2, 4, 4, 8]],
      [{ normName: 'batch', actName: 'relu', dropout: 0.1 }, [2, 1, 4, 4, 4], [2, 2, 4, 4, 4]],
      [{ normName: ['group', { numGroups: 1 }], resBlock: true }, [1, 1, 4, 8, 4], [1, 2, 4, 8, 4]],
      [{ kernelSize: [[1, 3, 3], 3, [3, 1, 3]], strides: [1, [1, 2, 2], [2, 2, 1]], upsampleKernelSize: [[1, 2, 2], [2, 2, 1]] }, [1, 1, 2, 8, 4], [1, 2, 2, 8, 4]],
      [{ kernelSize: [3, 3, 3, 3], strides: [1, 2, 2, 2], upsampleKernelSize: [2, 2, 2], filters: [2, 2, 3, 3], deepSupervision: true, deepSuprNum: 2 }, [1, 1, 8, 8, 16], [1, 3, 2, 8, 8, 16]],
    ];
    for (const [options, input, output] of cases) {
      const net = tiny(options);
      const x = rand(input, 1, { backend: cpu });
      const y = noGrad(() => net.forward(x));
      expect(y.shape).toEqual(output);
      net.eval();
      const z = noGrad(() => net.forward(x));
      expect(z.shape).toEqual(options.deepSupervision ? [output[0], ...output.slice(2)] : output);
      dispose([x, y, z]);
      net.dispose();
    }
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny(), twoChannels = tiny({ inChannels: 2 });
    const before = memory().liveTensors;
    const odd = rand([1, 1, 8, 6, 8], 4, { backend: cpu });
    expect(() => net.forward(odd)).toThrow(/^DynUNet: input \[1, 1, 8, 6, 8\]: level 2's output \[2, 2, 2\] upsampled gives \[4, 4, 4\], not level 1's \[4, 3, 4\]; the spatial sizes must be divisible by the product of the strides per axis \[4, 4, 4\]$/);
    expect(() => twoChannels.forward(odd)).toThrow(/^DynUNet: input must be \[N, 2, D, H, W\], got \[1, 1, 8, 6, 8\]$/);
    odd.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ kernelSize: [3, 3] })).toThrow(/^DynUNet: kernelSize \(2 entries\) and strides \(3\) must have the same length, at least 3 \(input block, downsamples, bottleneck\)$/);
    expect(() => tiny({ upsampleKernelSize: [2] })).toThrow(/^DynUNet: upsampleKernelSize has 1 entries; it needs one per level below the first \(2\)$/);
    expect(() => tiny({ upsampleKernelSize: [2, 3] })).toThrow(/^DynUNet: upsampleKernelSize\[1\] \[3, 3, 3\] must equal strides\[2\] \[2, 2, 2\], so that the upsampled feature matches its skip$/);
    expect(() => tiny({ kernelSize: [3, 2, 3] })).toThrow(/^DynUNet: kernelSize\[1\] \[2, 2, 2\] must be odd$/);
    expect(() => tiny({ kernelSize: [3, 1, 3], strides: [1, 3, 2], upsampleKernelSize: [3, 2] })).toThrow(/^DynUNet: downsamples\.0\.conv1: kernel \[1, 1, 1\] with stride \[3, 3, 3\] gives a negative padding/);
    expect(() => tiny({ filters: [2, 3] })).toThrow(/^DynUNet: filters has 2 entries; it needs at least one per level \(3\)$/);
    expect(() => tiny({ deepSupervision: true, deepSuprNum: 2 })).toThrow(/^DynUNet: deepSuprNum must be an integer ≥ 1 and < 2 \(the upsampling levels\), got 2$/);
    expect(() => tiny({ normName: ['group', {}] as unknown as 'batch' })).toThrow(/^DynUNet: normName 'group' needs its numGroups/);
    expect(() => tiny({ normName: 'layer' as 'batch' })).toThrow(/^DynUNet: unknown normName 'layer'/);
    expect(() => tiny({ actName: 'prelu' as 'relu' })).toThrow(/^DynUNet: unknown actName "prelu"/);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^DynUNet: only spatialDims 3 is supported, got 2$/);
    net.dispose();
    twoChannels.dispose();
  });
});

/** DynUNet written out with the functional ops from MONAI's blocks, reading the weights by their MONAI names (instance norm, LeakyReLU 0.01). */
function dynUNetByHand(net: DynUNet, x: Tensor): Tensor {
  const w = (key: string) => net.getParameter(key);
  const act = (t: Tensor) => leakyRelu(t, 0.01);
  const norm = (t: Tensor, key: string) => instanceNorm(t, { weight: w(`${key}.weight`), bias: w(`${key}.bias`) });
  const conv = (t: Tensor, key: string, stride = 1, k = 3) => conv3d(t, w(`${key}.conv.weight`), null, { stride, padding: Math.floor((k - stride + 1) / 2) });
  const block = (t: Tensor, key: string, stride: number): Tensor => {
    const y = norm(conv(act(norm(conv(t, `${key}.conv1`, stride), `${key}.norm1`)), `${key}.conv2`), `${key}.norm2`);
    const m = net.getSubmodule(key);
    if (!(m instanceof UnetResBlock)) return act(y);
    return act(add(y, m.conv3 ? norm(conv(t, `${key}.conv3`, stride, 1), `${key}.norm3`) : t));
  };
  const levels = net.strides.length;
  const features = [block(x, 'input_block', net.strides[0][0])];
  for (let i = 1; i < levels - 1; i++) features.push(block(features[i - 1], `downsamples.${i - 1}`, net.strides[i][0]));
  let y = block(features[levels - 2], 'bottleneck', net.strides[levels - 1][0]);
  for (let j = 0; j < levels - 1; j++) {
    const u = net.upsampleKernelSize[levels - 2 - j][0];
    const upsampled = convTranspose3d(y, w(`upsamples.${j}.transp_conv.conv.weight`), undefined, { stride: u });
    y = block(concat([upsampled, features[levels - 2 - j]], 1), `upsamples.${j}.conv_block`, 1);
  }
  return conv3d(y, w('output_block.conv.conv.weight'), w('output_block.conv.conv.bias'));
}

describe('DynUNet forward and backward (cpu)', () => {
  it.each([false, true])('equals the network written out with conv3d, instanceNorm, leakyRelu, convTranspose3d and concat (resBlock %s)', async (resBlock) => {
    const net = tiny({ resBlock, inChannels: 2, outChannels: 3, filters: [2, 3, 5, 5], kernelSize: [3, 3, 3, 3], strides: [1, 2, 2, 2], upsampleKernelSize: [2, 2, 2], deepSupervision: true, deepSuprNum: 2 });
    net.eval();
    // the up blocks' conv_block is a UnetBasicBlock either way; a UnetResBlock keeping channels and size has no conv3
    expect(net.getSubmodule('upsamples.0.conv_block')).toBeInstanceOf(UnetBasicBlock);
    expect(resBlock ? (net.inputBlock as UnetResBlock).conv3 : null).toBeNull();
    const x = randn([2, 2, 8, 8, 16], 5, { backend: cpu });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => dynUNetByHand(net, x))]);
    expect(got.shape).toEqual([2, 3, 8, 8, 16]);
    const [g, e] = [await got.toArray(), await want.toArray()];
    const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    g.forEach((v, i) => expect(Math.abs(v - e[i])).toBeLessThanOrEqual(1e-6 * scale));
    // in training, the heads: output_block's output first, then each head's 1³ conv of its level, upsampled (nearest)
    net.train();
    const stacked = noGrad(() => net.forward(x));
    expect(stacked.shape).toEqual([2, 3, 3, 8, 8, 16]);
    const first = noGrad(() => slice(stacked, 1, 0, 1).squeeze(1));
    expect(Array.from(await first.toArray())).toEqual(Array.from(g));
    dispose([x, got, want, stacked, first]);
    net.dispose();
  });

  it('the gradient with respect to the input passes a float64 gradient check (residual blocks, deep supervision)', async () => {
    const net = tiny({ resBlock: true, deepSupervision: true, strides: [1, 2, 1], upsampleKernelSize: [2, 1], filters: [2, 2, 3], transBias: true });
    await expectInputGradcheck(net, [1, 1, 4, 4, 4]);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps with deep supervision reduce the cross-entropy of every head; every parameter gets a gradient', async () => {
    const { image, target } = ballSegmentation(8);
    const net = tiny({ filters: [4, 4, 8], deepSupervision: true, seed: 11 });
    const lossOf = () => tidy(() => {
      const heads = net.forward(image);
      return [0, 1].map((h) => crossEntropy(slice(heads, 1, h, h + 1).squeeze(1), target)).reduce(add);
    });
    const losses = await adamLosses(net, lossOf, 8);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });
});
