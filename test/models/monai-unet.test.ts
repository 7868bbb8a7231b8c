import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  add, batchNorm, concat, conv3d, convTranspose3d, instanceNorm, leakyRelu, noGrad, prelu, relu,
} from '../../src/autograd/index.js';
import {
  ADN, BatchNorm3d, Dropout, GroupNorm, InstanceNorm3d, LeakyReLU, MonaiConvolution, MonaiUNet, PReLU, ReLU, ResidualUnit,
  SkipConnection, crossEntropy, loadModel, saveModel, type MonaiUNetOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, ballSegmentation, expectSameAsWrittenOut, expectInputGradcheck } from '../helpers/model-checks.js';

/**
 * MONAI's UNet (monai/networks/nets/unet.py) as MonaiUNet, its blocks (Convolution, ResidualUnit, ADN,
 * SkipConnection): MONAI's parameter counts and state-dict keys, module types, options and their errors, output
 * shapes, the forward against the network written out with the functional ops in float64, a float64 gradient check
 * and a few training steps.
 */

const tiny = (options: Partial<MonaiUNetOptions> = {}): MonaiUNet => new MonaiUNet({
  inChannels: 1, outChannels: 2, channels: [2, 3, 4], strides: [2, 2], seed: 3, backend: cpu, ...options,
});

afterEach(() => { vi.restoreAllMocks(); });

