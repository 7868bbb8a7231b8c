import { describe, expect, it } from 'vitest';
import {
  add, addScalar, conv3d, convTranspose3d, div, gelu, groupNorm, mean, mul, noGrad, pad, sqrt, sum,
} from '../../src/autograd/index.js';
import {
  Conv3d, ConvTranspose3d, GELU, GroupNorm, MedNeXt, MedNeXtBlock, MedNeXtUpBlock, crossEntropy, createMedNeXt,
  loadHostStateDict, type HostTensor, type MedNeXtOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, rand, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import {
  adamLosses, ballSegmentation, expectInputGradcheck, expectOutputShapes, expectSameAsWrittenOut, loadDistinctSafetensors,
} from '../helpers/model-checks.js';

/**
 * MONAI's MedNeXt (monai/networks/nets/mednext.py, blocks in monai/networks/blocks/mednext_block.py): state-dict keys
 * in MONAI's order and shapes, options and their errors, output shapes with and without deep supervision, the forward
 * against the network written out with the functional ops in float64, a float64 gradient check and a few training
 * steps. The parameter counts of MONAI's default and of the S, B, M and L variants are in mednext-count.test.ts.
 */

const tiny = (options: MedNeXtOptions = {}): MedNeXt => new MedNeXt({
  initFilters: 2, blocksDown: [1, 1], blocksBottleneck: 1, blocksUp: [1, 1], kernelSize: 3, seed: 3, backend: cpu, ...options,
});

/** gives the global response norms' parameters (zeros at initialisation, so the identity) random values */
function randomiseGrn(net: MedNeXt, seed: number): void {
  const host = new Map<string, HostTensor>(net.namedParameters().filter(([k]) => k.includes('global_resp'))
    .map(([k, p], i) => [k, { dtype: 'float32', shape: [...p.shape], data: Float32Array.from(randomArray(p.numel(), seed + i, -1, 1)) }]));
  expect(host.size).toBeGreaterThan(0);
  expect(loadHostStateDict(net, host, false).unexpectedKeys).toEqual([]);
}

describe('MedNeXt structure', () => {
  it("the state-dict keys, their order and shapes are MONAI's module tree (residual, GRN, deep supervision)", () => {
    const net = tiny({ inChannels: 2, outChannels: 3, useResidualConnection: true, globalRespNorm: true, deepSupervision: true, encoderExpansionRatio: [2, 3], decoderExpansionRatio: 4, bottleneckExpansionRatio: 5 });
    // MONAI's block registers conv1 (depthwise), norm, conv2 (c → e·c), act, conv3 (e·c → out); the GRN's two
    // parameters are the block's own, so PyTorch lists them before its children's
    const block = (p: string, c: number, out: number, e: number, grn: boolean, transposed = false, res = false): [string, number[]][] => [
      ...(grn ? [[`${p}.global_resp_beta`, [1, e * c, 1, 1, 1]], [`${p}.global_resp_gamma`, [1, e * c, 1, 1, 1]]] as [string, number[]][] : []),
      // the depthwise conv's weight is [c, 1, 3, 3, 3] plain ([out, in / groups, …]) and transposed ([in, out / groups, …])
      [`${p}.conv1.weight`, [c, 1, 3, 3, 3]], [`${p}.conv1.bias`, [c]],
      [`${p}.norm.weight`, [c]], [`${p}.norm.bias`, [c]],
      [`${p}.conv2.weight`, [e * c, c, 1, 1, 1]], [`${p}.conv2.bias`, [e * c]],
      [`${p}.conv3.weight`, [out, e * c, 1, 1, 1]], [`${p}.conv3.bias`, [out]],
      ...(res ? [[`${p}.res_conv.weight`, transposed ? [c, out, 1, 1, 1] : [out, c, 1, 1, 1]], [`${p}.res_conv.bias`, [out]]] as [string, number[]][] : []),
    ];
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['stem.weight', [2, 2, 1, 1, 1]], ['stem.bias', [2]],
      ...block('enc_stages.0.0', 2, 2, 2, true),
      ...block('enc_stages.1.0', 4, 4, 3, true),
      // the down blocks never have a GRN (MONAI does not pass global_resp_norm to them)
      ...block('down_blocks.0', 2, 4, 2, false, false, true),
      ...block('down_blocks.1', 4, 8, 3, false, false, true),
      ...block('bottleneck.0', 8, 8, 5, true),
      ...block('up_blocks.0', 8, 4, 4, true, true, true),
      ...block('up_blocks.1', 4, 2, 4, true, true, true),
      ...block('dec_stages.0.0', 4, 4, 4, true),
      ...block('dec_stages.1.0', 2, 2, 4, true),
      // MedNeXtOutBlock's 1³ conv is a transposed one: weight [in, classes, 1, 1, 1]
      ['out_0.conv_out.weight', [2, 3, 1, 1, 1]], ['out_0.conv_out.bias', [3]],
      ['out_blocks.0.conv_out.weight', [8, 3, 1, 1, 1]], ['out_blocks.0.conv_out.bias', [3]],
      ['out_blocks.1.conv_out.weight', [4, 3, 1, 1, 1]], ['out_blocks.1.conv_out.bias', [3]],
    ]);
    const modules = new Map(net.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect(['', 'stem', 'enc_stages.0.0', 'enc_stages.0.0.act', 'down_blocks.0', 'down_blocks.0.conv1', 'up_blocks.0', 'up_blocks.0.conv1', 'up_blocks.0.res_conv', 'out_0', 'out_0.conv_out']
      .map((n) => modules.get(n))).toEqual(['MedNeXt', 'Conv3d', 'MedNeXtBlock', 'GELU', 'MedNeXtDownBlock', 'Conv3d', 'MedNeXtUpBlock', 'ConvTranspose3d', 'ConvTranspose3d', 'MedNeXtOutBlock', 'ConvTranspose3d']);
    // the module order of a block: conv1, norm, conv2, act, conv3, res_conv
    expect(net.namedModules('', false).map(([n]) => n).filter((n) => n.startsWith('down_blocks.0.')))
      .toEqual(['conv1', 'norm', 'conv2', 'act', 'conv3', 'res_conv'].map((c) => `down_blocks.0.${c}`));
    net.dispose();
  });

  it('the layers are what MONAI builds: depthwise k³ convs (stride 2 in the down and up blocks), a group per channel, exact GELU', () => {
    const net = tiny({ kernelSize: 5, initFilters: 3, blocksDown: [1, 1], blocksUp: [0, 1] });
    const dw = net.getSubmodule('enc_stages.1.0.conv1') as Conv3d;
    expect([dw.groups, dw.kernelSize, dw.padding, dw.stride, dw.inChannels, dw.outChannels]).toEqual([6, [5, 5, 5], [2, 2, 2], [1, 1, 1], 6, 6]);
    const down = net.getSubmodule('down_blocks.1.conv1') as Conv3d;
    expect([down.groups, down.padding, down.stride]).toEqual([6, [2, 2, 2], [2, 2, 2]]);
    const up = net.getSubmodule('up_blocks.0.conv1') as ConvTranspose3d;
    expect([up.groups, up.padding, up.stride, up.outputPadding]).toEqual([12, [2, 2, 2], [2, 2, 2], [0, 0, 0]]);
    const norms = net.modules().filter((m) => m instanceof GroupNorm) as GroupNorm[];
    // one per block: encoder 1 + 1, down 2, bottleneck 1, up 2, decoder 0 + 1
    expect(norms.length).toBe(8);
    expect(norms.every((g) => g.numGroups === g.numChannels)).toBe(true);
    expect(net.modules().filter((m) => m instanceof GELU).every((g) => (g as GELU).approximate === 'none')).toBe(true);
    // without useResidualConnection: no res_conv, and the blocks add nothing
    expect(net.downBlocks.at(0).resConv).toBeNull();
    expect((net.getSubmodule('up_blocks.1') as MedNeXtUpBlock).resConv).toBeNull();
    expect((net.getSubmodule('enc_stages.0.0') as MedNeXtBlock).doRes).toBe(false);
    expect(net.outBlocks).toBeNull();
    expect(net.decStages.at(0).length).toBe(0);
    net.dispose();
  });

  it("PyTorch's default initialisation, seeded by module path: U(±1/√fan_in), GroupNorm 1 and 0, the GRN parameters 0", async () => {
    const net = tiny({ initFilters: 8, globalRespNorm: true });
    // depthwise conv1: fan_in = 1·3³; conv2 of 8 channels: fan_in 8
    const bound = async (key: string) => Math.max(...Array.from(await net.getParameter(key).toArray(), Math.abs));
    expect(await bound('enc_stages.0.0.conv1.weight')).toBeLessThanOrEqual(1 / Math.sqrt(27));
    expect(await bound('enc_stages.0.0.conv1.weight')).toBeGreaterThan(0.8 / Math.sqrt(27));
    expect(await bound('enc_stages.0.0.conv2.weight')).toBeLessThanOrEqual(1 / Math.sqrt(8));
    expect(Array.from(await net.getParameter('enc_stages.0.0.norm.weight').toArray())).toEqual(Array(8).fill(1));
    expect(Array.from(await net.getParameter('enc_stages.0.0.norm.bias').toArray())).toEqual(Array(8).fill(0));
    expect(Array.from(await net.getParameter('bottleneck.0.global_resp_gamma').toArray()).every((v) => v === 0)).toBe(true);
    const [again, other] = [tiny({ initFilters: 8, globalRespNorm: true }), tiny({ initFilters: 8, globalRespNorm: true, seed: 4 })];
    const key = 'up_blocks.0.conv3.weight';
    expect(Array.from(await again.getParameter(key).toArray())).toEqual(Array.from(await net.getParameter(key).toArray()));
    expect(Array.from(await other.getParameter(key).toArray())).not.toEqual(Array.from(await net.getParameter(key).toArray()));
    for (const m of [net, again, other]) m.dispose();
  });

  it("a state dict in PyTorch's safetensors layout under these keys loads strictly", async () => {
    const net = tiny({ useResidualConnection: true, globalRespNorm: true, deepSupervision: true });
    const host = loadDistinctSafetensors(net, 0);
    for (const key of ['up_blocks.1.res_conv.weight', 'bottleneck.0.global_resp_beta', 'out_blocks.1.conv_out.bias']) {
      expect(Array.from(await net.getParameter(key).toArray()), key).toEqual(Array.from(host.get(key)!.data));
    }
    net.dispose();
  });

  it('output shapes: the input size, inChannels and outChannels, kernels 1 to 7, empty stages; deep supervision heads at 1/2, 1/4, … of it', () => {
    expectOutputShapes(tiny, [
      [{}, [2, 1, 4, 8, 12], [2, 2, 4, 8, 12]],
      [{ inChannels: 3, outChannels: 4, useResidualConnection: true, globalRespNorm: true }, [1, 3, 8, 4, 4], [1, 4, 8, 4, 4]],
      [{ kernelSize: 7, blocksDown: [0, 2, 1], blocksUp: [1, 0, 2], blocksBottleneck: 0 }, [1, 1, 8, 8, 16], [1, 2, 8, 8, 16]],
      [{ kernelSize: 1, useResidualConnection: true }, [1, 1, 4, 4, 4], [1, 2, 4, 4, 4]],
      [{ kernelSize: 5, deepSupervision: true }, [1, 1, 4, 4, 8], [1, 2, 4, 4, 8]],
    ]);
    const net = tiny({ blocksDown: [1, 1, 1], blocksUp: [1, 1, 1], deepSupervision: true, outChannels: 3 });
    const x = rand([2, 1, 8, 16, 8], 1, { backend: cpu });
    for (const mode of ['train', 'eval'] as const) {
      net[mode]();
      const outputs = noGrad(() => net.forwardWithDeepSupervision(x));
      expect(outputs.map((t) => t.shape), mode).toEqual([[2, 3, 8, 16, 8], [2, 3, 4, 8, 4], [2, 3, 2, 4, 2], [2, 3, 1, 2, 1]]);
      dispose(outputs);
    }
    x.dispose();
    net.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny(), twoChannels = tiny({ inChannels: 2 });
    const before = memory().liveTensors;
    const odd = rand([1, 1, 4, 6, 4], 4, { backend: cpu });
    expect(() => net.forward(odd)).toThrow(/^MedNeXt: input \[1, 1, 4, 6, 4\] has spatial sizes \[4, 6, 4\], which must be multiples of 4 \(2\^2 for 2 levels of blocksDown\)$/);
    expect(() => twoChannels.forward(odd)).toThrow(/^MedNeXt: input must be \[N, 2, D, H, W\], got \[1, 1, 4, 6, 4\]$/);
    expect(() => net.forwardWithDeepSupervision(odd)).toThrow(/^MedNeXt: forwardWithDeepSupervision needs deepSupervision: true/);
    odd.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^MedNeXt: only spatialDims 3 is supported, got 2$/);
    expect(() => tiny({ kernelSize: 4 })).toThrow(/^MedNeXt: kernelSize must be an odd integer ≥ 1, got 4$/);
    expect(() => tiny({ blocksUp: [1] })).toThrow(/^MedNeXt: blocksUp \[1\] needs as many levels as blocksDown \[1, 1\]/);
    expect(() => tiny({ blocksDown: [], blocksUp: [] })).toThrow(/^MedNeXt: blocksDown needs at least one level$/);
    expect(() => tiny({ blocksDown: [1, -1] })).toThrow(/^MedNeXt: every entry of blocksDown and blocksUp must be an integer ≥ 0, got -1$/);
    expect(() => tiny({ blocksBottleneck: 1.5 })).toThrow(/^MedNeXt: blocksBottleneck must be an integer ≥ 0, got 1.5$/);
    expect(() => tiny({ encoderExpansionRatio: [2, 2, 2] })).toThrow(/^MedNeXt: encoderExpansionRatio \[2, 2, 2\] needs one entry per level of blocksDown \(2\)$/);
    expect(() => tiny({ decoderExpansionRatio: 0 })).toThrow(/^MedNeXt: every entry of decoderExpansionRatio must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ bottleneckExpansionRatio: 0 })).toThrow(/^MedNeXt: bottleneckExpansionRatio must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ initFilters: 0 })).toThrow(/^MedNeXt: initFilters must be an integer ≥ 1, got 0$/);
    expect(() => tiny({ normType: 'layer' as 'group' })).toThrow(/^MedNeXt: normType 'layer' is not supported; valid: group \(MONAI's 'layer' normalises over \[channels, 3, 3, 3\]/);
    expect(() => createMedNeXt('XL' as 'S')).toThrow(/^MedNeXt: unknown variant 'XL'; valid: S, B, M, L$/);
    net.dispose();
    twoChannels.dispose();
  });
});

