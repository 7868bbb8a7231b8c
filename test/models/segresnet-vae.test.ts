import { describe, expect, it } from 'vitest';
import {
  add, addScalar, conv3d, gradcheck, groupNorm, interpolate, leakyRelu, log, matmul, mean, mul, mulScalar, noGrad, relu, reshape,
  softplus, square, sub, sum, transpose,
} from '../../src/autograd/index.js';
import { Rng } from '../../src/imaging/random.js';
import { SegResNet, SegResNetVAE, crossEntropy, type NoiseGenerator, type SegResNetVAEOptions } from '../../src/models/index.js';
import { dispose, fromArray, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, ballSegmentation, expectSameAsWrittenOut } from '../helpers/model-checks.js';
import { expectStrictLoads } from '../helpers/monai-stack-reference.js';

/**
 * MONAI's SegResNetVAE (monai/networks/nets/segresnet.py): the parameter count derived by formula, SegResNet's keys
 * then the VAE branch's in MONAI's order with their shapes, the segmentation equal to SegResNet's of the same seed,
 * the VAE loss against the branch written out with the functional ops in float64 (both forms of the standard
 * deviation), the seeded noise, options and errors, a float64 gradient check and a few training steps.
 */

const tiny = (options: Partial<SegResNetVAEOptions> = {}): SegResNetVAE => new SegResNetVAE({
  inputImageSize: [4, 8, 4], initFilters: 2, norm: ['group', { numGroups: 2 }], blocksDown: [1, 1], blocksUp: [1], vaeNz: 3, seed: 3, backend: cpu, ...options,
});
/** a generator that gives the same seed every draw: the same noise each forward */
const fixed = (seed: number): NoiseGenerator => ({ nextU32: () => seed });

