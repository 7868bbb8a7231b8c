import { describe, expect, it } from 'vitest';
import * as F from '../../src/autograd/nn.js';
import { backward, leakyRelu, sigmoid, sum, tanh } from '../../src/autograd/index.js';
import {
  AdaptiveAvgPool3d, AdaptiveMaxPool3d, AvgPool3d, Conv3d, Dropout, Dropout3d, ELU, Flatten, GELU, Identity, LayerNorm,
  LeakyReLU, PReLU, Sequential, SiLU, Sigmoid, Softmax, Tanh, type Layer,
} from '../../src/models/index.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, randomArray } from '../helpers/backends.js';

/**
 * The new layers: each forward equals its functional op, parameters carry PyTorch's names, shapes and initial
 * values, the repr is PyTorch's, and Dropout's masks follow the same seeding as Dropout3d.
 */

const f64 = { backend: cpu, dtype: 'float64' as const };

function input(shape: number[], seed = 1): Tensor {
  return fromArray(randomArray(sizeOf(shape), seed, -2, 2), shape, f64);
}

async function same(a: Tensor, b: Tensor, what: string): Promise<void> {
  expect(a.shape).toEqual(b.shape);
  expectClose(await a.toArray(), await b.toArray(), 0, 0, what);
  dispose([a, b]);
}

