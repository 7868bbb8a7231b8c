import { describe, expect, it } from 'vitest';
import {
  add, batchNorm, concat, conv3d, gradcheck, interpolate, leakyRelu, maxPool3d, mulScalar, noGrad,
} from '../../src/autograd/index.js';
import {
  BatchNorm3d, Conv3d, Dropout, LeakyReLU, ReLU, VoxelMorph, VoxelMorphUNet, diffusionLoss, dvf2ddf, init, mseLoss, warp,
  type Module, type VoxelMorphOptions, type VoxelMorphUNetOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, expectSameAsWrittenOut, loadDistinctSafetensors } from '../helpers/model-checks.js';

/**
 * MONAI's VoxelMorphUNet and VoxelMorph (monai/networks/nets/voxelmorph.py): MONAI's parameter counts and state-dict
 * keys, the module tree, the options and their errors, the forward against the network written out with the
 * functional ops in float64, float64 gradient checks, and a tiny registration that a few Adam steps improve.
 */

const unet = (options: Partial<VoxelMorphUNetOptions> = {}): VoxelMorphUNet => new VoxelMorphUNet({
  inChannels: 2, unetOutChannels: 3, channels: [2, 3, 3, 4], finalConvChannels: [2], seed: 3, backend: cpu, ...options,
});
const morph = (options: Partial<VoxelMorphOptions> = {}, unetOptions: Partial<VoxelMorphUNetOptions> = {}): VoxelMorph =>
  new VoxelMorph({ backbone: unet(unetOptions), ...options });

/** a 3³ conv a→b with bias: 27ab + b */
const conv = (a: number, b: number): number => 27 * a * b + b;

