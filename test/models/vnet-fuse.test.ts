import { describe, expect, it } from 'vitest';
import { assign, autocast, conv3dBatchNormEval, convTranspose3dBatchNormEval, noGrad } from '../../src/autograd/index.js';
import type { Backend } from '../../src/kernels/backend.js';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { BatchNorm3d, Conv3d, ConvTranspose3d, ReLU, Sequential, setConvBatchNormFusion, VNet } from '../../src/models/index.js';
import { memory, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, sameBitsExpected, webgpu } from '../helpers/backends.js';

/**
 * Sequential's inference fusion of Conv3d / ConvTranspose3d → BatchNorm3d (evaluation) → ReLU into one convolution
 * (setConvBatchNormFusion): the same floats as the layers one by one, one dispatch fewer per batch norm and per
 * transposed-convolution bias on WebGPU; and no fusion where a gradient is recorded.
 */

/** A small V-Net (batch norm) whose batch norms hold non-trivial running statistics, weights and biases, in eval. */
function trainedLookingVNet(backend: Backend): VNet {
  const net = new VNet({ nFilters: 4, normalization: 'batchnorm', hasDropout: true, seed: 3, backend });
  noGrad(() => tidy(() => {
    net.train();
    for (let i = 0; i < 2; i++) net.forward(randn([2, 1, 16, 16, 16], 100 + i, { backend }));
    net.modules().filter((m): m is BatchNorm3d => m instanceof BatchNorm3d).forEach((bn, i) => {
      assign(bn.weight!, randn(bn.weight!.shape, 200 + i, { backend }));
      assign(bn.bias!, randn(bn.bias!.shape, 300 + i, { backend }));
    });
  }));
  net.eval();
  return net;
}

function withFusion<T>(enabled: boolean, fn: () => T): T {
  const before = setConvBatchNormFusion(enabled);
  try { return fn(); } finally { setConvBatchNormFusion(before); }
}

/** the heads' outputs of one forward under noGrad, and the dispatches it recorded on WebGPU */
async function infer(net: VNet, x: Tensor, fused: boolean): Promise<{ heads: Record<string, Float32Array>; dispatches: number }> {
  const rt = x.backend instanceof WebGPUBackend ? x.backend.rt : null;
  const first = rt?.dispatchCount ?? 0;
  const out = withFusion(fused, () => noGrad(() => net.forward(x)));
  const dispatches = (rt?.dispatchCount ?? 0) - first;
  const heads: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(out)) {
    heads[name] = (await t.toArray()) as Float32Array;
    t.dispose();
  }
  return { heads, dispatches };
}

