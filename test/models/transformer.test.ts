import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gelu, gradcheck } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/index.js';
import { LayerNorm, TransformerEncoder, TransformerEncoderLayer } from '../../src/models/index.js';
import { fromArray } from '../../src/tensor/index.js';
import { hostValues, refErf, refGelu, refLayerNorm, refLinear, refMultiheadAttention, type Bias } from '../helpers/attention-reference.js';
import { cpu, expectClose, randomArray, webgpu } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { propertyOptions } from '../helpers/property.js';

/**
 * nn.TransformerEncoderLayer and nn.TransformerEncoder: PyTorch's keys and counts, the forward (post- and pre-norm,
 * ReLU and exact GELU, masks) against float64 loops, the clones, dropout seeding, gradients, errors, WebGPU.
 */

const t32 = (data: ArrayLike<number>, shape: number[], backend: Backend = cpu) => fromArray(data, shape, { dtype: 'float32', backend });

/** the encoder layer in eval mode written out, batch-first x [N, S, E] */
async function refEncoderLayer(layer: TransformerEncoderLayer, x: ArrayLike<number>, n: number, s: number, bias: Bias = () => 0): Promise<Float64Array> {
  const e = layer.dModel, f = layer.linear1.outFeatures, rows = n * s;
  const norm = async (ln: LayerNorm, v: ArrayLike<number>) => refLayerNorm(v, rows, e, await hostValues(ln.weight!), ln.bias ? await hostValues(ln.bias) : new Float64Array(e), ln.eps);
  const attention = async (v: ArrayLike<number>) => (await refMultiheadAttention(layer.selfAttn, v, v, v, { n, l: s, s, e, h: layer.nhead, kdim: e, vdim: e }, bias)).out;
  const activation = layer.activation === 'gelu' ? refGelu : (v: number) => Math.max(v, 0);
  const feedForward = async (v: ArrayLike<number>) => {
    const hidden = refLinear(v, rows, await hostValues(layer.linear1.weight), layer.linear1.bias ? await hostValues(layer.linear1.bias) : null, e, f).map(activation);
    return refLinear(hidden, rows, await hostValues(layer.linear2.weight), layer.linear2.bias ? await hostValues(layer.linear2.bias) : null, f, e);
  };
  const plus = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, i) => v + b[i]);
  if (layer.normFirst) {
    const y = plus(x, await attention(await norm(layer.norm1, x)));
    return plus(y, await feedForward(await norm(layer.norm2, y)));
  }
  const y = await norm(layer.norm1, plus(x, await attention(x)));
  return norm(layer.norm2, plus(y, await feedForward(y)));
}

