import { describe, expect, it } from 'vitest';
import {
  add, backward, concat, conv3d, flatten, gather, gelu, gradcheck, layerNorm, matmul, mulScalar, noGrad, pad, permute, reshape,
  slice, softmax, square, sum, transpose,
} from '../../src/autograd/index.js';
import {
  DropPath, InstanceNorm3d, Parameter, PatchEmbed, SwinTransformer, SwinUNETR, UnetResBlock, computeMask, relativePositionIndex, type MergingMode, type SwinUNETROptions,
} from '../../src/models/index.js';
import { batchNorm, convTranspose3d, leakyRelu } from '../../src/autograd/index.js';
import { dispose, fromArray, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';

/**
 * MONAI's SwinUNETR (monai/networks/nets/swin_unetr.py): MONAI's parameter count and state-dict keys, the
 * relative position index and the shifted-window mask against loop references, the Swin transformer and the whole
 * network against a float64 re-implementation that gathers each window's voxels by index (no window_partition, no
 * roll), a gradient check, stochastic depth and the errors. The smallest SwinUNETR input is 32 × 32 × 64: sizes
 * must be divisible by 2⁵, and the 1/32 bottleneck needs more than one voxel for its instance norm (as PyTorch's).
 */

const tiny = (options: Partial<SwinUNETROptions> = {}): SwinUNETR => new SwinUNETR({
  inChannels: 1, outChannels: 2, featureSize: 12, depths: [2, 1, 1, 1], numHeads: [3, 3, 3, 3], windowSize: 4, seed: 3, backend: cpu, ...options,
});

/** a Swin transformer whose stages see windows clipped, padded, shifted along some axes only, and unshifted */
const tinyTransformer = (options: { downsample?: MergingMode; patchNorm?: boolean; seed?: number } = {}) => new SwinTransformer({
  inChannels: 2, embedDim: 6, windowSize: [3, 3, 3], patchSize: [2, 2, 2], depths: [2, 2, 1, 1], numHeads: [2, 3, 3, 4], backend: cpu, seed: 11, ...options,
});

describe('SwinUNETR structure', () => {
  it("MONAI's SwinUNETR(in_channels=1, out_channels=14, feature_size=48) has 62 187 296 parameters (the BTCV tutorial's count)", () => {
    // f = 48, window 7 (a bias table of 13³ = 2197 rows per head), heads [3, 6, 12, 24], mlp ratio 4.
    // A Swin block with C channels and h heads: norm1 2C + table 2197h + qkv 3C² + 3C + proj C² + C + norm2 2C
    // + mlp 8C² + 5C = 12C² + 13C + 2197h; PatchMerging: reduction 16C² (no bias) + norm 16C.
    //   patch_embed Conv3d 1→48, 2³, bias                                                     432
    //   layers1 C 48, h 3:   2·34 863 + 37 632                                            107 358
    //   layers2 C 96, h 6:   2·125 022 + 148 992                                          399 036
    //   layers3 C 192, h 12: 2·471 228 + 592 896                                        1 535 352
    //   layers4 C 384, h 24: 2·1 827 192 + 2 365 440                                    6 019 824
    // UnetResBlock(a→b) = 27ab + 27b² (+ ab when a ≠ b), no conv bias, InstanceNorm3d without affine;
    // UnetrUpBlock(a→b) = transposed conv 8ab + UnetResBlock(2b→b) = 8ab + 83b².
    //   encoder1 1→48 63 552, encoder2 48 124 416, encoder3 96 497 664, encoder4 192 1 990 656,
    //   encoder10 768 31 850 496; decoder5 768→384 14 598 144, decoder4 384→192 3 649 536,
    //   decoder3 192→96 912 384, decoder2 96→48 228 096, decoder1 48→48 209 664; out 48→14 + bias 686
    //   swinViT 8 062 002 + convolutions 54 125 294 = 62 187 296
    const net = new SwinUNETR({ inChannels: 1, outChannels: 14, featureSize: 48, backend: cpu });
    expect(net.swinViT.numParameters()).toBe(8_062_002);
    expect(net.numParameters()).toBe(62_187_296);
    net.dispose();
  });

  it("has MONAI's state-dict keys and shapes in MONAI's order (tiny configuration)", () => {
    const net = tiny({ inChannels: 2, outChannels: 3, depths: [2, 1, 0, 1] });
    // f 12, window 4: a table of 7³ = 343 rows, an index [64, 64]
    const block = (p: string, c: number): [string, number[]][] => [
      [`${p}.norm1.weight`, [c]], [`${p}.norm1.bias`, [c]],
      [`${p}.attn.relative_position_bias_table`, [343, 3]], [`${p}.attn.relative_position_index`, [64, 64]],
      [`${p}.attn.qkv.weight`, [3 * c, c]], [`${p}.attn.qkv.bias`, [3 * c]], [`${p}.attn.proj.weight`, [c, c]], [`${p}.attn.proj.bias`, [c]],
      [`${p}.norm2.weight`, [c]], [`${p}.norm2.bias`, [c]],
      [`${p}.mlp.linear1.weight`, [4 * c, c]], [`${p}.mlp.linear1.bias`, [4 * c]], [`${p}.mlp.linear2.weight`, [c, 4 * c]], [`${p}.mlp.linear2.bias`, [c]],
    ];
    const merging = (p: string, c: number): [string, number[]][] => [
      [`${p}.downsample.reduction.weight`, [2 * c, 8 * c]], [`${p}.downsample.norm.weight`, [8 * c]], [`${p}.downsample.norm.bias`, [8 * c]],
    ];
    const res = (p: string, a: number, b: number): [string, number[]][] => [
      [`${p}.conv1.conv.weight`, [b, a, 3, 3, 3]], [`${p}.conv2.conv.weight`, [b, b, 3, 3, 3]],
      ...(a === b ? [] : [[`${p}.conv3.conv.weight`, [b, a, 1, 1, 1]] as [string, number[]]]),
    ];
    const up = (p: string, a: number, b: number): [string, number[]][] => [[`${p}.transp_conv.conv.weight`, [a, b, 2, 2, 2]], ...res(`${p}.conv_block`, 2 * b, b)];
    expect([...net.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['swinViT.patch_embed.proj.weight', [12, 2, 2, 2, 2]], ['swinViT.patch_embed.proj.bias', [12]],
      ...block('swinViT.layers1.0.blocks.0', 12), ...block('swinViT.layers1.0.blocks.1', 12), ...merging('swinViT.layers1.0', 12),
      ...block('swinViT.layers2.0.blocks.0', 24), ...merging('swinViT.layers2.0', 24),
      ...merging('swinViT.layers3.0', 48),
      ...block('swinViT.layers4.0.blocks.0', 96), ...merging('swinViT.layers4.0', 96),
      ...res('encoder1.layer', 2, 12), ...res('encoder2.layer', 12, 12), ...res('encoder3.layer', 24, 24), ...res('encoder4.layer', 48, 48),
      ...res('encoder10.layer', 192, 192),
      ...up('decoder5', 192, 96), ...up('decoder4', 96, 48), ...up('decoder3', 48, 24), ...up('decoder2', 24, 12), ...up('decoder1', 12, 12),
      ['out.conv.conv.weight', [3, 12, 1, 1, 1]], ['out.conv.conv.bias', [3]],
    ]);
    expect(net.getBuffer('swinViT.layers1.0.blocks.0.attn.relative_position_index').dtype).toBe('int32');
    const modules = new Map(net.namedModules().map(([name, m]) => [name, m.typeName]));
    expect(['', 'swinViT', 'swinViT.patch_embed', 'swinViT.patch_embed.proj', 'swinViT.pos_drop', 'swinViT.layers1', 'swinViT.layers1.0',
      'swinViT.layers1.0.blocks.0', 'swinViT.layers1.0.blocks.0.attn', 'swinViT.layers1.0.blocks.0.attn.attn_drop', 'swinViT.layers1.0.blocks.0.attn.softmax',
      'swinViT.layers1.0.blocks.0.drop_path', 'swinViT.layers1.0.blocks.0.mlp', 'swinViT.layers1.0.downsample', 'encoder1', 'encoder1.layer',
      'decoder1', 'out'].map((name) => modules.get(name))).toEqual([
      'SwinUNETR', 'SwinTransformer', 'PatchEmbed', 'Conv3d', 'Dropout', 'ModuleList', 'BasicLayer', 'SwinTransformerBlock', 'WindowAttention',
      'Dropout', 'Softmax', 'Identity', 'MLPBlock', 'PatchMerging', 'UnetrBasicBlock', 'UnetResBlock', 'UnetrUpBlock', 'UnetOutBlock',
    ]);
    expect(net.modules().filter((m) => m instanceof InstanceNorm3d).every((m) => (m as InstanceNorm3d).weight === null)).toBe(true);
    net.dispose();
  });

  it('patchNorm, mergingv2, useV2 and dropoutPathRate change the module tree as in MONAI', () => {
    const net = tiny({ patchNorm: true, downsample: 'mergingv2', useV2: true, dropoutPathRate: 0.3 });
    const keys = [...net.stateSpec().keys()];
    expect(keys.slice(0, 4)).toEqual(['swinViT.patch_embed.proj.weight', 'swinViT.patch_embed.proj.bias', 'swinViT.patch_embed.norm.weight', 'swinViT.patch_embed.norm.bias']);
    // MONAI registers layers1 … layers4, then layers1c … layers4c
    const stages = [...new Set(keys.filter((k) => k.startsWith('swinViT.layers')).map((k) => k.split('.')[1]))];
    expect(stages).toEqual(['layers1', 'layers2', 'layers3', 'layers4', 'layers1c', 'layers2c', 'layers3c', 'layers4c']);
    expect(keys.filter((k) => k.startsWith('swinViT.layers3c.'))).toEqual(['swinViT.layers3c.0.layer.conv1.conv.weight', 'swinViT.layers3c.0.layer.conv2.conv.weight']);
    expect(net.getSubmodule('swinViT.layers1.0.downsample').typeName).toBe('PatchMergingV2');
    // stochastic depth rises linearly over the 5 blocks: torch.linspace(0, 0.3, 5)
    const rates = net.modules().filter((m) => m.typeName === 'SwinTransformerBlock').map((b) => b.getSubmodule('drop_path'));
    expect(rates[0].typeName).toBe('Identity');
    expect(rates.slice(1).map((m) => (m as DropPath).p)).toEqual([0.075, 0.15, 0.225, 0.3].map((v) => expect.closeTo(v, 12)));
    net.dispose();
  });

  it('PatchEmbed pads an input not divisible by the patch with zeros at the end of each axis, as MONAI', async () => {
    const embed = new PatchEmbed([2, 2, 2], 1, 3, false, { seed: 2, backend: cpu });
    const x = randn([1, 1, 3, 4, 5], 1, { backend: cpu });
    const [got, want] = noGrad(() => [embed.forward(x), conv3d(pad(x, [0, 1, 0, 0, 0, 1]), embed.proj.weight, embed.proj.bias, { stride: 2 })]);
    expect(got.shape).toEqual([1, 3, 2, 2, 3]);
    expect(Array.from(await got.toArray())).toEqual(Array.from(await want.toArray()));
    dispose([x, got, want]);
    embed.dispose();
  });

  it("relative_position_index equals MONAI's construction written as loops (window [2, 3, 4])", async () => {
    const [w0, w1, w2] = [2, 3, 4], n = w0 * w1 * w2;
    // MONAI: coords (3, n) by meshgrid 'ij', relative = coords[:, :, None] − coords[:, None, :], shifted by w − 1 and
    // weighted by (2w1 − 1)(2w2 − 1) and 2w2 − 1, summed over the axes
    const coords: number[][] = [];
    for (let a = 0; a < w0; a++) for (let b = 0; b < w1; b++) for (let c = 0; c < w2; c++) coords.push([a, b, c]);
    const want: number[] = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const r = [0, 1, 2].map((k) => coords[i][k] - coords[j][k] + [w0, w1, w2][k] - 1);
      want.push(r[0] * (2 * w1 - 1) * (2 * w2 - 1) + r[1] * (2 * w2 - 1) + r[2]);
    }
    expect(Array.from(relativePositionIndex([w0, w1, w2]))).toEqual(want);
    // every offset of the (2w − 1)³ table is reached, the diagonal is the centre
    expect(new Set(want).size).toBe(3 * 5 * 7);
    expect(want[0]).toBe((3 * 5 * 7 - 1) / 2);
    const net = new SwinTransformer({ inChannels: 1, embedDim: 3, windowSize: [w0, w1, w2], patchSize: [1, 1, 1], depths: [1, 1, 1, 1], numHeads: [1, 1, 1, 1], backend: cpu });
    expect(Array.from(await net.getBuffer('layers1.0.blocks.0.attn.relative_position_index').toArray())).toEqual(want);
    net.dispose();
  });

  it("the shifted-window mask equals the region rule: 0 where two voxels of a window share a region, −100 elsewhere", () => {
    // padded size [6, 4, 9], window [3, 2, 3], shift [1, 0, 1] (no shift along H: one region there, as MONAI's loops give)
    const dims = [6, 4, 9], window = [3, 2, 3], shift = [1, 0, 1], n = 18;
    const region = (p: number, axis: number) => (shift[axis] === 0 ? 0 : p < dims[axis] - window[axis] ? 0 : p < dims[axis] - shift[axis] ? 1 : 2);
    const want: number[] = [];
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) {
      const labels: string[] = [];
      for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 3; k++) {
        labels.push([region(a * 3 + i, 0), region(b * 2 + j, 1), region(c * 3 + k, 2)].join());
      }
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) want.push(labels[i] === labels[j] ? 0 : -100);
    }
    const mask = computeMask(dims, window, shift);
    expect(mask.length).toBe(12 * n * n);
    expect(Array.from(mask)).toEqual(want);
    expect(want.filter((v) => v === -100).length).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------------------------------------ float64 reference

/** the float64 re-implementation's view of the configuration */
interface SwinReferenceConfig {
  windowSize: readonly number[];
  numHeads: readonly number[];
  depths: readonly number[];
  mode: MergingMode;
  patchNorm: boolean;
  normalize: boolean;
}

const channelsLast = (t: Tensor) => permute(t, [0, 2, 3, 4, 1]);
const channelsFirst = (t: Tensor) => permute(t, [0, 4, 1, 2, 3]);

/**
 * One Swin block written from the paper's definition: each (shifted) window's voxels are gathered by index from the
 * zero-padded grid (the voxel at rolled position p is the one at (p + shift) mod padded size), attended with the
 * bias table read at MONAI's index of the configured window (its top-left n × n block) and the region mask, and
 * scattered back by the inverse index.
 */
function swinBlockByHand(y: Tensor, key: string, heads: number, table: Float64Array, config: SwinReferenceConfig, shifted: boolean, w: (k: string) => Tensor): Tensor {
  const [b, ...dims] = y.shape.slice(0, 4), c = y.shape[4], hd = c / heads;
  const win = dims.map((m, i) => Math.min(m, config.windowSize[i]));
  const shift = dims.map((m, i) => (shifted && m > config.windowSize[i] ? Math.floor(config.windowSize[i] / 2) : 0));
  const padded = dims.map((m, i) => Math.ceil(m / win[i]) * win[i]);
  const n = win[0] * win[1] * win[2], grid = padded.map((p, i) => p / win[i]), nw = grid[0] * grid[1] * grid[2];
  const linear = (t: Tensor, k: string) => add(matmul(t, transpose(w(`${k}.weight`), 0, 1)), w(`${k}.bias`));
  const ln = (t: Tensor, k: string) => layerNorm(t, c, { weight: w(`${k}.weight`), bias: w(`${k}.bias`) });
  const normed = pad(ln(y, `${key}.norm1`), [0, 0, 0, padded[2] - dims[2], 0, padded[1] - dims[1], 0, padded[0] - dims[0]]);
  const rows = reshape(normed, [b * padded[0] * padded[1] * padded[2], c]);
  // source row of each window voxel, windows row-major, voxels row-major in their window
  const source: number[] = [];
  const regions: number[][] = [];
  const region = (p: number, axis: number) => (shift[axis] === 0 ? 0 : p < padded[axis] - win[axis] ? 0 : p < padded[axis] - shift[axis] ? 1 : 2);
  for (let s = 0; s < b; s++) for (let a0 = 0; a0 < grid[0]; a0++) for (let a1 = 0; a1 < grid[1]; a1++) for (let a2 = 0; a2 < grid[2]; a2++) {
    const labels: number[] = [];
    for (let i = 0; i < win[0]; i++) for (let j = 0; j < win[1]; j++) for (let k = 0; k < win[2]; k++) {
      const p = [a0 * win[0] + i, a1 * win[1] + j, a2 * win[2] + k];
      const q = p.map((v, axis) => (v + shift[axis]) % padded[axis]);
      source.push(((s * padded[0] + q[0]) * padded[1] + q[1]) * padded[2] + q[2]);
      labels.push((region(p[0], 0) * 3 + region(p[1], 1)) * 3 + region(p[2], 2));
    }
    regions.push(labels);
  }
  const index = (order: number[]) => fromArray(order.flatMap((r) => new Array<number>(c).fill(r)), [order.length, c], { dtype: 'int32', backend: cpu });
  const windows = reshape(gather(rows, 0, index(source)), [b * nw, n, c]);
  // bias[h][i][j] = table[index of the configured window at (i, j)][h], i and j read as voxels of the configured window
  const [W0, W1, W2] = config.windowSize;
  const at = (i: number) => [Math.floor(i / (W1 * W2)), Math.floor(i / W2) % W1, i % W2];
  const bias = new Float64Array(heads * n * n);
  for (let h = 0; h < heads; h++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const [p, q] = [at(i), at(j)];
    const row = (p[0] - q[0] + W0 - 1) * (2 * W1 - 1) * (2 * W2 - 1) + (p[1] - q[1] + W1 - 1) * (2 * W2 - 1) + p[2] - q[2] + W2 - 1;
    bias[(h * n + i) * n + j] = table[row * heads + h];
  }
  const mask = new Float64Array(b * nw * n * n);
  regions.forEach((labels, win2) => { for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) mask[(win2 * n + i) * n + j] = labels[i] === labels[j] ? 0 : -100; });
  const qkv = linear(windows, `${key}.attn.qkv`);
  const part = (i: number) => permute(reshape(slice(qkv, 2, i * c, (i + 1) * c), [b * nw, n, heads, hd]), [0, 2, 1, 3]);
  let scores = mulScalar(matmul(part(0), transpose(part(1), -2, -1)), hd ** -0.5);
  scores = add(add(scores, fromArray(bias, [heads, n, n], { dtype: 'float64', backend: cpu })), fromArray(mask, [b * nw, 1, n, n], { dtype: 'float64', backend: cpu }));
  const attended = linear(reshape(permute(matmul(softmax(scores, -1), part(2)), [0, 2, 1, 3]), [b * nw, n, c]), `${key}.attn.proj`);
  const inverse = new Array<number>(source.length);
  source.forEach((r, i) => { inverse[r] = i; });
  const back = reshape(gather(reshape(attended, [b * nw * n, c]), 0, index(inverse)), [b, ...padded, c]);
  const cropped = slice(slice(slice(back, 1, 0, dims[0]), 2, 0, dims[1]), 3, 0, dims[2]);
  const x = add(y, cropped);
  return add(x, linear(gelu(linear(ln(x, `${key}.norm2`), `${key}.mlp.linear1`)), `${key}.mlp.linear2`));
}