describe('VoxelMorphUNet and VoxelMorph structure', () => {
  it("MONAI's default VoxelMorph has 244 323 parameters", () => {
    // backbone VoxelMorphUNet(inChannels 2, unetOutChannels 32, channels (16, 32, 32, 32, 32, 32), finalConvChannels (16, 16)),
    // 3³ convs with bias, no norm: conv(a, b) = 27ab + b.
    //   top down 2→16 880; level 1 down 16→32 13 856; level 2 down 32→32 27 680; bottom 32→32 27 680;
    //   level 2 up (32 + 32)→32 55 328; level 1 up (32 + 32)→32 55 328; top up (16 + 32)→32 41 504;
    //   final 32→16 13 840, 16→16 6 928, out 16→3 1 299: sum 244 323.
    const expected = conv(2, 16) + conv(16, 32) + 2 * conv(32, 32) + 2 * conv(64, 32) + conv(48, 32) + conv(32, 16) + conv(16, 16) + conv(16, 3);
    expect(expected).toBe(244_323);
    const net = new VoxelMorph({ seed: 1, backend: cpu });
    expect(net.numParameters()).toBe(244_323);
    expect(net.backbone).toBeInstanceOf(VoxelMorphUNet);
    expect((net.backbone as VoxelMorphUNet).channels).toEqual([16, 32, 32, 32, 32, 32]);
    expect(net.namedModules('', false).map(([n]) => n).filter((n) => !n.startsWith('backbone.'))).toEqual(['', 'backbone', 'dvf2ddf', 'warp']);
    expect([net.dvf2ddf!.numSteps, net.dvf2ddf!.paddingMode, net.warp.mode, net.warp.paddingMode]).toEqual([7, 'zeros', 'bilinear', 'zeros']);
    net.dispose();
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree", () => {
    const net = morph();
    // channels [2, 3, 3, 4]: top 2→2, level 1 down 2→3, bottom 3→4, level 1 up (3 + 4)→3, top up (2 + 3)→3, final 3→2, 2→3
    const c = (key: string, a: number, b: number): [string, number[]][] => [[`backbone.${key}.conv.weight`, [b, a, 3, 3, 3]], [`backbone.${key}.conv.bias`, [b]]];
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ...c('net.0.0', 2, 2),
      ...c('net.0.1.submodule.0.1', 2, 3),
      ...c('net.0.1.submodule.1.submodule.0.1', 3, 4),
      ...c('net.0.1.submodule.2.0', 7, 3),
      ...c('net.0.2', 5, 3),
      ...c('net.1.final_conv_0', 3, 2),
      ...c('net.1.final_conv_out', 2, 3),
    ]);
    expect(net.numParameters()).toBe(conv(2, 2) + conv(2, 3) + conv(3, 4) + conv(7, 3) + conv(5, 3) + conv(3, 2) + conv(2, 3));
    const types = new Map(net.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect(['backbone.net', 'backbone.net.0', 'backbone.net.0.0', 'backbone.net.0.0.adn', 'backbone.net.0.1', 'backbone.net.0.1.submodule.0.0',
      'backbone.net.0.1.submodule.1.submodule.1', 'backbone.net.0.1.submodule.1.submodule.1.upsample_non_trainable', 'backbone.net.0.1.submodule.2.1',
      'backbone.net.1', 'dvf2ddf', 'warp'].map((n) => types.get(n)))
      .toEqual(['Sequential', 'Sequential', 'Convolution', 'ADN', 'SkipConnection', 'MaxPool3d', 'UpSample', 'Upsample', 'UpSample', 'Sequential', 'DVF2DDF', 'Warp']);
    // MONAI's default dropout 0.0 is a Dropout(p=0) child D, then the LeakyReLU (slope 0.2) A; no A after final_conv_out
    expect(net.getSubmodule('backbone.net.0.0.adn').namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['D', 'Dropout'], ['A', 'LeakyReLU']]);
    expect((net.getSubmodule('backbone.net.0.0.adn.D') as Dropout).p).toBe(0);
    expect(net.modules().filter((m) => m instanceof LeakyReLU).every((m) => (m as LeakyReLU).negativeSlope === 0.2)).toBe(true);
    expect(net.getSubmodule('backbone.net.1.final_conv_out.adn').namedChildren().map(([n]) => n)).toEqual(['D']);
    net.dispose();
  });

  it('options: strided convolutions, norms, no bias, ADN ordering, activations, no dropout, no integration', () => {
    // useMaxpool false: the down convolutions themselves, with stride 2, no max pool (the same parameters)
    const strided = unet({ useMaxpool: false });
    expect((strided.getSubmodule('net.0.1.submodule.0.conv') as Conv3d).stride).toEqual([2, 2, 2]);
    expect((strided.getSubmodule('net.0.0.conv') as Conv3d).stride).toEqual([1, 1, 1]);
    expect(strided.numParameters()).toBe(unet().numParameters());
    // a batch norm in every block adds 2 parameters per output channel (2 + 3 + 4 + 3 + 3 + 2 + 3 = 20 channels)
    const normed = unet({ norm: 'batch', bias: false, adnOrdering: 'AND' });
    expect(normed.numParameters()).toBe(unet().numParameters() - 20 + 2 * 20);
    expect(normed.getSubmodule('net.0.0.adn').namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['A', 'LeakyReLU'], ['N', 'BatchNorm3d'], ['D', 'Dropout']]);
    expect(normed.getSubmodule('net.1.final_conv_out.adn').namedChildren().map(([n]) => n)).toEqual(['N', 'D']);
    expect([...normed.stateSpec().keys()].slice(0, 6)).toEqual([
      'net.0.0.conv.weight', 'net.0.0.adn.N.weight', 'net.0.0.adn.N.bias', 'net.0.0.adn.N.running_mean', 'net.0.0.adn.N.running_var', 'net.0.0.adn.N.num_batches_tracked',
    ]);
    const relus = unet({ act: 'relu', finalConvAct: null, dropout: null, norm: ['group', { numGroups: 1 }], kernelSize: [3, 1, 3], upKernelSize: 1 });
    expect(relus.modules().filter((m) => m instanceof ReLU)).toHaveLength(5);
    expect(relus.modules().some((m) => m instanceof LeakyReLU || m instanceof Dropout || m instanceof BatchNorm3d)).toBe(false);
    expect(relus.getSubmodule('net.1.final_conv_0.adn').namedChildren().map(([n]) => n)).toEqual(['N']);
    expect((relus.getSubmodule('net.0.2.conv') as Conv3d).kernelSize).toEqual([1, 1, 1]);
    expect((relus.getSubmodule('net.0.0.conv') as Conv3d).padding).toEqual([1, 0, 1]);
    // a (name, args) act is taken as given: LeakyReLU with another slope
    const slope = unet({ act: ['leakyrelu', { negativeSlope: 0.1 }], finalConvAct: 'leakyrelu' });
    expect((slope.getSubmodule('net.0.0.adn.A') as LeakyReLU).negativeSlope).toBe(0.1);
    expect((slope.getSubmodule('net.1.final_conv_0.adn.A') as LeakyReLU).negativeSlope).toBe(0.2);
    // integrationSteps 0: no dvf2ddf (non-diffeomorphic)
    const plain = morph({ integrationSteps: 0 });
    expect([plain.diffeomorphic, plain.dvf2ddf, plain.namedChildren().map(([n]) => n)]).toEqual([false, null, ['backbone', 'warp']]);
    for (const m of [strided, normed, relus, slope, plain]) m.dispose();
  });

  it("a state dict in PyTorch's safetensors layout (MONAI's keys, batch norms included) loads strictly", async () => {
    const net = morph({}, { norm: 'batch' });
    const host = loadDistinctSafetensors(net, 3);
    for (const key of ['backbone.net.0.1.submodule.2.0.conv.weight', 'backbone.net.1.final_conv_out.adn.N.running_var']) {
      expect(Array.from(await net.stateDict().get(key)!.toArray()), key).toEqual(Array.from(host.get(key)!.data));
    }
    expect(await net.stateDict().get('backbone.net.0.0.adn.N.num_batches_tracked')!.item()).toBe(3);
    net.dispose();
  });

  it("PyTorch's default initialisation, seeded by module path", async () => {
    const net = unet({ channels: [16, 32] });
    // kaiming_uniform(a = √5): U(±1/√fan_in), fan_in = 16 · 27 for the bottom conv; the bias U(±1/√fan_in) too
    const w = await net.getParameter('net.0.1.submodule.0.1.conv.weight').toArray();
    const bound = 1 / Math.sqrt(16 * 27);
    const max = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(max).toBeLessThanOrEqual(bound);
    expect(max).toBeGreaterThan(0.99 * bound);
    const std = Math.sqrt(Array.from(w).reduce((s, v) => s + v * v, 0) / w.length);
    expect(std / (bound / Math.sqrt(3))).toBeCloseTo(1, 1);
    const [again, other] = [unet({ channels: [16, 32] }), unet({ channels: [16, 32], seed: 4 })];
    expect(Array.from(await again.getParameter('net.0.1.submodule.0.1.conv.weight').toArray())).toEqual(Array.from(w));
    expect(Array.from(await other.getParameter('net.0.1.submodule.0.1.conv.weight').toArray())).not.toEqual(Array.from(w));
    for (const m of [net, again, other]) m.dispose();
  });

  it('output shapes: the field [N, 3, D, H, W], the warped image the shape of moving', () => {
    const cases: [Partial<VoxelMorphOptions>, Partial<VoxelMorphUNetOptions>, number[]][] = [
      [{}, {}, [2, 1, 8, 4, 12]],
      [{ halfRes: true }, { useMaxpool: false }, [1, 1, 4, 8, 4]],
      [{ integrationSteps: 0 }, { inChannels: 4, channels: [2, 2], finalConvChannels: [] }, [1, 2, 6, 2, 4]],
    ];
    for (const [options, unetOptions, shape] of cases) {
      const net = morph(options, unetOptions);
      const [moving, fixed] = [rand(shape, 1, { backend: cpu }), rand(shape, 2, { backend: cpu })];
      const [warped, ddf] = noGrad(() => net.forward(moving, fixed));
      expect([warped.shape, ddf.shape]).toEqual([shape, [shape[0], 3, ...shape.slice(2)]]);
      dispose([moving, fixed, warped, ddf]);
      net.dispose();
    }
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = morph(), halves = morph({ halfRes: true }, { channels: [2, 2] });
    // backbones whose output is not a field of the images' shape
    const pooled = new VoxelMorph({ backbone: new Conv3d(2, 3, 2, { stride: 2, backend: cpu }) });
    const channels = new VoxelMorph({ backbone: new Conv3d(2, 2, 1, { backend: cpu }) });
    const before = memory().liveTensors;
    const [a, b, odd, c, e] = [[1, 1, 8, 8, 8], [1, 1, 8, 8, 4], [1, 1, 6, 6, 6], [1, 2, 8, 8, 8], [1, 1, 6, 4, 9]].map((s, i) => rand(s, i, { backend: cpu }));
    expect(() => net.forward(a, b)).toThrow(/^VoxelMorph: moving \[1, 1, 8, 8, 8\] and fixed \[1, 1, 8, 8, 4\] must have the same shape$/);
    expect(() => net.forward(odd, odd)).toThrow(/^VoxelMorphUNet: input \[1, 2, 6, 6, 6\]: the spatial extents must be divisible by 4 \(halved once per pair of channels, 2 pairs\)$/);
    expect(() => net.forward(c, c)).toThrow(/^VoxelMorphUNet: input must be \[N, 2, D, H, W\], got \[1, 4, 8, 8, 8\]$/);
    expect(() => halves.forward(e, e)).toThrow(/^VoxelMorph: with halfRes, the spatial extents of moving \[1, 1, 6, 4, 9\] must be even and at least 4/);
    expect(() => pooled.forward(a, a)).toThrow(/^VoxelMorph: the backbone's output \[1, 3, 4, 4, 4\] must have the spatial shape of the images \[8, 8, 8\]$/);
    expect(() => channels.forward(a, a)).toThrow(/^VoxelMorph: the backbone's output \[1, 2, 8, 8, 8\] must have 3 channels \(one per spatial axis\)$/);
    dispose([a, b, odd, c, e]);
    expect(memory().liveTensors).toBe(before);
    expect(() => unet({ inChannels: 3 })).toThrow(/^VoxelMorphUNet: inChannels must be a positive even integer \(the moving and the fixed image concatenated\), got 3$/);
    expect(() => unet({ channels: [2] })).toThrow(/^VoxelMorphUNet: channels must be pairs of positive integers, at least one pair, got \[2\]$/);
    expect(() => unet({ channels: [2, 3, 4] })).toThrow(/^VoxelMorphUNet: channels must be pairs/);
    expect(() => unet({ channels: [2, 0] })).toThrow(/^VoxelMorphUNet: channels must be pairs/);
    expect(() => unet({ unetOutChannels: 0 })).toThrow(/^VoxelMorphUNet: unetOutChannels must be a positive integer, got 0$/);
    expect(() => unet({ finalConvChannels: [2, -1] })).toThrow(/^VoxelMorphUNet: finalConvChannels must be positive integers \(or empty\), got \[2,-1\]$/);
    expect(() => unet({ kernelSize: 2 })).toThrow(/^VoxelMorphUNet kernelSize: same padding is not available for kernelSize \[2, 2, 2\] and dilation \[1, 1, 1\]/);
    expect(() => unet({ upKernelSize: [3, 4, 3] })).toThrow(/^VoxelMorphUNet upKernelSize: same padding is not available for kernelSize \[3, 4, 3\]/);
    expect(() => unet({ kernelSize: -1 })).toThrow(/^VoxelMorphUNet kernelSize kernelSize must be non-negative integers/);
    expect(() => unet({ adnOrdering: 'NDX' })).toThrow(/^VoxelMorphUNet: adnOrdering must be a string of A, D and N, got 'X' in 'NDX'$/);
    expect(() => unet({ act: 'swish' as 'relu' })).toThrow(/^VoxelMorphUNet: unknown act "swish"/);
    expect(() => unet({ finalConvAct: 'swish' as 'relu' })).toThrow(/^VoxelMorphUNet: unknown act "swish"/);
    expect(() => unet({ norm: 'layer' as 'batch' })).toThrow(/^VoxelMorphUNet: unknown norm "layer"/);
    expect(() => unet({ norm: ['group', {}] as unknown as 'batch' })).toThrow(/^VoxelMorphUNet: norm 'group' needs its numGroups/);
    expect(() => unet({ dropout: 1.5 })).toThrow(/^VoxelMorphUNet: dropout must be in \[0, 1\] or null, got 1\.5$/);
    expect(() => unet({ useMaxpool: 'yes' as unknown as boolean })).toThrow(/^VoxelMorphUNet: useMaxpool must be a boolean, got yes$/);
    expect(() => unet({ spatialDims: 2 as 3 })).toThrow(/^VoxelMorphUNet: only spatialDims 3 is supported, got 2$/);
    expect(() => morph({ integrationSteps: -1 })).toThrow(/^VoxelMorph: integrationSteps must be a non-negative integer, got -1$/);
    expect(() => morph({ integrationSteps: 1.5 })).toThrow(/^VoxelMorph: integrationSteps must be a non-negative integer, got 1\.5$/);
    expect(() => morph({ halfRes: 1 as unknown as boolean })).toThrow(/^VoxelMorph: halfRes must be a boolean, got 1$/);
    expect(() => morph({ spatialDims: 2 as 3 })).toThrow(/^VoxelMorph: only spatialDims 3 is supported, got 2$/);
    expect(() => new VoxelMorph({ backbone: {} as VoxelMorphUNet })).toThrow(/^VoxelMorph: backbone must be a Layer/);
    for (const m of [net, halves, pooled, channels]) m.dispose();
  });
});

