import { describe, expect, it } from 'vitest';
import { add, matmul, noGrad, reshape, transpose } from '../../src/autograd/index.js';
import { Generator, mseLoss, type GeneratorOptions } from '../../src/models/index.js';
import { dispose, fromArray, memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, randomArray } from '../helpers/backends.js';
import { toFloat64 } from '../helpers/float64-model.js';
import { adamLosses, expectInputGradcheck, expectOutputShapes, expectSameAsWrittenOut } from '../helpers/model-checks.js';
import { StackByHand, expectStrictLoads } from '../helpers/monai-stack-reference.js';

/**
 * MONAI's Generator (monai/networks/nets/generator.py): the parameter count derived by formula, state-dict keys in
 * MONAI's order with their shapes, output shapes (MONAI's test cases in 3-D), options and errors, the forward against
 * the network written out in float64, a float64 gradient check and a few training steps.
 */

const tiny = (options: Partial<GeneratorOptions> = {}): Generator => new Generator({
  latentShape: [5], startShape: [3, 2, 2, 1], channels: [2, 1], strides: [2, 2], seed: 3, backend: cpu, ...options,
});

describe('Generator', () => {
  it("MONAI's test case 1 in 3-D (latent 64, start 8 × 8³, channels 8, 4, 1, strides 2, numResUnits 2): 273 358 parameters", () => {
    // linear: 64 → 8·8³ = 4 096: 64·4 096 + 4 096 = 266 240. Per layer, a conv-only transposed convolution a→b, 27ab + b,
    // then a ResidualUnit b→b of two convolutions (27b² + b + 1 each, 27b² + b for the last one of the last layer; no residual conv).
    // layer_0 8→8: 1 736 + 2·1 737 = 5 210; layer_1 8→4: 868 + 2·437 = 1 742; layer_2 4→1: 109 + 29 + 28 = 166.
    // Sum: 266 240 + 5 210 + 1 742 + 166 = 273 358.
    const net = new Generator({ latentShape: [64], startShape: [8, 8, 8, 8], channels: [8, 4, 1], strides: [2, 2, 2], backend: cpu });
    expect(net.numParameters()).toBe(273_358);
    net.dispose();
  });

  it("a state dict in PyTorch's safetensors layout under MONAI's keys loads strictly (Generator)", async () => {
    await expectStrictLoads([tiny(), tiny({ numResUnits: 0 })], 'linear.weight');
  });

  it("state-dict keys, order and shapes are MONAI's (numResUnits 0 and 2)", () => {
    const conv = (p: string, a: number, b: number, transposed: boolean, adn: boolean): [string, number[]][] => [
      [`${p}.conv.weight`, transposed ? [a, b, 3, 3, 3] : [b, a, 3, 3, 3]], [`${p}.conv.bias`, [b]], ...(adn ? [[`${p}.adn.A.weight`, [1]]] as [string, number[]][] : []),
    ];
    const keys = (net: Generator) => [...net.stateSpec()].map(([k, v]) => [k, v.shape]);
    const plain = tiny({ numResUnits: 0 });
    expect(keys(plain)).toEqual([
      ['linear.weight', [12, 5]], ['linear.bias', [12]], ...conv('conv.layer_0', 3, 2, true, true), ...conv('conv.layer_1', 2, 1, true, false),
    ]);
    const residual = tiny();
    expect(keys(residual)).toEqual([
      ['linear.weight', [12, 5]], ['linear.bias', [12]],
      ...conv('conv.layer_0.0', 3, 2, true, false), ...conv('conv.layer_0.1.conv.unit0', 2, 2, false, true), ...conv('conv.layer_0.1.conv.unit1', 2, 2, false, true),
      ...conv('conv.layer_1.0', 2, 1, true, false), ...conv('conv.layer_1.1.conv.unit0', 1, 1, false, true), ...conv('conv.layer_1.1.conv.unit1', 1, 1, false, false),
    ]);
    expect(residual.getSubmodule('conv.layer_0').namedChildren().map(([n, m]) => [n, m.typeName])).toEqual([['0', 'Convolution'], ['1', 'ResidualUnit']]);
    for (const m of [plain, residual]) m.dispose();
  });

  it("output shapes: MONAI's test cases in 3-D (scaled down), a multi-axis latent, anisotropic strides", () => {
    const cases: [Partial<GeneratorOptions>, number[], number[]][] = [
      [{ latentShape: [16], startShape: [4, 2, 2, 2], channels: [4, 2, 1], strides: [2, 2, 2], numResUnits: 0 }, [3, 16], [3, 1, 16, 16, 16]],
      [{ latentShape: [16], startShape: [4, 2, 2, 2], channels: [4, 2, 1], strides: [2, 2, 2], numResUnits: 2 }, [3, 16], [3, 1, 16, 16, 16]],
      [{ latentShape: [16], startShape: [4, 2, 2, 2], channels: [4, 1], strides: [2, 2], numResUnits: 2 }, [3, 16], [3, 1, 8, 8, 8]],
      [{ latentShape: [2, 3] }, [2, 2, 3], [2, 1, 8, 8, 4]],
      [{ strides: [[2, 1, 2], [1, 2, 2]] }, [1, 5], [1, 1, 4, 4, 4]],
    ];
    expectOutputShapes(tiny, cases);
  });

  it('bad options and inputs are refused by name, leaking nothing', () => {
    const net = tiny();
    const before = memory().liveTensors;
    const x = randn([2, 4], 1, { backend: cpu });
    expect(() => net.forward(x)).toThrow(/^Generator: input must be \[N, 5\] \(latentShape\), got \[2, 4\]$/);
    x.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(() => tiny({ latentShape: [] })).toThrow(/^Generator: latentShape must be at least one positive integer, got \[\]$/);
    expect(() => tiny({ startShape: [3, 2, 2] })).toThrow(/^Generator: startShape must be 4 positive integers, got \[3,2,2\]$/);
    expect(() => tiny({ strides: [2, 2, 2] })).toThrow(/^Generator: strides must have one entry per entry of channels \(2\), got \[2,2,2\]$/);
    expect(() => tiny({ kernelSize: [3, 3, 2] })).toThrow(/^Generator kernelSize: same padding is not available for kernelSize \[3, 3, 2\]/);
    expect(() => tiny({ norm: ['group', {}] as unknown as 'batch' })).toThrow(/^Generator: norm 'group' needs its numGroups/);
    net.dispose();
  });

  it.each([0, 2])('equals the network written out with a Linear, reshape, convTranspose3d, conv3d, instanceNorm, prelu and add in float64 (numResUnits %i)', async (numResUnits) => {
    const net = tiny({ numResUnits, channels: [3, 2, 2], strides: [2, 1, 2] });
    await toFloat64(net);
    const x = fromArray(randomArray(2 * 5, 5, -1, 1), [2, 5], { backend: cpu, dtype: 'float64' });
    const ref = new StackByHand(net);
    const [got, want] = noGrad(() => [net.forward(x), tidy(() => {
      let y: Tensor = reshape(add(matmul(x, transpose(net.getParameter('linear.weight'))), net.getParameter('linear.bias')), [2, 3, 2, 2, 1]);
      [2, 1, 2].forEach((s, i) => {
        const isLast = i === 2, key = `conv.layer_${i}`;
        if (numResUnits === 0) y = ref.transposed(y, key, s, isLast);
        else y = ref.residualUnit(ref.transposed(y, `${key}.0`, s, true), `${key}.1`, 1, numResUnits, isLast);
      });
      return y;
    })]);
    expect([got.shape, got.dtype]).toEqual([[2, 2, 8, 8, 4], 'float64']);
    await expectSameAsWrittenOut(got, want, 1e-12);
    dispose([x, got, want]);
    net.dispose();
  });

  it('float64 gradient check with respect to the latent', async () => {
    await expectInputGradcheck(tiny({ channels: [2], strides: [2], numResUnits: 1 }), [2, 5]);
  });

  it('a few Adam steps bring the output toward a target volume; every parameter gets a gradient', async () => {
    const net = tiny();
    const z = randn([2, 5], 4, { backend: cpu });
    const target = fromArray(Float32Array.from({ length: 2 * 64 * 4 }, (_, i) => Math.sin(i * 0.21)), [2, 1, 8, 8, 4], { backend: cpu });
    const losses = await adamLosses(net, () => tidy(() => mseLoss(net.forward(z), target)), 12);
    expect(losses[losses.length - 1]).toBeLessThan(0.8 * losses[0]);
    dispose([z, target]);
    net.dispose();
  });
});