describe('SegResNetVAE structure', () => {
  it("MONAI's defaults with inputImageSize 64³: SegResNet's 1 176 186 parameters plus the VAE branch's 816 969", () => {
    // zoom 2³ = 8, v_filters 8·8 = 64, fc_insize 64 / 16 = 4 per axis, 16·4³ = 1 024 features; group norms affine (2c).
    // vae_down: GroupNorm(64) 128, a 3³ stride-2 conv 64→16 with bias 27·64·16 + 16 = 27 664, GroupNorm(16) 32: 27 824.
    // vae_fc1, vae_fc2: 1 024·256 + 256 = 262 400 each; vae_fc3: 256·1 024 + 1 024 = 263 168.
    // vae_fc_up_sample: a 1³ conv 16→64 without bias 1 024 (trilinear upsampling: none), GroupNorm(64) 128: 1 152.
    // vae_conv_final: GroupNorm(8) 16, a 1³ conv 8→1 with bias 9: 25.
    // Branch: 27 824 + 2·262 400 + 263 168 + 1 152 + 25 = 816 969; total 1 176 186 + 816 969 = 1 993 155.
    // (At 128³, 16·8³ = 8 192 features: 27 824 + 2·2 097 408 + 2 105 344 + 1 177 = 6 329 161, total 7 505 347.)
    const net = new SegResNetVAE({ inputImageSize: [64, 64, 64], backend: cpu });
    expect(net.numParameters()).toBe(1_993_155);
    expect(net.fcInsize).toEqual([4, 4, 4]);
    net.dispose();
  });

  it("SegResNet's keys, then the VAE branch's in MONAI's order with their shapes (deconv: vae_fc_up_sample.1.deconv)", () => {
    const net = tiny({ upsampleMode: 'deconv' });
    const plain = new SegResNet({ initFilters: 2, norm: ['group', { numGroups: 2 }], blocksDown: [1, 1], blocksUp: [1], upsampleMode: 'deconv', seed: 3, backend: cpu });
    const spec = [...net.stateSpec()].map(([k, v]) => [k, v.shape]);
    const base = [...plain.stateSpec()].map(([k, v]) => [k, v.shape]);
    expect(spec.slice(0, base.length)).toEqual(base);
    // v_filters 2·2 = 4; fc_insize [4, 8, 4] / 4 = [1, 2, 1]: 16·2 = 32 features
    expect(spec.slice(base.length)).toEqual([
      ['vae_down.0.weight', [4]], ['vae_down.0.bias', [4]], ['vae_down.2.conv.weight', [16, 4, 3, 3, 3]], ['vae_down.2.conv.bias', [16]],
      ['vae_down.3.weight', [16]], ['vae_down.3.bias', [16]],
      ['vae_fc1.weight', [3, 32]], ['vae_fc1.bias', [3]], ['vae_fc2.weight', [3, 32]], ['vae_fc2.bias', [3]], ['vae_fc3.weight', [32, 3]], ['vae_fc3.bias', [32]],
      ['vae_fc_up_sample.0.conv.weight', [4, 16, 1, 1, 1]], ['vae_fc_up_sample.1.deconv.weight', [4, 4, 2, 2, 2]], ['vae_fc_up_sample.1.deconv.bias', [4]],
      ['vae_fc_up_sample.2.weight', [4]], ['vae_fc_up_sample.2.bias', [4]],
      ['vae_conv_final.0.weight', [2]], ['vae_conv_final.0.bias', [2]], ['vae_conv_final.2.conv.weight', [1, 2, 1, 1, 1]], ['vae_conv_final.2.conv.bias', [1]],
    ]);
    // the branch's activations are SegResNet's act_mod itself, as MONAI's
    expect(net.vaeDown.layers[1]).toBe(net.actMod);
    expect(net.vaeConvFinal.layers[1]).toBe(net.actMod);
    expect(net.vaeDown.layers[3].typeName).toBe('GroupNorm');
    for (const m of [net, plain]) m.dispose();
  });

  it("a state dict in PyTorch's safetensors layout under MONAI's keys loads strictly (SegResNetVAE)", async () => {
    await expectStrictLoads([tiny(), tiny({ upsampleMode: 'deconv' })], 'vae_fc1.weight');
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny();
    const before = memory().liveTensors;
    const x = randn([1, 1, 4, 4, 4], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^SegResNetVAE: in training the input must be \[N, 1, 4, 8, 4\] \(inputImageSize, which the VAE branch is built for\), got \[1, 1, 4, 4, 4\]$/);
    const odd = randn([1, 1, 3, 8, 4], 1, { backend: cpu });
    expect(() => net.forward(odd)).toThrow(/^SegResNet: input \[1, 1, 3, 8, 4\] has spatial sizes \[3, 8, 4\], which must be multiples of 2/);
    dispose([x, odd]);
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ inputImageSize: [4, 8] })).toThrow(/^SegResNetVAE: inputImageSize must be 3 positive integers, got \[4,8\]$/);
    expect(() => tiny({ inputImageSize: [4, 6, 4] })).toThrow(/^SegResNetVAE: inputImageSize \[4, 6, 4\] must be multiples of 4 \(2\^2: the encoder's 1 halvings and vae_down's\)$/);
    expect(() => tiny({ vaeNz: 0 })).toThrow(/^SegResNetVAE: vaeNz must be a positive integer, got 0$/);
    expect(() => tiny({ vaeDefaultStd: -1 })).toThrow(/^SegResNetVAE: vaeDefaultStd must be a finite number ≥ 0, got -1$/);
    expect(() => tiny({ blocksUp: [] })).toThrow(/^SegResNet: blocksUp \[\] needs one entry fewer than blocksDown \[1, 1\]/);
    net.dispose();
  });
});

