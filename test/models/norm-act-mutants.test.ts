import { describe, expect, it } from 'vitest';
import { instanceNorm, leakyRelu, relu } from '../../src/autograd/index.js';
import { BatchNorm3d, GroupNorm, InstanceNorm3d, LeakyReLU, ReLU } from '../../src/models/index.js';
import { actLayerOf, normLayerOf, normThenAct, type ActSpec, type NormSpec } from '../../src/models/norm-act.js';
import { randn } from '../../src/tensor/index.js';
import { cpu, expectClose } from '../helpers/backends.js';

/**
 * What the mutation run of src/models/norm-act.ts found untested (stryker.config.mjs): the norm and activation
 * layers MONAI's names and (name, args) tuples build, with their arguments; the default group count; the null
 * returned for names the helpers do not know; normThenAct's value, fused (ReLU) or not.
 */

describe('normLayerOf (mutation tests)', () => {
  it('builds the named norm over the channels, with the tuple\'s arguments', () => {
    const instance = normLayerOf('instance', 6, cpu) as InstanceNorm3d;
    expect(instance).toBeInstanceOf(InstanceNorm3d);
    expect([instance.numFeatures, instance.weight, instance.eps]).toEqual([6, null, 1e-5]);
    const affine = normLayerOf(['instance', { affine: true, eps: 1e-3 }], 4, cpu) as InstanceNorm3d;
    expect([affine.weight?.shape, affine.eps]).toEqual([[4], 1e-3]);
    const batch = normLayerOf('batch', 5, cpu) as BatchNorm3d;
    expect(batch).toBeInstanceOf(BatchNorm3d);
    expect([batch.weight?.shape, batch.runningMean?.shape, batch.momentum]).toEqual([[5], [5], 0.1]);
    const batchArgs = normLayerOf(['batch', { momentum: 0.3, affine: false, eps: 0.01 }], 5, cpu) as BatchNorm3d;
    expect([batchArgs.momentum, batchArgs.weight, batchArgs.eps]).toEqual([0.3, null, 0.01]);
    const group = normLayerOf(['group', { numGroups: 2, eps: 1e-4, affine: false }], 6, cpu) as GroupNorm;
    expect(group).toBeInstanceOf(GroupNorm);
    expect([group.numGroups, group.numChannels, group.eps, group.weight]).toEqual([2, 6, 1e-4, null]);
  });

  it("a group norm takes its numGroups from the tuple, else the network's default; without either it is null", () => {
    const given = normLayerOf(['group', { numGroups: 2 }], 8, cpu, 4) as GroupNorm;
    expect([given.numGroups, given.numChannels, given.weight?.shape]).toEqual([2, 8, [8]]);
    expect((normLayerOf('group', 8, cpu, 4) as GroupNorm).numGroups).toBe(4);
    expect((normLayerOf(['group', { eps: 0.1 }] as unknown as NormSpec, 8, cpu, 8) as GroupNorm).numGroups).toBe(8);
    expect(normLayerOf('group', 8, cpu)).toBeNull();
    expect(normLayerOf(['group', { eps: 0.1 }] as unknown as NormSpec, 8, cpu)).toBeNull();
  });

  it('is null for a name it does not know', () => {
    expect(normLayerOf('layer' as NormSpec, 4, cpu)).toBeNull();
    expect(normLayerOf(['layer', {}] as unknown as NormSpec, 4, cpu)).toBeNull();
    expect(normLayerOf('' as NormSpec, 4, cpu)).toBeNull();
  });
});

describe('actLayerOf (mutation tests)', () => {
  it("builds ReLU, LeakyReLU with PyTorch's slope 0.01, or with the tuple's slope", () => {
    expect(actLayerOf('relu')).toBeInstanceOf(ReLU);
    const leaky = actLayerOf('leakyrelu') as LeakyReLU;
    expect(leaky).toBeInstanceOf(LeakyReLU);
    expect(leaky.negativeSlope).toBe(0.01);
    const sloped = actLayerOf(['leakyrelu', { negativeSlope: 0.2 }]) as LeakyReLU;
    expect(sloped).toBeInstanceOf(LeakyReLU);
    expect(sloped.negativeSlope).toBe(0.2);
  });

  it('is null for a name or tuple it does not know', () => {
    expect(actLayerOf('prelu' as ActSpec)).toBeNull();
    expect(actLayerOf('' as ActSpec)).toBeNull();
    expect(actLayerOf(['relu', {}] as unknown as ActSpec)).toBeNull();
    expect(actLayerOf(['prelu', { negativeSlope: 0.2 }] as unknown as ActSpec)).toBeNull();
  });
});

describe('normThenAct (mutation tests)', () => {
  it('is act(norm(x)), fused (a ReLU after a norm) or not (LeakyReLU)', async () => {
    const x = randn([2, 3, 2, 3, 2], 5, { backend: cpu, dtype: 'float64' });
    const norm = new InstanceNorm3d(3, { backend: cpu });
    const fusedOut = normThenAct(norm, new ReLU(), x);
    expect(fusedOut.shape).toEqual([2, 3, 2, 3, 2]);
    expectClose(await fusedOut.toArray(), await relu(instanceNorm(x)).toArray(), 1e-12, 1e-12, 'instance norm → ReLU');
    const leakyOut = normThenAct(norm, new LeakyReLU(0.1), x);
    expectClose(await leakyOut.toArray(), await leakyRelu(instanceNorm(x), 0.1).toArray(), 1e-12, 1e-12, 'instance norm → LeakyReLU');
  });
});
