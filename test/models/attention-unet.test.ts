import { describe, expect, it } from 'vitest';
import {
  add, batchNorm, concat, conv3d, convTranspose3d, dropout, instanceNorm, mul, noGrad, prelu, relu, sigmoid,
} from '../../src/autograd/index.js';
import {
  AttentionBlock, AttentionLayer, AttentionUnet, BatchNorm3d, ConvTranspose3d, Dropout, InstanceNorm3d, PReLU, ReLU, Sequential, crossEntropy,
  type Layer,
  type AttentionUnetOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import {
  adamLosses, ballSegmentation, expectInputGradcheck, expectOutputShapes, expectSameAsWrittenOut, loadDistinctSafetensors,
} from '../helpers/model-checks.js';

/**
 * MONAI's AttentionUnet (monai/networks/nets/attentionunet.py): MONAI's parameter counts and state-dict keys,
 * shapes, options and their errors, the forward against the network written out with the functional ops in
 * float64, a float64 gradient check and a few training steps.
 */

const tiny = (options: Partial<AttentionUnetOptions> = {}): AttentionUnet => new AttentionUnet({
  inChannels: 1, outChannels: 2, channels: [2, 3, 4], strides: [2, 2], seed: 3, backend: cpu, ...options,
});

describe('AttentionUnet structure', () => {
  it("channels (16, 32, 64, 128), strides (2, 2, 2), 1 → 2 channels: MONAI's 1 466 566 parameters", () => {
    // Every conv has a bias; kernel 3 and upKernelSize 3.
    //   ConvBlock(a→b) = two 3³ convs, each with a BatchNorm3d: (27ab + b + 2b) + (27b² + b + 2b) = 27ab + 27b² + 6b
    //   UpConv(b→a), a 3³ transposed conv and a BatchNorm3d: 27ab + a + 2a = 27ab + 3a
    //   AttentionBlock(c), fInt h = ⌊c/2⌋: W_g and W_x each ch + h + 2h, psi h + 1 + 2: 2ch + 7h + 3
    //   merge, a 3³ conv 2c→c, an instance norm without affine, a PReLU of one weight: 54c² + c + 1
    //   AttentionLayer(c→d) = UpConv(d→c) + AttentionBlock(c) + merge(c) + its downsampling ConvBlock(c→d)
    // head ConvBlock(1→16) 7 440; level 16→32: 13 872 + 315 + 13 841 + 41 664 = 69 692;
    // level 32→64: 55 392 + 1 139 + 55 329 + 166 272 = 278 132; level 64→128: 221 376 + 4 323 + 221 249 + 664 320 = 1 111 268;
    // reduce_channels 1³ 16→2 with bias 34: sum 1 466 566.
    const net = new AttentionUnet({ spatialDims: 3, inChannels: 1, outChannels: 2, channels: [16, 32, 64, 128], strides: [2, 2, 2], backend: cpu });
    expect(net.numParameters()).toBe(1_466_566);
    net.dispose();
  });

  it('parameter counts of small configurations (formula above)', () => {
    // [2, 3, 4], 1 → 2 channels: head ConvBlock(1→2) 54 + 108 + 12 = 174;
    // level 2→3: UpConv(3→2) 27·6 + 6 = 168, AttentionBlock(2) (h 1) 4 + 7 + 3 = 14, merge(2) 216 + 3 = 219, ConvBlock(2→3) 162 + 243 + 18 = 423: 824;
    // level 3→4: UpConv(4→3) 324 + 9 = 333, AttentionBlock(3) (h 1) 6 + 7 + 3 = 16, merge(3) 486 + 4 = 490, ConvBlock(3→4) 324 + 432 + 24 = 780: 1 619;
    // reduce_channels 2→2 6: total 174 + 824 + 1 619 + 6 = 2 623
    expect(tiny().numParameters()).toBe(2623);
    // two levels [4, 2], 2 → 2 channels: head 2→4 216 + 432 + 24 = 672; UpConv(2→4) 216 + 12 = 228,
    // AttentionBlock(4) 16 + 14 + 3 = 33, merge(4) 864 + 5 = 869, ConvBlock(4→2) 216 + 108 + 12 = 336; reduce 4→2 10: 2 148
    expect(tiny({ inChannels: 2, channels: [4, 2], strides: [2] }).numParameters()).toBe(2148);
    // kernelSize 5 and upKernelSize 1 change only the 3³ terms: [2, 3] (one level): head 125·2 + 125·4 + 12 = 762;
    // UpConv(3→2) 6 + 6 = 12; AttentionBlock(2) 14; merge(2) still 3³: 219; ConvBlock(2→3) 750 + 1 125 + 18 = 1 893; reduce 6
    expect(tiny({ channels: [2, 3], strides: [2], kernelSize: 5, upKernelSize: 1 }).numParameters()).toBe(762 + 12 + 14 + 219 + 1893 + 6);
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree", () => {
    const net = tiny();
    const bn = (p: string, c: number): [string, number[]][] => [
      [`${p}.weight`, [c]], [`${p}.bias`, [c]], [`${p}.running_mean`, [c]], [`${p}.running_var`, [c]], [`${p}.num_batches_tracked`, []],
    ];
    const conv = (p: string, a: number, b: number, k = 3): [string, number[]][] => [[`${p}.conv.weight`, [b, a, k, k, k]], [`${p}.conv.bias`, [b]]];
    const convBlock = (p: string, a: number, b: number): [string, number[]][] => [
      ...conv(`${p}.conv.0`, a, b), ...bn(`${p}.conv.0.adn.N`, b), ...conv(`${p}.conv.1`, b, b), ...bn(`${p}.conv.1.adn.N`, b),
    ];
    // AttentionLayer(c→d) without its submodule: attention, upconv, merge (registered in MONAI's order)
    const layer = (p: string, c: number, d: number): [string, number[]][] => {
      const h = Math.floor(c / 2);
      return [
        ...conv(`${p}.attention.W_g.0`, c, h, 1), ...bn(`${p}.attention.W_g.1`, h),
        ...conv(`${p}.attention.W_x.0`, c, h, 1), ...bn(`${p}.attention.W_x.1`, h),
        ...conv(`${p}.attention.psi.0`, h, 1, 1), ...bn(`${p}.attention.psi.1`, 1),
        [`${p}.upconv.up.conv.weight`, [d, c, 3, 3, 3]], [`${p}.upconv.up.conv.bias`, [c]], ...bn(`${p}.upconv.up.adn.N`, c),
        ...conv(`${p}.merge`, 2 * c, c), [`${p}.merge.adn.A.weight`, [1]],
      ];
    };
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ...convBlock('model.0', 1, 2),
      ...layer('model.1', 2, 3),
      ...convBlock('model.1.submodule.0', 2, 3),
      ...layer('model.1.submodule.1', 3, 4),
      ...convBlock('model.1.submodule.1.submodule', 3, 4),
      ...conv('model.2', 2, 2, 1),
    ]);
    const types = new Map(net.namedModules().map(([n, m]) => [n, m.typeName]));
    expect(['', 'model', 'model.0', 'model.0.conv.0', 'model.0.conv.0.adn', 'model.0.conv.0.adn.N', 'model.0.conv.0.adn.D', 'model.0.conv.0.adn.A',
      'model.1', 'model.1.attention', 'model.1.attention.W_g', 'model.1.attention.psi.2', 'model.1.attention.relu', 'model.1.upconv', 'model.1.upconv.up.conv',
      'model.1.merge.adn.N', 'model.1.merge.adn.A', 'model.1.submodule', 'model.1.submodule.1.submodule', 'model.2', 'model.2.conv'].map((n) => types.get(n)))
      .toEqual(['AttentionUnet', 'Sequential', 'ConvBlock', 'Convolution', 'ADN', 'BatchNorm3d', 'Dropout', 'ReLU',
        'AttentionLayer', 'AttentionBlock', 'Sequential', 'Sigmoid', 'ReLU', 'UpConv', 'ConvTranspose3d',
        'InstanceNorm3d', 'PReLU', 'Sequential', 'ConvBlock', 'Convolution', 'Conv3d']);
    expect([...types.keys()].filter((n) => n.startsWith('model.2.') || n.startsWith('model.1.attention.W_g.0.'))).toEqual(['model.1.attention.W_g.0.conv', 'model.2.conv']);
    expect(net.getSubmodule('model.1')).toBeInstanceOf(AttentionLayer);
    expect(net.getSubmodule('model.1.submodule.1.attention')).toBeInstanceOf(AttentionBlock);
    // MONAI's ADN holds an nn.Dropout of the dropout ratio, 0 included, in ConvBlock, UpConv (always 0) and merge
    const dropped = tiny({ dropout: 0.25 });
    const ps = dropped.namedModules().filter(([, m]) => m instanceof Dropout).map(([n, m]) => [n, (m as Dropout).p]);
    expect(ps).toHaveLength(3 * 2 + 2 + 2);
    expect(ps.filter(([, p]) => p === 0).map(([n]) => n)).toEqual(['model.1.upconv.up.adn.D', 'model.1.submodule.1.upconv.up.adn.D']);
    for (const m of [net, dropped]) m.dispose();
  });

  it("a state dict in PyTorch's safetensors layout loads strictly", async () => {
    const net = tiny();
    const host = loadDistinctSafetensors(net, 5);
    expect(Array.from(await net.getParameter('model.1.merge.adn.A.weight').toArray())).toEqual(Array.from(host.get('model.1.merge.adn.A.weight')!.data));
    expect(Array.from(await net.getBuffer('model.1.submodule.1.attention.psi.1.num_batches_tracked').toArray())).toEqual([5]);
    net.dispose();
  });

  it("PyTorch's default initialisation (MONAI sets none), seeded by module path; MONAI's layer settings", async () => {
    const net = tiny({ channels: [16, 16], strides: [2] });
    // kaiming_uniform_(a = √5): U(±1/√fan_in); the bias U(±1/√fan_in) too. The transposed conv's fan_in is weight.size(1)·k³
    const bound = (key: string, fanIn: number) => async () => {
      const v = Array.from(await net.getParameter(key).toArray());
      const b = 1 / Math.sqrt(fanIn);
      expect(v.every((x) => Math.abs(x) <= b), key).toBe(true);
      expect(Math.max(...v.map(Math.abs)), key).toBeGreaterThan(0.9 * b);
    };
    await bound('model.1.submodule.conv.1.conv.weight', 16 * 27)();
    await bound('model.1.upconv.up.conv.weight', 16 * 27)();
    await bound('model.1.merge.conv.bias', 32 * 27)();
    expect(Array.from(await net.getParameter('model.1.merge.adn.A.weight').toArray())).toEqual([0.25]);
    expect(Array.from(await net.getParameter('model.1.attention.psi.1.weight').toArray())).toEqual([1]);
    const up = net.getSubmodule('model.1.upconv.up.conv') as ConvTranspose3d;
    expect([up.stride, up.padding, up.outputPadding]).toEqual([[2, 2, 2], [1, 1, 1], [1, 1, 1]]);
    const merge = net.getSubmodule('model.1.merge.adn.N') as InstanceNorm3d;
    expect([merge.weight, merge.runningMean]).toEqual([null, null]);
    expect(net.getSubmodule('model.1.merge.adn.A')).toBeInstanceOf(PReLU);
    expect(net.getSubmodule('model.0.conv.1.adn.A')).toBeInstanceOf(ReLU);
    expect(net.getSubmodule('model.1.attention.W_x.1')).toBeInstanceOf(BatchNorm3d);
    const [again, other] = [tiny({ channels: [16, 16], strides: [2] }), tiny({ channels: [16, 16], strides: [2], seed: 4 })];
    const key = 'model.1.attention.W_g.0.conv.weight';
    const w = Array.from(await net.getParameter(key).toArray());
    expect(Array.from(await again.getParameter(key).toArray())).toEqual(w);
    expect(Array.from(await other.getParameter(key).toArray())).not.toEqual(w);
    for (const m of [net, again, other]) m.dispose();
  });

  it('output shapes: the input size, anisotropic strides, kernels 5 and 1, two to four levels, dropout', () => {
    const cases: [Partial<AttentionUnetOptions>, number[], number[]][] = [
      [{}, [2, 1, 8, 4, 12], [2, 2, 8, 4, 12]],
      [{ inChannels: 2, outChannels: 3, channels: [4, 2], strides: [2] }, [1, 2, 4, 6, 2], [1, 3, 4, 6, 2]],
      [{ strides: [[2, 1, 2], [1, 2, 2]] }, [1, 1, 2, 4, 8], [1, 2, 2, 4, 8]],
      [{ kernelSize: 5, upKernelSize: 1, dropout: 0.2 }, [2, 1, 4, 8, 4], [2, 2, 4, 8, 4]],
      [{ channels: [2, 2, 2, 3], strides: [2, 1, 2, 7] }, [2, 1, 4, 4, 4], [2, 2, 4, 4, 4]],
      [{ kernelSize: [3, 1, 5], upKernelSize: [1, 3, 3], strides: [3, 2] }, [1, 1, 6, 12, 6], [1, 2, 6, 12, 6]],
    ];
    expectOutputShapes(tiny, cases);
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny();
    const before = memory().liveTensors;
    const odd = rand([1, 1, 8, 6, 8], 4, { backend: cpu });
    expect(() => net.forward(odd)).toThrow(/^AttentionUnet: input \[1, 1, 8, 6, 8\]: level 1's size \[4, 3, 4\] is not divisible by its stride \[2, 2, 2\], so the upsampled features would not match it; the spatial sizes must be divisible by the product of the strides per axis \[4, 4, 4\]$/);
    const twoChannels = rand([1, 2, 8, 8, 8], 4, { backend: cpu });
    expect(() => net.forward(twoChannels)).toThrow(/^AttentionUnet: input must be \[N, 1, D, H, W\], got \[1, 2, 8, 8, 8\]$/);
    dispose([odd, twoChannels]);
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ channels: [4] })).toThrow(/^AttentionUnet: channels \[4\] needs at least 2 entries$/);
    expect(() => tiny({ channels: [2, 1, 4] })).toThrow(/^AttentionUnet: channels\[1\] \(halved by its attention gate\) must be an integer ≥ 2, got 1$/);
    expect(() => tiny({ channels: [2, 3, 0] })).toThrow(/^AttentionUnet: channels\[2\] must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ strides: [2] })).toThrow(/^AttentionUnet: strides has 1 entries; channels \[2, 3, 4\] needs one per level below the first \(2\)$/);
    expect(() => tiny({ strides: [2, 0] })).toThrow(/^AttentionUnet: strides\[1\] must be positive, got \[0, 0, 0\]$/);
    expect(() => tiny({ strides: [2, [2, 2]] as unknown as number[] })).toThrow(/AttentionUnet strides\[1\]/);
    expect(() => tiny({ kernelSize: 4 })).toThrow(/^AttentionUnet: model\.0\.conv\.0: kernel \[4, 4, 4\] has no same padding; MONAI's Convolution needs odd kernel sizes$/);
    expect(() => tiny({ upKernelSize: [3, 2, 3] })).toThrow(/^AttentionUnet: model\.1\.submodule\.1\.upconv\.up: kernel \[3, 2, 3\] has no same padding/);
    expect(() => tiny({ dropout: 1.5 })).toThrow(/^AttentionUnet: dropout must be in \[0, 1\], got 1\.5$/);
    expect(() => tiny({ inChannels: 0 })).toThrow(/^AttentionUnet: inChannels must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ outChannels: 1.5 })).toThrow(/^AttentionUnet: outChannels must be an integer ≥ 1, got 1\.5$/);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^AttentionUnet: only spatialDims 3 is supported, got 2$/);
    net.dispose();
  });
});

