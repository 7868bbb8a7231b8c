import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { add, backward, mul, noGrad, sum } from '../../src/autograd/index.js';
import { VNetDualTask } from '../../src/dbisl/model.js';
import type { Backend, Conv3dParams } from '../../src/kernels/index.js';
import { WebGPUBackend } from '../../src/kernels/index.js';
import { conv3dPlan } from '../../src/kernels/conv3d/webgpu.js';
import { loadHostStateDict, readSafetensors } from '../../src/models/checkpoint.js';
import { VNet } from '../../src/models/index.js';
import type { Module } from '../../src/models/module.js';
import type { HostTensor, SafetensorsFile } from '../../src/models/safetensors.js';
import { dispose, fromArray, memory, tidy, type Tensor } from '../../src/tensor/index.js';
import { cpu, expectClose, webgpu } from '../helpers/backends.js';
import { setConvKernels, type ConvKernels } from '../helpers/gpu-conv.js';

/**
 * The V-Net against PyTorch: test/fixtures/vnet-golden.safetensors holds the weights, an input and what
 * PyTorch computed for la-protocol §3's V-Net with DTC's two heads (out_conv = tanh SDF, out_conv2 =
 * segmentation), n_filters 2, on a 2×1×32×16×16 batch: both heads in training mode, the batch-norm running
 * statistics after that forward, gradients of L = Σ seg·a + Σ sdf·b, and both heads in eval mode (first sample).
 * test/fixtures/make_vnet_golden.py regenerates it (Debian's python3-torch); this test needs no Python.
 */

const fixture: Promise<SafetensorsFile> = readSafetensors(fileURLToPath(new URL('../fixtures/vnet-golden.safetensors', import.meta.url)));

async function tensor(name: string): Promise<HostTensor> {
  const t = (await fixture).tensors.get(name);
  if (!t) throw new Error(`vnet-golden.safetensors: no tensor '${name}'`);
  return t;
}

