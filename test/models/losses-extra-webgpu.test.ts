import { describe, expect, it } from 'vitest';
import { backward, sigmoid } from '../../src/autograd/index.js';
import { hausdorffDTLoss } from '../../src/imaging/losses-hausdorff.js';
import type { Backend } from '../../src/kernels/index.js';
import {
  asymmetricUnifiedFocalLoss, contrastiveLoss, deepSupervisionLoss, maskedDiceLoss, softDiceclDiceLoss, ssimLoss,
} from '../../src/models/losses-extra.js';
import { diceCeLoss } from '../../src/models/losses.js';
import { dispose, fromArray, sizeOf, type Tensor } from '../../src/tensor/index.js';
import { expectFloat32Close, expectSameOnBoth, type AgreementCase } from '../helpers/backend-agreement.js';
import { cpu, randomArray, webgpu } from '../helpers/backends.js';

/**
 * The extra losses on WebGPU against the cpu backend on tiny shapes (float32 on both): the value and the input
 * gradients within float32 rounding. They run through WebGPU's pooling (clDice), grouped convolution (SSIM), nearest
 * interpolation of an int32 target (deep supervision), matmul (contrastive) and the host distance fields (Hausdorff).
 */

const labels = (n: number, seed: number, classes = 2) => Array.from(randomArray(n, seed, 0, classes), (v) => Math.min(classes - 1, Math.floor(v)));
const on = (backend: Backend, data: number[], shape: number[], dtype: 'float32' | 'int32' = 'float32') => fromArray(data, shape, { backend, dtype });

/** a loss of the inputs whose constant operands (targets, masks) are made on the backend of the first input */
function lossCase(fn: (inputs: Tensor[], backend: Backend) => Tensor): (backend: Backend) => AgreementCase {
  return (backend) => ({ module: null, forward: (inputs) => fn(inputs, backend) });
}

describe('losses-extra on WebGPU', () => {
  it('SoftDiceclDiceLoss (2-D and 3-D pools) and MaskedDiceLoss', async () => {
    const g2 = labels(2 * 5 * 4, 1), g3 = labels(2 * 3 * 3 * 4, 2), mask = labels(2 * 12, 3);
    await expectSameOnBoth(lossCase(([x], b) => softDiceclDiceLoss(sigmoid(x), on(b, g2, [1, 2, 5, 4]), { iterations: 2 })), [[1, 2, 5, 4]]);
    await expectSameOnBoth(lossCase(([x], b) => softDiceclDiceLoss(sigmoid(x), on(b, g3, [1, 2, 3, 3, 4]), { iterations: 1 })), [[1, 2, 3, 3, 4]]);
    await expectSameOnBoth(lossCase(([x], b) => maskedDiceLoss(x, on(b, labels(24, 4, 3), [2, 1, 3, 4], 'int32'), on(b, mask, [2, 1, 3, 4]), { softmax: true, toOnehotY: true })), [[2, 3, 3, 4]]);
  });

  it('DeepSupervisionLoss (int32 target resized), SSIMLoss, ContrastiveLoss, AsymmetricUnifiedFocalLoss', async () => {
    const t = labels(2 * 4 * 6 * 2, 5, 3);
    await expectSameOnBoth(lossCase(([a, c], b) => deepSupervisionLoss([a, c], on(b, t, [2, 1, 4, 6, 2], 'int32'), (x, y) => diceCeLoss(x, y, { toOnehotY: true, softmax: true }))),
      [[2, 3, 4, 6, 2], [2, 3, 2, 3, 1]]);
    await expectSameOnBoth(lossCase(([a, c]) => ssimLoss(a, c, { spatialDims: 3, winSize: 3, kernelSigma: 1 })), [[2, 2, 4, 5, 3], [2, 2, 4, 5, 3]]);
    await expectSameOnBoth(lossCase(([a, c]) => contrastiveLoss(a, c, { temperature: 0.2 })), [[3, 5], [3, 5]]);
    await expectSameOnBoth(lossCase(([x], b) => asymmetricUnifiedFocalLoss(sigmoid(x), on(b, labels(24, 6), [2, 1, 3, 4]))), [[2, 1, 3, 4]]);
  });

  it('HausdorffDTLoss: value and gradient (the distance fields read back from the device)', async () => {
    const gpu = await webgpu();
    const shape = [2, 2, 3, 4, 2];
    const x = Array.from(randomArray(sizeOf(shape), 7, -2, 2)), g = labels(sizeOf(shape), 8);
    const run = async (backend: Backend) => {
      const z = fromArray(x, shape, { backend, requiresGrad: true });
      const loss = await hausdorffDTLoss(z, on(backend, g, shape), { includeBackground: true, sigmoid: true });
      backward(loss);
      const out = { value: Float32Array.from(await loss.toArray()), grad: Float32Array.from(await z.grad!.toArray()) };
      dispose([z, loss]);
      return out;
    };
    const [got, want] = [await run(gpu), await run(cpu)];
    expect(want.value[0]).toBeGreaterThan(0);
    expectFloat32Close(got.value, want.value, 'value');
    expectFloat32Close(got.grad, want.grad, 'gradient');
  });
});