/**
 * AttentionUnet written out with the functional ops from MONAI's description, reading the weights by their MONAI
 * names: batch norms on the batch's statistics (training) or the running ones
 */
function attentionUnetByHand(net: AttentionUnet, x: Tensor, training: boolean): Tensor {
  const w = (key: string) => net.getParameter(key);
  const bn = (t: Tensor, key: string) => training
    ? batchNorm(t, null, null, w(`${key}.weight`), w(`${key}.bias`), { training: true })
    : batchNorm(t, net.getBuffer(`${key}.running_mean`), net.getBuffer(`${key}.running_var`), w(`${key}.weight`), w(`${key}.bias`));
  const conv = (t: Tensor, key: string, stride: readonly number[] = [1, 1, 1]) => {
    const weight = w(`${key}.conv.weight`);
    return conv3d(t, weight, w(`${key}.conv.bias`), { stride: stride as [number, number, number], padding: weight.shape.slice(2).map((k) => (k - 1) / 2) as [number, number, number] });
  };
  const convBlock = (t: Tensor, key: string, stride: readonly number[] = [1, 1, 1]) =>
    relu(bn(conv(relu(bn(conv(t, `${key}.conv.0`, stride), `${key}.conv.0.adn.N`)), `${key}.conv.1`), `${key}.conv.1.adn.N`));
  const level = (t: Tensor, key: string, i: number): Tensor => {
    const stride = net.strides[i], bottom = i === net.strides.length - 1;
    const down = convBlock(t, bottom ? `${key}.submodule` : `${key}.submodule.0`, stride);
    const lower = bottom ? down : level(down, `${key}.submodule.1`, i + 1);
    const upWeight = w(`${key}.upconv.up.conv.weight`);
    const up = relu(bn(convTranspose3d(lower, upWeight, w(`${key}.upconv.up.conv.bias`), {
      stride: stride as [number, number, number], padding: upWeight.shape.slice(2).map((k) => (k - 1) / 2) as [number, number, number],
      outputPadding: stride.map((s) => s - 1) as [number, number, number],
    }), `${key}.upconv.up.adn.N`));
    const gate = (input: Tensor, name: string) => bn(conv(input, `${key}.attention.${name}.0`), `${key}.attention.${name}.1`);
    const psi = sigmoid(gate(relu(add(gate(up, 'W_g'), gate(t, 'W_x'))), 'psi'));
    return prelu(instanceNorm(conv(concat([mul(t, psi), up], 1), `${key}.merge`)), w(`${key}.merge.adn.A.weight`));
  };
  return conv(level(convBlock(x, 'model.0'), 'model.1', 0), 'model.2');
}