/** the fixture's tensors under `prefix`, keyed without it */
async function group(prefix: string): Promise<Map<string, HostTensor>> {
  return new Map([...(await fixture).tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

/** The objective's weights a[i] = cos(0.1·i) and b[i] = sin(0.07·i + 1), as the generator makes them. */
function objectiveWeights(n: number): [Float32Array, Float32Array] {
  const a = new Float32Array(n), b = new Float32Array(n);
  for (let i = 0; i < n; i++) { a[i] = Math.cos(0.1 * i); b[i] = Math.sin(0.07 * i + 1); }
  return [a, b];
}

const dtcHeads = [
  { name: 'out_conv', channels: 1, activation: 'tanh' as const },
  { name: 'out_conv2', channels: 1 },
];

function goldenVNet(backend: Backend): VNet {
  return new VNet({ nFilters: 2, normalization: 'batchnorm', upsampling: 'transposed', hasDropout: false, heads: dtcHeads, seed: 1, backend });
}

/**
 * Matches a result to PyTorch's: |a − e| ≤ tol·(max|e| + |e|) everywhere (float32 sums in other orders: the
 * error scales with the magnitudes involved, not with each element's). Returns the worst error relative to max|e|.
 */
async function expectGolden(actual: Tensor, name: string, tol: number, what: string): Promise<number> {
  const e = await tensor(name);
  expect(actual.shape, `${what}: shape`).toEqual(e.shape);
  const a = await actual.toArray();
  let scale = 0, worst = 0;
  for (const v of e.data) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - e.data[i]));
  expectClose(a, e.data, tol * scale, tol, `${what}: ${name}`);
  return worst / scale;
}

interface Tolerances { forward: number; gradient: number }

/** Loads the fixture's weights into `net`, runs train forward, backward and eval forward, compares everything. */
async function compareWithPyTorch(net: Module, forward: (x: Tensor) => { seg: Tensor; sdf: Tensor }, backend: Backend, tol: Tolerances, what: string): Promise<void> {
  loadHostStateDict(net, await group('weights.'), true, 'vnet-golden.safetensors');
  const input = await tensor('input');
  const [a, b] = objectiveWeights(input.data.length);
  const x = fromArray(input.data, input.shape, { backend, requiresGrad: true });
  const A = fromArray(a, input.shape, { backend }), B = fromArray(b, input.shape, { backend });
  const errors: Record<string, number> = {};
  const note = (k: string, v: number) => { errors[k] = Math.max(errors[k] ?? 0, v); };

  net.train();
  const out = forward(x);
  const loss = tidy(() => add(sum(mul(out.seg, A)), sum(mul(out.sdf, B))));
  note('train', await expectGolden(out.seg, 'train.seg', tol.forward, what));
  note('train', await expectGolden(out.sdf, 'train.sdf', tol.forward, what));
  backward(loss);
  note('grad', await expectGolden(x.grad!, 'grad.input', tol.gradient, what));
  const params = new Map(net.namedParameters());
  const gradKeys = [...(await group('grad.')).keys()].filter((k) => k !== 'input');
  expect(gradKeys.length).toBeGreaterThan(5);
  for (const k of gradKeys) note('grad', await expectGolden(params.get(k)!.grad!, `grad.${k}`, tol.gradient, what));
  const buffers = new Map(net.namedBuffers());
  const running = await group('running.');
  expect([...running.keys()].sort()).toEqual([...buffers.keys()].filter((k) => /running_(mean|var)$/.test(k)).sort());
  for (const k of running.keys()) note('running', await expectGolden(buffers.get(k)!, `running.${k}`, tol.forward, what));
  expect(Array.from(await buffers.get('block_five.conv.7.num_batches_tracked')!.toArray())).toEqual([1]);

  net.eval(); // on the first sample only (eval mode treats samples independently)
  const first = fromArray(input.data.subarray(0, input.data.length / input.shape[0]), [1, ...input.shape.slice(1)], { backend });
  const evalOut = noGrad(() => forward(first));
  note('eval', await expectGolden(evalOut.seg, 'eval.seg', tol.forward, what));
  note('eval', await expectGolden(evalOut.sdf, 'eval.sdf', tol.forward, what));
  console.log(`vnet-golden ${what}: worst |error| / max|PyTorch| ${Object.entries(errors).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}`);
  dispose([x, first, A, B, loss, out.seg, out.sdf, evalOut.seg, evalOut.sdf]);
  for (const p of params.values()) p.grad?.dispose();
}

/**
 * PyTorch computed in float64; these are float32 results, measured on llvmpipe at ≤ 7e-6 (cpu) and ≤ 1.1e-5
 * (WebGPU, every conv through the GEMMs) of the largest magnitude.
 */
const cpuTol: Tolerances = { forward: 5e-5, gradient: 5e-5 };
const gpuTol: Tolerances = { forward: 1e-4, gradient: 1e-4 };

describe('VNet against PyTorch (test/fixtures/vnet-golden.safetensors)', () => {
  it('cpu: both heads in train and eval mode, running statistics, gradients of input and weights', async () => {
    const net = goldenVNet(cpu);
    const before = memory(cpu).liveBuffers;
    await compareWithPyTorch(net, (x) => { const o = net.forward(x); return { seg: o.out_conv2, sdf: o.out_conv }; }, cpu, cpuTol, 'cpu');
    expect(memory(cpu).liveBuffers).toBe(before);
    net.dispose();
  });

  it('VNetDualTask maps DTC\'s heads: sdf = tanh(out_conv), seg = out_conv2', async () => {
    const model = new VNetDualTask({ nFilters: 2, dropout: false, seed: 1, backend: cpu });
    await compareWithPyTorch(model.module, (x) => model.forward(x), cpu, cpuTol, 'cpu VNetDualTask');
    model.module.dispose();
  });

  // 'adapter': this adapter's defaults (a GPU's own where the adapter is one); 'gemm': every convolution the
  // GEMMs can compute through them (the 'gpu' mode's mixture adds no kernel to these two: see learn.test.ts)
  it.each(['adapter', 'gemm'] as const)('webgpu, conv kernels: %s', async (mode: ConvKernels) => {
    const gpu = await webgpu();
    if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
    const restore = setConvKernels(gpu, mode);
    try {
      // block_four's 3³ conv (16 channels at 4×2×2): direct/wgrad on llvmpipe by default, the GEMMs as on a GPU
      const x4 = [2, 16, 4, 2, 2], w4 = [16, 16, 3, 3, 3], p1: Conv3dParams = { stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1] };
      // block_two's 3³ conv (4 channels): the GEMMs only with the thresholds at 0
      const x2 = [2, 4, 16, 8, 8], w2 = [4, 4, 3, 3, 3];
      const plans = (xs: number[], ws: number[]) => (['forward', 'backwardInput', 'backwardWeight'] as const).map((op) => conv3dPlan(gpu.rt, op, xs, ws, p1).split(':')[0]);
      const direct = ['direct', 'direct', 'wgrad'], gemms = ['implicit GEMM', 'implicit GEMM', 'weight GEMM'];
      const expected = mode === 'gemm' ? [gemms, gemms] : gpu.rt.software ? [direct, direct] : [gemms, direct];
      expect([plans(x4, w4), plans(x2, w2)]).toEqual(expected);
      const net = goldenVNet(gpu);
      await compareWithPyTorch(net, (x) => { const o = net.forward(x); return { seg: o.out_conv2, sdf: o.out_conv }; }, gpu, gpuTol, `${gpu.description}, ${mode}`);
      net.dispose();
    } finally {
      restore();
    }
  });
});