describe('activation and shape layers', () => {
  it('forward is the functional op; repr as PyTorch', async () => {
    const x = input([2, 3, 4]);
    const cases: [Layer, (t: Tensor) => Tensor, string][] = [
      [new LeakyReLU(0.2), (t) => leakyRelu(t, 0.2), 'LeakyReLU(negative_slope=0.2)'],
      [new ELU(0.5), (t) => F.elu(t, 0.5), 'ELU(alpha=0.5)'],
      [new GELU(), (t) => F.gelu(t), "GELU(approximate='none')"],
      [new GELU('tanh'), (t) => F.gelu(t, 'tanh'), "GELU(approximate='tanh')"],
      [new SiLU(), F.silu, 'SiLU()'],
      [new Sigmoid(), sigmoid, 'Sigmoid()'],
      [new Tanh(), tanh, 'Tanh()'],
      [new Softmax(1), (t) => F.softmax(t, 1), 'Softmax(dim=1)'],
      [new Identity(), (t) => t.reshape(...t.shape), 'Identity()'],
    ];
    for (const [layer, fn, repr] of cases) {
      await same(layer.forward(x), fn(x), repr);
      expect(layer.toString().split('\n')[0]).toBe(repr);
    }
    expect(() => new GELU('exact' as 'none')).toThrow(/unknown approximate 'exact'/);
    x.dispose();
  });

  it('Flatten(startDim=1, endDim=-1) merges the axes between them', () => {
    const x = input([2, 3, 4, 5]);
    expect(new Flatten().forward(x).shape).toEqual([2, 60]);
    expect(new Flatten(0).forward(x).shape).toEqual([120]);
    expect(new Flatten(1, 2).forward(x).shape).toEqual([2, 12, 5]);
    expect(new Flatten(-3, -2).forward(x).shape).toEqual([2, 12, 5]);
    expect(() => new Flatten(2, 1).forward(x)).toThrow(/start_dim 2 comes after end_dim 1/);
    expect(new Flatten(1, 2).toString().split('\n')[0]).toBe('Flatten(start_dim=1, end_dim=2)');
    x.dispose();
  });

  it('PReLU: parameter weight [numParameters] = 0.25, learnable through backward', async () => {
    const shared = new PReLU({ backend: cpu }), perChannel = new PReLU({ numParameters: 3, init: 0.1, backend: cpu });
    expect(shared.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([['weight', [1]]]);
    expect(Array.from(await perChannel.weight.toArray())).toEqual([0.1, 0.1, 0.1].map((v) => Math.fround(v)));
    expect(perChannel.toString().split('\n')[0]).toContain('PReLU(num_parameters=3)');
    const x = fromArray([-1, 2, -3, 4, -5, 6], [1, 3, 2], { backend: cpu });
    const y = perChannel.forward(x);
    expectClose(await y.toArray(), [-0.1, 2, -0.3, 4, -0.5, 6], 1e-7, 1e-6, 'prelu');
    backward(sum(y));
    // d/dw_c Σ y = Σ min(0, x) over channel c
    expectClose(await perChannel.weight.grad!.toArray(), [-1, -3, -5], 1e-7, 1e-6, 'weight gradient');
    dispose([x, y]);
    shared.dispose(); perChannel.dispose();
  });

  it('LayerNorm: weight 1 and bias 0 of the normalized shape; forward is layerNorm', async () => {
    const ln = new LayerNorm([3, 4], { eps: 1e-6, backend: cpu });
    expect(ln.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([['weight', [3, 4]], ['bias', [3, 4]]]);
    expect(Array.from(await ln.weight!.toArray()).every((v) => v === 1)).toBe(true);
    expect(ln.toString().split('\n')[0]).toContain('LayerNorm((3, 4), eps=1e-06, elementwise_affine=True)');
    const plain = new LayerNorm(4, { elementwiseAffine: false });
    expect(plain.parameters()).toEqual([]);
    const x = fromArray(randomArray(24, 3, -1, 1), [2, 3, 4], { backend: cpu });
    await same(ln.forward(x), F.layerNorm(x, [3, 4], { weight: ln.weight, bias: ln.bias, eps: 1e-6 }), 'LayerNorm');
    await same(plain.forward(x), F.layerNorm(x, [4]), 'LayerNorm without affine');
    x.dispose(); ln.dispose(); plain.dispose();
  });
});

describe('Dropout', () => {
  it('elementwise masks seeded like Dropout3d: same seed, same mask; identity in eval', async () => {
    const x = fromArray(new Float32Array(400).fill(1), [4, 100], { backend: cpu });
    const a = new Dropout(0.5, { salt: 7 }), b = new Dropout(0.5, { salt: 7 });
    a.setDropoutSeed(3); b.setDropoutSeed(3);
    const ya = await a.forward(x).toArray(), yb = await b.forward(x).toArray();
    expect(Array.from(ya)).toEqual(Array.from(yb));
    expect(new Set(ya)).toEqual(new Set([0, 2]));
    // elementwise: the rows are not dropped as wholes
    const rows = [0, 1, 2, 3].map((r) => new Set(Array.from(ya.slice(r * 100, (r + 1) * 100))).size);
    expect(rows).toEqual([2, 2, 2, 2]);
    // the next call draws another mask; resetting the seed repeats the first
    const second = await a.forward(x).toArray();
    expect(Array.from(second)).not.toEqual(Array.from(ya));
    a.setDropoutSeed(3);
    expect(Array.from(await a.forward(x).toArray())).toEqual(Array.from(ya));
    expect(F.dropout(x, 0.5, true, a.nextMaskSeed()).shape).toEqual([4, 100]);
    a.eval();
    await same(a.forward(x), x.reshape(4, 100), 'eval');
    expect(a.toString().split('\n')[0]).toBe('Dropout(p=0.5)');
    expect(() => new Dropout(1.5)).toThrow(/Dropout: p must be in \[0, 1\], got 1.5/);
    expect(new Dropout3d(0.5, { salt: 7 }).nextMaskSeed()).toBe(new Dropout(0.5, { salt: 7 }).nextMaskSeed());
    x.dispose();
  });
});

describe('pooling layers and grouped Conv3d', () => {
  it('AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d forward the functional ops', async () => {
    const x = input([1, 2, 5, 4, 6]);
    await same(new AvgPool3d(3, { stride: 2, padding: 1, countIncludePad: false }).forward(x),
      F.avgPool3d(x, 3, { stride: 2, padding: 1, countIncludePad: false }), 'AvgPool3d');
    await same(new AdaptiveAvgPool3d([3, null, 2]).forward(x), F.adaptiveAvgPool3d(x, [3, null, 2]), 'AdaptiveAvgPool3d');
    await same(new AdaptiveMaxPool3d(2).forward(x), F.adaptiveMaxPool3d(x, 2), 'AdaptiveMaxPool3d');
    expect(new AvgPool3d(2).toString().split('\n')[0]).toBe('AvgPool3d(kernel_size=2, stride=2, padding=0)');
    expect(new AdaptiveAvgPool3d([3, null, 2]).toString().split('\n')[0]).toBe('AdaptiveAvgPool3d(output_size=(3, None, 2))');
    x.dispose();
  });

  it('Conv3d with groups: weight [out, in / groups, k…], PyTorch\'s bound from fan_in = in / groups · k³', async () => {
    const conv = new Conv3d(4, 6, 3, { groups: 2, padding: 1, seed: 5, backend: cpu });
    expect(conv.weight.shape).toEqual([6, 2, 3, 3, 3]);
    const bound = 1 / Math.sqrt(2 * 27);
    expect(Array.from(await conv.weight.toArray()).every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(conv.toString().split('\n')[0]).toContain('Conv3d(4, 6, kernel_size=3, stride=1, padding=1, groups=2)');
    const x = fromArray(randomArray(4 * 27, 2, -1, 1), [1, 4, 3, 3, 3], { backend: cpu });
    await same(conv.forward(x), F.conv3d(x, conv.weight, conv.bias, { padding: 1, groups: 2 }), 'grouped Conv3d');
    const depthwise = new Sequential(new Conv3d(4, 4, 3, { groups: 4, bias: false, backend: cpu }), new GELU());
    expect(depthwise.forward(x).shape).toEqual([1, 4, 1, 1, 1]);
    expect(() => new Conv3d(4, 6, 3, { groups: 4 })).toThrow(/groups 4 must be a positive integer dividing in_channels 4 and out_channels 6/);
    x.dispose(); conv.dispose(); depthwise.dispose();
  });
});