/** the VAE branch of MONAI's _get_vae_loss written out with the functional ops, reading the weights by their MONAI names */
function vaeLossByHand(net: SegResNetVAE, input: Tensor, vaeInput: Tensor, noise: Tensor, groups: number, act: (t: Tensor) => Tensor): Tensor {
  const w = (key: string) => net.getParameter(key);
  const normAct = (t: Tensor, key: string) => act(groupNorm(t, groups, w(`${key}.weight`), w(`${key}.bias`)));
  const linear = (t: Tensor, key: string) => add(matmul(t, transpose(w(`${key}.weight`))), w(`${key}.bias`));
  const n = input.shape[0];
  let y = normAct(conv3d(normAct(vaeInput, 'vae_down.0'), w('vae_down.2.conv.weight'), w('vae_down.2.conv.bias'), { stride: 2, padding: 1 }), 'vae_down.3');
  const flat = reshape(y, [n, -1]);
  const zMean = linear(flat, 'vae_fc1');
  let reg: Tensor, latent: Tensor;
  if (net.vaeEstimateStd) {
    const sigma = softplus(linear(flat, 'vae_fc2'));
    reg = mulScalar(mean(addScalar(sub(add(square(zMean), square(sigma)), log(addScalar(square(sigma), 1e-8))), -1)), 0.5);
    latent = add(zMean, mul(sigma, noise));
  } else {
    reg = mean(square(zMean));
    latent = add(zMean, mulScalar(noise, net.vaeDefaultStd));
  }
  y = reshape(act(linear(latent, 'vae_fc3')), [n, 16, ...net.fcInsize]);
  y = normAct(interpolate(conv3d(y, w('vae_fc_up_sample.0.conv.weight')), { scaleFactor: 2, mode: 'trilinear', alignCorners: false }), 'vae_fc_up_sample.2');
  net.blocksUp.forEach((blocks, i) => {
    y = interpolate(conv3d(y, w(`up_samples.${i}.0.conv.weight`)), { scaleFactor: 2, mode: 'trilinear', alignCorners: false });
    for (let j = 0; j < blocks; j++) {
      const key = `up_layers.${i}.${j}`;
      const c1 = conv3d(normAct(y, `${key}.norm1`), w(`${key}.conv1.conv.weight`), null, { padding: 1 });
      y = add(conv3d(normAct(c1, `${key}.norm2`), w(`${key}.conv2.conv.weight`), null, { padding: 1 }), y);
    }
  });
  const recon = conv3d(normAct(y, 'vae_conv_final.0'), w('vae_conv_final.2.conv.weight'), w('vae_conv_final.2.conv.bias'));
  return add(reg, mean(square(sub(input, recon))));
}

/** the encoder's coarsest feature, written out as SegResNet's (convInit, the levels' stride-2 convs and blocks) */
function encoderByHand(net: SegResNetVAE, x: Tensor, groups: number, act: (t: Tensor) => Tensor): Tensor {
  const w = (key: string) => net.getParameter(key);
  const normAct = (t: Tensor, key: string) => act(groupNorm(t, groups, w(`${key}.weight`), w(`${key}.bias`)));
  const conv = (t: Tensor, key: string, stride = 1) => conv3d(t, w(`${key}.conv.weight`), null, { stride, padding: 1 });
  let y = conv(x, 'convInit');
  net.blocksDown.forEach((blocks, level) => {
    if (level > 0) y = conv(y, `down_layers.${level}.0`, 2);
    for (let j = 1; j <= blocks; j++) {
      const key = `down_layers.${level}.${j}`;
      y = add(conv(normAct(conv(normAct(y, `${key}.norm1`), `${key}.conv1`), `${key}.norm2`), `${key}.conv2`), y);
    }
  });
  return y;
}

