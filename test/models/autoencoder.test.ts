import { describe, expect, it } from 'vitest';
import {
  add, concat, exp, gradcheck, instanceNorm, leakyRelu, matmul, mul, mulScalar, noGrad, relu, reshape, sigmoid, sum, transpose,
} from '../../src/autograd/index.js';
import {
  AutoEncoder, Dropout, LeakyReLU, VarAutoEncoder, mseLoss, vaeKlDivergence, type AutoEncoderOptions, type NoiseGenerator, type VarAutoEncoderOptions,
} from '../../src/models/index.js';
import { Rng } from '../../src/imaging/random.js';
import { dispose, fromArray, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, expectInputGradcheck, expectOutputShapes, expectSameAsWrittenOut } from '../helpers/model-checks.js';
import { StackByHand, expectStrictLoads } from '../helpers/monai-stack-reference.js';

/**
 * MONAI's AutoEncoder and VarAutoEncoder (monai/networks/nets/autoencoder.py, varautoencoder.py): parameter counts
 * derived by formula, state-dict keys in MONAI's order with their shapes, output shapes (MONAI's test cases in 3-D),
 * every option and its errors, the forward against the network written out with the functional ops in float64,
 * float64 gradient checks, the seeded noise and MONAI's KL term, a few training steps.
 */

const tiny = (options: Partial<AutoEncoderOptions> = {}): AutoEncoder => new AutoEncoder({
  inChannels: 1, outChannels: 2, channels: [2, 3], strides: [2, 2], seed: 3, backend: cpu, ...options,
});
const tinyVae = (options: Partial<VarAutoEncoderOptions> = {}): VarAutoEncoder => new VarAutoEncoder({
  inShape: [1, 8, 8, 4], outChannels: 1, latentSize: 3, channels: [2, 3], strides: [2, 2], seed: 3, backend: cpu, ...options,
});
/** x·Wᵀ + b, nn.Linear written out */
const linear = (x: Tensor, w: Tensor, b: Tensor): Tensor => add(matmul(x, transpose(w)), b);
/** a generator that gives the same seed every draw: the same noise each forward (for the gradient checks) */
const fixed = (seed: number): NoiseGenerator => ({ nextU32: () => seed });