describe('AttentionUnet forward and backward (cpu)', () => {
  it.each([
    ['training, isotropic strides', true, {}],
    ['evaluation, anisotropic strides, kernels 5 and 1', false, { strides: [[2, 1, 2], [1, 2, 2]], kernelSize: [3, 5, 3], upKernelSize: [1, 3, 3] }],
  ] as const)('in float64 equals the network written out with conv3d, batchNorm, convTranspose3d, sigmoid, instanceNorm and prelu (%s)', async (_, training, options) => {
    const net = tiny({ inChannels: 2, outChannels: 3, channels: [4, 6, 5], ...options as Partial<AttentionUnetOptions> });
    const shape = [2, 2, 4, 8, 8];
    const x32 = randn(shape, 5, { backend: cpu });
    // a training forward moves the running statistics away from 0 and 1
    noGrad(() => net.forward(x32)).dispose();
    await toFloat64(net);
    const x = fromArray(randomArray(shape.reduce((a, b) => a * b, 1), 9, -1, 1), shape, { backend: cpu, dtype: 'float64' });
    if (!training) net.eval();
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => attentionUnetByHand(net, x, training))]);
    expect([got.shape, got.dtype]).toEqual([[2, 3, 4, 8, 8], 'float64']);
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x32, x, got, want]);
    net.dispose();
  });

  // (MONAI's 'NDA': the dropout after the norm; a ReLU or PReLU after it commutes with the dropout's zeroing and scaling)
  it("dropout in training follows the norm: relu(dropout(batchNorm(conv(x)))) with the layer's next mask, and merge's prelu(dropout(instanceNorm(conv(x))))", async () => {
    const net = tiny({ dropout: 0.5 });
    for (const [key, activation, channels] of [['model.1.submodule.0.conv.1', 'relu', 3], ['model.1.merge', 'prelu', 4]] as const) {
      const block = net.getSubmodule(key) as Layer;
      const drop = net.getSubmodule(`${key}.adn.D`) as Dropout;
      const x = randn([2, channels, 4, 4, 4], 7, { backend: cpu });
      const w = (name: string) => net.getParameter(`${key}.${name}`);
      const want = tidy(() => {
        const y = conv3d(x, w('conv.weight'), w('conv.bias'), { padding: 1 });
        const normed = activation === 'relu' ? batchNorm(y, null, null, w('adn.N.weight'), w('adn.N.bias'), { training: true }) : instanceNorm(y);
        const dropped = dropout(normed, 0.5, true, drop.nextMaskSeed());
        return activation === 'relu' ? relu(dropped) : prelu(dropped, w('adn.A.weight'));
      });
      const got = noGrad(() => block.forward(x));
      await expectSameAsWrittenOut(got, want, 1e-6);
      // the mask zeroes about half the normalised values (before the activation, which keeps the zeros)
      const zeros = Array.from(await got.toArray()).filter((v) => v === 0).length / got.numel();
      expect(zeros).toBeGreaterThan(activation === 'relu' ? 0.6 : 0.4);
      dispose([x, want, got]);
    }
    net.dispose();
  });

  it('the gradient with respect to the input passes a float64 gradient check (three levels, batch statistics)', async () => {
    const net = tiny({ channels: [2, 2, 2], strides: [2, 1] });
    await expectInputGradcheck(net, [1, 1, 4, 4, 4]);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps lower the cross-entropy of a segmentation; every parameter gets a gradient', async () => {
    const { image, target } = ballSegmentation(8);
    const net = tiny({ channels: [4, 4, 4], seed: 11 });
    const losses = await adamLosses(net, () => tidy(() => crossEntropy(net.forward(image), target)), 10);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    // the plain nn.Sequential containers (MONAI's Convolution and ADN subclass nn.Sequential, here as in PyTorch)
    expect(net.modules().filter((m) => m instanceof Sequential && m.typeName === 'Sequential')).toHaveLength(1 + 3 + 2 * 3 + 1);
    dispose([image, target]);
    net.dispose();
  });
});
