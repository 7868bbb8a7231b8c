import { describe, expect, it } from 'vitest';
import {
  add, conv3d, convTranspose3d, groupNorm, instanceNorm, interpolate, leakyRelu, mulScalar, noGrad, relu,
} from '../../src/autograd/index.js';
import {
  BatchNorm3d, ConvTranspose3d, GELU, GroupNorm, Identity, InstanceNorm3d, LeakyReLU, ReLU, SegResNetDS, Upsample,
  anisoKernel, crossEntropy, scalesForResolution, type SegResNetDSOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import {
  adamLosses, ballSegmentation, expectInputGradcheck, expectSameAsWrittenOut, loadDistinctSafetensors,
} from '../helpers/model-checks.js';

/**
 * MONAI's SegResNetDS (monai/networks/nets/segresnet_ds.py): parameter counts of small configurations (the default's
 * is in segresnet-ds-count.test.ts) and MONAI's state-dict keys, its
 * scales_for_resolution and aniso_kernel, options and their errors, output shapes with deep supervision and
 * anisotropic scales, the forward against the network written out with the functional ops in float64, a float64
 * gradient check and a few training steps.
 */

const tiny = (options: SegResNetDSOptions = {}): SegResNetDS => new SegResNetDS({
  initFilters: 2, blocksDown: [1, 2, 1], seed: 3, backend: cpu, ...options,
});

describe('scalesForResolution and anisoKernel (MONAI\'s helpers)', () => {
  it("MONAI's docstring example and the cases around it", () => {
    // [1, 1, 5]: x and y are 2^⌊log2 5⌋ = 4 times finer than z, so the first two stages halve x and y only
    expect(scalesForResolution([1, 1, 5], 5)).toEqual([[2, 2, 1], [2, 2, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]);
    expect(scalesForResolution([1, 1, 5])).toEqual([[2, 2, 1], [2, 2, 1]]);
    expect(scalesForResolution([1, 1, 5], 1)).toEqual([[2, 2, 1]]);
    // [0.5, 1, 3]: x 6 times finer (⌊log2 6⌋ = 2 stages), y 3 times (1 stage)
    expect(scalesForResolution([0.5, 1, 3], 4)).toEqual([[2, 2, 1], [2, 1, 1], [2, 2, 2], [2, 2, 2]]);
    expect(scalesForResolution([2, 2, 2], 3)).toEqual([[2, 2, 2], [2, 2, 2], [2, 2, 2]]);
    expect(() => scalesForResolution([1, 0, 1])).toThrow(/^scalesForResolution: resolution must be positive, got \[1, 0, 1\]$/);
    expect(anisoKernel([2, 2, 1])).toEqual({ kernelSize: [3, 3, 1], padding: [1, 1, 0], stride: [2, 2, 1] });
    expect(anisoKernel([1, 2, 2])).toEqual({ kernelSize: [1, 3, 3], padding: [0, 1, 1], stride: [1, 2, 2] });
  });
});

describe('SegResNetDS structure', () => {
  it('parameter counts of a small configuration per upsampleMode and dsdepth', () => {
    const count = (options: SegResNetDSOptions = {}): number => {
      const net = tiny(options);
      const n = net.numParameters();
      net.dispose();
      return n;
    };
    // f = 2, blocksDown [1, 2, 1]: conv_init 54, layers.0 216 + 8 + 216 (downsample 27·2·4), layers.1 2·(864 + 16) + 864,
    // layers.2 3 456 + 32; up_layers.0 (c = 4) deconv 27·8·4 = 864 + 880, up_layers.1 (c = 2) 216 + 224, head 2·2 + 2 = 6:
    // 54 + 440 + 2 624 + 3 488 + 1 744 + 440 + 6 = 8 796
    expect(count()).toBe(8796);
    // nontrainable: a 1³ preconv 2c → c without bias instead of the deconv (32 + 8 instead of 864 + 216)
    expect(count({ upsampleMode: 'nontrainable' })).toBe(8796 - 1080 + 40);
    // deconvgroup: c groups, weight [2c, 1, 3, 3, 3] (27·8 + 27·4 instead of 1 080)
    expect(count({ upsampleMode: 'deconvgroup' })).toBe(8796 - 1080 + 324);
    // dsdepth 2 adds up_layers.0's head (4·2 + 2); a larger dsdepth adds nothing more
    expect(count({ dsdepth: 2 })).toBe(8796 + 10);
    expect(count({ dsdepth: 5 })).toBe(8796 + 10);
    // resolution [1, 1, 4]: scales [2, 2, 1], [2, 2, 1], [2, 2, 2]: kernels [3, 3, 1] at encoder levels 0 and 1 and in
    // the up layers (which take their scales), those weights a third as large: conv_init 18, layers.0 80 + 72,
    // layers.1 2·304 + 288, layers.2 3 488, up_layers.0 288 + 304, up_layers.1 72 + 80, head 6: 5 304
    expect(count({ resolution: [1, 1, 4] })).toBe(5304);
  });

  it("the state-dict keys, their order and shapes are MONAI's module tree (batch norm, dsdepth 2, anisotropic)", () => {
    const net = tiny({ dsdepth: 2, resolution: [1, 1, 4], inChannels: 2, outChannels: 3 });
    const norm = (p: string, c: number): [string, number[]][] => ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
      .map((k) => [`${p}.${k}`, k === 'num_batches_tracked' ? [] : [c]]);
    const block = (p: string, c: number, k: number[]): [string, number[]][] => [
      ...norm(`${p}.norm1`, c), [`${p}.conv1.weight`, [c, c, ...k]], ...norm(`${p}.norm2`, c), [`${p}.conv2.weight`, [c, c, ...k]],
    ];
    const flat = [3, 3, 1], cube = [3, 3, 3];
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['encoder.conv_init.weight', [2, 2, ...flat]],
      ...block('encoder.layers.0.blocks.0', 2, flat), ['encoder.layers.0.downsample.weight', [4, 2, ...flat]],
      ...block('encoder.layers.1.blocks.0', 4, flat), ...block('encoder.layers.1.blocks.1', 4, flat), ['encoder.layers.1.downsample.weight', [8, 4, ...flat]],
      ...block('encoder.layers.2.blocks.0', 8, cube),
      // up_layers.i takes the scale of encoder level 1 − i
      ['up_layers.0.upsample.deconv.weight', [8, 4, ...flat]], ...block('up_layers.0.blocks.0', 4, flat), ['up_layers.0.head.weight', [3, 4, 1, 1, 1]], ['up_layers.0.head.bias', [3]],
      ['up_layers.1.upsample.deconv.weight', [4, 2, ...flat]], ...block('up_layers.1.blocks.0', 2, flat), ['up_layers.1.head.weight', [3, 2, 1, 1, 1]], ['up_layers.1.head.bias', [3]],
    ]);
    expect(net.anisotropicScales).toEqual([[2, 2, 1], [2, 2, 1], [2, 2, 2]]);
    const modules = new Map(net.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect(['', 'encoder', 'encoder.layers.0', 'encoder.layers.0.blocks.0', 'encoder.layers.0.blocks.0.act1', 'encoder.layers.2.downsample', 'up_layers.0', 'up_layers.0.upsample', 'up_layers.0.upsample.deconv']
      .map((n) => modules.get(n))).toEqual(['SegResNetDS', 'SegResEncoder', 'ModuleDict', 'SegResBlock', 'ReLU', 'Identity', 'ModuleDict', 'UpSample', 'ConvTranspose3d']);
    // the deconv's padding (k − 1) // 2 and output padding scale − 1 − (k − 1) % 2, per axis
    const deconv = net.getSubmodule('up_layers.0.upsample.deconv') as ConvTranspose3d;
    expect([deconv.kernelSize, deconv.stride, deconv.padding, deconv.outputPadding, deconv.bias]).toEqual([[3, 3, 1], [2, 2, 1], [1, 1, 0], [1, 1, 0], null]);
    net.dispose();
  });

  it("a state dict in PyTorch's safetensors layout under these keys loads strictly", async () => {
    const net = tiny({ dsdepth: 2, upsampleMode: 'nontrainable' });
    const host = loadDistinctSafetensors(net, 5);
    for (const key of ['up_layers.1.upsample.preconv.weight', 'encoder.layers.1.blocks.1.norm2.running_var']) {
      const state = net.stateDict();
      expect(Array.from(await state.get(key)!.toArray()), key).toEqual(Array.from(host.get(key)!.data));
      dispose([...state.values()]);
    }
    net.dispose();
  });

  it("norm, act and upsampleMode build MONAI's layers; a norm with an affine option gets affine true", () => {
    const instance = tiny({ norm: 'instance', act: ['leakyrelu', { negativeSlope: 0.2 }], upsampleMode: 'nontrainable' });
    const norms = instance.modules().filter((m) => m instanceof InstanceNorm3d) as InstanceNorm3d[];
    expect(norms.length).toBe(2 * (1 + 2 + 1 + 1 + 1));
    expect(norms.every((n) => n.weight !== null && n.bias !== null)).toBe(true);
    expect(instance.modules().filter((m) => m instanceof LeakyReLU).every((a) => (a as LeakyReLU).negativeSlope === 0.2)).toBe(true);
    const upsample = instance.getSubmodule('up_layers.0.upsample.upsample_non_trainable') as Upsample;
    expect(upsample.extraRepr()).toBe("scale_factor=(2.0, 2.0, 2.0), mode='trilinear'");
    expect(upsample.options.alignCorners).toBe(false);
    // an explicit affine false is kept
    const plain = tiny({ norm: ['instance', { affine: false }] });
    expect([...plain.stateSpec().keys()].some((k) => k.includes('norm'))).toBe(false);
    const group = tiny({ norm: ['group', { numGroups: 2 }], act: 'gelu', upsampleMode: 'deconvgroup' });
    expect(group.modules().filter((m) => m instanceof GroupNorm).every((g) => (g as GroupNorm).numGroups === 2)).toBe(true);
    expect(group.modules().some((m) => m instanceof GELU)).toBe(true);
    expect((group.getSubmodule('up_layers.0.upsample.deconvgroup') as ConvTranspose3d).groups).toBe(4);
    const batch = tiny();
    expect(batch.modules().filter((m) => m instanceof BatchNorm3d).every((b) => (b as BatchNorm3d).weight !== null)).toBe(true);
    expect(batch.modules().filter((m) => m instanceof ReLU).length).toBe(2 * 6);
    // the heads of the levels above dsdepth are Identity
    expect(batch.getSubmodule('up_layers.0.head')).toBeInstanceOf(Identity);
    for (const m of [instance, plain, group, batch]) m.dispose();
  });

  it('output shapes: the input size, anisotropic scales, a flat network; the deep supervision heads finest first, in training and evaluation', () => {
    const cases: [SegResNetDSOptions, number[], number[][]][] = [
      [{ dsdepth: 2 }, [2, 1, 4, 8, 12], [[2, 2, 4, 8, 12], [2, 2, 2, 4, 6]]],
      [{ dsdepth: 3, resolution: [1, 1, 4], outChannels: 3 }, [1, 1, 8, 4, 2], [[1, 3, 8, 4, 2], [1, 3, 4, 2, 2]]],
      [{ blocksDown: [2], inChannels: 2, dsdepth: 2 }, [1, 2, 3, 5, 7], [[1, 2, 3, 5, 7]]],
      [{ upsampleMode: 'nontrainable', norm: 'instance', blocksUp: [0, 2] }, [1, 1, 8, 8, 8], [[1, 2, 8, 8, 8]]],
      [{ upsampleMode: 'deconvgroup', resolution: [0.5, 1, 3], blocksDown: [1, 1, 1, 1], dsdepth: 3 }, [1, 1, 8, 8, 4], [[1, 2, 8, 8, 4], [1, 2, 4, 4, 4], [1, 2, 2, 4, 4]]],
    ];
    for (const [options, input, outputs] of cases) {
      const net = tiny(options);
      const x = rand(input, 1, { backend: cpu });
      for (const mode of ['train', 'eval'] as const) {
        net[mode]();
        const all = noGrad(() => net.forwardWithDeepSupervision(x));
        const one = noGrad(() => net.forward(x));
        expect([all.map((t) => t.shape), one.shape], `${JSON.stringify(options)} ${mode}`).toEqual([outputs, outputs[0]]);
        dispose([...all, one]);
      }
      x.dispose();
      net.dispose();
    }
  });

  it('the input must be a multiple of shapeFactor(); bad options are refused by name, leaking nothing', () => {
    const net = tiny(), aniso = tiny({ resolution: [1, 1, 4] });
    expect([net.shapeFactor(), aniso.shapeFactor()]).toEqual([[4, 4, 4], [4, 4, 1]]);
    expect([aniso.isValidShape([1, 1, 4, 8, 3]), aniso.isValidShape([1, 1, 4, 6, 3])]).toEqual([true, false]);
    const threeChannels = tiny({ inChannels: 3 });
    const before = memory().liveTensors;
    const odd = rand([1, 1, 4, 6, 4], 4, { backend: cpu });
    expect(() => net.forward(odd)).toThrow(/^SegResNetDS: input \[1, 1, 4, 6, 4\] has spatial sizes \[4, 6, 4\], which must be multiples of \[4, 4, 4\] \(shapeFactor\)$/);
    expect(() => threeChannels.forward(odd)).toThrow(/^SegResNetDS: input must be \[N, 3, D, H, W\], got \[1, 1, 4, 6, 4\]$/);
    odd.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^SegResNetDS: only spatialDims 3 is supported, got 2$/);
    expect(() => tiny({ blocksUp: [1] })).toThrow(/^SegResNetDS: blocksUp \[1\] needs one entry fewer than blocksDown \[1, 2, 1\] \(one per decoder level\)$/);
    expect(() => tiny({ blocksDown: [] })).toThrow(/^SegResNetDS: blocksDown needs at least one level$/);
    expect(() => tiny({ blocksDown: [1, -2] })).toThrow(/^SegResNetDS: every entry of blocksDown and blocksUp must be an integer ≥ 0, got -2$/);
    expect(() => tiny({ dsdepth: 1.5 })).toThrow(/^SegResNetDS: dsdepth must be an integer ≥ 0, got 1.5$/);
    expect(() => tiny({ initFilters: 0 })).toThrow(/^SegResNetDS: initFilters must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ upsampleMode: 'pixelshuffle' as 'deconv' })).toThrow(/^SegResNetDS: upsampleMode 'pixelshuffle' is not supported; valid: deconv, deconvgroup, nontrainable$/);
    expect(() => tiny({ resolution: [1, -1, 1] })).toThrow(/^SegResNetDS: resolution must be three positive spacings \[x, y, z\], got \[1,-1,1\]$/);
    expect(() => tiny({ resolution: [1, 1] as unknown as [number, number, number] })).toThrow(/^SegResNetDS: resolution must be three positive spacings/);
    expect(() => tiny({ norm: 'layer' as 'batch' })).toThrow(/^SegResNetDS: unknown norm "layer"/);
    expect(() => tiny({ norm: 'group' })).toThrow(/^SegResNetDS: norm 'group' needs its numGroups/);
    expect(() => tiny({ act: 'swish' as 'relu' })).toThrow(/^SegResNetDS: unknown act "swish"/);
    for (const m of [net, aniso, threeChannels]) m.dispose();
  });

  it('preprocess applies to the input before the network (the same weights on twice the input)', async () => {
    const net = tiny(), doubling = tiny({ preprocess: (t) => mulScalar(t, 2) });
    const x = rand([1, 1, 4, 4, 8], 6, { backend: cpu });
    const [got, want] = noGrad(() => [doubling.forward(x), tidy(() => net.forward(mulScalar(x, 2)))]);
    expect(Array.from(await got.toArray())).toEqual(Array.from(await want.toArray()));
    dispose([x, got, want]);
    net.dispose();
    doubling.dispose();
  });
});