describe('AutoEncoder structure', () => {
  it("MONAI's test case 3 in 3-D (4 → 3 channels, channels 4, 8, 16, strides 2): 9 444 parameters", () => {
    // A Convolution a→b with its ADN (instance norm without affine, PReLU with one slope): 27ab + b + 1; conv-only: 27ab + b.
    // encode: 4→4 437, 4→8 873, 8→16 3 473. decode (channels 8, 4, then outChannels 3; transposed, weight [a, b, 3, 3, 3]):
    // 16→8 3 465, 8→4 869, 4→3 conv-only (the last, numResUnits 0) 27·12 + 3 = 327.
    // Sum: 437 + 873 + 3 473 + 3 465 + 869 + 327 = 9 444.
    const net = new AutoEncoder({ inChannels: 4, outChannels: 3, channels: [4, 8, 16], strides: [2, 2, 2], backend: cpu });
    expect(net.numParameters()).toBe(9_444);
    net.dispose();
  });

  it("MONAI's docstring example with intermediate residual blocks (channels [4], interChannels 8, 8, 8, dilations 1, 2, 4): 9 928 parameters", () => {
    // encode_0 1→4 stride 2: 27·4 + 4 + 1 = 113. intermediate (ResidualUnits of 2 convolutions, stride 1):
    // 4→8: (27·32 + 9) + (27·64 + 9) + the 1³ residual 32 + 8 = 873 + 1 737 + 40 = 2 650; 8→8 twice: 2·1 737 = 3 474 each (identity residual).
    // decode: outChannels only, 8→1 conv-only: 27·8 + 1 = 217. Sum: 113 + 2 650 + 3 474 + 3 474 + 217 = 9 928.
    const net = new AutoEncoder({
      inChannels: 1, outChannels: 1, channels: [4], strides: [2], interChannels: [8, 8, 8], interDilations: [1, 2, 4], numInterUnits: 2, backend: cpu,
    });
    expect(net.numParameters()).toBe(9_928);
    net.dispose();
  });

  it("a state dict in PyTorch's safetensors layout under MONAI's keys loads strictly (AutoEncoder, VarAutoEncoder)", async () => {
    await expectStrictLoads([tiny({ numResUnits: 1, interChannels: [2] }), tinyVae({ numResUnits: 1 })], 'decode.decode_0.conv.conv.weight');
  });

  it("state-dict keys, order and shapes are MONAI's (plain, residual units, intermediate blocks)", () => {
    const conv = (p: string, a: number, b: number, transposed = false, adn = true): [string, number[]][] => [
      [`${p}.conv.weight`, transposed ? [a, b, 3, 3, 3] : [b, a, 3, 3, 3]], [`${p}.conv.bias`, [b]], ...(adn ? [[`${p}.adn.A.weight`, [1]]] as [string, number[]][] : []),
    ];
    const keys = (net: AutoEncoder) => [...net.stateSpec()].map(([k, v]) => [k, v.shape]);
    const plain = tiny();
    expect(keys(plain)).toEqual([
      ...conv('encode.encode_0', 1, 2), ...conv('encode.encode_1', 2, 3),
      ...conv('decode.decode_0.conv', 3, 2, true), ...conv('decode.decode_1.conv', 2, 2, true, false),
    ]);
    const residual = tiny({ numResUnits: 2, interChannels: [4, 4], numInterUnits: 1, interDilations: [1, 2] });
    const unit = (p: string, a: number, b: number, stride: number, n: number, lastConvOnly = false): [string, number[]][] => [
      ...Array.from({ length: n }, (_, i) => conv(`${p}.conv.unit${i}`, i === 0 ? a : b, b, false, !(lastConvOnly && i === n - 1))).flat(),
      ...(stride !== 1 ? [[`${p}.residual.weight`, [b, a, 3, 3, 3]], [`${p}.residual.bias`, [b]]] as [string, number[]][]
        : a !== b ? [[`${p}.residual.weight`, [b, a, 1, 1, 1]], [`${p}.residual.bias`, [b]]] as [string, number[]][] : []),
    ];
    expect(keys(residual)).toEqual([
      ...unit('encode.encode_0', 1, 2, 2, 2), ...unit('encode.encode_1', 2, 3, 2, 2),
      ...unit('intermediate.inter_0', 3, 4, 1, 1), ...unit('intermediate.inter_1', 4, 4, 1, 1),
      ...conv('decode.decode_0.conv', 4, 2, true), ...unit('decode.decode_0.resunit', 2, 2, 1, 1),
      ...conv('decode.decode_1.conv', 2, 2, true), ...unit('decode.decode_1.resunit', 2, 2, 1, 1, true),
    ]);
    const types = new Map(residual.namedModules('', false).map(([n, m]) => [n, m.typeName]));
    expect(['', 'encode', 'encode.encode_0', 'intermediate', 'intermediate.inter_1', 'decode.decode_0', 'decode.decode_0.conv', 'decode.decode_0.conv.conv', 'decode.decode_0.resunit']
      .map((n) => types.get(n))).toEqual(['AutoEncoder', 'Sequential', 'ResidualUnit', 'Sequential', 'ResidualUnit', 'Sequential', 'Convolution', 'ConvTranspose3d', 'ResidualUnit']);
    // no intermediate blocks: MONAI's nn.Identity
    expect(plain.intermediate.typeName).toBe('Identity');
    // the second intermediate block's convolutions are dilated 2 and padded 2 (same size)
    const dilated = residual.getSubmodule('intermediate.inter_1.conv.unit0.conv') as unknown as { dilation: number[]; padding: number[] };
    expect([dilated.dilation, dilated.padding]).toEqual([[2, 2, 2], [2, 2, 2]]);
    // numInterUnits 0: plain Convolutions in the middle
    const convInter = tiny({ interChannels: [4], numInterUnits: 0 });
    expect(convInter.getSubmodule('intermediate.inter_0').typeName).toBe('Convolution');
    for (const m of [plain, residual, convInter]) m.dispose();
  });

  it("output shapes: MONAI's test cases in 3-D (scaled down), ⌈n / s⌉·s where a size does not divide, anisotropic strides", () => {
    const cases: [Partial<AutoEncoderOptions>, number[], number[]][] = [
      [{ inChannels: 1, outChannels: 1, channels: [4, 8, 16], strides: [2, 2, 2], numResUnits: 0 }, [1, 1, 16, 16, 16], [1, 1, 16, 16, 16]],
      [{ inChannels: 3, outChannels: 3, channels: [4, 8, 16], strides: [2, 2, 2], act: ['leakyrelu', { negativeSlope: 0.2 }] }, [1, 3, 16, 8, 16], [1, 3, 16, 8, 16]],
      [{ inChannels: 4, outChannels: 3, channels: [4, 8, 16], strides: [2, 2, 2], numResUnits: 1 }, [2, 4, 16, 16, 8], [2, 3, 16, 16, 8]],
      [{ channels: [2], strides: [2] }, [1, 1, 5, 4, 7], [1, 2, 6, 4, 8]],
      [{ strides: [[2, 1, 2], [1, 2, 1]] }, [1, 1, 4, 4, 4], [1, 2, 4, 4, 4]],
      [{ channels: [2], strides: [2], interChannels: [3, 3], interDilations: [1, 2] }, [1, 1, 4, 4, 4], [1, 2, 4, 4, 4]],
    ];
    expectOutputShapes(tiny, cases);
  });

  it('act, norm, dropout, bias, kernels and padding build MONAI\'s layers', () => {
    const net = tiny({ act: ['leakyrelu', { negativeSlope: 0.2 }], norm: ['group', { numGroups: 1 }], dropout: 0.3, bias: false, kernelSize: 5, upKernelSize: 1 });
    expect(net.getSubmodule('encode.encode_0.adn').namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['N', 'GroupNorm'], ['D', 'Dropout'], ['A', 'LeakyReLU']]);
    expect((net.getSubmodule('encode.encode_0.adn.A') as LeakyReLU).negativeSlope).toBe(0.2);
    expect((net.getSubmodule('encode.encode_0.adn.D') as Dropout).p).toBe(0.3);
    expect([...net.stateSpec().keys()].some((k) => k.endsWith('conv.bias'))).toBe(false);
    expect(net.getParameter('encode.encode_0.conv.weight').shape).toEqual([2, 1, 5, 5, 5]);
    expect(net.getParameter('decode.decode_0.conv.conv.weight').shape).toEqual([3, 2, 1, 1, 1]);
    // MONAI's default dropout is None: no dropout layer at all; act null: no activation
    const none = tiny({ act: null });
    expect(none.modules().filter((m) => m instanceof Dropout)).toHaveLength(0);
    expect(none.getSubmodule('encode.encode_0.adn').namedChildren().map(([n]) => n)).toEqual(['N']);
    // an explicit padding reaches every convolution (MONAI's padding argument)
    const padded = tiny({ padding: 0, strides: [1, 1] });
    expect((padded.getSubmodule('encode.encode_0.conv') as unknown as { padding: number[] }).padding).toEqual([0, 0, 0]);
    const x = randn([1, 1, 6, 6, 6], 1, { backend: cpu });
    const y = noGrad(() => padded.forward(x));
    // two 3³ convolutions without padding take 6 to 2, the transposed ones back to 6
    expect(y.shape).toEqual([1, 2, 6, 6, 6]);
    dispose([x, y]);
    for (const m of [net, none, padded]) m.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny();
    const before = memory().liveTensors;
    const x = randn([1, 2, 4, 4, 4], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^AutoEncoder: input must be \[N, 1, D, H, W\], got \[1, 2, 4, 4, 4\]$/);
    x.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ spatialDims: 2 as 3 })).toThrow(/^AutoEncoder: only spatialDims 3 is supported, got 2$/);
    expect(() => tiny({ inChannels: 0 })).toThrow(/^AutoEncoder: inChannels must be a positive integer, got 0$/);
    expect(() => tiny({ outChannels: 1.5 })).toThrow(/^AutoEncoder: outChannels must be a positive integer, got 1.5$/);
    expect(() => tiny({ channels: [] })).toThrow(/^AutoEncoder: channels must be at least one positive integer, got \[\]$/);
    // MONAI's test_channel_stride_difference: channels and strides of different lengths
    expect(() => tiny({ channels: [4, 8, 16], strides: [2, 2] })).toThrow(/^AutoEncoder: strides must have one entry per entry of channels \(3\), got \[2,2\]$/);
    expect(() => tiny({ strides: [2, 0] })).toThrow(/^AutoEncoder: strides\[1\] must be positive, got \[0, 0, 0\]$/);
    expect(() => tiny({ kernelSize: 2 })).toThrow(/^AutoEncoder kernelSize: same padding is not available for kernelSize \[2, 2, 2\]/);
    expect(() => tiny({ upKernelSize: [3, 4, 3] })).toThrow(/^AutoEncoder upKernelSize: same padding is not available for kernelSize \[3, 4, 3\]/);
    expect(() => tiny({ numResUnits: -1 })).toThrow(/^AutoEncoder: numResUnits must be an integer ≥ 0, got -1$/);
    expect(() => tiny({ numInterUnits: 0.5, interChannels: [2] })).toThrow(/^AutoEncoder: numInterUnits must be an integer ≥ 0, got 0.5$/);
    expect(() => tiny({ interChannels: [2, 0] })).toThrow(/^AutoEncoder: interChannels must be at least one positive integer, got \[2,0\]$/);
    expect(() => tiny({ interChannels: [2, 2], interDilations: [1] })).toThrow(/^AutoEncoder: interDilations must be one positive integer per entry of interChannels \(2\), got \[1\]$/);
    expect(() => tiny({ dropout: 1.5 })).toThrow(/^AutoEncoder: dropout must be in \[0, 1\] or null, got 1.5$/);
    expect(() => tiny({ act: 'swish' as 'relu' })).toThrow(/^AutoEncoder: unknown act "swish"; valid: 'prelu'/);
    expect(() => tiny({ norm: 'layer' as 'batch' })).toThrow(/^AutoEncoder: unknown norm "layer"; valid: 'instance', 'batch'/);
    net.dispose();
  });
});

