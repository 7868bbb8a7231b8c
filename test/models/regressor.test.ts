import { describe, expect, it } from 'vitest';
import { add, matmul, mean, noGrad, reshape, sigmoid, transpose } from '../../src/autograd/index.js';
import {
  Classifier, Critic, Discriminator, Dropout, Regressor, crossEntropy, mseLoss, type ClassifierOptions, type RegressorOptions,
} from '../../src/models/index.js';
import { dispose, fromArray, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, expectInputGradcheck, expectOutputShapes, expectSameAsWrittenOut } from '../helpers/model-checks.js';
import { StackByHand, expectStrictLoads } from '../helpers/monai-stack-reference.js';

/**
 * MONAI's Regressor (monai/networks/nets/regressor.py) and Classifier, Discriminator, Critic (classifier.py):
 * parameter counts derived by formula, state-dict keys in MONAI's order with their shapes, output shapes (MONAI's
 * test cases in 3-D), options and errors, the forward against the network written out in float64, float64 gradient
 * checks and a few training steps.
 */

const tiny = (options: Partial<RegressorOptions> = {}): Regressor => new Regressor({
  inShape: [1, 8, 8, 4], outShape: [2], channels: [2, 3], strides: [2, 2], seed: 3, backend: cpu, ...options,
});
const tinyClassifier = (options: Partial<ClassifierOptions> = {}): Classifier => new Classifier({
  inShape: [1, 8, 8, 4], classes: 3, channels: [2, 3], strides: [2, 2], seed: 3, backend: cpu, ...options,
});

/** nn.Linear written out */
const linear = (x: Tensor, w: Tensor, b: Tensor): Tensor => add(matmul(x, transpose(w)), b);

/** the conv layers written out: per channel a unit (or a Convolution), the last without its final ADN */
function netByHand(net: Regressor | Critic, x: Tensor, numResUnits: number, strides: number[]): Tensor {
  const ref = new StackByHand(net);
  return strides.reduce((y, s, i) => ref.layer(y, `net.layer_${i}`, s, numResUnits, i === strides.length - 1), x);
}