describe('MonaiUNet structure', () => {
  it('saved with saveModel, it loads strictly into another MonaiUNet (MONAI\'s keys) and gives the same output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxgrad-monai-unet-'));
    try {
      const [a, b] = [tiny({ numResUnits: 2, norm: 'batch' }), tiny({ numResUnits: 2, norm: 'batch', seed: 9 })];
      noGrad(() => a.forward(randn([2, 1, 4, 4, 4], 1, { backend: cpu }))).dispose(); // moves the running statistics
      await saveModel(join(dir, 'unet.safetensors'), a);
      const loaded = await loadModel(join(dir, 'unet.safetensors'), b);
      expect([loaded.missingKeys, loaded.unexpectedKeys]).toEqual([[], []]);
      for (const m of [a, b]) m.eval();
      const x = randn([1, 1, 4, 4, 4], 2, { backend: cpu });
      const [ya, yb] = noGrad(() => [a.forward(x), b.forward(x)]);
      expect(Array.from(await yb.toArray())).toEqual(Array.from(await ya.toArray()));
      dispose([x, ya, yb]);
      for (const m of [a, b]) m.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the spleen tutorial's UNet (channels 16…256, strides 2, numResUnits 2, batch norm) has MONAI's 4 808 917 parameters", () => {
    // UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2),
    // num_res_units=2, norm=Norm.BATCH): biases, BatchNorm3d (2c), PReLU (one slope) after every convolution but the
    // conv-only ones. A Convolution a→b with its ADN: 27ab + b + 2b + 1; conv-only: 27ab + b.
    // ResidualUnit(a→b, stride s, n units) = (27ab + 3b + 1) + (n − 1)(27b² + 3b + 1) + residual: 27ab + b when s ≠ 1,
    // ab + b (1³) when only the channels change, 0 (identity) else.
    // down (RU, 2 units, stride 2): 1→16 481 + 6 961 + 448 = 7 890; 16→32 13 921 + 27 745 + 13 856 = 55 522;
    //   32→64 55 489 + 110 785 + 55 360 = 221 634; 64→128 221 569 + 442 753 + 221 312 = 885 634;
    // bottom (RU, 2 units, stride 1) 128→256: 885 505 + 1 770 241 + 1³ residual 33 024 = 2 688 770;
    // up (transposed Convolution with ADN, then an RU of one unit b→b, the top one conv-only):
    //   (128 + 256 = 384)→64: 663 745 + 110 785 = 774 530; 128→32: 110 689 + 27 745 = 138 434;
    //   64→16: 27 697 + 6 961 = 34 658; 32→2: 1 735 + (27·4 + 2 = 110) = 1 845.
    // Sum: 7 890 + 55 522 + 221 634 + 885 634 + 2 688 770 + 774 530 + 138 434 + 34 658 + 1 845 = 4 808 917.
    const net = new MonaiUNet({ inChannels: 1, outChannels: 2, channels: [16, 32, 64, 128, 256], strides: [2, 2, 2, 2], numResUnits: 2, norm: 'batch', backend: cpu });
    expect(net.numParameters()).toBe(4_808_917);
    net.dispose();
  });

  it("MONAI's defaults (no residual units, instance norm without affine, PReLU) on the same channels: 1 979 610 parameters", () => {
    // Convolution a→b with its ADN: 27ab + b + 1 (the PReLU's slope; InstanceNorm3d has no parameters)
    // down 1→16 449, 16→32 13 857, 32→64 55 361, 64→128 221 313; bottom 128→256 884 993;
    // up 384→64 663 617, 128→32 110 625, 64→16 27 665; top up 32→2 conv-only 1 730.
    // Sum: 449 + 13 857 + 55 361 + 221 313 + 884 993 + 663 617 + 110 625 + 27 665 + 1 730 = 1 979 610.
    const net = new MonaiUNet({ inChannels: 1, outChannels: 2, channels: [16, 32, 64, 128, 256], strides: [2, 2, 2, 2], backend: cpu });
    expect(net.numParameters()).toBe(1_979_610);
    net.dispose();
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree (numResUnits 0 and 2)", () => {
    const plain = tiny();
    const conv = (p: string, a: number, b: number, transposed = false, adn = true): [string, number[]][] => [
      [`${p}.conv.weight`, transposed ? [a, b, 3, 3, 3] : [b, a, 3, 3, 3]], [`${p}.conv.bias`, [b]], ...(adn ? [[`${p}.adn.A.weight`, [1]]] as [string, number[]][] : []),
    ];
    expect([...plain.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ...conv('model.0', 1, 2),
      ...conv('model.1.submodule.0', 2, 3),
      ...conv('model.1.submodule.1.submodule', 3, 4),
      ...conv('model.1.submodule.2', 3 + 4, 2, true),
      ...conv('model.2', 2 + 2, 2, true, false),
    ]);
    const residual = tiny({ numResUnits: 2 });
    const unit = (p: string, a: number, b: number, stride: number, n: number, lastConvOnly = false): [string, number[]][] => [
      ...Array.from({ length: n }, (_, i) => conv(`${p}.conv.unit${i}`, i === 0 ? a : b, b, false, !(lastConvOnly && i === n - 1))).flat(),
      ...(stride !== 1 ? [[`${p}.residual.weight`, [b, a, 3, 3, 3]], [`${p}.residual.bias`, [b]]] as [string, number[]][]
        : a !== b ? [[`${p}.residual.weight`, [b, a, 1, 1, 1]], [`${p}.residual.bias`, [b]]] as [string, number[]][] : []),
    ];
    expect([...residual.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ...unit('model.0', 1, 2, 2, 2),
      ...unit('model.1.submodule.0', 2, 3, 2, 2),
      ...unit('model.1.submodule.1.submodule', 3, 4, 1, 2),
      ...conv('model.1.submodule.2.0', 7, 2, true), ...unit('model.1.submodule.2.1', 2, 2, 1, 1),
      ...conv('model.2.0', 4, 2, true), ...unit('model.2.1', 2, 2, 1, 1, true),
    ]);
    const types = new Map(residual.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect(['', 'model', 'model.0', 'model.0.conv', 'model.0.conv.unit0', 'model.0.conv.unit0.conv', 'model.0.conv.unit0.adn',
      'model.0.conv.unit0.adn.N', 'model.0.conv.unit0.adn.D', 'model.0.conv.unit0.adn.A', 'model.0.residual', 'model.1', 'model.2',
      'model.2.0', 'model.2.0.conv', 'model.2.1'].map((n) => types.get(n))).toEqual([
      'MonaiUNet', 'Sequential', 'ResidualUnit', 'Sequential', 'Convolution', 'Conv3d', 'ADN',
      'InstanceNorm3d', 'Dropout', 'PReLU', 'Conv3d', 'SkipConnection', 'Sequential', 'Convolution', 'ConvTranspose3d', 'ResidualUnit']);
    // ADN's children in NDA order; the dropout of MONAI's default 0.0 is a Dropout(p = 0)
    expect(residual.getSubmodule('model.0.conv.unit0.adn').namedChildren().map(([n]) => n)).toEqual(['N', 'D', 'A']);
    expect((residual.getSubmodule('model.0.conv.unit0.adn.D') as Dropout).p).toBe(0);
    // the top up layer's transposed conv: padding (k − 1)/2, output padding stride − 1
    const top = residual.getSubmodule('model.2.0.conv') as unknown as { padding: number[]; outputPadding: number[]; stride: number[] };
    expect([top.padding, top.outputPadding, top.stride]).toEqual([[1, 1, 1], [1, 1, 1], [2, 2, 2]]);
    for (const m of [plain, residual]) m.dispose();
  });

  it('act, norm, dropout, bias, adnOrdering and kernel sizes build MONAI\'s layers', () => {
    const net = tiny({
      act: ['leakyrelu', { negativeSlope: 0.2 }], norm: ['group', { numGroups: 1 }], dropout: 0.3, bias: false, adnOrdering: 'ADN',
      kernelSize: 5, upKernelSize: [1, 3, 5],
    });
    expect(net.getSubmodule('model.0.adn').namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['A', 'LeakyReLU'], ['D', 'Dropout'], ['N', 'GroupNorm']]);
    expect((net.getSubmodule('model.0.adn.A') as LeakyReLU).negativeSlope).toBe(0.2);
    expect((net.getSubmodule('model.0.adn.D') as Dropout).p).toBe(0.3);
    expect([...net.stateSpec().keys()].some((k) => k.endsWith('conv.bias'))).toBe(false);
    expect(net.getParameter('model.0.conv.weight').shape).toEqual([2, 1, 5, 5, 5]);
    expect(net.getParameter('model.2.conv.weight').shape).toEqual([4, 2, 1, 3, 5]);
    expect((net.getSubmodule('model.2.conv') as unknown as { padding: number[] }).padding).toEqual([0, 1, 2]);
    // GroupNorm(1, c) is affine: weight and bias per channel
    expect(net.getParameter('model.1.submodule.0.adn.N.weight').shape).toEqual([3]);
    // 'AN' leaves the dropout out; names of any case (MONAI's factories)
    const an = tiny({ adnOrdering: 'an', act: 'RELU' as 'relu', norm: ['BATCH' as 'batch', { affine: false }] });
    expect(an.getSubmodule('model.0.adn').namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['A', 'ReLU'], ['N', 'BatchNorm3d']]);
    expect(an.modules().filter((m) => m instanceof Dropout)).toHaveLength(0);
    expect((an.getSubmodule('model.0.adn.N') as BatchNorm3d).weight).toBeNull();
    // MONAI's ('leakyrelu', { inplace: true }): PyTorch's slope 0.01
    const inplace = tiny({ act: ['leakyrelu', { inplace: true }] as unknown as 'leakyrelu', norm: 'INSTANCE' as 'instance' });
    expect((inplace.getSubmodule('model.0.adn.A') as LeakyReLU).negativeSlope).toBe(0.01);
    expect(inplace.getSubmodule('model.0.adn.N')).toBeInstanceOf(InstanceNorm3d);
    inplace.dispose();
    const prelus = tiny({ act: ['prelu', { numParameters: 2, init: 0.1 }], channels: [2, 2], strides: [2] });
    expect(prelus.getParameter('model.0.adn.A.weight').shape).toEqual([2]);
    const kinds = (['elu', 'gelu', 'relu6', 'sigmoid', 'tanh'] as const).map((act) => {
      const m = tiny({ act });
      const name = m.getSubmodule('model.0.adn.A').typeName;
      m.dispose();
      return name;
    });
    expect(kinds).toEqual(['ELU', 'GELU', 'ReLU6', 'Sigmoid', 'Tanh']);
    expect(tiny().modules().filter((m) => m instanceof InstanceNorm3d).every((n) => (n as InstanceNorm3d).weight === null)).toBe(true);
    // every Convolution but the top conv-only up layer: model.0, the level-1 down, the bottom, the level-1 up
    expect(tiny().modules().filter((m) => m instanceof PReLU)).toHaveLength(4);
    for (const m of [net, an, prelus]) m.dispose();
  });

  it('the blocks on their own: Convolution, ResidualUnit, ADN and SkipConnection as MONAI builds them', async () => {
    const c = new MonaiConvolution(2, 3, { backend: cpu, seed: 1 });
    expect(c.namedChildren().map(([n]) => n)).toEqual(['conv', 'adn']);
    expect(c.getSubmodule('adn').namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['N', 'InstanceNorm3d'], ['A', 'PReLU']]);
    // act, norm and dropout all null: no adn at all
    expect(new MonaiConvolution(2, 3, { act: null, norm: null, backend: cpu }).namedChildren().map(([n]) => n)).toEqual(['conv']);
    // a unit keeping channels and size: the residual is the input (no parameters); one changing channels only: 1³
    const same = new ResidualUnit(3, 3, { backend: cpu, seed: 2 });
    expect(same.residual).toBeNull();
    expect(same.conv.namedChildren().map(([n]) => n)).toEqual(['unit0', 'unit1']);
    expect(new ResidualUnit(2, 3, { subunits: 0, backend: cpu }).getParameter('residual.weight').shape).toEqual([3, 2, 1, 1, 1]);
    expect(new ADN({ act: 'relu', norm: 'batch', inChannels: 4, ordering: 'NAN' }).namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['N', 'BatchNorm3d'], ['A', 'ReLU']]);
    expect(new ADN().namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['A', 'ReLU']]);
    const x = randn([1, 3, 2, 2, 2], 1, { backend: cpu });
    const skip = new SkipConnection(same);
    const y = noGrad(() => skip.forward(x));
    expect(y.shape).toEqual([1, 6, 2, 2, 2]);
    expect(new SkipConnection(new ReLU(), 1, 'add').forward(x).shape).toEqual([1, 3, 2, 2, 2]);
    // a norm right before a ReLU runs fused: the same values as the two ops
    const fused = noGrad(() => new ADN({ act: 'relu', norm: 'instance', inChannels: 3, ordering: 'NA' }).forward(x));
    const apart = noGrad(() => relu(instanceNorm(x)));
    expect(Array.from(await fused.toArray())).toEqual(Array.from(await apart.toArray()));
    dispose([fused, apart]);
    expect(() => new SkipConnection(new ReLU(), 1, 'max' as 'add')).toThrow(/^SkipConnection: unknown mode 'max'; valid: cat, add, mul$/);
    expect(() => new ADN({ norm: 'instance' })).toThrow(/^ADN: a norm needs inChannels, a positive integer, got undefined$/);
    expect(() => new ADN({ ordering: 'NDX' })).toThrow(/^ADN: ordering must be a string of A, D and N, got 'X' in 'NDX'$/);
    expect(() => new MonaiConvolution(2, 3, { kernelSize: 4 })).toThrow(/^Convolution: same padding is not available for kernelSize \[4, 4, 4\]/);
    dispose([x, y]);
    for (const m of [c, same, skip]) m.dispose();
  });

  it('output shapes: the input size where divisible, MONAI\'s ⌈n / s⌉·s at the top where not; anisotropic strides', () => {
    const cases: [Partial<MonaiUNetOptions>, number[], number[]][] = [
      [{}, [2, 1, 8, 4, 12], [2, 2, 8, 4, 12]],
      [{ numResUnits: 2, inChannels: 2, outChannels: 3 }, [1, 2, 4, 8, 4], [1, 3, 4, 8, 4]],
      [{ strides: [[2, 1, 2], [1, 2, 2]] }, [1, 1, 4, 4, 8], [1, 2, 4, 4, 8]],
      [{ channels: [2, 3], strides: [2] }, [1, 1, 5, 4, 7], [1, 2, 6, 4, 8]],
      [{ norm: 'batch', numResUnits: 1 }, [2, 1, 4, 4, 4], [2, 2, 4, 4, 4]],
    ];
    for (const [options, input, output] of cases) {
      const net = tiny(options);
      const x = randn(input, 1, { backend: cpu });
      const y = noGrad(() => net.forward(x));
      expect(y.shape).toEqual(output);
      dispose([x, y]);
      net.dispose();
    }
  });

  it('extra strides are ignored with a warning, as MONAI', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const net = tiny({ strides: [2, 2, 2] });
    expect(warn).toHaveBeenCalledWith('MonaiUNet: strides has 3 entries, more than channels.length − 1 = 2; the last 1 are not used');
    expect(net.strides).toEqual([[2, 2, 2], [2, 2, 2]]);
    net.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny(), twoChannels = tiny({ inChannels: 2 });
    const before = memory().liveTensors;
    const odd = randn([1, 1, 6, 8, 8], 4, { backend: cpu });
    expect(() => net.forward(odd)).toThrow(/^MonaiUNet: input \[1, 1, 6, 8, 8\]: level 1's input \[3, 4, 4\] is not divisible by its stride \[2, 2, 2\], so level 0's skip connection would concatenate \[3, 4, 4\] with \[4, 4, 4\]; the sizes after the first down convolution must be divisible by the product of the other strides per axis \[2, 2, 2\]$/);
    expect(() => twoChannels.forward(odd)).toThrow(/^MonaiUNet: input must be \[N, 2, D, H, W\], got \[1, 1, 6, 8, 8\]$/);
    odd.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^MonaiUNet: only spatialDims 3 is supported, got 2$/);
    expect(() => tiny({ inChannels: 0 })).toThrow(/^MonaiUNet: inChannels must be a positive integer, got 0$/);
    expect(() => tiny({ outChannels: 1.5 })).toThrow(/^MonaiUNet: outChannels must be a positive integer, got 1.5$/);
    expect(() => tiny({ channels: [4] })).toThrow(/^MonaiUNet: channels must be at least 2 positive integers \(top level first\), got \[4\]$/);
    expect(() => tiny({ strides: [2] })).toThrow(/^MonaiUNet: strides must have one entry per level but the bottom \(channels.length − 1 = 2\), got \[2\]$/);
    expect(() => tiny({ strides: [2, 0] })).toThrow(/^MonaiUNet: strides\[1\] must be positive, got \[0, 0, 0\]$/);
    expect(() => tiny({ kernelSize: 2 })).toThrow(/^MonaiUNet kernelSize: same padding is not available for kernelSize \[2, 2, 2\]/);
    expect(() => tiny({ upKernelSize: [3, 4, 3] })).toThrow(/^MonaiUNet upKernelSize: same padding is not available for kernelSize \[3, 4, 3\]/);
    expect(() => tiny({ numResUnits: -1 })).toThrow(/^MonaiUNet: numResUnits must be an integer ≥ 0, got -1$/);
    expect(() => tiny({ dropout: 1.5 })).toThrow(/^MonaiUNet: dropout must be in \[0, 1\], got 1.5$/);
    expect(() => tiny({ act: 'swish' as 'relu' })).toThrow(/^MonaiUNet: unknown act "swish"; valid: 'prelu'/);
    expect(() => tiny({ norm: 'layer' as 'batch' })).toThrow(/^MonaiUNet: unknown norm "layer"; valid: 'instance', 'batch'/);
    expect(() => tiny({ norm: ['group', {}] as unknown as 'batch' })).toThrow(/^MonaiUNet: norm 'group' needs its numGroups/);
    expect(() => tiny({ adnOrdering: 'NDQ' })).toThrow(/^MonaiUNet: adnOrdering must be a string of A, D and N, got 'Q' in 'NDQ'$/);
    net.dispose();
    twoChannels.dispose();
  });

  it('the same seed gives the same weights, another seed others; PyTorch\'s default bound 1/√fan_in', async () => {
    const [a, b, c] = [tiny({ numResUnits: 1 }), tiny({ numResUnits: 1 }), tiny({ numResUnits: 1, seed: 4 })];
    const key = 'model.1.submodule.0.conv.unit0.conv.weight';
    const [va, vb, vc] = await Promise.all([a, b, c].map((m) => m.getParameter(key).toArray()));
    expect(Array.from(va)).toEqual(Array.from(vb));
    expect(Array.from(va)).not.toEqual(Array.from(vc));
    // kaiming_uniform(a = √5): U(±1/√fan_in), fan_in 2·27; the transposed conv's fan_in is weight.size(1)·27 = 2·27
    expect(Math.max(...Array.from(va, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(2 * 27));
    const t = await a.getParameter('model.1.submodule.2.0.conv.weight').toArray();
    expect(Math.max(...Array.from(t, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(2 * 27));
    expect(Math.max(...Array.from(t, Math.abs))).toBeGreaterThan(0.8 / Math.sqrt(2 * 27));
    expect(Array.from(await a.getParameter('model.0.conv.unit0.adn.A.weight').toArray())).toEqual([0.25]);
    for (const m of [a, b, c]) m.dispose();
  });
});

type Adn = (t: Tensor, key: string) => Tensor;

/**
 * MonaiUNet written out with the functional ops from MONAI's _create_block, reading the weights by their MONAI names;
 * `adn` applies a Convolution's norm, dropout (p = 0 or eval: none) and activation
 */
function monaiUNetByHand(net: MonaiUNet, x: Tensor, adn: Adn, kernel: number, upKernel: number): Tensor {
  const w = (key: string) => net.getParameter(key);
  const has = (key: string) => net.stateSpec().has(key);
  const strides = net.strides, n = net.numResUnits, levels = net.channels.length;
  const conv = (t: Tensor, key: string, stride: readonly number[] | number, convOnly = false): Tensor => {
    const y = conv3d(t, w(`${key}.conv.weight`), has(`${key}.conv.bias`) ? w(`${key}.conv.bias`) : null, { stride: stride as number, padding: (kernel - 1) / 2 });
    return convOnly ? y : adn(y, key);
  };
  const transposed = (t: Tensor, key: string, stride: readonly number[], convOnly: boolean): Tensor => {
    const y = convTranspose3d(t, w(`${key}.conv.weight`), has(`${key}.conv.bias`) ? w(`${key}.conv.bias`) : null, {
      stride: stride as [number, number, number], padding: (upKernel - 1) / 2, outputPadding: stride.map((s) => s - 1) as [number, number, number],
    });
    return convOnly ? y : adn(y, key);
  };
  const residualUnit = (t: Tensor, key: string, stride: readonly number[] | number, units: number, lastConvOnly = false): Tensor => {
    let y = t;
    for (let i = 0; i < units; i++) y = conv(y, `${key}.conv.unit${i}`, i === 0 ? stride : 1, lastConvOnly && i === units - 1);
    if (!has(`${key}.residual.weight`)) return add(y, t);
    const strided = typeof stride !== 'number' && stride.some((s) => s !== 1);
    return add(y, conv3d(t, w(`${key}.residual.weight`), has(`${key}.residual.bias`) ? w(`${key}.residual.bias`) : null, { stride: stride as number, padding: strided ? (kernel - 1) / 2 : 0 }));
  };
  const down = (t: Tensor, key: string, stride: readonly number[] | number) => (n > 0 ? residualUnit(t, key, stride, n) : conv(t, key, stride));
  const level = (t: Tensor, path: string, i: number): Tensor => {
    const d = down(t, `${path}.0`, strides[i]);
    const inner = i === levels - 2 ? down(d, `${path}.1.submodule`, 1) : level(d, `${path}.1.submodule`, i + 1);
    const cat = concat([d, inner], 1);
    if (n === 0) return transposed(cat, `${path}.2`, strides[i], i === 0);
    return residualUnit(transposed(cat, `${path}.2.0`, strides[i], false), `${path}.2.1`, 1, 1, i === 0);
  };
  return level(x, 'model', 0);
}

describe('MonaiUNet forward and backward (cpu)', () => {
  const defaultAdn = (net: MonaiUNet): Adn => (t, key) => prelu(instanceNorm(t), net.getParameter(`${key}.adn.A.weight`));

  it.each([0, 2])('equals the network written out with conv3d, convTranspose3d, instanceNorm, prelu, add and concat in float64 (numResUnits %i)', async (numResUnits) => {
    const net = tiny({ numResUnits, inChannels: 2, outChannels: 3, channels: [2, 3, 4, 3], strides: [2, [1, 2, 2], 2] });
    await toFloat64(net);
    const x = fromArray(randomArray(2 * 2 * 8 * 16 * 8, 5, -1, 1), [2, 2, 8, 16, 8], { backend: cpu, dtype: 'float64' });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => monaiUNetByHand(net, x, defaultAdn(net), 3, 3))]);
    expect(got.shape).toEqual([2, 3, 8, 16, 8]);
    expect(got.dtype).toBe('float64');
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x, got, want]);
    net.dispose();
  });

  it('equals the written-out network with kernel 5, upKernelSize 1, ADN order, LeakyReLU, affine instance norm, no bias (float64)', async () => {
    const net = tiny({
      numResUnits: 1, kernelSize: 5, upKernelSize: 1, adnOrdering: 'AN', act: ['leakyrelu', { negativeSlope: 0.2 }], norm: ['instance', { affine: true }], bias: false,
    });
    await toFloat64(net);
    const x = fromArray(randomArray(8 * 8 * 4, 6, -1, 1), [1, 1, 8, 8, 4], { backend: cpu, dtype: 'float64' });
    const adn: Adn = (t, key) => instanceNorm(leakyRelu(t, 0.2), { weight: net.getParameter(`${key}.adn.N.weight`), bias: net.getParameter(`${key}.adn.N.bias`) });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => monaiUNetByHand(net, x, adn, 5, 1))]);
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x, got, want]);
    net.dispose();
  });

  it('in evaluation, batch norm uses its running statistics (written out with batchNorm)', async () => {
    const net = tiny({ norm: 'batch' });
    net.eval();
    const norms = net.modules().filter((m) => m instanceof BatchNorm3d) as BatchNorm3d[];
    expect(norms).toHaveLength(4);
    const x = randn([1, 1, 4, 4, 4], 2, { backend: cpu });
    const adn: Adn = (t, key) => {
      const bn = net.getSubmodule(`${key}.adn.N`) as BatchNorm3d;
      return prelu(batchNorm(t, bn.runningMean, bn.runningVar, bn.weight, bn.bias, { training: false }), net.getParameter(`${key}.adn.A.weight`));
    };
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => monaiUNetByHand(net, x, adn, 3, 3))]);
    expect(Array.from(await got.toArray())).toEqual(Array.from(await want.toArray()));
    dispose([x, got, want]);
    net.dispose();
  });

  it('the gradient with respect to the input passes a float64 gradient check (residual units, anisotropic strides)', async () => {
    const net = tiny({ numResUnits: 2, channels: [2, 3, 2], strides: [[2, 1, 2], 1] });
    await expectInputGradcheck(net, [1, 1, 4, 2, 4]);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps lower the cross-entropy; every parameter gets a gradient', async () => {
    const { image, target } = ballSegmentation(8);
    const net = tiny({ channels: [4, 8, 8], numResUnits: 1, seed: 11 });
    const losses = await adamLosses(net, () => tidy(() => crossEntropy(net.forward(image), target)), 8);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });

  it('dropout is active in training only', async () => {
    const net = tiny({ dropout: 0.5 });
    const x = randn([1, 1, 8, 8, 8], 3, { backend: cpu });
    const [a, b] = noGrad(() => [net.forward(x), net.forward(x)]);
    expect(Array.from(await a.toArray())).not.toEqual(Array.from(await b.toArray()));
    net.eval();
    const [c, d] = noGrad(() => [net.forward(x), net.forward(x)]);
    expect(Array.from(await c.toArray())).toEqual(Array.from(await d.toArray()));
    expect(net.modules().filter((m) => m instanceof Dropout)).toHaveLength(4);
    expect(net.modules().filter((m) => m instanceof GroupNorm)).toHaveLength(0);
    dispose([x, a, b, c, d]);
    net.dispose();
  });
});
