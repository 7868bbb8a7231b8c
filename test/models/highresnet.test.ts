import { describe, expect, it } from 'vitest';
import { add, batchNorm, concat, conv3d, noGrad, relu } from '../../src/autograd/index.js';
import {
  BatchNorm3d, ChannelPad, Conv3d, Dropout, HighResBlock, HighResNet, InstanceNorm3d, crossEntropy, highResNetDefaultLayerParams,
  type ChannelMatching, type HighResNetLayerParams, type HighResNetOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, randn, tidy, zeros, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import {
  adamLosses, ballSegmentation, expectDirectionalGradcheck, expectOutputShapes, expectSameAsWrittenOut, loadDistinctSafetensors,
} from '../helpers/model-checks.js';

/**
 * MONAI's HighResNet (monai/networks/nets/highresnet.py) with its HighResBlock and ChannelPad: MONAI's parameter count
 * and state-dict keys, the dilations of the residual groups, the channel matching by zero padding or projection,
 * options and their errors, the forward against the network written out with the functional ops in float64 (batch
 * statistics in training, running ones in evaluation), a float64 gradient check and a few training steps.
 */

/** three residual groups (dilations 1, 2, 4), channels 2 → 2 → 3 (padded 0 + 1) → 5 (padded 1 + 1), kernels of 3 and 1 */
const tinyParams: HighResNetLayerParams = [
  { name: 'conv_0', nFeatures: 2, kernelSize: 3 },
  { name: 'res_1', nFeatures: 2, kernels: [3, 3], repeat: 1 },
  { name: 'res_2', nFeatures: 3, kernels: [3, 1], repeat: 2 },
  { name: 'res_3', nFeatures: 5, kernels: [3], repeat: 1 },
  { name: 'conv_1', nFeatures: 4, kernelSize: 1 },
  { name: 'conv_2', kernelSize: 1 },
];
const tiny = (options: HighResNetOptions = {}): HighResNet =>
  new HighResNet({ inChannels: 2, outChannels: 3, layerParams: tinyParams, seed: 3, backend: cpu, ...options });

describe('HighResNet structure', () => {
  it("MONAI's default configuration has 808 866 parameters", () => {
    // in 1, out 1, no biases, BatchNorm3d(affine: 2c; its running statistics are buffers), ReLU (none), 3³ kernels in
    // the residual blocks, channel matching by padding (no parameters). HighResBlock(a→b) = BN(a) 2a + 27ab + BN(b) 2b + 27b².
    // blocks.0 (conv_0) 1→16, 3³: 432 + BN 32 = 464;
    // res_1 3 × (16→16) 13 888 = 41 664;
    // res_2 (16→32) 41 568 + 2 × (32→32) 55 424 = 152 416;
    // res_3 (32→64) 166 080 + 2 × (64→64) 221 440 = 608 960;
    // blocks.10 (conv_1) 64→80, 1³: 5 120 + BN 160 = 5 280; blocks.11 (conv_2) 80→1, 1³: 80 + BN 2 = 82.
    // Sum: 464 + 41 664 + 152 416 + 608 960 + 5 280 + 82 = 808 866.
    const net = new HighResNet({ backend: cpu });
    expect([net.inChannels, net.outChannels, net.blocks.length]).toEqual([1, 1, 12]);
    expect(net.numParameters()).toBe(808_866);
    expect(highResNetDefaultLayerParams.map((p) => p.name)).toEqual(['conv_0', 'res_1', 'res_2', 'res_3', 'conv_1', 'conv_2']);
    // the residual groups' dilations 1, 2, 4
    const dilations = [1, 4, 7].map((b) => (net.getSubmodule(`blocks.${b}.layers.1.conv`) as Conv3d).dilation);
    expect(dilations).toEqual([[1, 1, 1], [2, 2, 2], [4, 4, 4]]);
    net.dispose();
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree (channel matching 'pad' and 'project')", () => {
    const bn = (p: string, c: number): [string, number[]][] => [
      [`${p}.weight`, [c]], [`${p}.bias`, [c]], [`${p}.running_mean`, [c]], [`${p}.running_var`, [c]], [`${p}.num_batches_tracked`, []],
    ];
    const conv = (p: string, a: number, b: number, k: number): [string, number[]] => [`${p}.conv.weight`, [b, a, k, k, k]];
    const block = (p: string, a: number, b: number, kernels: number[], project: boolean): [string, number[]][] => [
      ...(project && a !== b ? [[`${p}.chn_pad.project.weight`, [b, a, 1, 1, 1]], [`${p}.chn_pad.project.bias`, [b]]] as [string, number[]][] : []),
      ...kernels.flatMap((k, m) => [...bn(`${p}.layers.${2 * m}.N`, m === 0 ? a : b), conv(`${p}.layers.${2 * m + 1}`, m === 0 ? a : b, b, k)]),
    ];
    for (const channelMatching of ['pad', 'project'] as ChannelMatching[]) {
      const net = tiny({ channelMatching }), project = channelMatching === 'project';
      expect([...net.stateSpec()].map(([k, v]) => [k, v.shape]), channelMatching).toEqual([
        conv('blocks.0', 2, 2, 3), ...bn('blocks.0.adn.N', 2),
        ...block('blocks.1', 2, 2, [3, 3], project),
        ...block('blocks.2', 2, 3, [3, 1], project), ...block('blocks.3', 3, 3, [3, 1], project),
        ...block('blocks.4', 3, 5, [3], project),
        conv('blocks.5', 5, 4, 1), ...bn('blocks.5.adn.N', 4),
        conv('blocks.6', 4, 3, 1), ...bn('blocks.6.adn.N', 3),
      ]);
      net.dispose();
    }
    const net = tiny();
    const types = new Map(net.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect(['blocks', 'blocks.0', 'blocks.0.adn', 'blocks.0.adn.A', 'blocks.2', 'blocks.2.chn_pad', 'blocks.2.layers', 'blocks.2.layers.0', 'blocks.2.layers.1', 'blocks.6.adn.D']
      .map((n) => types.get(n))).toEqual(['Sequential', 'Convolution', 'ADN', 'ReLU', 'HighResBlock', 'ChannelPad', 'Sequential', 'ADN', 'Convolution', 'Dropout']);
    // NA for the first convolution and inside the blocks (pre-activation), NAD for the last two
    const order = (p: string) => net.getSubmodule(p).namedChildren().map(([n]) => n).join('');
    expect(['blocks.0.adn', 'blocks.2.layers.0', 'blocks.5.adn', 'blocks.6.adn'].map(order)).toEqual(['NA', 'NA', 'NAD', 'NAD']);
    expect(net.getSubmodule('blocks.2.layers.1').namedChildren().map(([n]) => n)).toEqual(['conv']);
    // dilations 1, 2, 2, 4 with the same padding they need; a 1³ kernel unpadded
    const convs = [1, 2, 3, 4].map((b) => net.getSubmodule(`blocks.${b}.layers.1.conv`) as Conv3d);
    expect(convs.map((c) => [c.dilation[0], c.padding[0]])).toEqual([[1, 1], [2, 2], [2, 2], [4, 4]]);
    expect((net.getSubmodule('blocks.2.layers.3.conv') as Conv3d).padding).toEqual([0, 0, 0]);
    expect([(net.getSubmodule('blocks.2.chn_pad') as ChannelPad).channelPadding, (net.getSubmodule('blocks.4.chn_pad') as ChannelPad).channelPadding]).toEqual([[0, 1], [1, 1]]);
    expect((net.getSubmodule('blocks.6.adn.D') as Dropout).p).toBe(0);
    net.dispose();
  });

  it('act, norm, bias and dropoutProb reach every layer', () => {
    const net = tiny({ act: 'prelu', norm: ['instance', { affine: true }], bias: true, dropoutProb: 0.25 });
    const keys = [...net.stateSpec().keys()];
    expect(keys.filter((k) => k.endsWith('.A.weight'))).toEqual([
      'blocks.0.adn.A.weight', 'blocks.1.layers.0.A.weight', 'blocks.1.layers.2.A.weight', 'blocks.2.layers.0.A.weight', 'blocks.2.layers.2.A.weight',
      'blocks.3.layers.0.A.weight', 'blocks.3.layers.2.A.weight', 'blocks.4.layers.0.A.weight', 'blocks.5.adn.A.weight', 'blocks.6.adn.A.weight',
    ]);
    expect(keys.filter((k) => k.endsWith('conv.bias'))).toHaveLength(1 + 2 + 2 + 2 + 1 + 2);
    expect(net.modules().filter((m) => m instanceof InstanceNorm3d)).toHaveLength(10);
    expect(net.modules().filter((m) => m instanceof BatchNorm3d)).toHaveLength(0);
    expect(net.modules().filter((m) => m instanceof Dropout).map((d) => (d as Dropout).p)).toEqual([0.25, 0.25]);
    net.dispose();
    const none = tiny({ dropoutProb: null });
    expect(none.modules().filter((m) => m instanceof Dropout)).toHaveLength(0);
    expect(none.getSubmodule('blocks.6.adn').namedChildren().map(([n]) => n)).toEqual(['N', 'A']);
    none.dispose();
  });

  it("a state dict in PyTorch's safetensors layout loads strictly, running statistics and batch counters included", async () => {
    const net = tiny({ channelMatching: 'project' });
    const host = loadDistinctSafetensors(net, 7);
    for (const key of ['blocks.2.chn_pad.project.weight', 'blocks.3.layers.2.N.running_var', 'blocks.6.adn.N.bias']) {
      expect(Array.from(await net.stateDict().get(key)!.toArray()), key).toEqual(Array.from(host.get(key)!.data));
    }
    expect(Array.from(await net.getBuffer('blocks.4.layers.0.N.num_batches_tracked').toArray())).toEqual([7]);
    net.dispose();
  });

  it("PyTorch's default initialisation (MONAI sets none), seeded by module path", async () => {
    const net = tiny({ channelMatching: 'project', bias: true });
    // kaiming_uniform_(a = √5): U(±1/√fan_in), the biases too; a dilation leaves fan_in as it is
    const bound = async (key: string, fanIn: number) => {
      const v = Array.from(await net.getParameter(key).toArray()), b = 1 / Math.sqrt(fanIn);
      expect(v.every((x) => Math.abs(x) <= b), key).toBe(true);
      expect(Math.max(...v.map(Math.abs)), key).toBeGreaterThan(0.5 * b);
    };
    await bound('blocks.4.layers.1.conv.weight', 3 * 27);
    await bound('blocks.4.layers.1.conv.bias', 3 * 27);
    await bound('blocks.2.chn_pad.project.weight', 2);
    await bound('blocks.5.conv.weight', 5);
    expect(Array.from(await net.getParameter('blocks.1.layers.0.N.weight').toArray())).toEqual([1, 1]);
    expect(Array.from(await net.getParameter('blocks.1.layers.0.N.bias').toArray())).toEqual([0, 0]);
    // the same seed, the same weights; each layer's own draw
    const again = tiny({ channelMatching: 'project', bias: true }), other = tiny({ channelMatching: 'project', bias: true, seed: 4 });
    const w = async (m: HighResNet, key: string) => Array.from(await m.getParameter(key).toArray());
    expect(await w(again, 'blocks.3.layers.1.conv.weight')).toEqual(await w(net, 'blocks.3.layers.1.conv.weight'));
    expect(await w(other, 'blocks.3.layers.1.conv.weight')).not.toEqual(await w(net, 'blocks.3.layers.1.conv.weight'));
    expect((await w(net, 'blocks.2.layers.1.conv.weight')).slice(0, 18)).not.toEqual((await w(net, 'blocks.3.layers.1.conv.weight')).slice(0, 18));
    for (const m of [net, again, other]) m.dispose();
  });

  it('ChannelPad: zeros split ⌊(out − in)/2⌋ before the input and the rest after; the input itself where the channels agree; a 1³ projection', async () => {
    const x = fromArray(Float32Array.from({ length: 2 * 2 * 2 }, (_, i) => i + 1), [1, 2, 2, 2, 1], { backend: cpu });
    const padded = new ChannelPad(2, 5);
    const y = padded.forward(x);
    expect(y.shape).toEqual([1, 5, 2, 2, 1]);
    expect(Array.from(await y.toArray())).toEqual([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(padded.numParameters()).toBe(0);
    expect(new ChannelPad(2, 2).forward(x)).toBe(x);
    const projected = new ChannelPad(2, 3, 'project', { seed: 1, backend: cpu });
    expect([...projected.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([['project.weight', [3, 2, 1, 1, 1]], ['project.bias', [3]]]);
    const z = projected.forward(x);
    const want = conv3d(x, projected.getParameter('project.weight'), projected.getParameter('project.bias'));
    await expectSameAsWrittenOut(z, want, 0);
    expect(() => new ChannelPad(3, 2)).toThrow(/^ChannelPad: mode 'pad' cannot narrow 3 channels to 2; use 'project'$/);
    expect(() => new ChannelPad(3, 2, 'zeros' as ChannelMatching)).toThrow(/^ChannelPad: unknown mode 'zeros'; valid: pad, project$/);
    dispose([x, y, z, want]);
    projected.dispose();
  });

  it('output shapes: any size (every convolution keeps it), in training and in evaluation', () => {
    expectOutputShapes((options: HighResNetOptions) => new HighResNet({ seed: 1, backend: cpu, ...options }), [
      [{}, [1, 1, 3, 4, 5], [1, 1, 3, 4, 5]],
      [{ inChannels: 2, outChannels: 3, layerParams: tinyParams, channelMatching: 'project' }, [2, 2, 3, 1, 4], [2, 3, 3, 1, 4]],
    ]);
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny();
    const before = memory().liveTensors;
    const x = randn([1, 1, 4, 4, 4], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^HighResNet: input must be \[N, 2, D, H, W\], got \[1, 1, 4, 4, 4\]$/);
    x.dispose();
    expect(memory().liveTensors).toBe(before);
    net.dispose();
    const params = (i: number, entry: object) => tinyParams.map((p, j) => (j === i ? { ...p, ...entry } : p)) as unknown as HighResNetLayerParams;
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^HighResNet: only spatialDims 3 is supported, got 2$/);
    expect(() => tiny({ inChannels: 0 })).toThrow(/^HighResNet: inChannels must be a positive integer, got 0$/);
    expect(() => tiny({ outChannels: 2.5 })).toThrow(/^HighResNet: outChannels must be a positive integer, got 2.5$/);
    expect(() => tiny({ dropoutProb: 2 })).toThrow(/^HighResNet: dropoutProb must be in \[0, 1\] or null, got 2$/);
    expect(() => tiny({ channelMatching: 'zeros' as ChannelMatching })).toThrow(/^HighResNet: unknown channelMatching 'zeros'; valid: pad, project$/);
    expect(() => tiny({ act: 'swish' as 'relu' })).toThrow(/^HighResNet: unknown act "swish"/);
    expect(() => tiny({ norm: 'layer' as 'batch' })).toThrow(/^HighResNet: unknown norm "layer"/);
    expect(() => tiny({ layerParams: tinyParams.slice(0, 2) as unknown as HighResNetLayerParams }))
      .toThrow(/^HighResNet: layerParams must list the first convolution, any residual groups, then the last two convolutions \(at least 3 entries\), got \[/);
    expect(() => tiny({ layerParams: params(0, { nFeatures: 0 }) })).toThrow(/^HighResNet: layerParams\[0\]\.nFeatures must be a positive integer, got 0$/);
    expect(() => tiny({ layerParams: params(4, { nFeatures: undefined }) })).toThrow(/^HighResNet: layerParams\[4\]\.nFeatures must be a positive integer, got undefined$/);
    expect(() => tiny({ layerParams: params(5, { kernelSize: 0 }) })).toThrow(/^HighResNet: layerParams\[5\]\.kernelSize must be a positive integer or three, got 0$/);
    expect(() => tiny({ layerParams: params(0, { kernelSize: 2 }) }))
      .toThrow(/^HighResNet: layerParams\[0\]\.kernelSize: same padding is not available for kernelSize \[2, 2, 2\] and dilation \[1, 1, 1\]/);
    expect(() => tiny({ layerParams: params(1, { kernels: [3, 4] }) }))
      .toThrow(/^HighResNet: layerParams\[1\]\.kernels\[1\]: same padding is not available for kernelSize \[4, 4, 4\] and dilation \[1, 1, 1\]/);
    expect(() => tiny({ layerParams: params(2, { kernels: [] }) })).toThrow(/^HighResNet: layerParams\[2\]\.kernels must be a non-empty list of kernel sizes, got \[\]$/);
    expect(() => tiny({ layerParams: params(3, { repeat: 0 }) })).toThrow(/^HighResNet: layerParams\[3\]\.repeat must be a positive integer, got 0$/);
    expect(() => tiny({ layerParams: params(3, { nFeatures: 2 }) }))
      .toThrow(/^HighResNet: layerParams\[3\] narrows 3 channels to 2, which channelMatching 'pad' cannot; use 'project'$/);
    // a narrowing group is fine with a projection; an even kernel is fine where the dilation (2 in the second group) makes the padding whole
    const narrowing = tiny({ layerParams: params(3, { nFeatures: 2 }), channelMatching: 'project' });
    expect((narrowing.getSubmodule('blocks.4.chn_pad') as ChannelPad).project?.weight.shape).toEqual([2, 3, 1, 1, 1]);
    const even = tiny({ layerParams: params(2, { kernels: [2, 3] }) });
    expect((even.getSubmodule('blocks.2.layers.1.conv') as Conv3d).padding).toEqual([1, 1, 1]);
    narrowing.dispose();
    even.dispose();
  });
});

/** HighResNet written out with the functional ops from MONAI's description (batch statistics, or running ones in evaluation) */
function highResNetByHand(net: HighResNet, x: Tensor, training: boolean): Tensor {
  const w = (key: string) => net.getParameter(key);
  const has = (key: string) => net.stateSpec().has(key);
  const bn = (t: Tensor, key: string) => batchNorm(t, training ? null : net.getBuffer(`${key}.running_mean`), training ? null : net.getBuffer(`${key}.running_var`),
    w(`${key}.weight`), w(`${key}.bias`), { training });
  const conv = (t: Tensor, key: string, k: number, dilation: number) => conv3d(t, w(`${key}.weight`), null, { padding: ((k - 1) * dilation) / 2, dilation });
  const zerosLike = (t: Tensor, channels: number) => zeros([t.shape[0], channels, ...t.shape.slice(2)], { backend: cpu, dtype: 'float64' });
  let y = relu(bn(conv(x, 'blocks.0.conv', 3, 1), 'blocks.0.adn.N'));
  let b = 1;
  // tinyParams' residual groups: [channels, kernels, repeat], dilated 1, 2, 4
  for (const [g, [channels, kernels, repeat]] of ([[2, [3, 3], 1], [3, [3, 1], 2], [5, [3], 1]] as const).entries()) {
    for (let r = 0; r < repeat; r++, b++) {
      let h = y;
      kernels.forEach((k, m) => { h = conv(relu(bn(h, `blocks.${b}.layers.${2 * m}.N`)), `blocks.${b}.layers.${2 * m + 1}.conv`, k, 2 ** g); });
      const extra = channels - y.shape[1], before = Math.floor(extra / 2);
      const residual = has(`blocks.${b}.chn_pad.project.weight`)
        ? conv3d(y, w(`blocks.${b}.chn_pad.project.weight`), w(`blocks.${b}.chn_pad.project.bias`))
        : extra === 0 ? y : concat([zerosLike(y, before), y, zerosLike(y, extra - before)], 1);
      y = add(h, residual);
    }
  }
  // the last two: norm, ReLU, then a dropout of p = 0
  y = relu(bn(conv(y, 'blocks.5.conv', 1, 1), 'blocks.5.adn.N'));
  return relu(bn(conv(y, 'blocks.6.conv', 1, 1), 'blocks.6.adn.N'));
}

describe('HighResNet forward and backward (cpu)', () => {
  it.each(['pad', 'project'] as ChannelMatching[])("equals the network written out with the functional ops in float64, in training and in evaluation (channelMatching '%s')", async (channelMatching) => {
    const net = tiny({ channelMatching });
    await toFloat64(net);
    const x = fromArray(randomArray(2 * 2 * 9 * 6 * 7, 5, -1, 1), [2, 2, 9, 6, 7], { backend: cpu, dtype: 'float64' });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => highResNetByHand(net, x, true))]);
    expect(got.shape).toEqual([2, 3, 9, 6, 7]);
    await expectSameAsWrittenOut(got, want, 1e-12);
    // that training forward moved the running statistics away from 0 and 1
    net.eval();
    const [evalGot, evalWant] = noGrad(() => [net.forward(x), tidy(() => highResNetByHand(net, x, false))]);
    await expectSameAsWrittenOut(evalGot, evalWant, 1e-12);
    expect(Array.from(await evalGot.toArray())).not.toEqual(Array.from(await got.toArray()));
    dispose([x, got, want, evalGot, evalWant]);
    net.dispose();
  });

  it('the gradient with respect to the input passes a float64 gradient check along four random directions (batch statistics)', async () => {
    const net = tiny({ channelMatching: 'project' });
    await expectDirectionalGradcheck(net, [2, 2, 5, 4, 3], 4);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps lower the cross-entropy; every parameter gets a gradient', async () => {
    const { image, target } = ballSegmentation(8);
    const net = new HighResNet({ outChannels: 2, layerParams: tinyParams, channelMatching: 'project', seed: 11, backend: cpu });
    const losses = await adamLosses(net, () => tidy(() => crossEntropy(net.forward(image), target)), 8, 0.05);
    expect(losses.at(-1)!).toBeLessThan(0.8 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });

  it('a HighResBlock is layers(x) + chn_pad(x), each pre-activation ADN over the channels coming in', async () => {
    const block = new HighResBlock(2, 4, { kernels: [3, 3], dilation: 2, seed: 2, backend: cpu });
    expect(block.layers.at(0).namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['N', 'BatchNorm3d'], ['A', 'ReLU']]);
    expect([(block.layers.getSubmodule('0.N') as BatchNorm3d).numFeatures, (block.layers.getSubmodule('2.N') as BatchNorm3d).numFeatures]).toEqual([2, 4]);
    const x = randn([2, 2, 5, 5, 5], 4, { backend: cpu });
    const [got, want] = noGrad(() => [block.forward(x), tidy(() => add(block.layers.forward(x), block.chnPad.forward(x)))]);
    await expectSameAsWrittenOut(got, want, 0);
    dispose([x, got, want]);
    block.dispose();
  });
});