/** AutoEncoder written out: the encoder's layers, the intermediate ones (stride 1, dilated), the decoder's transposed convolutions and units */
function autoEncoderByHand(net: AutoEncoder, x: Tensor, numResUnits: number, interDilations: number[], numInterUnits: number, ref = new StackByHand(net)): Tensor {
  let y = x;
  net.strides.forEach((s, i) => { y = ref.layer(y, `encode.encode_${i}`, s[0], numResUnits, false); });
  interDilations.forEach((d, i) => { y = ref.layer(y, `intermediate.inter_${i}`, 1, numInterUnits, false, d); });
  const strides = [...net.strides].reverse();
  strides.forEach((s, i) => {
    const isLast = i === strides.length - 1, key = `decode.decode_${i}`;
    y = ref.transposed(y, `${key}.conv`, s[0], isLast && numResUnits === 0);
    if (numResUnits > 0) y = ref.residualUnit(y, `${key}.resunit`, 1, 1, isLast);
  });
  return y;
}

describe('AutoEncoder forward and backward (cpu)', () => {
  it.each([
    [0, [], 2], [2, [], 2], [1, [3, 2], 2], [0, [3], 0],
  ] as [number, number[], number][])('equals the network written out with conv3d, convTranspose3d, instanceNorm, prelu and add in float64 (numResUnits %i, interChannels %j, numInterUnits %i)', async (numResUnits, interChannels, numInterUnits) => {
    const interDilations = interChannels.map((_, i) => i + 1);
    const net = tiny({ numResUnits, interChannels, interDilations, numInterUnits, inChannels: 2, outChannels: 3, channels: [2, 3], strides: [2, 2] });
    await toFloat64(net);
    const x = fromArray(randomArray(2 * 2 * 8 * 8 * 4, 5, -1, 1), [2, 2, 8, 8, 4], { backend: cpu, dtype: 'float64' });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => autoEncoderByHand(net, x, numResUnits, interDilations, numInterUnits))]);
    expect([got.shape, got.dtype]).toEqual([[2, 3, 8, 8, 4], 'float64']);
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x, got, want]);
    net.dispose();
  });

  it('equals the written-out network with LeakyReLU, affine instance norm, kernel 5 and no bias (float64)', async () => {
    const net = tiny({ numResUnits: 1, act: ['leakyrelu', { negativeSlope: 0.2 }], norm: ['instance', { affine: true }], kernelSize: 5, upKernelSize: 5, bias: false });
    await toFloat64(net);
    const ref = new StackByHand(net, 5, (t, key) => leakyRelu(instanceNorm(t, { weight: net.getParameter(`${key}.adn.N.weight`), bias: net.getParameter(`${key}.adn.N.bias`) }), 0.2));
    const x = fromArray(randomArray(8 * 8 * 8, 6, -1, 1), [1, 1, 8, 8, 8], { backend: cpu, dtype: 'float64' });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => autoEncoderByHand(net, x, 1, [], 2, ref))]);
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x, got, want]);
    net.dispose();
  });

  it('float64 gradient check with respect to the input (residual units, an intermediate block)', async () => {
    await expectInputGradcheck(tiny({ numResUnits: 1, interChannels: [2], numInterUnits: 1, channels: [2, 2], strides: [2, 1] }), [1, 1, 4, 4, 2]);
  });

  it('a few Adam steps on a tiny volume lower the reconstruction loss; every parameter gets a gradient', async () => {
    const net = tiny({ outChannels: 1, numResUnits: 1 });
    const x = fromArray(Float32Array.from({ length: 512 }, (_, i) => Math.sin(i * 0.37)), [1, 1, 8, 8, 8], { backend: cpu });
    const losses = await adamLosses(net, () => tidy(() => mseLoss(net.forward(x), x)), 12);
    expect(losses[losses.length - 1]).toBeLessThan(0.8 * losses[0]);
    x.dispose();
    net.dispose();
  });
});