/**
 * MedNeXt written out with the functional ops from MONAI's blocks, reading the weights by their MONAI names: the
 * output, then (with deep supervision) the heads finest first
 */
function medNeXtByHand(net: MedNeXt, x: Tensor, residual: boolean): Tensor[] {
  const w = (key: string) => net.getParameter(key);
  const has = (key: string) => net.namedParameters().some(([k]) => k === key);
  const p = Math.floor(net.kernelSize / 2);
  // norm, expansion, GELU, GRN (when the block has one), compression, from conv1's output
  const rest = (t: Tensor, key: string): Tensor => {
    const c = t.shape[1];
    let y = gelu(conv3d(groupNorm(t, c, w(`${key}.norm.weight`), w(`${key}.norm.bias`)), w(`${key}.conv2.weight`), w(`${key}.conv2.bias`)));
    if (has(`${key}.global_resp_gamma`)) {
      const gx = sqrt(sum(mul(y, y), [2, 3, 4], true));
      const nx = div(gx, addScalar(mean(gx, 1, true), 1e-6));
      y = add(add(mul(w(`${key}.global_resp_gamma`), mul(y, nx)), w(`${key}.global_resp_beta`)), y);
    }
    return conv3d(y, w(`${key}.conv3.weight`), w(`${key}.conv3.bias`));
  };
  const block = (t: Tensor, key: string) => {
    const y = rest(conv3d(t, w(`${key}.conv1.weight`), w(`${key}.conv1.bias`), { padding: p, groups: t.shape[1] }), key);
    return residual ? add(t, y) : y;
  };
  const down = (t: Tensor, key: string) => {
    const y = rest(conv3d(t, w(`${key}.conv1.weight`), w(`${key}.conv1.bias`), { stride: 2, padding: p, groups: t.shape[1] }), key);
    return residual ? add(y, conv3d(t, w(`${key}.res_conv.weight`), w(`${key}.res_conv.bias`), { stride: 2 })) : y;
  };
  const before = (t: Tensor) => pad(t, [1, 0, 1, 0, 1, 0]);
  const up = (t: Tensor, key: string) => {
    const y = before(rest(convTranspose3d(t, w(`${key}.conv1.weight`), w(`${key}.conv1.bias`), { stride: 2, padding: p, groups: t.shape[1] }), key));
    return residual ? add(y, before(convTranspose3d(t, w(`${key}.res_conv.weight`), w(`${key}.res_conv.bias`), { stride: 2 }))) : y;
  };
  const stage = (t: Tensor, key: string, n: number) => Array.from({ length: n }).reduce<Tensor>((y, _, j) => block(y, `${key}.${j}`), t);
  const levels = net.blocksDown.length;
  let y = conv3d(x, w('stem.weight'), w('stem.bias'));
  const features: Tensor[] = [];
  for (let i = 0; i < levels; i++) {
    y = stage(y, `enc_stages.${i}`, net.blocksDown[i]);
    features.push(y);
    y = down(y, `down_blocks.${i}`);
  }
  y = stage(y, 'bottleneck', net.bottleneck.length);
  const heads: Tensor[] = [];
  for (let i = 0; i < levels; i++) {
    if (net.deepSupervision) heads.unshift(convTranspose3d(y, w(`out_blocks.${i}.conv_out.weight`), w(`out_blocks.${i}.conv_out.bias`)));
    y = stage(add(up(y, `up_blocks.${i}`), features[levels - 1 - i]), `dec_stages.${i}`, net.blocksUp[i]);
  }
  return [convTranspose3d(y, w('out_0.conv_out.weight'), w('out_0.conv_out.bias')), ...heads];
}