const MERGE_OFFSETS: Record<MergingMode, number[][]> = {
  // MONAI's x0 … x7 of PatchMerging, and itertools.product(range(2), range(2), range(2)) of PatchMergingV2
  merging: [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]],
  mergingv2: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => [i >> 2, (i >> 1) & 1, i & 1]),
};

/**
 * the Swin transformer's five hidden states, written out (tables: every block's bias table, in order); beforeStage:
 * swinunetr_v2's convolution block applied to a stage's input
 */
function swinViTByHand(x: Tensor, prefix: string, tables: Map<string, Float64Array>, config: SwinReferenceConfig, w: (k: string) => Tensor,
  beforeStage: (stage: number, y: Tensor) => Tensor = (_, y) => y): Tensor[] {
  const project = (t: Tensor) => (config.normalize ? channelsFirst(layerNorm(channelsLast(t), t.shape[1])) : t);
  let y = conv3d(x, w(`${prefix}patch_embed.proj.weight`), w(`${prefix}patch_embed.proj.bias`), { stride: 2 });
  if (config.patchNorm) y = channelsFirst(layerNorm(channelsLast(y), y.shape[1], { weight: w(`${prefix}patch_embed.norm.weight`), bias: w(`${prefix}patch_embed.norm.bias`) }));
  const out = [project(y)];
  for (let stage = 0; stage < 4; stage++) {
    let t = channelsLast(beforeStage(stage, y));
    for (let i = 0; i < config.depths[stage]; i++) {
      const key = `${prefix}layers${stage + 1}.0.blocks.${i}`;
      t = swinBlockByHand(t, key, config.numHeads[stage], tables.get(key)!, config, i % 2 === 1, w);
    }
    const [, d, h, wd, c] = t.shape;
    const even = pad(t, [0, 0, 0, wd % 2, 0, h % 2, 0, d % 2]);
    const merged = concat(MERGE_OFFSETS[config.mode].map(([i, j, k]) => slice(slice(slice(even, 1, i, undefined, 2), 2, j, undefined, 2), 3, k, undefined, 2)), -1);
    const key = `${prefix}layers${stage + 1}.0.downsample`;
    const normed = layerNorm(merged, 8 * c, { weight: w(`${key}.norm.weight`), bias: w(`${key}.norm.bias`) });
    y = channelsFirst(matmul(normed, transpose(w(`${key}.reduction.weight`), 0, 1)));
    out.push(project(y));
  }
  return out;
}