describe('VarAutoEncoder', () => {
  it("MONAI's test case 3 (in_shape 4 × 128³, out 3, latent 2, channels 4, 8, 16, strides 2): 468 200 parameters", () => {
    // The AutoEncoder's 9 444 (above), and on the encoded feature map of 16 channels at 128 / 2³ = 16 per axis,
    // 16·16³ = 65 536 features: mu and logvar 65 536·2 + 2 = 131 074 each, decodeL 2·65 536 + 65 536 = 196 608.
    // Sum: 9 444 + 2·131 074 + 196 608 = 468 200.
    const net = new VarAutoEncoder({ inShape: [4, 128, 128, 128], outChannels: 3, latentSize: 2, channels: [4, 8, 16], strides: [2, 2, 2], backend: cpu });
    expect(net.numParameters()).toBe(468_200);
    expect(net.finalSize).toEqual([16, 16, 16]);
    expect([...net.stateSpec()].slice(-6).map(([k, v]) => [k, v.shape])).toEqual([
      ['mu.weight', [2, 65536]], ['mu.bias', [2]], ['logvar.weight', [2, 65536]], ['logvar.bias', [2]], ['decodeL.weight', [65536, 2]], ['decodeL.bias', [65536]],
    ]);
    net.dispose();
  });

  it('output shapes ([reconstruction, mu, logvar, z]), a sigmoid unless useSigmoid is false, odd sizes (⌈n / s⌉)', async () => {
    for (const [options, input, latent] of [
      [{}, [2, 1, 8, 8, 4], 3],
      [{ inShape: [2, 5, 6, 7], outChannels: 2, latentSize: 4, numResUnits: 1, interChannels: [2] }, [1, 2, 5, 6, 7], 4],
    ] as [Partial<VarAutoEncoderOptions>, number[], number][]) {
      const net = tinyVae(options);
      const x = randn(input, 1, { backend: cpu });
      const out = noGrad(() => net.forward(x));
      expect(out.map((t) => t.shape)).toEqual([[input[0], net.outChannels, ...net.strides.reduce((s, st) => s.map((n, a) => Math.ceil(n / st[a])), input.slice(2)).map((n, a) => n * net.strides.reduce((p, st) => p * st[a], 1))], [input[0], latent], [input[0], latent], [input[0], latent]]);
      const r = await out[0].toArray();
      expect(r.every((v) => v > 0 && v < 1)).toBe(true);
      dispose([x, ...out]);
      net.dispose();
    }
    const raw = tinyVae({ useSigmoid: false });
    const x = randn([1, 1, 8, 8, 4], 1, { backend: cpu });
    const [r] = noGrad(() => raw.forward(x));
    expect(Array.from(await r.toArray()).some((v) => v < 0)).toBe(true);
    dispose([x, r]);
    raw.dispose();
  });

  it('equals the network written out in float64: mu, logvar, z = mu + ε·exp(logvar / 2) with the seeded ε, relu(decodeL), decode, sigmoid; in evaluation z = mu + exp(logvar / 2) as MONAI', async () => {
    const net = tinyVae({ numResUnits: 1, inShape: [2, 8, 4, 4], outChannels: 2, generator: fixed(11) });
    await toFloat64(net);
    const x = fromArray(randomArray(2 * 2 * 128, 5, -1, 1), [2, 2, 8, 4, 4], { backend: cpu, dtype: 'float64' });
    const ref = new StackByHand(net as unknown as AutoEncoder);
    const byHand = (noise: Tensor | null) => tidy(() => {
      let h = x;
      net.strides.forEach((s, i) => { h = ref.layer(h, `encode.encode_${i}`, s[0], 1, false); });
      const flat = reshape(h, [2, -1]);
      const mu = linear(flat, net.getParameter('mu.weight'), net.getParameter('mu.bias'));
      const logvar = linear(flat, net.getParameter('logvar.weight'), net.getParameter('logvar.bias'));
      const std = exp(mulScalar(logvar, 0.5));
      const z = add(mu, noise ? mul(noise, std) : std);
      let y = reshape(relu(linear(z, net.getParameter('decodeL.weight'), net.getParameter('decodeL.bias'))), [2, 3, 2, 1, 1]);
      [...net.strides].reverse().forEach((s, i) => {
        y = ref.residualUnit(ref.transposed(y, `decode.decode_${i}.conv`, s[0]), `decode.decode_${i}.resunit`, 1, 1, i === 1);
      });
      return concat([reshape(sigmoid(y), [2, -1]), mu, logvar, z], 1);
    });
    const joined = (ts: Tensor[]) => tidy(() => concat([reshape(ts[0], [2, -1]), ...ts.slice(1)], 1));
    // the generator gives seed 11 each time: ε is randn of seed 11
    const eps = randn([2, 3], { seed: 11, dtype: 'float64', backend: cpu });
    const [got, want] = noGrad(() => [joined(net.forward(x)), byHand(eps)]);
    await expectSameAsWrittenOut(got, want, 1e-12);
    net.eval();
    const [gotEval, wantEval] = noGrad(() => [joined(net.forward(x)), byHand(null)]);
    await expectSameAsWrittenOut(gotEval, wantEval, 1e-12);
    dispose([x, eps, got, want, gotEval, wantEval]);
    net.dispose();
  });

  it('the noise comes from the generator passed: the same seed gives the same z, the stream moves on each forward, evaluation draws nothing', async () => {
    const zOf = async (net: VarAutoEncoder, x: Tensor) => {
      const out = noGrad(() => net.forward(x));
      const z = Array.from(await out[3].toArray());
      dispose(out);
      return z;
    };
    const x = randn([1, 1, 8, 8, 4], 2, { backend: cpu });
    const [a, b] = [tinyVae({ generator: new Rng(5) }), tinyVae({ generator: new Rng(5) })];
    const [a1, b1, a2] = [await zOf(a, x), await zOf(b, x), await zOf(a, x)];
    expect(a1).toEqual(b1);
    expect(a2).not.toEqual(a1);
    const rng = new Rng(6);
    a.generator = rng;
    a.eval();
    const state = rng.state();
    const [e1, e2] = [await zOf(a, x), await zOf(a, x)];
    expect(e1).toEqual(e2);
    expect(rng.state()).toEqual(state);
    x.dispose();
    for (const m of [a, b]) m.dispose();
  });

  it('float64 gradient check with respect to the input, in training with a fixed noise', async () => {
    const net = tinyVae({ inShape: [1, 4, 4, 2], channels: [2, 2], strides: [2, 1], latentSize: 2, generator: fixed(4) });
    await toFloat64(net);
    const r = await gradcheck((x) => {
      const [y, mu, logvar, z] = net.forward(x);
      return add(add(sum(mul(y, y)), sum(mul(mu, logvar))), sum(z));
    }, [{ data: randomArray(32, 7, -1, 1), shape: [1, 1, 4, 4, 2] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    net.dispose();
  });

  it('a few Adam steps on the reconstruction plus the KL term lower the loss; every parameter gets a gradient', async () => {
    const net = tinyVae({ generator: new Rng(1), numResUnits: 1 });
    const x = fromArray(Float32Array.from({ length: 256 }, (_, i) => 0.5 + 0.4 * Math.sin(i * 0.37)), [1, 1, 8, 8, 4], { backend: cpu });
    const losses = await adamLosses(net, () => tidy(() => {
      const [y, mu, logvar] = net.forward(x);
      return add(mseLoss(y, x, { reduction: 'sum' }), vaeKlDivergence(mu, logvar));
    }), 15);
    expect(losses[losses.length - 1]).toBeLessThan(0.7 * losses[0]);
    x.dispose();
    net.dispose();
  });

  it('bad options and inputs are refused by name', () => {
    const net = tinyVae();
    const x = randn([1, 1, 8, 8, 8], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^VarAutoEncoder: input must be \[N, 1, 8, 8, 4\], got \[1, 1, 8, 8, 8\]$/);
    const z = randn([1, 2], 1, { backend: cpu });
    expect(() => net.decodeForward(z)).toThrow(/^VarAutoEncoder: a latent must be \[N, 3\], got \[1, 2\]$/);
    dispose([x, z]);
    expect(() => tinyVae({ inShape: [1, 8, 8] })).toThrow(/^VarAutoEncoder: inShape must be 4 positive integers, got \[1,8,8\]$/);
    expect(() => tinyVae({ latentSize: 0 })).toThrow(/^VarAutoEncoder: latentSize must be a positive integer, got 0$/);
    expect(() => tinyVae({ strides: [2] })).toThrow(/^VarAutoEncoder: strides must have one entry per entry of channels \(2\), got \[2\]$/);
    net.dispose();
  });
});

describe('vaeKlDivergence', () => {
  it("is MONAI's tutorial KL term −½·Σ(1 + logvar − mu² − exp(logvar)), 0 at the standard normal, with its mean and float64 gradient", async () => {
    const mu = fromArray([0.5, -1, 0, 2], [2, 2], { backend: cpu, dtype: 'float64' });
    const logvar = fromArray([0, 0.5, -1, 0.2], [2, 2], { backend: cpu, dtype: 'float64' });
    const want = [[0.5, 0], [-1, 0.5], [0, -1], [2, 0.2]].reduce((s, [m, l]) => s - 0.5 * (1 + l - m * m - Math.exp(l)), 0);
    expect(await vaeKlDivergence(mu, logvar).item()).toBeCloseTo(want, 14);
    expect(await vaeKlDivergence(mu, logvar, { reduction: 'mean' }).item()).toBeCloseTo(want / 4, 14);
    const zero = fromArray([0, 0], [1, 2], { backend: cpu, dtype: 'float64' });
    expect(await vaeKlDivergence(zero, zero).item()).toBe(0);
    const r = await gradcheck((m, l) => vaeKlDivergence(m, l), [{ data: [0.5, -1, 0.3], shape: [1, 3] }, { data: [0.1, -0.4, 0.7], shape: [1, 3] }], { backend: cpu });
    expect(r.ok, r.message).toBe(true);
    expect(() => vaeKlDivergence(mu, zero)).toThrow(/^vaeKlDivergence: mu \[2, 2\] and logvar \[1, 2\] must have the same shape$/);
    expect(() => vaeKlDivergence(mu, logvar, { reduction: 'none' as 'sum' })).toThrow(/^vaeKlDivergence: reduction must be 'sum' or 'mean', got 'none'$/);
    dispose([mu, logvar, zero]);
  });
});