describe('TransformerEncoderLayer', () => {
  it("has PyTorch's keys, shapes and parameter count (the default d_model 512, nhead 8: 3 152 384)", () => {
    // self_attn 4d² + 4d = 1 050 624; linear1 d·2048 + 2048 = 1 050 624; linear2 2048·d + d = 1 049 088; norm1, norm2 4d = 2 048
    const big = new TransformerEncoderLayer(512, 8, { backend: cpu });
    expect(big.numParameters()).toBe(3_152_384);
    // bias=False drops every bias, the layer norms' too: 4d² + 2·d·2048 + 2d = 3 146 752
    const noBias = new TransformerEncoderLayer(512, 8, { bias: false, backend: cpu });
    expect(noBias.numParameters()).toBe(3_146_752);
    const small = new TransformerEncoderLayer(4, 2, { dimFeedforward: 6, backend: cpu });
    expect([...small.stateSpec()].map(([k, v]) => [k, v.shape])).toEqual([
      ['self_attn.in_proj_weight', [12, 4]], ['self_attn.in_proj_bias', [12]], ['self_attn.out_proj.weight', [4, 4]], ['self_attn.out_proj.bias', [4]],
      ['linear1.weight', [6, 4]], ['linear1.bias', [6]], ['linear2.weight', [4, 6]], ['linear2.bias', [4]],
      ['norm1.weight', [4]], ['norm1.bias', [4]], ['norm2.weight', [4]], ['norm2.bias', [4]],
    ]);
    expect(small.namedModules().map(([name, m]) => `${name}:${m.typeName}`)).toEqual([
      ':TransformerEncoderLayer', 'self_attn:MultiheadAttention', 'self_attn.out_proj:NonDynamicallyQuantizableLinear', 'linear1:Linear', 'dropout:Dropout',
      'linear2:Linear', 'norm1:LayerNorm', 'norm2:LayerNorm', 'dropout1:Dropout', 'dropout2:Dropout',
    ]);
    [big, noBias, small].forEach((m) => m.dispose());
  });

  it('equals the loop reference in eval mode: post-/pre-norm, relu/gelu, batchFirst or not, bias or not, with a key padding mask', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        n: fc.integer({ min: 1, max: 2 }), s: fc.integer({ min: 1, max: 4 }), nhead: fc.integer({ min: 1, max: 2 }), headDim: fc.integer({ min: 1, max: 3 }),
        ff: fc.integer({ min: 1, max: 6 }), normFirst: fc.boolean(), activation: fc.constantFrom('relu' as const, 'gelu' as const), batchFirst: fc.boolean(),
        bias: fc.boolean(), seed: fc.integer({ min: 1, max: 10_000 }),
      }),
      async ({ n, s, nhead, headDim, ff, normFirst, activation, batchFirst, bias, seed }) => {
        const e = nhead * headDim;
        const layer = new TransformerEncoderLayer(e, nhead, { dimFeedforward: ff, normFirst, activation, batchFirst, bias, seed, backend: cpu }).eval();
        const x = randomArray(n * s * e, seed, -2, 2);
        const padding = Array.from({ length: n * s }, (_, i) => (i % s === s - 1 && s > 1 ? 1 : 0));
        const swapped = (v: ArrayLike<number>, a: number, b: number) => Float64Array.from({ length: a * b * e }, (_, i) => {
          const c = i % e, j = Math.floor(i / e) % a, k = Math.floor(i / e / a);
          return v[(j * b + k) * e + c];
        });
        const input = batchFirst ? t32(x, [n, s, e]) : t32(swapped(x, n, s), [s, n, e]);
        const y = layer.forward(input, { srcKeyPaddingMask: fromArray(padding, [n, s], { dtype: 'int32', backend: cpu }) });
        const got = batchFirst ? await y.toArray() : swapped(await y.toArray(), s, n);
        const want = await refEncoderLayer(layer, Float32Array.from(x), n, s, (b, _h, _i, j) => (padding[b * s + j] ? -Infinity : 0));
        expectClose(got, want, 2e-5, 2e-4, 'output');
        layer.dispose();
      }), propertyOptions(20));
  });

  it("the 'gelu' activation is PyTorch's default exact form x·Φ(x) with erf, not the tanh approximation", async () => {
    const xs = [-3, -1.5, -0.5, 0, 0.3, 1, 1.5, 2.5, 4];
    const exact = await gelu(fromArray(xs, [xs.length], { dtype: 'float64', backend: cpu })).toArray();
    expectClose(exact, xs.map(refGelu), 1e-14, 1e-13, 'gelu vs x/2·(1 + erf(x/√2))');
    const tanhForm = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    expect(Math.max(...xs.map((_, i) => Math.abs(exact[i] - tanhForm[i])))).toBeGreaterThan(1e-4);
    expect(refErf(0)).toBe(0);
  });

  it('dropout (0.1 by default) is active in training and seeded: the same seed gives the same output, eval mode none', async () => {
    const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 8, dropout: 0.3, batchFirst: true, seed: 5, backend: cpu });
    expect(new TransformerEncoderLayer(4, 2, { backend: cpu }).dropout.p).toBe(0.1);
    const x = t32(randomArray(24, 3, -1, 1), [2, 3, 4]);
    layer.seedDropout(4);
    const a = Array.from(await layer.forward(x).toArray());
    layer.seedDropout(4);
    expect(Array.from(await layer.forward(x).toArray())).toEqual(a);
    layer.eval();
    const b = Array.from(await layer.forward(x).toArray());
    expect(b).not.toEqual(a);
    expectClose(b, await refEncoderLayer(layer, await x.toArray(), 2, 3), 2e-5, 2e-4, 'eval output');
    expect(Object.keys(layer.dropoutState())).toEqual(['self_attn', 'dropout', 'dropout1', 'dropout2']);
    layer.dispose();
  });

  it('passes the float64 gradient check in its input (post-norm, gelu, a float attention mask)', async () => {
    const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 5, activation: 'gelu', seed: 6, backend: cpu }).eval();
    await toFloat64(layer);
    const mask = fromArray(randomArray(9, 7, -1, 1), [3, 3], { dtype: 'float64', backend: cpu });
    const r = await gradcheck((x) => layer.forward(x, { srcMask: mask }), [{ data: randomArray(24, 8, -1, 1), shape: [3, 2, 4] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    layer.dispose();
  });

  it('refuses bad options with clear messages', () => {
    expect(() => new TransformerEncoderLayer(6, 4)).toThrow('MultiheadAttention: embedDim 6 must be divisible by numHeads 4');
    expect(() => new TransformerEncoderLayer(4, 2, { activation: 'tanh' as 'relu' })).toThrow("TransformerEncoderLayer: activation must be 'relu' or 'gelu', got 'tanh'");
    expect(() => new TransformerEncoderLayer(4, 2, { dimFeedforward: 0 })).toThrow('dimFeedforward must be a positive integer, got 0');
  });
});