/** VoxelMorphUNet of two levels (channels [a, b, c, d]) written out with the functional ops, reading the weights by MONAI's names (LeakyReLU 0.2, no norm, dropout inactive) */
function unetByHand(net: VoxelMorphUNet, x: Tensor): Tensor {
  const w = (key: string) => net.getParameter(key);
  const c = (t: Tensor, key: string, act = true, stride = 1) => {
    const y = conv3d(t, w(`${key}.conv.weight`), w(`${key}.conv.bias`), { stride, padding: 1 });
    return act ? leakyRelu(y, 0.2) : y;
  };
  const down = (t: Tensor, key: string) => (net.useMaxpool ? c(maxPool3d(t, 2, { stride: 2 }), `${key}.1`) : c(t, key, true, 2));
  const up2 = (t: Tensor) => interpolate(t, { scaleFactor: 2, mode: 'nearest' });
  const s1 = 'net.0.1.submodule', s2 = `${s1}.1.submodule`;
  const top = c(x, 'net.0.0');
  const l1 = down(top, `${s1}.0`);
  const bottom = up2(down(l1, `${s2}.0`));
  const l1Up = up2(c(concat([l1, bottom], 1), `${s1}.2.0`));
  let y = c(concat([top, l1Up], 1), 'net.0.2');
  net.finalConvChannels.forEach((_, i) => { y = c(y, `net.1.final_conv_${i}`); });
  return c(y, 'net.1.final_conv_out', false);
}