describe('MedNeXt forward and backward (cpu)', () => {
  it.each([
    ['kernel 3, residual, GRN, deep supervision', { useResidualConnection: true, globalRespNorm: true, deepSupervision: true, encoderExpansionRatio: [2, 3], decoderExpansionRatio: [3, 2] }],
    ['kernel 5, no residual, two blocks per stage', { kernelSize: 5, blocksDown: [2, 1], blocksUp: [1, 2], blocksBottleneck: 2 }],
  ] as [string, MedNeXtOptions][])('equals the network written out with the functional ops in float64: %s', async (_, options) => {
    const net = tiny({ inChannels: 2, outChannels: 3, ...options });
    if (options.globalRespNorm) randomiseGrn(net, 20);
    await toFloat64(net);
    const x = fromArray(randomArray(2 * 2 * 8 * 4 * 12, 5, -1, 1), [2, 2, 8, 4, 12], { backend: cpu, dtype: 'float64' });
    const [got, want] = noGrad(() => [
      options.deepSupervision ? net.forwardWithDeepSupervision(x) : [net.forward(x)],
      tidy(() => medNeXtByHand(net, x, options.useResidualConnection ?? false)),
    ]);
    expect(got.length).toBe(options.deepSupervision ? 3 : 1);
    for (const [i, g] of got.entries()) await expectSameAsWrittenOut(g, want[i], 1e-12);
    if (options.deepSupervision) {
      // forward gives the first of them
      const first = noGrad(() => net.forward(x));
      expect(Array.from(await first.toArray())).toEqual(Array.from(await got[0].toArray()));
      first.dispose();
    }
    dispose([x, ...got, ...want]);
    net.dispose();
  });

  it('the gradient with respect to the input passes a float64 gradient check (residual, GRN with random parameters)', async () => {
    const net = tiny({ useResidualConnection: true, globalRespNorm: true, blocksDown: [1], blocksUp: [1] });
    randomiseGrn(net, 30);
    await expectInputGradcheck(net, [1, 1, 4, 2, 4]);
    net.dispose();
  });

  it('a step leaks nothing; a few Adam steps on every deep-supervision output lower the cross-entropy; every parameter gets a gradient', async () => {
    const { image, target } = ballSegmentation(8);
    const net = tiny({ initFilters: 4, useResidualConnection: true, globalRespNorm: true, deepSupervision: true, seed: 11 });
    // each head's loss at its own size, against every 2nd (4th) voxel of the label, as a MONAI DeepSupervisionLoss
    const labels = await target.toArray();
    const targets = [2, 4].map((step) => subsample(labels, 8, step));
    const lossOf = () => tidy(() => {
      const [out, ...heads] = net.forwardWithDeepSupervision(image);
      return heads.reduce((l, h, i) => add(l, crossEntropy(h, targets[i])), crossEntropy(out, target));
    });
    const losses = await adamLosses(net, lossOf, 8);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    dispose([image, target, ...targets]);
    net.dispose();
  });
});

/** every `step`-th voxel of a side³ label's host values, from the first, as a [1, D, H, W] int32 tensor on cpu */
function subsample(values: ArrayLike<number>, side: number, step: number): Tensor {
  const out: number[] = [];
  for (let z = 0; z < side; z += step) for (let y = 0; y < side; y += step) for (let x = 0; x < side; x += step) out.push(values[(z * side + y) * side + x]);
  return fromArray(Int32Array.from(out), [1, side / step, side / step, side / step], { backend: cpu });
}