/**
 * SegResNetDS written out with the functional ops from MONAI's description, reading the weights by their MONAI
 * names (instance or group norm, deconv or nontrainable upsampling): the heads, finest first
 */
function segResNetDSByHand(net: SegResNetDS, x: Tensor, norm: (t: Tensor, key: string) => Tensor, act: (t: Tensor) => Tensor): Tensor[] {
  const w = (key: string) => net.getParameter(key);
  const scales = net.anisotropicScales ?? net.blocksDown.map(() => [2, 2, 2] as [number, number, number]);
  const kernel = (s: readonly number[]) => s.map((v) => (v > 1 ? 3 : 1)) as [number, number, number];
  const padding = (s: readonly number[]) => kernel(s).map((k) => (k - 1) / 2) as [number, number, number];
  const block = (t: Tensor, key: string, s: readonly number[]) => {
    const conv = (u: Tensor, name: string) => conv3d(u, w(`${key}.${name}.weight`), null, { padding: padding(s) });
    return add(conv(act(norm(conv(act(norm(t, `${key}.norm1`)), 'conv1'), `${key}.norm2`)), 'conv2'), t);
  };
  const levels = net.blocksDown.length;
  let y = conv3d(x, w('encoder.conv_init.weight'), null, { padding: padding(scales[0]) });
  const features: Tensor[] = [];
  for (let i = 0; i < levels; i++) {
    for (let j = 0; j < net.blocksDown[i]; j++) y = block(y, `encoder.layers.${i}.blocks.${j}`, scales[i]);
    features.push(y);
    if (i < levels - 1) y = conv3d(y, w(`encoder.layers.${i}.downsample.weight`), null, { stride: scales[i] as [number, number, number], padding: padding(scales[i]) });
  }
  const heads: Tensor[] = [];
  for (let i = 0; i < levels - 1; i++) {
    const s = scales[levels - 2 - i], key = `up_layers.${i}`;
    const up = net.upsampleMode === 'deconv'
      ? convTranspose3d(y, w(`${key}.upsample.deconv.weight`), null, { stride: s as [number, number, number], padding: padding(s), outputPadding: s.map((v) => v - 1) as [number, number, number] })
      : interpolate(conv3d(y, w(`${key}.upsample.preconv.weight`)), { scaleFactor: s as [number, number, number], mode: 'trilinear', alignCorners: false });
    y = add(up, features[levels - 2 - i]);
    for (let j = 0; j < net.blocksUp[i]; j++) y = block(y, `${key}.blocks.${j}`, s);
    if (levels - 1 - i <= net.dsdepth) heads.unshift(conv3d(y, w(`${key}.head.weight`), w(`${key}.head.bias`)));
  }
  return heads;
}