describe('TransformerEncoder', () => {
  it('holds numLayers clones with the given layer\'s parameters (own copies), PyTorch\'s keys, and the optional norm', async () => {
    const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 6, seed: 7, backend: cpu });
    const encoder = new TransformerEncoder(layer, 3, { norm: new LayerNorm(4, { backend: cpu }) });
    // 3 × (4·16 + 16 + 4·6 + 6 + 6·4 + 4 + 16) + 8 = 3 × 154 + 8 (self_attn 80, linear1 30, linear2 28, norms 16)
    expect(layer.numParameters()).toBe(154);
    expect(encoder.numParameters()).toBe(3 * 154 + 8);
    const keys = [...encoder.stateSpec().keys()];
    expect(keys.slice(0, 2)).toEqual(['layers.0.self_attn.in_proj_weight', 'layers.0.self_attn.in_proj_bias']);
    expect(keys.slice(-4)).toEqual(['layers.2.norm2.weight', 'layers.2.norm2.bias', 'norm.weight', 'norm.bias']);
    const original = await hostValues(layer.selfAttn.inProjWeight!);
    for (const clone of encoder.layers) {
      expect(clone).not.toBe(layer);
      expect(Array.from(await hostValues(clone.selfAttn.inProjWeight!))).toEqual(Array.from(original));
      expect(Array.from(await hostValues(clone.linear2.weight))).toEqual(Array.from(await hostValues(layer.linear2.weight)));
    }
    expect(encoder.layers.at(1).linear1.weight).not.toBe(encoder.layers.at(0).linear1.weight);
    expect(encoder.layers.at(0).linear1.weight.storage).not.toBe(layer.linear1.weight.storage);
    encoder.dispose();
    layer.dispose();
  });

  it('runs its layers in order, then the norm (eval mode, masks passed to every layer)', async () => {
    const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 6, normFirst: true, batchFirst: true, seed: 8, backend: cpu });
    const encoder = new TransformerEncoder(layer, 2, { norm: new LayerNorm(4, { backend: cpu }) }).eval();
    const x = randomArray(24, 9, -1, 1);
    const padding = [0, 0, 1, 0, 0, 0];
    const mask = fromArray(padding, [2, 3], { dtype: 'int32', backend: cpu });
    const bias: Bias = (b, _h, _i, j) => (padding[b * 3 + j] ? -Infinity : 0);
    const y = await encoder.forward(t32(x, [2, 3, 4]), { srcKeyPaddingMask: mask }).toArray();
    let want = await refEncoderLayer(encoder.layers.at(0), Float32Array.from(x), 2, 3, bias);
    want = await refEncoderLayer(encoder.layers.at(1), want, 2, 3, bias);
    const norm = encoder.norm!;
    expectClose(y, refLayerNorm(want, 6, 4, await hostValues(norm.weight!), await hostValues(norm.bias!)), 2e-5, 2e-4, 'encoder output');
    const bare = new TransformerEncoder(layer, 1).eval();
    expect(bare.norm).toBeNull();
    expectClose(await bare.forward(t32(x, [2, 3, 4])).toArray(), await refEncoderLayer(bare.layers.at(0), Float32Array.from(x), 2, 3), 2e-5, 2e-4, 'no norm');
    [encoder, bare, layer].forEach((m) => m.dispose());
  });

  it('equals the cpu backend on WebGPU within float32 rounding (the same seed, the same weights)', async () => {
    const gpu = await webgpu();
    const x = randomArray(2 * 5 * 8, 1, -1, 1);
    const run = async (backend: Backend) => {
      const layer = new TransformerEncoderLayer(8, 2, { dimFeedforward: 16, activation: 'gelu', batchFirst: true, seed: 9, backend });
      const encoder = new TransformerEncoder(layer, 2, { norm: new LayerNorm(8, { backend }) }).eval();
      const y = await encoder.forward(t32(x, [2, 5, 8], backend)).toArray();
      encoder.dispose();
      layer.dispose();
      return y;
    };
    expectClose(await run(gpu), await run(cpu), 2e-5, 2e-4, 'encoder output');
  });
});