const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('Conv3d / ConvTranspose3d → BatchNorm3d (eval) → ReLU fused in inference', () => {
  for (const name of ['webgpu', 'cpu'] as const) {
    it(`a V-Net (n_filters 4, batchnorm) in eval under noGrad: the same floats fused and unfused (${name})`, async () => {
      const backend = name === 'cpu' ? cpu : await webgpu();
      const net = trainedLookingVNet(backend);
      const x = randn([1, 1, 16, 16, 16], 7, { backend });
      const live = memory().liveTensors;
      const fused = await infer(net, x, true), unfused = await infer(net, x, false);
      expect(memory().liveTensors).toBe(live);
      expect(Object.keys(fused.heads)).toEqual(Object.keys(unfused.heads));
      // bit for bit on the cpu backend and llvmpipe; a GPU's compiler may contract a multiply and an add in one
      // kernel and not the other (last bits, carried through the network's layers)
      const exact = sameBitsExpected(backend);
      for (const head of Object.keys(fused.heads)) {
        if (exact) expect(bits(fused.heads[head]!).equals(bits(unfused.heads[head]!)), `head ${head}`).toBe(true);
        else expectClose(fused.heads[head]!, unfused.heads[head]!, 1e-4, 1e-4, `head ${head}`);
        // (not vacuous: the batch norms and ReLUs shaped the output)
        expect(new Set(fused.heads[head]).size).toBeGreaterThan(100);
      }
      if (name === 'webgpu') {
        const norms = net.modules().filter((m) => m instanceof BatchNorm3d).length;
        const transposedBiases = net.modules().filter((m) => m instanceof ConvTranspose3d && m.bias).length;
        expect([norms, transposedBiases]).toEqual([29, 4]);
        // one normalize pass per batch norm and one add per transposed-convolution bias fewer
        expect(unfused.dispatches - fused.dispatches).toBe(norms + transposedBiases);
      }
      net.dispose();
      x.dispose();
    });
  }

  it('is not used where a gradient is recorded: the same dispatches as unfused, and the fused ops refuse', async () => {
    const backend = await webgpu();
    const net = trainedLookingVNet(backend);
    const x = randn([1, 1, 16, 16, 16], 8, { backend });
    const rt = (backend as WebGPUBackend).rt;
    const count = (fused: boolean): number => withFusion(fused, () => tidy(() => {
      const first = rt.dispatchCount;
      net.forward(x); // eval, grad enabled, parameters requiring grad
      return rt.dispatchCount - first;
    }));
    expect(count(true)).toBe(count(false));
    const conv = new Conv3d(1, 2, 3, { padding: 1, seed: 1, backend }), bn = new BatchNorm3d(2, { backend });
    const up = new ConvTranspose3d(1, 2, 2, { stride: 2, seed: 2, backend });
    const terms = { runningMean: bn.runningMean!, runningVar: bn.runningVar!, weight: bn.weight, bias: bn.bias, relu: true };
    const small = randn([1, 1, 4, 4, 4], 9, { backend });
    expect(() => conv3dBatchNormEval(small, conv.weight, conv.bias, terms, { padding: 1 })).toThrow(/inference only/);
    expect(() => convTranspose3dBatchNormEval(small, up.weight, up.bias, terms, { stride: 2 })).toThrow(/inference only/);
    // the same under noGrad runs, as do the layers one by one
    const seq = new Sequential(conv, bn, new ReLU());
    seq.eval();
    const [a, b] = [true, false].map((fused) => withFusion(fused, () => noGrad(() => seq.forward(small))));
    expectClose((await a!.toArray()) as Float32Array, (await b!.toArray()) as Float32Array, 1e-6, 1e-6, 'Sequential(conv, bn, relu)');
    for (const t of [a!, b!, small, x]) t.dispose();
    for (const m of [net, conv, bn, up]) m.dispose();
  });

  it('is not used under autocast: the convolutions there read float16-rounded operands, which the fused ones do not', async () => {
    const backend = await webgpu();
    const rt = (backend as WebGPUBackend).rt;
    const conv = new Conv3d(2, 3, 3, { padding: 1, seed: 4, backend }), bn = new BatchNorm3d(3, { backend });
    const seq = new Sequential(conv, bn, new ReLU());
    seq.eval();
    const x = randn([1, 2, 6, 6, 6], 10, { backend });
    const run = (fused: boolean): { y: Tensor; dispatches: number } => withFusion(fused, () => {
      const first = rt.dispatchCount;
      const y = noGrad(() => autocast(() => seq.forward(x), { dtype: 'float16' }));
      return { y, dispatches: rt.dispatchCount - first };
    });
    const on = run(true), off = run(false);
    expect(on.dispatches).toBe(off.dispatches);
    expect(bits((await on.y.toArray()) as Float32Array).equals(bits((await off.y.toArray()) as Float32Array))).toBe(true);
    const terms = { runningMean: bn.runningMean!, runningVar: bn.runningVar!, weight: bn.weight, bias: bn.bias, relu: true };
    expect(() => noGrad(() => autocast(() => conv3dBatchNormEval(x, conv.weight, conv.bias, terms, { padding: 1 }), { dtype: 'float16' })))
      .toThrow(/not under autocast/);
    for (const t of [on.y, off.y, x]) t.dispose();
    for (const m of [conv, bn]) m.dispose();
  });
});