describe('SegResNetDS forward and backward (cpu)', () => {
  const configurations: [string, SegResNetDSOptions, (t: Tensor) => Tensor][] = [
    ['deconv, instance norm, ReLU, anisotropic, dsdepth 2', { norm: 'instance', resolution: [1, 1, 4], dsdepth: 2, blocksUp: [1, 2] }, relu],
    ['nontrainable, group norm, LeakyReLU(0.2), dsdepth 3', { norm: ['group', { numGroups: 2 }], act: ['leakyrelu', { negativeSlope: 0.2 }], upsampleMode: 'nontrainable', dsdepth: 3 }, (t) => leakyRelu(t, 0.2)],
  ];
  for (const [what, options, act] of configurations) {
    it(`equals the network written out with the functional ops in float64: ${what}`, async () => {
      const net = tiny({ inChannels: 2, outChannels: 3, ...options });
      await toFloat64(net);
      const norm = options.norm === 'instance'
        ? (t: Tensor, key: string) => instanceNorm(t, { weight: net.getParameter(`${key}.weight`), bias: net.getParameter(`${key}.bias`) })
        : (t: Tensor, key: string) => groupNorm(t, 2, net.getParameter(`${key}.weight`), net.getParameter(`${key}.bias`));
      const x = fromArray(randomArray(2 * 2 * 8 * 4 * 12, 5, -1, 1), [2, 2, 8, 4, 12], { backend: cpu, dtype: 'float64' });
      const [got, want] = noGrad(() => [net.forwardWithDeepSupervision(x), tidy(() => segResNetDSByHand(net, x, norm, act))]);
      expect(got.length).toBe(2);
      for (const [i, g] of got.entries()) await expectSameAsWrittenOut(g, want[i], 1e-12);
      dispose([x, ...got, ...want]);
      net.dispose();
    });
  }

  it.each(['deconv', 'nontrainable'] as const)('the gradient with respect to the input passes a float64 gradient check (%s)', async (upsampleMode) => {
    const net = tiny({ upsampleMode, norm: 'instance', blocksDown: [1, 1] });
    await expectInputGradcheck(net, [1, 1, 4, 2, 4]);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps on both deep-supervision heads lower the cross-entropy; every parameter gets a gradient', async () => {
    const { image, target } = ballSegmentation(8);
    const net = tiny({ initFilters: 4, blocksDown: [1, 1, 1], dsdepth: 2, seed: 11 });
    // the coarser head against every 2nd voxel of the label
    const labels = await target.toArray();
    const half = fromArray(Int32Array.from({ length: 64 }, (_, i) => labels[(Math.floor(i / 16) * 2 * 8 + (Math.floor(i / 4) % 4) * 2) * 8 + (i % 4) * 2]), [1, 4, 4, 4], { backend: cpu });
    const lossOf = () => tidy(() => {
      const [out, coarse] = net.forwardWithDeepSupervision(image);
      return add(crossEntropy(out, target), crossEntropy(coarse, half));
    });
    const losses = await adamLosses(net, lossOf, 8);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    dispose([image, target, half]);
    net.dispose();
  });
});
