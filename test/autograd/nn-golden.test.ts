import { describe, expect, it } from 'vitest';
import {
  avgPool3d, backward, batchNorm, conv3d, convTranspose3d, dropout, groupNorm, interpolate, logSoftmax, maxPool3d, softmax, sum,
} from '../../src/autograd/index.js';
import type { Backend, DType } from '../../src/kernels/index.js';
import { crossEntropy } from '../../src/models/losses.js';
import { dispose, fromArray, tidy, zeros } from '../../src/tensor/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';

/**
 * Golden values worked out by hand from PyTorch's documented definitions (F.batch_norm, F.cross_entropy,
 * F.softmax / F.log_softmax); the arithmetic is in the comments. Each runs in float64 on the cpu and in
 * float32 on WebGPU.
 */

const backends: [string, () => Promise<Backend>, DType, number][] = [
  ['cpu float64', async () => cpu, 'float64', 1e-12],
  ['webgpu float32', webgpu, 'float32', 2e-5],
];

describe.each(backends)('golden values on %s', (_, getBackend, dtype, tol) => {
  it('batchNorm training on [2, 1, 1, 1, 2]: output and one running-statistics update', async () => {
    const backend = await getBackend();
    const o = { backend, dtype };
    // x: sample 0 = [1, 2], sample 1 = [3, 6]; one channel, so the statistics run over all four values
    const x = fromArray([1, 2, 3, 6], [2, 1, 1, 1, 2], o);
    const rm = fromArray([0], [1], o), rv = fromArray([1], [1], o);
    const w = fromArray([2], [1], o), b = fromArray([0.5], [1], o);
    const y = batchNorm(x, rm, rv, w, b, { training: true, momentum: 0.1, eps: 1e-5 });
    // mean = 12/4 = 3; deviations −2, −1, 0, 3; Σ squares = 4 + 1 + 0 + 9 = 14
    // biased variance (normalisation) = 14/4 = 3.5; unbiased (running update) = 14/3
    // y = (x − 3)/√(3.5 + 1e-5)·2 + 0.5 = [−1.63808688…, −0.56904344…, 0.5, 3.70713032…]
    const expected = [-2, -1, 0, 3].map((d) => (d / Math.sqrt(3.5 + 1e-5)) * 2 + 0.5);
    expectClose(await y.toArray(), expected, tol, tol, 'batchNorm output');
    expectClose(await y.toArray(), [-1.638086880891747, -0.5690434404458735, 0.5, 3.7071303213376203], tol, tol, 'batchNorm output (digits)');
    // running mean = 0.9·0 + 0.1·3 = 0.3; running var = 0.9·1 + 0.1·(14/3) = 1.36666…
    expectClose(await rm.toArray(), [0.3], tol, tol, 'running mean');
    expectClose(await rv.toArray(), [0.9 + 0.1 * 14 / 3], tol, tol, 'running var');
    // evaluation with the updated statistics: y = (x − 0.3)/√(1.36666… + 1e-5)·2 + 0.5
    // = [1.69755411…, 3.40834570…, 5.11913728…, 10.25151204…]; the running statistics stay as they are
    const e = batchNorm(x, rm, rv, w, b, { training: false, eps: 1e-5 });
    expectClose(await e.toArray(), [1.69755411058811, 3.408345697142553, 5.119137283696997, 10.251512043360325], tol, tol, 'batchNorm eval');
    expectClose(await rm.toArray(), [0.3], tol, tol, 'running mean after eval');
    dispose([x, rm, rv, w, b, y, e]);
  });

  it('crossEntropy on 2 samples × 3 classes with class weights and one ignored target', async () => {
    const backend = await getBackend();
    const o = { backend, dtype };
    // logits: sample 0 = [1, 2, 3] (target 2), sample 1 = [1, 0, −1] (target ignored, or 1)
    const logits = fromArray([1, 2, 3, 1, 0, -1], [2, 3], o);
    const weight = fromArray([0.2, 0.3, 0.5], [3], o);
    const ignored = fromArray([2, -100], [2], { backend, dtype: 'int32' });
    const both = fromArray([2, 1], [2], { backend, dtype: 'int32' });
    // logsumexp(1, 2, 3) = 3 + log(1 + e⁻¹ + e⁻²) = 3.40760596…, so nll₀ = 3.40760596 − 3 = 0.40760596…
    // logsumexp(1, 0, −1) = 1 + log(1 + e⁻¹ + e⁻²) = 1.40760596…, so nll₁ (target 1, logit 0) = 1.40760596…
    const nll0 = 0.40760596444438013, nll1 = 1.4076059644443804;
    const r = (t: typeof both, reduction: 'mean' | 'sum' | 'none') => crossEntropy(logits, t, { weight, reduction });
    // with sample 1 ignored: none = [0.5·nll₀, 0]; sum = 0.5·nll₀ = 0.20380298…; mean = 0.5·nll₀/0.5 = nll₀
    expectClose(await r(ignored, 'none').toArray(), [0.5 * nll0, 0], tol, tol, 'none, ignored');
    expectClose(await r(ignored, 'sum').toArray(), [0.20380298222219007], tol, tol, 'sum, ignored');
    expectClose(await r(ignored, 'mean').toArray(), [nll0], tol, tol, 'mean, ignored');
    // both counted: sum = 0.5·nll₀ + 0.3·nll₁ = 0.62608477…; mean divides by w₂ + w₁ = 0.8 → 0.78260596…
    expectClose(await r(both, 'none').toArray(), [0.5 * nll0, 0.3 * nll1], tol, tol, 'none');
    expectClose(await r(both, 'sum').toArray(), [0.6260847715555042], tol, tol, 'sum');
    expectClose(await r(both, 'mean').toArray(), [0.7826059644443802], tol, tol, 'weighted mean');
    // without weights the ignored sample drops out of the count: mean = nll₀/1
    expectClose(await crossEntropy(logits, ignored).toArray(), [nll0], tol, tol, 'unweighted mean, ignored');
    dispose([logits, weight, ignored, both]);
  });

  it('softmax and logSoftmax stay finite at ±1e4 and sum to 1', async () => {
    const backend = await getBackend();
    const x = fromArray([1e4, -1e4, 0, 1e4 - 1], [1, 4], { backend, dtype, requiresGrad: true });
    // after subtracting the max 1e4: exponents 0, −2e4, −1e4, −1 → softmax = [1, 0, 0, e⁻¹]/(1 + e⁻¹)
    // = [0.73105858…, 0, 0, 0.26894142…]; log Σ = log(1 + e⁻¹) = 0.31326169…
    const s = softmax(x, 1);
    const sv = await s.toArray();
    expectClose(sv, [0.7310585786300049, 0, 0, 0.2689414213699951], tol, tol, 'softmax');
    expect(Math.abs(Array.from(sv).reduce((a, v) => a + v, 0) - 1)).toBeLessThan(tol);
    const l = logSoftmax(x, -1);
    const c = 0.31326168751822286;
    expectClose(await l.toArray(), [-c, -2e4 - c, -1e4 - c, -1 - c], dtype === 'float64' ? 1e-9 : 4e-3, tol, 'logSoftmax');
    // gradients stay finite too
    const loss = tidy(() => sum(logSoftmax(x, 1)));
    backward(loss);
    for (const v of await x.grad!.toArray()) expect(Number.isFinite(v)).toBe(true);
    dispose([x, s, l, loss]);
  });
});

