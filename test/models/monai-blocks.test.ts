import { afterEach, describe, expect, it, vi } from 'vitest';
import { backward, batchNorm, dropout, instanceNorm, noGrad, relu, sum } from '../../src/autograd/index.js';
import { ADN, ChannelNorm, Dropout, MonaiConvolution, ReLU, type Layer } from '../../src/models/index.js';
import { dispose, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu } from '../helpers/backends.js';
import { expectSameAsWrittenOut } from '../helpers/model-checks.js';

/**
 * MONAI's ADN in its 'NDA' order with a dropout between the norm and a ReLU: a dropout that is the identity just
 * now (p = 0, MONAI's UNet default, or evaluation) steps aside, so that the norm and the ReLU run as one fused op;
 * an active one keeps the three layers apart.
 */

afterEach(() => { vi.restoreAllMocks(); });

/** spies on the ADN's children: the norm's fusedWith (what it returned) and each child's own forward */
function spyOnAdn(adn: ADN) {
  const [norm, drop, act] = ['N', 'D', 'A'].map((n) => adn.getSubmodule(n) as Layer);
  expect([norm, drop, act].map((m) => m.constructor)).toEqual([norm.constructor, Dropout, ReLU]);
  expect(norm).toBeInstanceOf(ChannelNorm);
  return {
    fusedWith: vi.spyOn(norm, 'fusedWith'),
    normForward: vi.spyOn(norm, 'forward'),
    dropForward: vi.spyOn(drop, 'forward'),
    actForward: vi.spyOn(act, 'forward'),
    drop: drop as Dropout,
  };
}

describe('ADN: an inactive dropout steps aside so that the norm fuses with the ReLU after it', () => {
  const x = (): Tensor => randn([2, 3, 4, 4, 4], 7, { backend: cpu });

  it.each([
    ['dropout 0 in training (batch norm)', 'batch', 0, true],
    ['dropout 0 in training (instance norm)', 'instance', 0, true],
    ['dropout 0.5 in evaluation (batch norm, running statistics)', 'batch', 0.5, false],
  ] as const)('%s: the fused norm → ReLU runs, neither the dropout nor the ReLU runs on its own, the values are relu(norm(x))', async (_, norm, p, training) => {
    const adn = new ADN({ norm, act: 'relu', dropout: p, inChannels: 3, backend: cpu });
    expect(adn.namedChildren().map(([n]) => n)).toEqual(['N', 'D', 'A']);
    if (!training) adn.eval();
    const spies = spyOnAdn(adn);
    const input = x();
    const got = noGrad(() => adn.forward(input));
    // the norm was offered the ReLU (not the dropout) and fused it
    expect(spies.fusedWith).toHaveBeenCalledTimes(1);
    expect(spies.fusedWith.mock.calls[0][0]).toEqual([adn.getSubmodule('A')]);
    expect(spies.fusedWith.mock.results[0].value).not.toBeNull();
    expect([spies.normForward, spies.dropForward, spies.actForward].map((s) => s.mock.calls.length)).toEqual([0, 0, 0]);
    // the skipped dropout's mask stream has not moved (an inactive dropout draws no mask)
    expect(spies.drop.getDropoutState().calls).toBe(0);
    const want = tidy(() => {
      const n = adn.getSubmodule('N') as ChannelNorm;
      const normed = norm === 'instance' ? instanceNorm(input)
        : training ? batchNorm(input, null, null, n.weight, n.bias, { training: true })
          : batchNorm(input, adn.getBuffer('N.running_mean'), adn.getBuffer('N.running_var'), n.weight, n.bias);
      return relu(normed);
    });
    await expectSameAsWrittenOut(got, want, 1e-6);
    dispose([input, got, want]);
    adn.dispose();
  });

  it('dropout 0.5 in training: norm, dropout (its next mask) and ReLU run one by one, relu(dropout(norm(x)))', async () => {
    const adn = new ADN({ norm: 'instance', act: 'relu', dropout: 0.5, inChannels: 3, seed: 4, backend: cpu });
    const spies = spyOnAdn(adn);
    const input = x();
    const maskSeed = spies.drop.nextMaskSeed();
    const got = noGrad(() => adn.forward(input));
    expect(spies.fusedWith.mock.results.every((r) => r.value === null)).toBe(true);
    expect([spies.normForward, spies.dropForward, spies.actForward].map((s) => s.mock.calls.length)).toEqual([1, 1, 1]);
    expect(spies.drop.getDropoutState().calls).toBe(1);
    const want = tidy(() => relu(dropout(instanceNorm(input), 0.5, true, maskSeed)));
    await expectSameAsWrittenOut(got, want, 1e-6);
    dispose([input, got, want]);
    adn.dispose();
  });

  it("MONAI's Convolution with act 'relu', a batch norm and dropout 0 (AttentionUnet's ConvBlock): the gradient through the fused op is the unfused one", async () => {
    const conv = new MonaiConvolution(2, 3, { act: 'relu', norm: 'batch', dropout: 0, seed: 2, backend: cpu });
    const spies = spyOnAdn(conv.adn!);
    const input = randn([2, 2, 4, 4, 4], 3, { backend: cpu });
    const weight = conv.conv.weight;
    tidy(() => backward(sum(conv.forward(input))));
    expect(spies.fusedWith.mock.results[0].value).not.toBeNull();
    expect(spies.actForward).not.toHaveBeenCalled();
    const gFused = weight.grad!;
    weight.grad = null;
    const n = conv.adn!.getSubmodule('N') as ChannelNorm;
    tidy(() => backward(sum(relu(batchNorm(conv.conv.forward(input), null, null, n.weight, n.bias, { training: true })))));
    await expectSameAsWrittenOut(gFused, weight.grad!, 1e-6);
    dispose([input, gFused]);
    conv.dispose();
  });
});