/** VoxelMorph written out: the backbone by hand, then MONAI's half-resolution resizing, dvf2ddf and warp ('zeros' padding) */
function morphByHand(net: VoxelMorph, moving: Tensor, fixed: Tensor, byHand: (n: VoxelMorphUNet, x: Tensor) => Tensor): Tensor[] {
  let x = byHand(net.backbone as VoxelMorphUNet, concat([moving, fixed], 1));
  if (net.halfRes) x = mulScalar(interpolate(x, { scaleFactor: 0.5, mode: 'trilinear', alignCorners: true }), 2);
  if (net.integrationSteps > 0) x = dvf2ddf(x, { numSteps: net.integrationSteps, paddingMode: 'zeros' });
  if (net.halfRes) x = interpolate(mulScalar(x, 0.5), { scaleFactor: 2, mode: 'trilinear', alignCorners: true });
  return [warp(moving, x, { paddingMode: 'zeros' }), x];
}

/** the biases drawn from U(±a): fields of a few voxels, so that the warp samples between voxels and outside the volume */
function biases(net: Module, a: number): void {
  net.namedParameters().forEach(([name, p], i) => { if (name.endsWith('bias')) init.uniform_(p, -a, a, { seed: i }); });
}

const f64 = (shape: number[], seed: number, scale = 1) =>
  fromArray(randomArray(shape.reduce((a, b) => a * b, 1), seed, -scale, scale), shape, { backend: cpu, dtype: 'float64' });