describe('Regressor and the classifiers: structure', () => {
  it("MONAI's docstring Regressor in 3-D (inShape 1 × 64³, outShape [2], channels 2, 4, 8, strides 2, numResUnits 2): 12 777 parameters", () => {
    // A ResidualUnit a→b of two convolutions with stride 2 (instance norm without affine, PReLU with one slope):
    // unit0 27ab + b + 1, unit1 27b² + b + 1 (27b² + b without its ADN in the last layer), residual 3³ strided 27ab + b.
    // layer_0 1→2: 57 + 111 + 56 = 224; layer_1 2→4: 221 + 437 + 220 = 878; layer_2 4→8 (last): 873 + 1 736 + 872 = 3 481.
    // 64 / 2³ = 8 per axis: 8·8³ = 4 096 features, the Linear 4 096·2 + 2 = 8 194. Sum: 224 + 878 + 3 481 + 8 194 = 12 777.
    const net = new Regressor({ inShape: [1, 64, 64, 64], outShape: [2], channels: [2, 4, 8], strides: [2, 2, 2], backend: cpu });
    expect(net.numParameters()).toBe(12_777);
    expect(net.finalSize).toEqual([8, 8, 8]);
    net.dispose();
    // the Discriminator of MONAI's test case 1 in 3-D: the same conv layers and a Linear to one value, 4 096 + 1
    const d = new Discriminator({ inShape: [1, 64, 64, 64], channels: [2, 4, 8], strides: [2, 2, 2], backend: cpu });
    expect(d.numParameters()).toBe(224 + 878 + 3_481 + 4_097);
    d.dispose();
    // the Critic: the conv layers only (its final is nn.Flatten)
    const c = new Critic({ inShape: [1, 64, 64, 64], channels: [2, 4, 8], strides: [2, 2, 2], backend: cpu });
    expect(c.numParameters()).toBe(224 + 878 + 3_481);
    c.dispose();
  });

  it("a state dict in PyTorch's safetensors layout under MONAI's keys loads strictly (Regressor, Classifier)", async () => {
    await expectStrictLoads([tiny(), tinyClassifier({ lastAct: 'prelu' })], 'final.1.weight');
  });

  it("state-dict keys, order and shapes are MONAI's (numResUnits 0 and 2, a Classifier's PReLU lastact)", () => {
    const conv = (p: string, a: number, b: number, adn = true): [string, number[]][] => [
      [`${p}.conv.weight`, [b, a, 3, 3, 3]], [`${p}.conv.bias`, [b]], ...(adn ? [[`${p}.adn.A.weight`, [1]]] as [string, number[]][] : []),
    ];
    const keys = (net: Regressor) => [...net.stateSpec()].map(([k, v]) => [k, v.shape]);
    const plain = tiny({ numResUnits: 0 });
    // 8 × 8 × 4 → 2 × 2 × 1: 3·4 = 12 features
    expect(keys(plain)).toEqual([...conv('net.layer_0', 1, 2), ...conv('net.layer_1', 2, 3, false), ['final.1.weight', [2, 12]], ['final.1.bias', [2]]]);
    const residual = tinyClassifier({ lastAct: ['prelu', { numParameters: 1 }] });
    expect(keys(residual)).toEqual([
      ...conv('net.layer_0.conv.unit0', 1, 2), ...conv('net.layer_0.conv.unit1', 2, 2), ['net.layer_0.residual.weight', [2, 1, 3, 3, 3]], ['net.layer_0.residual.bias', [2]],
      ...conv('net.layer_1.conv.unit0', 2, 3), ...conv('net.layer_1.conv.unit1', 3, 3, false), ['net.layer_1.residual.weight', [3, 2, 3, 3, 3]], ['net.layer_1.residual.bias', [3]],
      ['final.1.weight', [3, 12]], ['final.1.bias', [3]], ['final.lastact.weight', [1]],
    ]);
    expect(residual.final.namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['0', 'Flatten'], ['1', 'Linear'], ['lastact', 'PReLU']]);
    // the Discriminator: dropout 0.25 in every ADN, a sigmoid lastact
    const d = new Discriminator({ inShape: [1, 8, 8, 4], channels: [2, 3], strides: [2, 2], seed: 3, backend: cpu });
    expect(d.modules().filter((m) => m instanceof Dropout).map((m) => (m as Dropout).p)).toEqual([0.25, 0.25, 0.25]);
    expect(d.final.namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['0', 'Flatten'], ['1', 'Linear'], ['lastact', 'Sigmoid']]);
    const critic = new Critic({ inShape: [1, 8, 8, 4], channels: [2, 3], strides: [2, 2], seed: 3, backend: cpu });
    expect([...critic.stateSpec().keys()].filter((k) => k.startsWith('final'))).toEqual([]);
    expect(critic.modules().filter((m) => m instanceof Dropout)).toHaveLength(3);
    for (const m of [plain, residual, d, critic]) m.dispose();
  });

  it("output shapes: MONAI's Discriminator test cases in 3-D, a multi-axis outShape, anisotropic strides, the classes", () => {
    const cases: [() => Regressor | Critic, number[], number[]][] = [
      [() => new Discriminator({ inShape: [1, 16, 16, 16], channels: [2, 4, 8], strides: [2, 2, 2], numResUnits: 0, backend: cpu }), [4, 1, 16, 16, 16], [4, 1]],
      [() => new Discriminator({ inShape: [1, 16, 16, 16], channels: [2, 4, 8], strides: [2, 2, 2], backend: cpu }), [4, 1, 16, 16, 16], [4, 1]],
      [() => new Discriminator({ inShape: [1, 16, 16, 16], channels: [2, 4], strides: [2, 2], numResUnits: 0, backend: cpu }), [4, 1, 16, 16, 16], [4, 1]],
      [() => tiny({ outShape: [2, 3, 4] }), [2, 1, 8, 8, 4], [2, 2, 3, 4]],
      [() => tiny({ inShape: [2, 5, 6, 7], strides: [[2, 1, 2], 2] }), [1, 2, 5, 6, 7], [1, 2]],
      [() => tinyClassifier({ lastAct: 'softmax' }), [3, 1, 8, 8, 4], [3, 3]],
      [() => new Critic({ inShape: [1, 8, 8, 4], channels: [2, 3], strides: [2, 2], backend: cpu }), [2, 1, 8, 8, 4], [2, 1]],
    ];
    expectOutputShapes((make: () => Regressor | Critic) => make(), cases);
  });

  it('lastAct: any of MONAI\'s Act names, softmax and logsoftmax over the classes', async () => {
    const kinds = (['sigmoid', 'tanh', 'relu', 'softmax', 'logsoftmax', 'SOFTMAX'] as const).map((lastAct) => {
      const m = tinyClassifier({ lastAct: lastAct as 'softmax' });
      const name = m.getSubmodule('final.lastact').typeName;
      m.dispose();
      return name;
    });
    expect(kinds).toEqual(['Sigmoid', 'Tanh', 'ReLU', 'Softmax', 'LogSoftmax', 'Softmax']);
    const net = tinyClassifier({ lastAct: 'softmax' });
    const x = randn([2, 1, 8, 8, 4], 1, { backend: cpu });
    const p = await noGrad(() => net.forward(x)).toArray();
    expect([p[0] + p[1] + p[2], p[3] + p[4] + p[5]].map((v) => Math.abs(v - 1) < 1e-6)).toEqual([true, true]);
    x.dispose();
    net.dispose();
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny();
    const d = new Discriminator({ inShape: [1, 8, 8, 4], channels: [2], strides: [2], backend: cpu });
    const c = new Critic({ inShape: [1, 8, 8, 4], channels: [2], strides: [2], backend: cpu });
    const before = memory().liveTensors;
    const x = randn([1, 1, 8, 8, 8], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^Regressor: input must be \[N, 1, 8, 8, 4\] \(inShape\), got \[1, 1, 8, 8, 8\]$/);
    expect(() => d.forward(x)).toThrow(/^Discriminator: input must be \[N, 1, 8, 8, 4\] \(inShape\), got \[1, 1, 8, 8, 8\]$/);
    expect(() => c.forward(x)).toThrow(/^Critic: input must be \[N, 1, 8, 8, 4\] \(inShape\), got \[1, 1, 8, 8, 8\]$/);
    x.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ inShape: [1, 8, 8] })).toThrow(/^Regressor: inShape must be 4 positive integers, got \[1,8,8\]$/);
    expect(() => tiny({ outShape: [] })).toThrow(/^Regressor: outShape must be at least one positive integer, got \[\]$/);
    expect(() => tiny({ channels: [2, 0] })).toThrow(/^Regressor: channels must be at least one positive integer, got \[2,0\]$/);
    expect(() => tiny({ strides: [2] })).toThrow(/^Regressor: strides must have one entry per entry of channels \(2\), got \[2\]$/);
    expect(() => tiny({ kernelSize: 4 })).toThrow(/^Regressor kernelSize: same padding is not available for kernelSize \[4, 4, 4\]/);
    expect(() => tiny({ numResUnits: 1.5 })).toThrow(/^Regressor: numResUnits must be an integer ≥ 0, got 1.5$/);
    expect(() => tiny({ dropout: -0.1 })).toThrow(/^Regressor: dropout must be in \[0, 1\] or null, got -0.1$/);
    expect(() => tinyClassifier({ classes: 0 })).toThrow(/^Classifier: classes must be a positive integer, got 0$/);
    expect(() => tinyClassifier({ lastAct: 'swish' as 'tanh' })).toThrow(/^Classifier: lastAct: unknown act "swish"; valid: 'prelu'/);
    expect(() => new Critic({ inShape: [1, 8, 8, 4], channels: [2], strides: [2], act: 'swish' as 'tanh' })).toThrow(/^Critic: unknown act "swish"/);
    for (const m of [net, d, c]) m.dispose();
  });
});