describe('SegResNetVAE forward and backward (cpu)', () => {
  it.each([
    ['the default standard deviation, ReLU', {}, relu],
    ['an estimated standard deviation, LeakyReLU(0.2)', { vaeEstimateStd: true, act: ['leakyrelu', { negativeSlope: 0.2 }] }, (t: Tensor) => leakyRelu(t, 0.2)],
  ] as [string, Partial<SegResNetVAEOptions>, (t: Tensor) => Tensor][])('the segmentation is SegResNet\'s of the same seed; the VAE loss equals the branch written out in float64 (%s)', async (_, options, act) => {
    const net = tiny({ ...options, inChannels: 2, outChannels: 3, generator: fixed(9), vaeDefaultStd: 0.4 });
    const plain = new SegResNet({ initFilters: 2, norm: ['group', { numGroups: 2 }], blocksDown: [1, 1], blocksUp: [1], inChannels: 2, outChannels: 3, seed: 3, backend: cpu, act: options.act });
    const x32 = randn([2, 2, 4, 8, 4], 5, { backend: cpu });
    const [[seg, loss32], want] = noGrad(() => [net.forward(x32), plain.forward(x32)]);
    expect(Array.from(await seg.toArray())).toEqual(Array.from(await want.toArray()));
    expect(loss32!.shape).toEqual([]);
    await toFloat64(net);
    const x = fromArray(await x32.toArray(), x32.shape, { backend: cpu, dtype: 'float64' });
    const noise = randn([2, 3], { seed: 9, dtype: 'float64', backend: cpu });
    const [[, got], byHand] = noGrad(() => [net.forward(x), tidy(() => vaeLossByHand(net, x, encoderByHand(net, x, 2, act), noise, 2, act))]);
    expect(got!.dtype).toBe('float64');
    await expectSameAsWrittenOut(got!, byHand, 1e-12);
    // in evaluation: the segmentation and null, as MONAI's; any size of multiples of 2^(levels − 1)
    net.eval();
    const other = fromArray(randomArray(2 * 4 * 4 * 4, 3, -1, 1), [1, 2, 4, 4, 4], { backend: cpu, dtype: 'float64' });
    const [evaluated, none] = noGrad(() => net.forward(other));
    expect([evaluated.shape, none]).toEqual([[1, 3, 4, 4, 4], null]);
    dispose([x32, seg, loss32!, want, x, noise, got!, byHand, other, evaluated]);
    for (const m of [net, plain]) m.dispose();
  });

  it('the noise comes from the generator passed: the same seed gives the same loss, the stream moves on each forward', async () => {
    const lossOf = async (net: SegResNetVAE, x: Tensor) => {
      const [seg, loss] = noGrad(() => net.forward(x));
      const v = await loss!.item();
      dispose([seg, loss!]);
      return v;
    };
    const x = randn([1, 1, 4, 8, 4], 2, { backend: cpu });
    const [a, b] = [tiny({ generator: new Rng(5), vaeDefaultStd: 1 }), tiny({ generator: new Rng(5), vaeDefaultStd: 1 })];
    const [a1, b1, a2] = [await lossOf(a, x), await lossOf(b, x), await lossOf(a, x)];
    expect(a1).toBe(b1);
    expect(a2).not.toBe(a1);
    x.dispose();
    for (const m of [a, b]) m.dispose();
  });

  it('float64 gradient check with respect to the input of the segmentation and the VAE loss (fixed noise, estimated std)', async () => {
    const net = tiny({ vaeEstimateStd: true, generator: fixed(2), norm: ['group', { numGroups: 1 }], inputImageSize: [4, 4, 4] });
    await toFloat64(net);
    const r = fromArray(randomArray(2 * 64, 4, -1, 1), [1, 2, 4, 4, 4], { backend: cpu, dtype: 'float64' });
    const result = await gradcheck((x) => {
      const [seg, loss] = net.forward(x);
      return add(sum(mul(seg, r)), loss!);
    }, [{ data: randomArray(64, 7, -1, 1), shape: [1, 1, 4, 4, 4] }], { backend: cpu });
    expect(result.ok, result.message).toBe(true);
    r.dispose();
    net.dispose();
  });

  it('a few Adam steps on the cross-entropy plus the VAE loss lower it; every parameter gets a gradient', async () => {
    const { image, target } = ballSegmentation(8);
    const net = new SegResNetVAE({
      inputImageSize: [8, 8, 8], initFilters: 4, norm: ['group', { numGroups: 2 }], blocksDown: [1, 1], blocksUp: [1], vaeNz: 4, vaeEstimateStd: true,
      generator: new Rng(3), seed: 11, backend: cpu,
    });
    const losses = await adamLosses(net, () => tidy(() => {
      const [seg, vae] = net.forward(image);
      return add(crossEntropy(seg, target), vae!);
    }), 10);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    dispose([image, target]);
    net.dispose();
  });
});