const maxAbs = async (t: Tensor): Promise<number> => (await t.toArray()).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('VoxelMorph forward and backward (cpu, float64)', () => {
  it.each([
    ['7 integration steps, max pooling', {}, {}],
    ['half resolution, strided convolutions', { halfRes: true, integrationSteps: 3 }, { useMaxpool: false }],
    ['no integration', { integrationSteps: 0 }, { finalConvChannels: [] }],
  ] as const)('equals the network written out with conv3d, leakyRelu, maxPool3d, interpolate, dvf2ddf and warp (%s)', async (_, options, unetOptions) => {
    const net = morph(options, { channels: [2, 3, 3, 4], finalConvChannels: [2, 2], ...unetOptions });
    await toFloat64(net);
    biases(net, 2);
    const [moving, fixed] = [f64([2, 1, 8, 4, 8], 1), f64([2, 1, 8, 4, 8], 2)];
    const [got, want] = noGrad(() => [net.forward(moving, fixed), tidy(() => morphByHand(net, moving, fixed, unetByHand))]);
    for (const i of [0, 1]) await expectSameAsWrittenOut(got[i], want[i], 1e-12);
    // a field of about a voxel and more: the warp samples between voxels and beyond the volume
    expect(await maxAbs(want[1])).toBeGreaterThan(0.5);
    dispose([moving, fixed, got, want]);
    net.dispose();
  });

  it('VoxelMorphUNet with one level and a norm: the by-hand network with a batch norm', async () => {
    const net = unet({ channels: [2, 3], norm: ['batch', { affine: false }], finalConvChannels: [] });
    await toFloat64(net);
    const x = f64([2, 2, 4, 4, 4], 3);
    const got = noGrad(() => net.forward(x));
    // NDA: conv → batch norm (batch statistics) → dropout(0) → LeakyReLU 0.2
    const byHand = noGrad(() => tidy(() => {
      const w = (key: string) => net.getParameter(key);
      const c = (t: Tensor, key: string, act = true) => {
        const y = batchNorm(conv3d(t, w(`${key}.conv.weight`), w(`${key}.conv.bias`), { padding: 1 }), null, null, null, null, { training: true });
        return act ? leakyRelu(y, 0.2) : y;
      };
      const top = c(x, 'net.0.0');
      const bottom = interpolate(c(maxPool3d(top, 2, { stride: 2 }), 'net.0.1.submodule.0.1'), { scaleFactor: 2, mode: 'nearest' });
      return c(c(concat([top, bottom], 1), 'net.0.2'), 'net.1.final_conv_out', false);
    }));
    await expectSameAsWrittenOut(got, byHand, 1e-12);
    dispose([x, got, byHand]);
    net.dispose();
  });

  it.each([
    ['3 integration steps', { integrationSteps: 3 }],
    ['half resolution', { halfRes: true, integrationSteps: 2 }],
  ] as const)('the gradient with respect to moving and fixed passes a float64 gradient check (%s)', async (_, options) => {
    const net = morph(options, { channels: [2, 2, 2, 2], unetOutChannels: 2, finalConvChannels: [2] });
    await toFloat64(net);
    biases(net, 1);
    const shape = [1, 1, 4, 4, 4];
    const r = await gradcheck((moving, fixed) => concat(net.forward(moving, fixed), 1),
      [{ data: randomArray(64, 7, -1, 1), shape }, { data: randomArray(64, 8, -1, 1), shape }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    net.dispose();
  });
});

/** a ball of radius 2.5 voxels centred at (c, c, c) in an 8³ volume, smoothed a little at its edge */
function ball(c: number): Tensor {
  const data = Float32Array.from({ length: 512 }, (_, i) => {
    const [z, y, x] = [Math.floor(i / 64), Math.floor(i / 8) % 8, i % 8];
    const r = Math.hypot(z - c, y - c, x - c);
    return 1 / (1 + Math.exp(3 * (r - 2.5)));
  });
  return fromArray(data, [1, 1, 8, 8, 8], { backend: cpu });
}

describe('VoxelMorph registers', () => {
  it('a few Adam steps on MSE + diffusion lower the loss and bring the warped ball onto the fixed one; every parameter gets a gradient; a step leaks nothing', async () => {
    const [moving, fixed] = [ball(3), ball(4)];
    const net = morph({ integrationSteps: 4 }, { channels: [4, 4, 4, 4], unetOutChannels: 4, finalConvChannels: [4], seed: 5 });
    const lossOf = () => tidy(() => {
      const [warped, ddf] = net.forward(moving, fixed);
      return add(mseLoss(warped, fixed), mulScalar(diffusionLoss(ddf), 0.05));
    });
    const mse = async () => {
      const [warped] = noGrad(() => net.forward(moving, fixed));
      const m = noGrad(() => mseLoss(warped, fixed));
      const v = await m.item();
      dispose([warped, m]);
      return v;
    };
    // the first forward made the sampling grids Warp and DVF2DDF keep (freed by dispose)
    const start = await mse();
    const losses = await adamLosses(net, lossOf, 12, 0.005);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    // the warped moving image is nearer the fixed one than the unregistered pair and than the start
    const unregistered = noGrad(() => mseLoss(moving, fixed));
    const end = await mse();
    expect(end).toBeLessThan(0.7 * start);
    expect(end).toBeLessThan(0.7 * (await unregistered.item()));
    dispose([moving, fixed, unregistered]);
    net.dispose();
  });
});