async function biasTables(net: SwinTransformer | SwinUNETR): Promise<Map<string, Float64Array>> {
  const tables = new Map<string, Float64Array>();
  for (const [name, p] of net.namedParameters()) {
    if (name.endsWith('.attn.relative_position_bias_table')) tables.set(name.slice(0, -'.attn.relative_position_bias_table'.length), Float64Array.from(await p.toArray()));
  }
  return tables;
}

async function expectSame(got: Tensor, want: Tensor): Promise<void> {
  expect(got.shape).toEqual(want.shape);
  const [g, e] = [await got.toArray(), await want.toArray()];
  const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expect(scale).toBeGreaterThan(0.1);
  g.forEach((v, i) => expect(Math.abs(v - e[i])).toBeLessThanOrEqual(1e-12 * scale));
}

const referenceOf = (mode: MergingMode, patchNorm: boolean, normalize: boolean): SwinReferenceConfig =>
  ({ windowSize: [3, 3, 3], numHeads: [2, 3, 3, 4], depths: [2, 2, 1, 1], mode, patchNorm, normalize });

describe('SwinUNETR forward and backward (cpu, float64)', () => {
  it.each([
    ['merging', false, true], ['mergingv2', true, false],
  ] as const)('the Swin transformer equals the windows gathered by hand (%s, patchNorm %s, normalize %s)', async (mode, patchNorm, normalize) => {
    // input 8 × 12 × 20 → patches 4 × 6 × 10 (window 3: padded to 6 × 6 × 12, shifted by 1), then 2 × 3 × 5 (window
    // [2, 3, 3]: shifted along W only), 1 × 2 × 3, 1 × 1 × 2 (windows clipped, no shift), 1 × 1 × 1
    const net = tinyTransformer({ downsample: mode, patchNorm });
    await toFloat64(net);
    const x = fromArray(randomArray(2 * 2 * 8 * 12 * 20, 4, -1, 1), [2, 2, 8, 12, 20], { dtype: 'float64', backend: cpu });
    const tables = await biasTables(net);
    const [got, want] = noGrad(() => [net.forward(x, normalize), tidy(() => swinViTByHand(x, '', tables, referenceOf(mode, patchNorm, normalize), (k) => net.getParameter(k)))]);
    expect(got.map((t) => t.shape)).toEqual([[2, 6, 4, 6, 10], [2, 12, 2, 3, 5], [2, 24, 1, 2, 3], [2, 48, 1, 1, 2], [2, 96, 1, 1, 1]]);
    for (let i = 0; i < 5; i++) await expectSame(got[i], want[i]);
    dispose([x, ...got, ...want]);
    net.dispose();
  });

  it("useV2 (swinunetr_v2) runs each stage's residual convolution block on the stage's input", async () => {
    const net = new SwinTransformer({
      inChannels: 2, embedDim: 6, windowSize: [3, 3, 3], patchSize: [2, 2, 2], depths: [2, 2, 1, 1], numHeads: [2, 3, 3, 4], useV2: true, backend: cpu, seed: 12,
    });
    await toFloat64(net);
    // a grid of 2³ voxels or more per stage input for the blocks' instance norm: patches 8 × 8 × 16, then 4 × 4 × 8, 2 × 2 × 4, 1 × 1 × 2
    const x = fromArray(randomArray(2 * 16 * 16 * 32, 5, -1, 1), [1, 2, 16, 16, 32], { dtype: 'float64', backend: cpu });
    const tables = await biasTables(net);
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => swinViTByHand(x, '', tables, referenceOf('merging', false, true), (k) => net.getParameter(k),
      (stage, y) => net.convLayers[stage].forward(y)))]);
    for (let i = 0; i < 5; i++) await expectSame(got[i], want[i]);
    dispose([x, ...got, ...want]);
    net.dispose();
  });

  it('the whole SwinUNETR equals the network written out (32³, batch norm in evaluation)', async () => {
    // the smallest input with MONAI's default instance norm is 32 × 32 × 64 (its 1/32 bottleneck needs two voxels); a
    // batch norm in evaluation mode allows 32³, half the cost of the full-resolution convolutions on this cpu
    const net = tiny({ seed: 5, normName: 'batch' });
    net.eval();
    await toFloat64(net);
    const x = fromArray(randomArray(32 * 32 * 32, 6, -1, 1), [1, 1, 32, 32, 32], { dtype: 'float64', backend: cpu });
    const tables = await biasTables(net);
    const w = (k: string) => net.getParameter(k);
    const act = (t: Tensor) => leakyRelu(t, 0.01);
    const conv = (t: Tensor, key: string, k = 3) => conv3d(t, w(`${key}.conv.weight`), null, { padding: (k - 1) / 2 });
    const norm = (t: Tensor, key: string) => batchNorm(t, net.getBuffer(`${key}.running_mean`), net.getBuffer(`${key}.running_var`), w(`${key}.weight`), w(`${key}.bias`));
    const res = (t: Tensor, key: string): Tensor => {
      const y = norm(conv(act(norm(conv(t, `${key}.conv1`), `${key}.norm1`)), `${key}.conv2`), `${key}.norm2`);
      const residual = (net.getSubmodule(key) as UnetResBlock).conv3 ? norm(conv(t, `${key}.conv3`, 1), `${key}.norm3`) : t;
      return act(add(y, residual));
    };
    const up = (t: Tensor, skip: Tensor, key: string) => res(concat([convTranspose3d(t, w(`${key}.transp_conv.conv.weight`), null, { stride: 2 }), skip], 1), `${key}.conv_block`);
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => {
      const hidden = swinViTByHand(x, 'swinViT.', tables, { windowSize: [4, 4, 4], numHeads: [3, 3, 3, 3], depths: [2, 1, 1, 1], mode: 'merging', patchNorm: false, normalize: true }, w);
      const enc = [res(x, 'encoder1.layer'), res(hidden[0], 'encoder2.layer'), res(hidden[1], 'encoder3.layer'), res(hidden[2], 'encoder4.layer')];
      let y = up(res(hidden[4], 'encoder10.layer'), hidden[3], 'decoder5');
      y = up(y, enc[3], 'decoder4');
      y = up(y, enc[2], 'decoder3');
      y = up(y, enc[1], 'decoder2');
      y = up(y, enc[0], 'decoder1');
      return conv3d(y, w('out.conv.conv.weight'), w('out.conv.conv.bias'));
    })]);
    expect(got.shape).toEqual([1, 2, 32, 32, 32]);
    await expectSame(got, want);
    dispose([x, got, want]);
    net.dispose();
  }, 300_000);

  it('the Swin transformer passes the float64 gradient check in its input (random directions of the whole input)', async () => {
    const net = tinyTransformer({ seed: 7 });
    await toFloat64(net);
    const shape = [1, 2, 8, 12, 20], size = 2 * 8 * 12 * 20, directions = 4;
    const base = fromArray(randomArray(size, 8, -1, 1), shape, { dtype: 'float64', backend: cpu });
    const basis = fromArray(randomArray(directions * size, 9, -1, 1), [directions, size], { dtype: 'float64', backend: cpu });
    const r = await gradcheck((v) => concat(net.forward(add(base, reshape(matmul(v, basis), shape))).map((h) => flatten(h)), 0),
      [{ data: randomArray(directions, 10, -0.1, 0.1), shape: [1, directions] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    expect(Math.abs(r.worst!.analytic)).toBeGreaterThan(1e-3);
    dispose([base, basis]);
    net.dispose();
  });

  it("the gradient of a shifted block's relative position bias table matches central differences (float64, random directions)", async () => {
    const net = tinyTransformer({ seed: 13 });
    await toFloat64(net);
    const attn = net.layers[0].blocks.at(1).attn;
    const x = fromArray(randomArray(2 * 8 * 12 * 20, 14, -1, 1), [1, 2, 8, 12, 20], { dtype: 'float64', backend: cpu });
    // without proj_out's layer norm: the sum of squares of a layer-normalised state is constant
    const loss = () => tidy(() => net.forward(x, false).reduce((s: Tensor, h, i) => add(s, mulScalar(sum(square(h)), i + 1)), mulScalar(sum(x), 0)));
    const l = loss();
    backward(l);
    l.dispose();
    const table = Float64Array.from(await attn.relativePositionBiasTable.toArray());
    const grad = Float64Array.from(await attn.relativePositionBiasTable.grad!.toArray());
    const setTable = (values: Float64Array) => {
      const fields = attn as unknown as Record<string, unknown>;
      const p = Parameter.fromHost(values, attn.relativePositionBiasTable.shape, { backend: cpu, dtype: 'float64' });
      attn.relativePositionBiasTable.dispose();
      fields.relative_position_bias_table = p;
      fields.relativePositionBiasTable = p;
    };
    const value = async (values: Float64Array) => {
      setTable(values);
      const t = noGrad(loss);
      const [v] = await t.toArray();
      t.dispose();
      return v;
    };
    const eps = 1e-6;
    for (let k = 0; k < 3; k++) {
      const direction = randomArray(table.length, 20 + k, -1, 1);
      const analytic = grad.reduce((s, g, i) => s + g * direction[i], 0);
      const numeric = (await value(table.map((t, i) => t + eps * direction[i])) - await value(table.map((t, i) => t - eps * direction[i]))) / (2 * eps);
      expect(Math.abs(analytic)).toBeGreaterThan(1e-3);
      expect(Math.abs(numeric - analytic)).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(analytic));
    }
    x.dispose();
    net.dispose();
  });

  it('a training step reaches every parameter and leaks nothing', () => {
    const net = tinyTransformer({ seed: 8 });
    const x = randn([1, 2, 8, 12, 20], 2, { backend: cpu });
    const live = memory().liveTensors;
    const loss = tidy(() => net.forward(x).reduce((s: Tensor, h) => add(s, sum(square(h))), sum(square(x))));
    backward(loss);
    loss.dispose();
    expect(net.namedParameters().filter(([, p]) => !p.grad).map(([name]) => name)).toEqual([]);
    net.zeroGrad();
    expect(memory().liveTensors).toBe(live);
    x.dispose();
    net.dispose();
  });

  it("DropPath: identity in evaluation; in training each sample is zeroed or scaled by 1/(1 − p), seeded", async () => {
    const drop = new DropPath(0.5);
    const x = randn([64, 2, 3], 1, { backend: cpu });
    const values = await x.toArray();
    drop.eval();
    expect(Array.from(await noGrad(() => drop.forward(x)).toArray())).toEqual(Array.from(values));
    drop.train();
    drop.setDropoutSeed(4);
    const first = await noGrad(() => drop.forward(x)).toArray();
    let kept = 0;
    for (let s = 0; s < 64; s++) {
      const ratios = Array.from({ length: 6 }, (_, i) => first[s * 6 + i] / values[s * 6 + i]);
      expect(ratios.every((r) => r === ratios[0]) && (ratios[0] === 0 || ratios[0] === 2)).toBe(true);
      if (ratios[0] === 2) kept++;
    }
    expect(kept).toBeGreaterThan(16);
    expect(kept).toBeLessThan(48);
    drop.setDropoutSeed(4);
    expect(Array.from(await noGrad(() => drop.forward(x)).toArray())).toEqual(Array.from(first));
    x.dispose();
  });

  it('refuses bad options and inputs with clear messages, leaking nothing', () => {
    expect(() => tiny({ featureSize: 16 })).toThrow(/^SwinUNETR: featureSize should be divisible by 12, got 16$/);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^SwinUNETR: spatialDims 2 is not supported \(3 only\)$/);
    expect(() => tiny({ useCheckpoint: true as false })).toThrow(/^SwinUNETR: useCheckpoint is not supported \(false only\)$/);
    expect(() => tiny({ dropRate: 1.5 })).toThrow(/^SwinUNETR: dropRate must be in \[0, 1\], got 1\.5$/);
    expect(() => tiny({ dropoutPathRate: -0.1 })).toThrow(/^SwinUNETR: dropoutPathRate must be in \[0, 1\], got -0\.1$/);
    expect(() => tiny({ depths: [2, 2, 2] })).toThrow(/^SwinUNETR: depths and numHeads need 4 entries \(one per stage\), got \[2, 2, 2\] and \[3, 3, 3, 3\]$/);
    expect(() => tiny({ numHeads: [3, 5, 3, 3] })).toThrow(/^SwinUNETR: stage 2 has 24 channels, not divisible by numHeads\[1\] = 5$/);
    expect(() => tiny({ downsample: 'pool' as MergingMode })).toThrow(/^SwinUNETR: downsample must be 'merging' or 'mergingv2', got 'pool'$/);
    const net = tiny({ depths: [0, 0, 0, 0] });
    const before = memory().liveTensors;
    for (const [shape, message] of [
      [[1, 1, 32, 32, 48], 'SwinUNETR: spatial dimensions [4] of input image (spatial shape: [32, 32, 48]) must be divisible by 2**5.'],
      [[1, 1, 16, 32, 40], 'SwinUNETR: spatial dimensions [2, 4] of input image (spatial shape: [16, 32, 40]) must be divisible by 2**5.'],
      [[1, 2, 32, 32, 64], 'SwinUNETR: input must be [N, 1, D, H, W] (inChannels), got [1, 2, 32, 32, 64]'],
    ] as const) {
      const x = randn(shape, 1, { backend: cpu });
      expect(() => net.forward(x)).toThrow(message);
      x.dispose();
    }
    expect(memory().liveTensors).toBe(before);
    net.dispose();
  });
});
