import { afterEach, expect, it, vi } from 'vitest';
import type { Conv3dParams, Conv3dProblem, Storage } from '../../src/kernels/index.js';
import { clearConv3dChoices, recordConv3dProblems, tuneConv3d, WebGPUBackend } from '../../src/kernels/index.js';
import { convGeometry } from '../../src/kernels/geometry.js';
import { randomArray, webgpu } from '../helpers/backends.js';

/**
 * recordConv3dProblems records each problem's epilogue (a conv bias, a fused batch norm and ReLU), so that the
 * tuner replaying the record runs the kernel variants the recorded step ran, not their plain twins.
 */

afterEach(async () => { clearConv3dChoices(await webgpu()); });

const params: Conv3dParams = { stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1] };
const xShape = [1, 3, 4, 4, 3], wShape = [5, 3, 3, 3, 3];

it('records the batch norm, ReLU and bias of a fused forward and of convTranspose3d\'s backwardInput; the tuner runs the same kernels', async () => {
  const gpu = await webgpu();
  if (!(gpu instanceof WebGPUBackend)) throw new Error('expected the WebGPU backend');
  const g = convGeometry(xShape, wShape, params);
  const owned: Storage[] = [];
  const up = (n: number, seed: number, lo = -1, hi = 1) => { const s = gpu.upload(randomArray(n, seed, lo, hi), 'float32'); owned.push(s); return s; };
  const x = up(xShape.reduce((a, b) => a * b), 1), w = up(wShape.reduce((a, b) => a * b), 2);
  const gyShape = [g.n, g.co, ...g.out], gy = up(gyShape.reduce((a, b) => a * b), 3);
  const norm = { mean: up(g.co, 4), variance: up(g.co, 5, 0.5, 1.5), weight: up(g.co, 6), bias: null, eps: 1e-3 };
  const convBias = up(g.co, 7), transposedBias = up(g.ci, 8);
  const step = () => {
    gpu.free(gpu.conv3d(x, xShape, w, wShape, convBias, params, { norm, relu: true }));
    gpu.free(gpu.conv3dBackwardInput(gy, gyShape, w, wShape, xShape, params, transposedBias));
  };
  const keys = vi.spyOn(gpu.rt, 'kernel');
  const recorded = await recordConv3dProblems(gpu, step);
  const stepKernels = new Set(keys.mock.calls.map(([key]) => key));
  expect(recorded).toEqual<Conv3dProblem[]>([
    { op: 'forward', xShape, wShape, params, bias: true, norm: { weight: true, bias: false, eps: 1e-3, relu: true } },
    { op: 'backwardInput', xShape, wShape, params, bias: true },
  ]);
  keys.mockClear();
  const lines: string[] = [];
  await tuneConv3d(gpu, recorded, { reps: 1, report: (line) => lines.push(line) });
  const tunerKernels = new Set(keys.mock.calls.map(([key]) => key));
  keys.mockRestore();
  // the step's kernels (with the epilogue in their keys) are among those the tuner ran
  expect([...stepKernels].filter((k) => !tunerKernels.has(k))).toEqual([]);
  expect([...stepKernels].some((k) => k.includes('norm'))).toBe(true);
  expect(lines.filter((l) => l.includes('+bias +norm +relu')).length).toBeGreaterThan(0);
  for (const s of owned) gpu.free(s);
});

it('a problem seen with and without an epilogue keeps the first epilogue and the bias of any call', async () => {
  const gpu = await webgpu();
  const owned: Storage[] = [];
  const up = (n: number, seed: number, lo = -1, hi = 1) => { const s = gpu.upload(randomArray(n, seed, lo, hi), 'float32'); owned.push(s); return s; };
  const x = up(xShape.reduce((a, b) => a * b), 1), w = up(wShape.reduce((a, b) => a * b), 2);
  const co = wShape[0]!;
  const norm = (eps: number) => ({ mean: up(co, 4), variance: up(co, 5, 0.5, 1.5), weight: null, bias: up(co, 6), eps });
  const recorded = await recordConv3dProblems(gpu, () => {
    gpu.free(gpu.conv3d(x, xShape, w, wShape, null, params));
    gpu.free(gpu.conv3d(x, xShape, w, wShape, null, params, { norm: norm(1e-5), relu: false }));
    gpu.free(gpu.conv3d(x, xShape, w, wShape, up(co, 7), params, { norm: norm(1e-3), relu: true }));
  });
  expect(recorded).toEqual<Conv3dProblem[]>([
    { op: 'forward', xShape, wShape, params, bias: true, norm: { weight: false, bias: true, eps: 1e-5, relu: false } },
  ]);
  for (const s of owned) gpu.free(s);
});