describe('Regressor and the classifiers: forward and backward (cpu)', () => {
  it.each([0, 2])('the Regressor equals the network written out with conv3d, instanceNorm, prelu, add and a Linear in float64 (numResUnits %i)', async (numResUnits) => {
    const net = tiny({ numResUnits, inShape: [2, 8, 8, 4], outShape: [2, 2], channels: [2, 3, 2], strides: [2, 1, 2] });
    await toFloat64(net);
    const x = fromArray(randomArray(3 * 2 * 256, 5, -1, 1), [3, 2, 8, 8, 4], { backend: cpu, dtype: 'float64' });
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => {
      const h = reshape(netByHand(net, x, numResUnits, [2, 1, 2]), [3, -1]);
      return reshape(linear(h, net.getParameter('final.1.weight'), net.getParameter('final.1.bias')), [3, 2, 2]);
    })]);
    expect([got.shape, got.dtype]).toEqual([[3, 2, 2], 'float64']);
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x, got, want]);
    net.dispose();
  });

  it('the Discriminator (in evaluation: dropout off) and the Critic equal their written-out networks in float64', async () => {
    const d = new Discriminator({ inShape: [1, 8, 8, 4], channels: [2, 3], strides: [2, 2], seed: 4, backend: cpu });
    const c = new Critic({ inShape: [1, 8, 8, 4], channels: [2, 3], strides: [2, 2], seed: 4, backend: cpu });
    for (const m of [d, c]) {
      await toFloat64(m);
      m.eval();
    }
    const x = fromArray(randomArray(2 * 256, 6, -1, 1), [2, 1, 8, 8, 4], { backend: cpu, dtype: 'float64' });
    const [gotD, wantD, gotC, wantC] = noGrad(() => [d.forward(x), tidy(() => {
      const h = reshape(netByHand(d, x, 2, [2, 2]), [2, -1]);
      return sigmoid(linear(h, d.getParameter('final.1.weight'), d.getParameter('final.1.bias')));
    }), c.forward(x), tidy(() => mean(reshape(netByHand(c, x, 2, [2, 2]), [2, -1]), 1, true))]);
    await expectSameAsWrittenOut(gotD, wantD, 1e-12);
    await expectSameAsWrittenOut(gotC, wantC, 1e-12);
    // the same seed gives the Critic the Discriminator's conv layers
    expect(Array.from(await c.getParameter('net.layer_1.conv.unit1.conv.weight').toArray())).toEqual(Array.from(await d.getParameter('net.layer_1.conv.unit1.conv.weight').toArray()));
    dispose([x, gotD, wantD, gotC, wantC]);
    for (const m of [d, c]) m.dispose();
  });

  it('in training the Discriminator\'s dropout is active; in evaluation it is not', async () => {
    const d = new Discriminator({ inShape: [1, 8, 8, 4], channels: [2, 3], strides: [2, 2], seed: 4, backend: cpu });
    const x = randn([2, 1, 8, 8, 4], 3, { backend: cpu });
    const [a, b] = noGrad(() => [d.forward(x), d.forward(x)]);
    expect(Array.from(await a.toArray())).not.toEqual(Array.from(await b.toArray()));
    d.eval();
    const [e, f] = noGrad(() => [d.forward(x), d.forward(x)]);
    expect(Array.from(await e.toArray())).toEqual(Array.from(await f.toArray()));
    dispose([x, a, b, e, f]);
    d.dispose();
  });

  it('float64 gradient checks with respect to the input (a residual Regressor, a softmax Classifier)', async () => {
    await expectInputGradcheck(tiny({ inShape: [1, 4, 4, 2], channels: [2, 2], strides: [2, 1], numResUnits: 1 }), [2, 1, 4, 4, 2]);
    await expectInputGradcheck(tinyClassifier({ inShape: [1, 4, 4, 2], channels: [2], strides: [2], lastAct: 'softmax' }), [2, 1, 4, 4, 2]);
  });

  it('a few Adam steps lower a regression and a classification loss; every parameter gets a gradient', async () => {
    const x = fromArray(randomArray(2 * 256, 7, -1, 1), [2, 1, 8, 8, 4], { backend: cpu });
    const target = fromArray([0.5, -0.25, -0.5, 1], [2, 2], { backend: cpu });
    const net = tiny();
    const losses = await adamLosses(net, () => tidy(() => mseLoss(net.forward(x), target)), 10);
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
    const classifier = tinyClassifier();
    const labels = fromArray(Int32Array.from([2, 0]), [2], { backend: cpu });
    const ce = await adamLosses(classifier, () => tidy(() => crossEntropy(classifier.forward(x), labels)), 10);
    expect(ce[ce.length - 1]).toBeLessThan(0.5 * ce[0]);
    dispose([x, target, labels]);
    for (const m of [net, classifier]) m.dispose();
  });
});