describe('nn argument errors name the shapes', () => {
  const t = (shape: number[], dtype: DType = 'float32') => zeros(shape, { backend: cpu, dtype });

  it('conv3d and convTranspose3d', () => {
    const x = t([1, 2, 4, 4, 4]);
    expect(() => conv3d(t([2, 4, 4, 4]), t([3, 2, 3, 3, 3]))).toThrow(/input must be 5-D .*\[2, 4, 4, 4\]/);
    expect(() => conv3d(x, t([3, 5, 3, 3, 3]))).toThrow(/input \[1, 2, 4, 4, 4\] has 2 channels but weight \[3, 5, 3, 3, 3\] expects 5/);
    expect(() => conv3d(x, t([3, 2, 5, 3, 3]))).toThrow(/kernel \[5, 3, 3\].*larger than the padded input \[1, 2, 4, 4, 4\]/);
    expect(() => conv3d(x, t([3, 2, 3, 3, 3]), null, { dilation: 2 })).toThrow(/dilated extent 5/);
    expect(() => conv3d(x, t([3, 2, 3, 3, 3]), null, { padding: -1 })).toThrow(/padding must be ≥ 0/);
    expect(() => conv3d(x, t([3, 2, 3, 3, 3]), null, { stride: 0 })).toThrow(/stride must be ≥ 1/);
    expect(() => conv3d(x, t([3, 2, 3, 3, 3]), t([2]))).toThrow(/bias \[2\] must be \[3\]/);
    expect(() => conv3d(x, t([3, 2, 3, 3, 3], 'float64'))).toThrow(/dtypes differ/);
    expect(() => convTranspose3d(x, t([3, 2, 3, 3, 3]))).toThrow(/input \[1, 2, 4, 4, 4\] has 2 channels but weight \[3, 2, 3, 3, 3\] expects 3/);
    expect(() => convTranspose3d(x, t([2, 2, 3, 3, 3]), null, { stride: 2, outputPadding: 2 })).toThrow(/outputPadding \[2, 2, 2\] must be .* smaller than either the stride/);
  });

  it('pooling, interpolate, normalisation, dropout, softmax', () => {
    const x = t([1, 2, 4, 4, 4]);
    expect(() => maxPool3d(x, 5)).toThrow(/kernel \[5, 5, 5\] is larger than the padded input \[1, 2, 4, 4, 4\]/);
    expect(() => avgPool3d(x, 2, { padding: 2 })).toThrow(/at most half the kernel/);
    expect(() => maxPool3d(t([2, 4, 4]), 2)).toThrow(/5-D .*\[2, 4, 4\]/);
    expect(() => interpolate(x, {})).toThrow(/exactly one of size and scaleFactor/);
    expect(() => interpolate(x, { size: 2, alignCorners: true })).toThrow(/alignCorners can only be set with mode 'trilinear'/);
    expect(() => batchNorm(x, t([3]), t([2]))).toThrow(/runningMean \[3\] must be \[2\].*\[1, 2, 4, 4, 4\]/);
    expect(() => batchNorm(x, null, null)).toThrow(/evaluation mode .*needs runningMean and runningVar/);
    expect(() => batchNorm(t([1, 2]), null, null, null, null, { training: true })).toThrow(/more than 1 value per channel.*\[1, 2\]/);
    expect(() => groupNorm(t([1, 6, 2]), 4)).toThrow(/4 groups do not divide the 6 channels of \[1, 6, 2\]/);
    expect(() => dropout(x, 1.5, true, 1)).toThrow(/p must be in \[0, 1\]/);
    expect(() => softmax(x, 5)).toThrow(/axis 5 is out of range for a tensor of rank 5/);
    expect(() => softmax(t([2], 'int32'), 0)).toThrow(/floating-point.*int32/);
  });
});
